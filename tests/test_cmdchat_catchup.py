"""The CMD-CHAT server keeps its backlog in RAM only: a restart or a member's ``clear`` loses
what a member who was away has not read. Alice's and Bob's homes on the faithful test
server: nothing the server still has is lost or stored twice, and what it forgot is asked
again with the catch-up request, which Alice's next poll answers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from cmdchat_helpers import PASSWORD, PASSWORD_ENV, bot, bot_settings, server_fixture
from pointerbridge.app.service import App, UnlockedChat
from pointerbridge.bridges.base import Bridge, RetryableError
from pointerbridge.bridges.cmdchat import CmdChatBridge
from pointerbridge.core import Identity
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from servers.cmdchat import CmdChatServer, RawClient

Pair = tuple[App, Identity, UnlockedChat, App, UnlockedChat]
server = server_fixture()


@pytest.fixture
def pair(tmp_path: Path, server: CmdChatServer, monkeypatch: pytest.MonkeyPatch) -> Pair:
    monkeypatch.setenv("PBRIDGE_IDENTITY_MEMORY_MIB", "64")
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    apps = []
    for user in ("alice", "bob"):
        home = Home(tmp_path / user, tmp_path / user)
        home.create()
        config = CarrierConfig.model_validate({"type": "cmdchat", **bot_settings(server.port, f"{user}-bot")})
        save_config(home.config_path, Config(carriers={"c": config}))
        apps.append(App(home))
    alice, bob = apps
    me = alice.init("alice", "alice phrase", allow_weak=True)
    bob.init("bob", "bob phrase", allow_weak=True)
    chat = alice.create_chat("room", "chat secret", ["c"], allow_weak=True)
    joined = bob.create_chat("room", "chat secret", ["c"], salt=chat.key.salt, allow_weak=True)
    return alice, me, chat, bob, joined


def _say(alice: App, me: Identity, chat: UnlockedChat, *bodies: str) -> None:
    for body in bodies:
        alice.send(chat, me, body)
    summary = alice.poll(fetch=False)
    assert summary.posted == {"c": len(bodies)} and not summary.errors


def _bodies(app: App, chat: UnlockedChat) -> list[str]:
    shown, refused = app.read(chat)
    assert refused == 0
    return [s.message.body for s in shown]


def _answered(alice: App, bob: App, asked: str) -> list[str]:
    """Bob's poll after he asked: Alice's next poll reads the request and queues her
    pointers again, the one after posts them; Bob's notes."""
    notes = bob.poll().notes.get("c", [])
    assert any(asked in note and "asked the other members' bots" in note for note in notes)
    queued = alice.poll().notes.get("c", [])
    assert any("a member asked for what was posted" in note for note in queued)
    assert not alice.poll(fetch=False).errors
    return notes


def test_a_restart_while_away_is_caught_up_and_nothing_is_stored_twice(pair: Pair, server: CmdChatServer) -> None:
    alice, me, chat_a, bob, chat_b = pair
    _say(alice, me, chat_a, "one")
    assert bob.poll().received == {"c": 1}
    _say(alice, me, chat_a, "two")  # Bob is away: only the server has it
    server.restart()  # ... and forgets it
    _say(alice, me, chat_a, "three")
    _answered(alice, bob, "restarted")
    summary = bob.poll()
    assert summary.received == {"c": 1}  # "two" again; "one" and "three" are known, not new
    assert _bodies(bob, chat_b) == ["one", "two", "three"]
    assert bob.poll().received == {"c": 0} and not bob.poll().notes.get("c")  # asked once, nothing twice


def test_a_clear_while_away_is_caught_up_like_a_restart(pair: Pair, server: CmdChatServer) -> None:
    alice, me, chat_a, bob, chat_b = pair
    _say(alice, me, chat_a, "one")
    assert bob.poll().received == {"c": 1}
    _say(alice, me, chat_a, "two")
    person = RawClient(server.port, "carol", PASSWORD)
    person.send({"type": "clear"})  # any member may
    assert person.receive() == {"type": "cleared"}
    person.close()
    _answered(alice, bob, "no longer holds")
    bob.poll()
    assert _bodies(bob, chat_b) == ["one", "two"]


def test_without_a_restart_a_member_who_was_away_reads_the_backlog_and_asks_nothing(pair: Pair) -> None:
    alice, me, chat_a, bob, chat_b = pair
    _say(alice, me, chat_a, "one")
    assert bob.poll().received == {"c": 1}
    _say(alice, me, chat_a, "two", "three")
    summary = bob.poll()
    assert summary.received == {"c": 2} and not summary.notes.get("c")
    assert alice.poll().notes.get("c") is None  # no request to answer
    assert _bodies(bob, chat_b) == ["one", "two", "three"]


