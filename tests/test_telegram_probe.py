"""An idle Telegram poll without python-telegram-bot (issue 19, item 3): the probe's one
getUpdates ends an idle poll; any other answer is read by python-telegram-bot as its own,
with no second request, and its errors mean what they meant before."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import raw_chat, raw_identity
from pointerbridge.bridges.base import Bridge, ConfigurationError, RetryableError, bridge_class
from pointerbridge.bridges.telegram_probe import MAX_ANSWER_BYTES
from pointerbridge.core import seal
from servers.telegram import BotAccount, BotApiServer, Chat
from test_cli import initialised_home
from test_idle_poll import NOT_ON_THE_IDLE_PATH, imported_modules


def _settings(server: BotApiServer, bot: BotAccount, chat: Chat, **changes: Any) -> dict[str, Any]:
    variable = f"PBRIDGE_TEST_TG_{bot.id}"
    os.environ[variable] = bot.token
    return {"token_env": variable, "chat_id": chat.id, "base_url": server.base_url, **changes}


def _bridge(server: BotApiServer, bot: BotAccount, chat: Chat, **changes: Any) -> Bridge:
    return bridge_class("telegram").from_config("tg", _settings(server, bot, chat, **changes))


def _known(server: BotApiServer) -> tuple[BotAccount, Chat, int, str]:
    """A bot, its group, a person in it, and the cursor of a first poll (the bot's id learnt)."""
    bot = server.add_bot(f"probe{len(server.bots)}_bot", bot_to_bot=True, privacy=False)
    person = server.add_person("Pat")
    group = server.add_chat("circle", members={person: "member", bot.id: "admin"})
    bridge = _bridge(server, bot, group)
    try:
        cursor = bridge.poll(None).cursor
    finally:
        bridge.close()
    server.advance(60)
    return bot, group, person, cursor


def _poll(server: BotApiServer, bot: BotAccount, group: Chat, cursor: str, **changes: Any) -> Any:
    bridge = _bridge(server, bot, group, **changes)
    try:
        return bridge.poll(cursor)
    finally:
        bridge.close()


def _second_cron_poll(
    server: BotApiServer, bot: BotAccount, settings: dict[str, Any], tmp_path: Path
) -> tuple[list[str], set[str]]:
    """The Bot API calls and the modules of a home's second ``pbridge poll`` from cron (the
    first learns the bot's id, through python-telegram-bot), its one carrier ``settings``."""
    home = initialised_home(tmp_path / "home")
    (Path(home) / "config.toml").write_text(
        "[carriers.tg]\ntype = 'telegram'\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
    )
    imported_modules("--home", home, "poll", cwd=tmp_path)
    server.advance(60)
    calls = len(bot.calls)
    modules = imported_modules("--home", home, "poll", cwd=tmp_path)
    return bot.calls[calls:], modules


def test_an_idle_telegram_poll_imports_neither_python_telegram_bot_nor_pydantic(
    bot_api: BotApiServer, tmp_path: Path
) -> None:
    bot, group, _, _ = _known(bot_api)
    asked, modules = _second_cron_poll(bot_api, bot, _settings(bot_api, bot, group), tmp_path)
    assert asked == ["getUpdates"]  # the probe asked, once
    assert "pointerbridge.bridges.telegram_probe" in modules and "httpx" in modules
    needed = {"httpx", "pointerbridge.bridges.telegram"}
    loaded = sorted(m for m in modules for n in set(NOT_ON_THE_IDLE_PATH) - needed if m == n or m.startswith(f"{n}."))
    assert loaded == []


def test_a_batch_the_probe_found_is_read_whole_with_no_second_request(bot_api: BotApiServer) -> None:
    # Telegram answers the same offset asked again within 0.5 s with at most one update.
    bot, group, person, cursor = _known(bot_api)
    pointers = [seal(raw_chat("probe"), raw_identity("pat"), f"m{i}")[0] for i in range(5)]
    for pointer in pointers:
        bot_api.say(group, person, pointer)
    calls = len(bot.calls)
    result = _poll(bot_api, bot, group, cursor)
    assert [r.text for r in result.pointers] == pointers
    assert bot.calls[calls:] == ["getUpdates"]
    assert json.loads(result.cursor)["offset"] > json.loads(cursor).get("offset", 0)


@pytest.mark.parametrize(
    ("status", "description", "error", "message"),
    [
        (409, "Conflict: can't use getUpdates method while webhook is active", ConfigurationError, "another program"),
        (401, "Unauthorized", ConfigurationError, "refused the bot token"),
        (502, "Bad Gateway", RetryableError, "unreachable"),
        (400, "Bad Request: something", RetryableError, "refused a request: Something"),
    ],
)
def test_an_error_the_probe_got_means_what_it_meant_through_python_telegram_bot(
    bot_api: BotApiServer, status: int, description: str, error: type[Exception], message: str
) -> None:
    bot, group, _, cursor = _known(bot_api)
    bot_api.fail("getUpdates", status, description)
    calls = len(bot.calls)
    with pytest.raises(error, match=message) as failed:
        _poll(bot_api, bot, group, cursor)
    assert bot.calls[calls:] == ["getUpdates"]  # python-telegram-bot read the probe's answer
    assert bot.token.partition(":")[2] not in str(failed.value)


def test_a_rate_limit_the_probe_got_is_waited_out_and_asked_again(bot_api: BotApiServer) -> None:
    bot, group, person, cursor = _known(bot_api)
    pointer = seal(raw_chat("probe"), raw_identity("pat"), "after the wait")[0]
    bot_api.say(group, person, pointer)
    bot_api.fail("getUpdates", 429, "Too Many Requests: retry after 1", retry_after=1)
    calls = len(bot.calls)
    result = _poll(bot_api, bot, group, cursor)
    assert [r.text for r in result.pointers] == [pointer]
    assert bot.calls[calls:] == ["getUpdates", "getUpdates"]
    with pytest.raises(RetryableError, match="rate limited for 1 s"):
        bot_api.fail("getUpdates", 429, "Too Many Requests: retry after 1", retry_after=1)
        _poll(bot_api, bot, group, cursor, max_retry_wait=0)


def test_a_server_that_is_gone_is_unreachable_and_never_named_with_its_token(bot_api: BotApiServer) -> None:
    bot, group, _, cursor = _known(bot_api)
    with socket.socket() as vacant:  # a port nothing listens on once closed
        vacant.bind(("127.0.0.1", 0))
        port = vacant.getsockname()[1]
    with pytest.raises(RetryableError, match=r"Telegram unreachable \(NetworkError\)") as failed:
        _poll(bot_api, bot, group, cursor, base_url=f"http://127.0.0.1:{port}/bot")
    assert bot.token.partition(":")[2] not in str(failed.value) and failed.value.__cause__ is None


@contextlib.contextmanager
def _serving(answer: Callable[[http.server.BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """A Bot API base URL on 127.0.0.1 whose every request, once read, ``answer`` answers."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            # Read the request first: closing with it unread resets the connection (RST),
            # which the client may see before what the answer sends.
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer(self)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # the test's output is not the place for each request

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/bot"
    finally:
        server.shutdown()
        server.server_close()


def _headers(handler: http.server.BaseHTTPRequestHandler, length: int) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", str(length))
    handler.end_headers()


@pytest.fixture
def flood() -> Iterator[str]:
    """A server whose every answer is a body larger than the probe reads."""

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        _headers(handler, MAX_ANSWER_BYTES + 1)
        chunk = b" " * 65536
        for _ in range(MAX_ANSWER_BYTES // len(chunk) + 1):
            handler.wfile.write(chunk)

    with _serving(answer) as url:
        yield url


def test_an_answer_past_the_bound_is_refused_not_read(bot_api: BotApiServer, flood: str) -> None:
    bot, group, _, cursor = _known(bot_api)
    with pytest.raises(RetryableError, match="answered more than 16 MiB"):
        _poll(bot_api, bot, group, cursor, base_url=flood)


@pytest.mark.parametrize("base_url", ["http://[::1/bot", "http://api..telegram.org/bot"])
def test_a_base_url_no_request_can_go_to_is_unreachable_through_the_probe_as_through_python_telegram_bot(
    bot_api: BotApiServer, base_url: str
) -> None:
    # python-telegram-bot maps any failure of its transport to NetworkError (BaseRequest's
    # _request_wrapper): an unusable URL is this carrier's error, not a crash of the whole poll.
    bot, group, _, cursor = _known(bot_api)
    fresh = _bridge(bot_api, bot, group, base_url=base_url)
    try:
        with pytest.raises(RetryableError, match=r"Telegram unreachable \(NetworkError\)"):
            fresh.poll(None)  # through python-telegram-bot: the bot's id is not known yet
    finally:
        fresh.close()
    with pytest.raises(RetryableError, match=r"Telegram unreachable \(NetworkError\)") as failed:
        _poll(bot_api, bot, group, cursor, base_url=base_url)  # through the probe
    assert bot.token.partition(":")[2] not in str(failed.value)


def test_a_new_bot_token_never_asks_with_the_old_bots_offset(bot_api: BotApiServer) -> None:
    # The cursor names the bot its offset belongs to; update ids are each bot's own, so the
    # old bot's offset asked of a new bot would confirm, and so delete, the new bot's
    # updates below it (tdlib's TQueue::get confirms up to any offset near the queue's tail).
    bot, group, person, _ = _known(bot_api)
    bot_api.say(group, person, seal(raw_chat("probe"), raw_identity("pat"), "to the old bot")[0])
    first = _bridge(bot_api, bot, group)
    try:
        cursor = first.poll(None).cursor
    finally:
        first.close()
    offset = json.loads(cursor)["offset"]
    successor = bot_api.add_bot("successor_bot", bot_to_bot=True, privacy=False)
    bot_api.add_member(group, successor.id, "admin")
    successor.next_update_id = offset - 3  # Telegram's ids are any bot's own: just below the old offset
    pointers = [seal(raw_chat("probe"), raw_identity("pat"), f"to the new bot {i}")[0] for i in range(2)]
    for pointer in pointers:
        bot_api.say(group, person, pointer)
    bot_api.advance(60)
    result = _poll(bot_api, successor, group, cursor)
    assert [r.text for r in result.pointers] == pointers
    state = json.loads(result.cursor)
    assert state["bot_id"] == successor.id and state["offset"] == offset - 1
    assert "taken" not in state and not result.notes


@pytest.fixture
def answering() -> Iterator[tuple[str, list[bytes]]]:
    """A server answering every request with 200 and the body the test puts in the list."""
    body = [b""]

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        _headers(handler, len(body[0]))
        handler.wfile.write(body[0])

    with _serving(answer) as url:
        yield url, body


@pytest.mark.parametrize(
    "answer",
    [
        b'{"ok": true, "result": 5}',
        b'{"ok": true, "result": null}',
        b'{"ok": true, "result": {"update_id": 7}}',
        b'{"ok": true, "result": [1]}',
        b'{"ok": true, "result": [{}]}',
        b'{"ok": true, "result": [{"update_id": "7"}]}',
        b'{"ok": true, "result": [{"update_id": 7.5}]}',
        b'{"ok": true}',
        b"[]",
        pytest.param(b"[" * 100_000, id="deeper than json.loads recurses"),
    ],
)
def test_an_answer_that_is_no_batch_of_updates_is_the_carriers_error_not_a_crash(
    bot_api: BotApiServer, answering: tuple[str, list[bytes]], answer: bytes
) -> None:
    # A carrier's answer is hostile: python-telegram-bot parses what it is given, and a
    # result of the wrong shape escaped as a TypeError, KeyError or RecursionError, which
    # ends the whole poll (internal error) and every carrier after this one with it.
    bot, group, _, cursor = _known(bot_api)
    url, body = answering
    body[0] = answer
    with pytest.raises(RetryableError, match="Telegram answered getUpdates with no batch of updates"):
        _poll(bot_api, bot, group, cursor, base_url=url)  # the probe's answer, read by python-telegram-bot
    fresh = _bridge(bot_api, bot, group, base_url=url)
    try:
        with pytest.raises(RetryableError, match="Telegram answered getUpdates with no batch of updates"):
            fresh.poll(None)  # python-telegram-bot's own request: the bot's id is not known yet
    finally:
        fresh.close()


def test_the_probe_asks_where_python_telegram_bot_would_for_a_base_url_with_the_token_inside(
    bot_api: BotApiServer, tmp_path: Path
) -> None:
    # python-telegram-bot puts the token in place of "{token}" (Telegram's test environment
    # is ".../bot{token}/test"); the probe appended it after the brace and asked a URL that
    # names no bot, so no idle poll ended on the probe: python-telegram-bot asked again.
    bot, group, _, _ = _known(bot_api)
    settings = _settings(bot_api, bot, group, base_url=bot_api.base_url + "{token}")
    asked, modules = _second_cron_poll(bot_api, bot, settings, tmp_path)
    assert asked == ["getUpdates"]
    assert "telegram" not in modules  # the probe's own answer ended the idle poll


def test_an_answer_never_shows_its_url_which_holds_the_token() -> None:
    from pointerbridge.bridges.telegram_probe import Answer

    answer = Answer("https://api.telegram.org/bot123:SECRET/getUpdates", {}, 200, b"{}")
    assert "SECRET" not in repr(answer) and "SECRET" not in str(answer) and "200" in repr(answer)


@pytest.fixture
def trickle() -> Iterator[str]:
    """A server that answers a byte at a time, a tenth of a second apart."""

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        _headers(handler, 100)
        try:
            for _ in range(100):
                handler.wfile.write(b" ")
                handler.wfile.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            return  # the probe gave up: what it should do

    with _serving(answer) as url:
        yield url


def test_an_answer_that_trickles_in_is_given_up_after_the_timeout(bot_api: BotApiServer, trickle: str) -> None:
    # Each byte comes well within the timeout, so only a bound on the whole answer ends it.
    bot, group, _, cursor = _known(bot_api)
    started = time.monotonic()
    with pytest.raises(RetryableError, match=r"answer took longer than 1 s"):
        _poll(bot_api, bot, group, cursor, base_url=trickle, timeout=1)
    assert time.monotonic() - started < 5  # the whole answer would take 10 s


def test_a_batch_that_cannot_be_parsed_never_reaches_a_log(
    bot_api: BotApiServer, answering: tuple[str, list[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    # python-telegram-bot logs such a batch whole at CRITICAL, and with no logging set up
    # Python prints it to stderr: a cron mail with what people wrote in the group.
    bot, group, _, cursor = _known(bot_api)
    url, body = answering
    body[0] = b'{"ok": true, "result": [{"update_id": 7, "message": "private words of a person"}]}'
    with pytest.raises(RetryableError, match="no batch of updates"):
        _poll(bot_api, bot, group, cursor, base_url=url)
    assert "private words" not in caplog.text and caplog.records == []
