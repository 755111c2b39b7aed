"""The Telegram carrier listening live (issue 20, item 1): getUpdates as a long poll, with
every rule of its poll kept, against the test Bot API server."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import raw_chat, raw_identity, running_daemon, wait_for
from pointerbridge.app.listen import Backoff, Heard, Listener, ListenEvent
from pointerbridge.app.service import App
from pointerbridge.bridges.base import Bridge, ConfigurationError, RetryableError, bridge_class
from pointerbridge.core import seal
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from servers.telegram import BotAccount, BotApiServer, Chat


def _settings(server: BotApiServer, bot: BotAccount, chat: Chat, **changes: Any) -> dict[str, Any]:
    variable = f"PBRIDGE_TEST_TG_{bot.id}"
    os.environ[variable] = bot.token
    return {"token_env": variable, "chat_id": chat.id, "base_url": server.base_url, "post_interval": 0, **changes}


def _bridge(server: BotApiServer, bot: BotAccount, chat: Chat, **changes: Any) -> Bridge:
    return bridge_class("telegram").from_config("tg", _settings(server, bot, chat, **changes))


def _pointer(body: str) -> str:
    return seal(raw_chat("live"), raw_identity("alice"), body)[0]


def _until(condition: Callable[[], object], within: float = 10.0) -> None:
    """Wait until ``condition()`` holds (checked every few ms), failing after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.002)


class _Pair:
    """Alice's bot and Bob's bot in one group, as the README sets them up; a person too."""

    def __init__(self, server: BotApiServer) -> None:
        self.server = server
        self.alice = server.add_bot(f"alice{len(server.bots)}_bot", bot_to_bot=True, privacy=False)
        self.bob = server.add_bot(f"bob{len(server.bots)}_bot", bot_to_bot=True, privacy=False)
        self.person = server.add_person("Pat")
        members = {self.person: "member", self.alice.id: "admin", self.bob.id: "admin"}
        self.group = server.add_chat("circle", members=members)

    def say(self, text: str) -> None:
        self.server.say(self.group, self.person, text)

    def bob_waits(self) -> bool:
        """Whether a getUpdates of Bob's bot is waiting on the server now."""
        with self.server._lock:
            return bool(self.bob.waiting)


@pytest.fixture
def pair(bot_api: BotApiServer) -> _Pair:
    return _Pair(bot_api)


@pytest.fixture
def reader(pair: _Pair) -> Iterator[Bridge]:
    bridge = _bridge(pair.server, pair.bob, pair.group)
    try:
        yield bridge
    finally:
        bridge.close()


def _known(pair: _Pair, reader: Bridge) -> str:
    """The cursor of a first poll, which learns the bot's id; the server's clock moved on."""
    cursor = reader.poll(None).cursor
    pair.server.advance(60)
    return cursor


def test_a_listen_returns_the_moment_another_members_bot_posts(pair: _Pair, reader: Bridge) -> None:
    assert reader.listens
    cursor = _known(pair, reader)
    pointer, posted = _pointer("hello, live"), []
    writer = _bridge(pair.server, pair.alice, pair.group)

    def post() -> None:
        _until(pair.bob_waits)
        writer.post(pointer)
        posted.append(time.monotonic())

    calls = len(pair.bob.calls)
    poster = threading.Thread(target=post)
    started = time.monotonic()
    poster.start()
    try:
        result = reader.listen(cursor, 20)
    finally:
        poster.join(10)
        writer.close()
    back = time.monotonic()
    assert [r.text for r in result.pointers] == [pointer]
    assert back - started < 5  # far below the 20 s it would wait
    assert back - posted[0] < 1.0
    # one long poll, then whether the poster is a member's bot (as a poll reads it): no second getUpdates
    assert pair.bob.calls[calls:] == ["getUpdates", "getChatAdministrators"]
    assert pair.bob.timeouts[-1] == 20
    assert json.loads(result.cursor)["offset"] > json.loads(cursor).get("offset", 0)


def test_an_idle_listen_waits_then_returns_nothing_and_confirms_only_what_was_stored(pair: _Pair) -> None:
    reader = _bridge(pair.server, pair.bob, pair.group, timeout=1)  # each request's bound: the wait is on top
    try:
        _listen_idle_then_store(pair, reader)
    finally:
        reader.close()