def test_a_clear_seen_live_loses_nothing_and_asks_nothing(pair: Pair, server: CmdChatServer) -> None:
    alice, me, chat_a, bob, chat_b = pair
    bridge = bob.bridge("c")
    assert bob.listen_round(bridge, 0.0).new == 0
    _say(alice, me, chat_a, "one")
    assert bob.listen_round(bridge, 10.0).new == 1  # read before the clear: the cursor is past it
    person = RawClient(server.port, "carol", PASSWORD)
    person.send({"type": "clear"})
    assert person.receive() == {"type": "cleared"}
    person.close()
    found = _listen_until(bob, bridge, lambda notes: any("cleared" in n for n in notes))  # the clear wakes it
    assert not any("asked" in note for note in found)
    assert _bodies(bob, chat_b) == ["one"]
    bridge.close()


def _listen_until(bob: App, bridge: Bridge, done: object) -> list[str]:
    notes: list[str] = []
    deadline = time.monotonic() + 10
    while not done(notes):  # type: ignore[operator]
        assert time.monotonic() < deadline
        notes += bob.listen_round(bridge, 1.0).notes
    return notes


def test_a_server_killed_mid_listen_loses_nothing_after_its_restart(pair: Pair, server: CmdChatServer) -> None:
    alice, me, chat_a, bob, chat_b = pair
    bridge = bob.bridge("c")
    _say(alice, me, chat_a, "before")
    assert bob.listen_round(bridge, 10.0).new == 1
    cursor = bob.store.cursor("c")
    failed: list[BaseException] = []

    def listen() -> None:  # the listener's thread, waiting on the open login
        try:
            bridge.listen(cursor, 30.0)
        except RetryableError as exc:
            failed.append(exc)

    thread = threading.Thread(target=listen)
    thread.start()
    server.stop()
    thread.join(20)
    assert failed
    alice.send(chat_a, me, "while down")
    assert "c" in alice.poll(fetch=False).errors and len(alice.store.outbox("c")) == 1  # kept
    server.restart()
    alice.send(chat_a, me, "after")
    assert alice.poll(fetch=False).posted == {"c": 2}  # the outbox's "while down" first
    notes = bob.listen_round(bridge, 10.0).notes
    assert any("restarted" in note for note in notes)  # it asked
    alice.poll()  # answers the request
    alice.poll(fetch=False)
    expected = ["before", "while down", "after"]
    deadline = time.monotonic() + 10
    while _bodies(bob, chat_b) != expected:
        assert time.monotonic() < deadline, _bodies(bob, chat_b)
        bob.listen_round(bridge, 1.0)
    bridge.close()


def _bot(port: int, monkeypatch: pytest.MonkeyPatch) -> CmdChatBridge:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return bot(port, "bob-bot")


def _a_new_login_asks_nothing(server: CmdChatServer, cursor: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bob's bot logs in anew and reads from ``cursor``: no note, and no catch-up request
    posted into the room."""
    again = _bot(server.port, monkeypatch)
    found = again.poll(cursor)
    again.close()
    assert not found.notes, found.notes
    assert [m["username"] for m in server.backlog()] == []  # no request posted into the room


def test_a_new_login_to_an_unchanged_room_read_while_empty_asks_nothing(
    server: CmdChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (issue 20's review) The cursor records that the backlog was empty as read: a new login
    # to the same server (a daemon restart, nothing happened) loses nothing and asks nothing;
    # a request would make every peer's bot post all it posted again, for nothing.
    first = _bot(server.port, monkeypatch)
    cursor = first.poll(None).cursor
    first.close()
    _a_new_login_asks_nothing(server, cursor, monkeypatch)


def test_a_new_login_after_a_clear_seen_live_asks_nothing(
    server: CmdChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The message read last is gone from the backlog, but this bot saw the clear: nothing lost.
    bot = _bot(server.port, monkeypatch)
    cursor = bot.poll(None).cursor
    person = RawClient(server.port, "carol", PASSWORD)
    person.say("before the clear")
    read = cleared = False
    deadline = time.monotonic() + 10
    while not cleared:
        assert time.monotonic() < deadline, "the clear never reached the bot"
        result = bot.listen(cursor, 1.0)
        cursor = result.cursor
        if result.items and not read:  # the message is read (the cursor is past it): now the clear
            read = True
            person.send({"type": "clear"})
        cleared = any("cleared" in note for note in result.notes)
    assert read
    bot.close()
    person.close()
    _a_new_login_asks_nothing(server, cursor, monkeypatch)
