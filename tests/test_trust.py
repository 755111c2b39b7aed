"""Trust on first use: who wins a username in a chat, and how parts are grouped."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import raw_identity
from pointerbridge.app.service import App, UnlockedChat
from pointerbridge.core import Identity
from pointerbridge.core.pointer import _seal
from pointerbridge.home.config import Home

SECRET = "a shared secret for trust tests"
YEAR_MS = 365 * 86_400_000


def _home(tmp_path: Path, username: str) -> tuple[App, UnlockedChat]:
    app = App(Home.resolve(tmp_path / username))
    app.init(username, f"{username} phrase", allow_weak=True)  # Argon2id once per home
    return app, app.create_chat("Family", SECRET, [], allow_weak=True)


def _pointers(chat: UnlockedChat, username: str, body: str, sent_ms: int, key_seed: str = "") -> str:
    sender = Identity(username, hashlib.sha256(f"identity {username}{key_seed}".encode()).digest())
    return "\n".join(_seal(chat.key, sender, body, 2000, os.urandom, sent_ms))


def test_a_backdated_forgery_does_not_win_the_name(tmp_path: Path) -> None:
    app, chat = _home(tmp_path, "bob")
    now = 1_790_000_000_000
    app.receive(_pointers(chat, "alice", "genuine, arrived first", now))
    app.receive(_pointers(chat, "alice", "forged, dated a year earlier", now - YEAR_MS, key_seed="-mallory"))
    shown, refused = app.read(chat)
    trust = {s.message.body: s.trust for s in shown}
    assert refused == 0
    assert [s.message.body for s in shown] == ["forged, dated a year earlier", "genuine, arrived first"]
    assert trust == {"genuine, arrived first": "new", "forged, dated a year earlier": "changed"}
    app.close()


def test_nobody_can_take_the_readers_own_name(tmp_path: Path) -> None:
    app, chat = _home(tmp_path, "bob")
    app.receive(_pointers(chat, "bob", "I am bob, honest", 1_790_000_000_000, key_seed="-mallory"))
    shown, _ = app.read(chat)
    assert [s.trust for s in shown] == ["changed"]
    app.close()


def test_parts_of_two_senders_with_one_message_id_stay_apart(tmp_path: Path) -> None:
    app, chat = _home(tmp_path, "bob")
    senders: list[list[str]] = []
    for name, body in (("alice", "A" * 3000), ("carol", "C" * 3000)):
        draws = iter([b"\x07" * 16])  # the message id is drawn first: the same for both senders

        def fixed(n: int, draws: Iterator[bytes] = draws) -> bytes:
            return next(draws, None) or os.urandom(n)

        senders.append(_seal(chat.key, raw_identity(name), body, 2000, fixed, 1_790_000_000_000))
    texts = [t for pair in zip(*senders, strict=True) for t in pair]  # stored interleaved
    assert len(texts) > 2
    app.receive("\n".join(texts))
    shown, refused = app.read(chat)
    assert refused == 0 and sorted(s.message.body[0] for s in shown) == ["A", "C"]
    for s in shown:  # each message owns exactly its own parts
        assert len(s.pointer_ids) == len(texts) // 2
    app.close()


def test_a_join_whose_config_cannot_be_saved_is_undone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import json

    from pointerbridge.home import config as config_module
    from pointerbridge.home.config import ConfigError

    app = App(Home.resolve(tmp_path / "gina"))
    app.init("gina", "gina phrase", allow_weak=True)
    folder = tmp_path / "folder"
    folder.mkdir()
    data = {"v": 1, "chat": "club", "carriers": {"x": {"type": "files", "path": str(folder)}}}
    invite = "pbinvite1." + base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    def full_disk(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_module, "write_private", full_disk)
    with pytest.raises(ConfigError, match="No space left"):
        app.join_invite(invite, SECRET, {})
    assert app.store.chats() == [] and app.config.carriers == {}
    monkeypatch.undo()
    assert app.join_invite(invite, SECRET, {}).row.carriers == ["x"]  # nothing half-done blocks a retry
    app.close()


def _other_threads_after_joining(within: float = 30.0) -> list[str]:
    """Wait for the threads an earlier test of this process left ending (a listener
    closing, a pool shutting down); the names of any still running after ``within``."""
    import threading
    import time

    deadline = time.monotonic() + within
    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
    return [t.name for t in threading.enumerate() if t is not threading.current_thread()]


def test_a_history_opened_by_worker_processes_equals_one_opened_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from pointerbridge.app import opening

    app, chat = _home(tmp_path, "bob")
    texts = [_pointers(chat, "alice", f"message {i}", 1_790_000_000_000 + i) for i in range(40)]
    texts.append(_pointers(chat, "carol", "C" * 5000, 1_790_000_000_100))  # split into parts
    app.receive("\n".join(texts))
    db = sqlite3.connect(tmp_path / "bob" / "store.db")
    (payload,) = db.execute("SELECT payload FROM pointers WHERE id = 5").fetchone()
    tampered = payload[:60] + bytes([payload[60] ^ 1]) + payload[61:]
    db.execute("UPDATE pointers SET payload = ? WHERE id = 5", (tampered,))
    db.commit()
    db.close()
    app.read(chat)  # verifies, stores the proofs and pins the senders
    expected = app.read(chat)  # one process, from the proofs
    monkeypatch.setattr(opening, "PARALLEL_FROM", 10)
    monkeypatch.setattr(opening, "CHUNK", 7)
    running = _other_threads_after_joining()  # a thread of an earlier test still ending stops the forking
    assert opening.workers_for(50) >= 2 or (os.cpu_count() or 1) < 2, running
    forked = app.read(chat)  # worker processes, from the proofs
    assert forked == expected and expected[1] == 1 and len(expected[0]) == 40
    assert {s.message.body[0] for s in forked[0]} == {"m", "C"}
    app.store._db.execute("UPDATE pointers SET verified = NULL")
    assert app.read(chat) == expected  # full opens (signatures) in the workers too
    assert app.read(chat) == expected
    app.close()


def test_messages_sent_in_the_same_millisecond_keep_their_arrival_order(tmp_path: Path) -> None:
    app, chat = _home(tmp_path, "bob")
    bodies = [f"line {i}" for i in range(30)]  # one sender, one millisecond: ids alone would shuffle them
    for body in bodies:
        app.receive(_pointers(chat, "alice", body, 1_790_000_000_000))
    shown, _ = app.read(chat)
    assert [s.message.body for s in shown] == bodies
    app.close()


def test_verdicts_are_named_and_their_marks_are_plain_strings() -> None:
    import json

    from pointerbridge.app.trust import Trust, TrustWalk, Verdict
    from pointerbridge.core import Message

    walk = TrustWalk({"alice": bytes(32)}, [], [], lambda _: None)
    for first_id, (name, key) in enumerate([("alice", bytes(32)), ("bob", bytes(32)), ("alice", b"\x01" * 32)], 1):
        walk.judge(first_id, Message("family", name, key, datetime(2026, 1, 1, tzinfo=UTC), "hi", "ab" * 16))
    assert walk.verdicts == [Verdict(Trust.PINNED), Verdict(Trust.NEW), Verdict(Trust.CHANGED)]
    assert [v.trust for v in walk.verdicts] == ["pinned", "new", "changed"] and walk.verdicts[0].notice is None
    assert json.dumps([v.trust for v in walk.verdicts]) == '["pinned", "new", "changed"]'


def test_init_replace_moves_this_homes_own_pin_and_tells_no_one_else(tmp_path: Path) -> None:
    from pointerbridge.app.errors import IdentityExistsError

    app = App(Home.resolve(tmp_path / "alice"))
    old = app.init("alice", "alice phrase", allow_weak=True)
    chat = app.create_chat("Family", SECRET, [], allow_weak=True)
    app.receive(_pointers(chat, "bob", "hello", 1_790_000_000_000))
    app.read(chat)  # a read pins this home's own name to its key first
    assert app.store.pins(chat.row.id)["alice"] == old.public_key
    with pytest.raises(IdentityExistsError, match="identity rotate"):
        app.init("alice", "a new phrase", allow_weak=True)
    assert app.public_identity() == (old.username, old.public_key)
    new = app.init("alice", "a new phrase", allow_weak=True, replace=True)
    assert new.public_key != old.public_key and app.public_identity() == (new.username, new.public_key)
    assert app.store.pins(chat.row.id)["alice"] == new.public_key  # this home's own name follows it
    app.close()