def _listen_idle_then_store(pair: _Pair, reader: Bridge) -> None:
    cursor = _known(pair, reader)
    started = time.monotonic()
    idle = reader.listen(cursor, 3)
    assert 2.9 < time.monotonic() - started < 6
    assert idle.pointers == [] and not idle.more
    assert json.loads(idle.cursor).get("offset") == json.loads(cursor).get("offset")

    pointer = _pointer("kept until stored")
    pair.say(pointer)
    found = reader.listen(idle.cursor, 20)
    assert [r.text for r in found.pointers] == [pointer]
    assert len(pair.bob.queue) == 1  # read, not confirmed: its cursor is not saved yet
    again = reader.listen(idle.cursor, 20)  # the app failed to store it: asked with the old cursor
    assert [r.text for r in again.pointers] == [pointer]
    assert len(pair.bob.queue) == 1
    reader.listen(found.cursor, 3)  # stored, its cursor saved: this call confirms it
    assert pair.bob.queue == []


def test_a_listen_waits_at_most_what_telegram_allows(pair: _Pair, reader: Bridge) -> None:
    cursor = _known(pair, reader)
    pointer = _pointer("after a while")
    threading.Thread(target=lambda: (_until(pair.bob_waits), pair.say(pointer))).start()
    assert [r.text for r in reader.listen(cursor, 600).pointers] == [pointer]
    assert pair.bob.timeouts[-1] == 50


def test_a_listen_keeps_the_bot_to_itself_while_it_waits(pair: _Pair, reader: Bridge) -> None:
    cursor = _known(pair, reader)
    other = _bridge(pair.server, pair.bob, pair.group)  # a second home with the same bot
    waiting = threading.Thread(target=reader.listen, args=(cursor, 5))
    waiting.start()
    try:
        _until(pair.bob_waits)
        calls = len(pair.bob.calls)
        with pytest.raises(RetryableError, match="another poll of this bot is running"):
            other.poll(cursor)
        assert pair.bob.calls[calls:] == []  # it never asked, so it never took the listener's updates
    finally:
        waiting.join(10)
        other.close()


def test_another_program_long_polling_the_bot_ends_the_listen_as_a_configuration_error(
    pair: _Pair, reader: Bridge
) -> None:
    cursor = _known(pair, reader)
    url = f"{pair.server.base_url}{pair.bob.token}/getUpdates"
    errors: list[BaseException] = []

    def listen() -> None:
        try:
            reader.listen(cursor, 20)
        except ConfigurationError as exc:
            errors.append(exc)

    waiting = threading.Thread(target=listen)
    waiting.start()
    _until(pair.bob_waits)
    with httpx.Client(timeout=10) as other:  # Telegram ends the older of two waiting calls
        other.post(url, data={"timeout": "1"})
    waiting.join(10)
    assert [str(e) for e in errors] == [
        "carrier 'tg': another program polls this bot, or it has a webhook (409: Conflict: terminated by "
        "other getUpdates request; make sure that only one bot instance is running); one bot per home"
    ]


def test_a_listen_after_a_gap_past_24_hours_asks_for_a_catch_up_without_waiting(pair: _Pair, reader: Bridge) -> None:
    cursor = json.loads(_known(pair, reader))
    away = json.dumps({**cursor, "polled_at": time.time() - 25 * 3600})
    started = time.monotonic()
    result = reader.listen(away, 20)
    assert time.monotonic() - started < 5
    assert any("asked the other members" in note for note in result.notes)
    assert pair.group.messages[-1]["text"].startswith("pbcatchup1 ")
    assert pair.bob.timeouts[-1] == 0  # through python-telegram-bot, a plain poll; the next call waits


def test_a_listen_with_another_bots_cursor_never_asks_with_its_offset(pair: _Pair, reader: Bridge) -> None:
    alices = _bridge(pair.server, pair.alice, pair.group)
    try:
        pair.say(_pointer("for both bots"))
        alice_cursor = alices.poll(None).cursor
        assert json.loads(alice_cursor)["offset"] > 0
    finally:
        alices.close()
    pair.server.advance(60)
    pointer = _pointer("bob's own")
    pair.say(pointer)
    result = reader.listen(alice_cursor, 20)  # the token changed to Bob's bot
    assert [r.text for r in result.pointers][-1] == pointer and len(result.pointers) == 2
    assert json.loads(result.cursor)["bot_id"] == pair.bob.id


