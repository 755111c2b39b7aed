"""A hostile or broken homeserver: whatever it answers, a poll ends with a typed error in
bounded time and prints nothing it should not. A real Synapse never sends these answers,
so a small HTTP server on 127.0.0.1 does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pointerbridge.bridges.base import BridgeError, RetryableError, bridge_class


class _Hostile(BaseHTTPRequestHandler):
    answer: tuple[int, bytes] = (200, b"{}")
    content_type = "application/json"
    requests: list[str] = []  # noqa: RUF012  # shared on purpose: the test reads what came in

    def do_GET(self) -> None:  # the name http.server calls
        self.requests.append(self.path)
        status, body = self.answer
        self.send_response(status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_GET

    def log_message(self, *args: object) -> None:
        """Quiet: the test asserts on what it needs."""


@pytest.fixture
def hostile() -> Iterator[type[_Hostile]]:
    handler = type("Handler", (_Hostile,), {"requests": [], "content_type": "application/json"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def _poll(
    handler: type[_Hostile], status: int, body: bytes, room: str = "!room:example.org", **settings: object
) -> BridgeError:
    handler.answer = (status, body)
    bridge = bridge_class("matrix").from_config(
        "mx",
        {
            "homeserver": handler.url,
            "user_id": "@bot:example.org",
            "device_id": "DEV",  # type: ignore[attr-defined]
            "access_token_env": "PBRIDGE_TEST_HOSTILE_TOKEN",
            "room_id": room,
            **settings,
        },
    )
    cursor = json.dumps({"filter": "1", "since": "s1", "room": room, "user": "@bot:example.org"})
    try:
        with pytest.raises(BridgeError) as failure:
            bridge.poll(cursor)
    finally:
        bridge.close()
    return failure.value


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PBRIDGE_TEST_HOSTILE_TOKEN", "syt_hostile_test_token")


@pytest.mark.parametrize(
    "body", [b"not json", b"\xff\xfe\x00", b"[" * 100_000 + b"]" * 100_000, b"[1, 2]", b'{"rooms": []}']
)
def test_an_unreadable_answer_is_retryable(hostile: type[_Hostile], body: bytes) -> None:
    error = _poll(hostile, 200, body)
    assert isinstance(error, RetryableError)


@pytest.mark.parametrize("retry", ["NaN", "-5", "1e400", '"soon"', "[1]", "0"])
def test_a_nonsense_retry_after_cannot_spin_or_crash_the_poll(hostile: type[_Hostile], retry: str) -> None:
    body = f'{{"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": {retry}}}'.encode()
    started = time.monotonic()
    error = _poll(hostile, 429, body, max_retry_wait=0.5)
    assert isinstance(error, RetryableError) and "rate limited" in str(error)
    assert time.monotonic() - started < 5
    assert len(hostile.requests) <= 11  # 0.5 s at the 50 ms floor, plus the first try


def test_an_answer_in_a_charset_python_cannot_decode_text_with_is_retryable(hostile: type[_Hostile]) -> None:
    hostile.content_type = "application/json; charset=hex"  # a codec, but bytes-to-bytes: LookupError
    assert isinstance(_poll(hostile, 200, b'{"next_batch": "s2"}'), RetryableError)


def test_one_poll_shares_one_wait_budget_over_all_its_requests(hostile: type[_Hostile]) -> None:
    body = b'{"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 300}'
    error = _poll(hostile, 429, body, max_retry_wait=0.5)  # one wait of 0.3 s fits, a second does not
    assert isinstance(error, RetryableError) and len(hostile.requests) == 2


def test_a_long_retry_after_is_not_waited_for(hostile: type[_Hostile]) -> None:
    body = b'{"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 600000}'
    started = time.monotonic()
    error = _poll(hostile, 429, body)
    assert isinstance(error, RetryableError) and error.retry_after == 600.0
    assert time.monotonic() - started < 5 and len(hostile.requests) == 1


def test_the_servers_words_are_printed_safely(hostile: type[_Hostile]) -> None:
    body = json.dumps({"errcode": "M_UNKNOWN\x1b[2J", "error": "oops\n\x1b[31mpbridge: all fine" + "x" * 500}).encode()
    error = _poll(hostile, 500, body)
    text = str(error)
    assert isinstance(error, RetryableError)
    assert "\n" not in text and "\x1b" not in text and len(text) < 400
    assert "syt_hostile_test_token" not in text
    assert all("access_token" not in r and "syt_" not in r for r in hostile.requests)  # a header, not the URL
    missing = _poll(hostile, 404, b'{"errcode": "M_NOT_FOUND", "error": "no"}', room="!room\x1b[2J:example.org")
    assert "not found" in str(missing) and "\x1b" not in str(missing)
