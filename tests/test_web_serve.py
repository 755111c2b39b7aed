"""`pbridge web --serve` against hostile clients on the network: a slow client, many at
once, huge headers, a request line that carries a terminal's escapes. A real server on a
real socket (cli/web.py's page_server) with its limits made short, and raw HTTP."""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from helpers import wait_for
from pointerbridge.cli.web import FRAMING, page_server
from pointerbridge.webpage import content_security_policy, page_html


@contextmanager
def _serving(**limits: float) -> Iterator[tuple[str, int]]:
    server = page_server("127.0.0.1", 0, **limits)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _closed_within(conn: socket.socket, seconds: float) -> float:
    """How long until the server hung up on ``conn`` (fails after ``seconds``)."""
    started = time.monotonic()
    conn.settimeout(seconds)
    try:
        while conn.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server still held the connection after {seconds} s")
    return time.monotonic() - started


def _exchange(address: tuple[str, int], request: bytes) -> bytes:
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
        return answer


def test_a_silent_client_is_hung_up_on_after_a_read_timeout() -> None:
    with _serving(read_seconds=0.5, client_seconds=30) as address, socket.create_connection(address) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n")
        assert _closed_within(conn, 5) < 5


def test_a_client_that_trickles_its_request_is_hung_up_on_at_its_deadline() -> None:
    with _serving(read_seconds=2, client_seconds=1.5) as address, socket.create_connection(address) as conn:
        started = time.monotonic()
        conn.sendall(b"GET / HTTP/1.0\r\n")
        cut = False
        # One header byte every 0.2 s passes every read's timeout: only the deadline ends it.
        while not cut and time.monotonic() - started < 10:
            try:
                conn.sendall(b"X")
                readable, _, _ = select.select([conn], [], [], 0.2)  # the client's pace
                cut = bool(readable) and conn.recv(1) == b""
            except (BrokenPipeError, ConnectionResetError):
                cut = True
        assert cut, "a trickling client held the server for 10 s"
        assert time.monotonic() - started < 5


def test_clients_past_the_limit_are_hung_up_on_and_the_page_is_served_once_they_leave() -> None:
    with _serving(read_seconds=30, client_seconds=30, max_clients=2) as address:
        held = [socket.create_connection(address) for _ in range(2)]
        try:
            with socket.create_connection(address) as third:
                assert _closed_within(third, 5) < 5
        finally:
            for conn in held:
                conn.close()
        deadline = time.monotonic() + 10
        answer = b""
        while time.monotonic() < deadline and not answer.startswith(b"HTTP/1.0 200"):
            answer = _exchange(address, b"GET / HTTP/1.0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.0 200") and answer.endswith(page_html())


def test_huge_headers_and_request_lines_are_refused() -> None:
    with _serving() as address:
        many = b"GET / HTTP/1.0\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(200)) + b"\r\n"
        assert _exchange(address, many).startswith(b"HTTP/1.0 431")
        long_line = b"GET /" + b"a" * 70_000 + b" HTTP/1.0\r\n\r\n"
        assert _exchange(address, long_line).startswith(b"HTTP/1.0 414")


def test_the_page_may_not_be_framed_by_another_site() -> None:
    with _serving() as address:
        head, _, body = _exchange(address, b"GET / HTTP/1.0\r\n\r\n").partition(b"\r\n\r\n")
    headers = head.decode("latin-1").split("\r\n")
    assert f"Content-Security-Policy: {content_security_policy()}; {FRAMING}" in headers
    assert "X-Frame-Options: DENY" in headers
    assert body == page_html()


def test_the_log_shows_a_request_lines_control_characters_as_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with _serving() as address:
        answer = _exchange(address, b"GET /\x1b]0;owned\x07\x1b[2J HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 404")
    err = capsys.readouterr().err
    assert "\\x1b]0;owned\\x07\\x1b[2J" in err
    assert "\x1b" not in err and "\x07" not in err


def test_a_client_gone_before_its_answer_is_one_line_of_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    logged = ""

    def some_gone() -> bool:
        nonlocal logged
        logged += capsys.readouterr().err
        return "gone before its answer was sent" in logged

    with _serving() as address:
        for _ in range(20):  # the page is larger than what the socket buffers: writing it meets the reset
            with socket.create_connection(address) as conn:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset, not a FIN
                conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        wait_for(some_gone, "a client reset mid-answer in the log")
        assert _exchange(address, b"GET / HTTP/1.0\r\n\r\n").endswith(page_html())  # still serving
    logged += capsys.readouterr().err
    assert "Traceback" not in logged, logged[-3000:]
    gone = [line for line in logged.splitlines() if "gone before its answer was sent" in line]
    assert all(line.startswith("127.0.0.1 gone before its answer was sent (") for line in gone), logged[-3000:]