def test_an_idle_listen_imports_no_python_telegram_bot(pair: _Pair, reader: Bridge, tmp_path: Path) -> None:
    cursor = _known(pair, reader)
    settings = _settings(pair.server, pair.bob, pair.group)
    code = (
        "import json, sys\n"
        "from pointerbridge.bridges.base import bridge_class\n"
        f"bridge = bridge_class('telegram').from_config('tg', json.loads({json.dumps(settings)!r}))\n"
        f"result = bridge.listen({cursor!r}, 3)\n"
        "bridge.close()\n"
        "print(len(result.pointers), *sorted(sys.modules))\n"
    )
    calls = len(pair.bob.calls)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    found, *modules = done.stdout.split()
    assert found == "0" and pair.bob.calls[calls:] == ["getUpdates"] and pair.bob.timeouts[-1] == 3
    assert "httpx" in modules
    assert [m for m in modules if m.split(".")[0] in ("telegram", "pydantic")] == []


def _home(path: Path, server: BotApiServer, bot: BotAccount, chat: Chat) -> Home:
    home = Home(path, path)
    home.create()
    carrier = CarrierConfig.model_validate({"type": "telegram", **_settings(server, bot, chat)})
    save_config(home.config_path, Config(carriers={"tg": carrier}))
    return home


def _stored(app: App) -> list[str]:
    return [text for (text,) in app.store._db.execute("SELECT text FROM pointers ORDER BY id")]


def test_a_connection_cut_mid_wait_loses_nothing_and_repeats_nothing(pair: _Pair, tmp_path: Path) -> None:
    server = pair.server
    home = _home(tmp_path / "bob", server, pair.bob, pair.group)
    before, during, after, later = (_pointer(body) for body in ("before", "during", "after", "later"))
    with App(home) as app:
        app.init("bob", "bob phrase", allow_weak=True)  # a listener opens an initialised home
        pair.say(before)
        with app.listening("tg") as free:
            assert free
            bridge = app.bridge("tg")
            try:
                assert app.listen_round(bridge, 20).new == 1  # learns the bot: a plain poll
                server.advance(60)
                cutter = threading.Thread(target=lambda: (_until(pair.bob_waits), server.stop()))
                cutter.start()
                started = time.monotonic()
                with pytest.raises(RetryableError, match="unreachable"):
                    app.listen_round(bridge, 20)  # the server goes away while it waits
                cutter.join(10)
                assert time.monotonic() - started < 5
            finally:
                bridge.close()
        pair.say(during)  # Telegram keeps the bot's queue while its connection is down
        server.start()  # the same port, the same queues
        pair.say(after)

        events: queue.Queue[ListenEvent] = queue.Queue()
        listener = Listener(home, "tg", events.put, wait=4, backoff=Backoff(0.05, 0.2))
        listener.start()
        try:
            _until(lambda: len(_stored(app)) >= 3)
            _until(pair.bob_waits)  # listening again, live
            pair.say(later)
            _until(lambda: len(_stored(app)) >= 4)
        finally:
            assert listener.stop(timeout=30)
        heard = list(events.queue)
        assert [e for e in heard if not isinstance(e, Heard)] == []
        assert sum(e.received for e in heard if isinstance(e, Heard)) == 3
        assert _stored(app) == [before, during, after, later]  # each once, in order


def test_bobs_daemon_stores_alices_message_without_any_poll(pair: _Pair, tmp_path: Path) -> None:
    bob = Home.resolve(tmp_path / "bob")
    bob.create()
    settings = {**_settings(pair.server, pair.bob, pair.group), "poll_every": 3600}  # its jobs run once, at start
    bob.config_path.write_text(
        "[carriers.tg]\ntype = 'telegram'\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
    )
    bob.config_path.chmod(0o600)
    with App(bob) as app:
        app.init("bob", "bob's phrase", allow_weak=True)
    pointer = _pointer("live from alice's bot")
    token_secret = pair.bob.token.partition(":")[2]
    with (
        closing(_bridge(pair.server, pair.alice, pair.group)) as writer,
        running_daemon(bob.config_dir, listening_to="tg", never_logged=(token_secret,)) as lines,
    ):
        wait_for(pair.bob_waits, "bob's bot waits in a long poll")
        calls, asked = len(pair.bob.calls), len(pair.bob.timeouts)
        writer.post(pointer)
        wait_for(lambda: any("tg: received 1 (live)" in line for line in lines), "bob's daemon hears it")
        assert pair.bob.calls[calls] == "getChatAdministrators"  # the waiting getUpdates answered: no poll
        assert "getMe" not in pair.bob.calls[calls:]
        assert set(pair.bob.timeouts[asked:]) <= {50}  # the listener's long polls (listen_wait), no poll's
        with App(bob) as app:
            assert _stored(app) == [pointer]
    assert not any("received 1, skipped" in line for line in lines)  # no poll fetched it
