"""The app's side of the cryptographic review (issue 15, items 6 and 7): store proofs a
member cannot forge, routing confirmed by the AEAD, equivocating split messages, and send
times held to arrival."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import timedelta
from hashlib import blake2b
from pathlib import Path

import pytest
from pointerbridge.app.service import App, UnlockedChat
from pointerbridge.core import Identity, TamperedError, pointer
from pointerbridge.core.armor import armor, dearmor
from pointerbridge.core.keys import hkdf
from pointerbridge.core.padding import padded_length
from pointerbridge.core.pointer import _seal
from pointerbridge.home.config import Home
from pointerbridge.home.store import StoreLockedError

SECRET = "a shared secret for the review checks"
NOW_MS = int(time.time() * 1000)
DAY_MS = 86_400_000


@pytest.fixture(autouse=True)
def _now() -> None:
    # Taken as each test starts, not at import: in a worker process (pytest-xdist) this
    # file may run minutes after it was collected, and arrival times are compared with it.
    global NOW_MS
    NOW_MS = int(time.time() * 1000)


def _home(tmp_path: Path, username: str = "bob", *, open_chat: bool = False) -> tuple[App, UnlockedChat]:
    app = App(Home.resolve(tmp_path / username))
    app.init(username, f"{username} phrase", allow_weak=True)
    return app, app.create_chat("Family", SECRET, [], open_chat=open_chat)


def _identity(username: str, seed: str = "") -> Identity:
    return Identity(username, hashlib.sha256(f"identity {username}{seed}".encode()).digest())


def _pointers(chat: UnlockedChat, sender: Identity, body: str, sent_ms: int, max_chars: int = 2000) -> str:
    return "\n".join(_seal(chat.key, sender, body, max_chars, os.urandom, sent_ms))


def _forged_as(chat: UnlockedChat, victim: Identity, body: bytes) -> str:
    """A pointer that names ``victim``'s key and name, made by someone holding only the
    chat key: the signature is the forger's own, so it does not verify."""
    forger = _identity("mallory")
    user = victim.username.encode()
    head = pointer._HEAD.pack(0, NOW_MS, victim.public_key, len(user)) + user + pointer._U32.pack(len(body))
    nonce = os.urandom(16)
    signature = forger._sign(pointer._Content(head, body).signed(chat.key, nonce))
    inner = head + body + signature
    return pointer._encrypt(chat.key, nonce, inner + bytes(padded_length(len(inner)) - len(inner)))


def _write_proofs(store: Path, proof_keys: list[bytes]) -> None:
    """What a member who can write the reader's store does: a proof, under every key a
    chat member can compute, beside every pointer (only the last key's stays)."""
    db = sqlite3.connect(store)
    for pid, payload in db.execute("SELECT id, payload FROM pointers").fetchall():
        for proof_key in proof_keys:
            db.execute(
                "UPDATE pointers SET verified = ? WHERE id = ?",
                (blake2b(payload, key=proof_key, digest_size=32).digest(), pid),
            )
    db.commit()
    db.close()


def test_a_member_who_writes_the_proof_column_cannot_pass_a_forgery(tmp_path: Path) -> None:
    app, chat = _home(tmp_path)
    alice = _identity("alice")
    app.receive(_pointers(chat, alice, "the real alice", NOW_MS - 1000))
    app.receive(_forged_as(chat, alice, b"send the money to mallory"))
    shown, refused = app.read(chat)  # full checks: the forgery is refused, alice is pinned
    assert [s.message.body for s in shown] == ["the real alice"] and refused == 1
    app.close()
    # Mallory holds the chat key, so she can compute any key derived from it alone: the
    # proof key of the earlier scheme among them.
    cache_key = hkdf(chat.key._key, b"pointerbridge store: signature verified")
    _write_proofs(tmp_path / "bob" / "store.db", [cache_key])
    reader = App(Home.resolve(tmp_path / "bob"))
    # Without the identity there is no reader at all: the chat list is sealed under it
    # (docs/AT-REST.md), so the proofs are always the reader's own.
    with pytest.raises(StoreLockedError):
        reader.unlock_chat("Family", SECRET)
    reader.unlock_identity("bob phrase")
    again = reader.unlock_chat("Family", SECRET)
    shown, refused = reader.read(again)
    assert [(s.message.body, s.trust) for s in shown] == [("the real alice", "pinned")]
    assert refused == 1
    stored = reader.store._db.execute("SELECT verified FROM pointers ORDER BY id").fetchall()
    # the genuine pointer's proof is the reader's own now; the forgery has none of the reader's
    mine = blake2b(
        dearmor(reader.store._db.execute("SELECT text FROM pointers WHERE id = 1").fetchone()[0])[1],
        key=reader._proof_key(again.key) or b"",
        digest_size=32,
    ).digest()
    assert stored[0][0] == mine
    reader.close()


def test_proofs_still_spare_the_signature_for_the_reader_who_made_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, chat = _home(tmp_path)
    app.receive(_pointers(chat, _identity("alice"), "hello", NOW_MS))
    assert [s.message.body for s in app.read(chat)[0]] == ["hello"]  # verified once, proof stored
    opened: list[bytes] = []
    real_open = pointer.open_payload

    def counting_open(chat_key: object, payload: bytes, verify: bool = True) -> object:
        opened.append(payload)
        return real_open(chat_key, payload, verify)  # type: ignore[arg-type]

    monkeypatch.setattr(pointer, "open_payload", counting_open)
    assert [s.message.body for s in app.read(chat)[0]] == ["hello"]
    assert opened == []  # from the reader's own proof: no full open, no signature check
    app.close()


def _tag_collision(chat: UnlockedChat) -> str:
    """A payload that carries ``chat``'s routing tag but is not sealed under its key (what
    a chance collision, or a member of another chat copying the tag, looks like)."""
    nonce = os.urandom(16)
    return armor(1, nonce + chat.key.routing_tag(nonce) + os.urandom(300))


def test_a_tag_collision_is_neither_routed_nor_used_to_create_a_chat(tmp_path: Path) -> None:
    app, chat = _home(tmp_path, open_chat=True)  # an open chat: the one kind joined by receiving
    stray = _tag_collision(chat)
    genuine = _pointers(chat, _identity("alice"), "for the family", NOW_MS)
    app.receive(stray + "\n" + genuine)
    shown, refused = app.read(chat)
    assert [s.message.body for s in shown] == ["for the family"]
    assert refused == 1  # counted for the reader, but left for the chat whose pointer it may be
    unrouted = app.store.unrouted()
    assert [row.text for row in unrouted] == [stray]
    assert app.matching_pointers(stray + " " + genuine, chat.key) == [genuine]
    app.close()

    other = App(Home.resolve(tmp_path / "carol"))
    other.init("carol", "carol phrase", allow_weak=True)
    # The chat's tag on bytes its key does not open: an altered pointer, said so (issue 17, item 5).
    with pytest.raises(TamperedError):
        other.join_by_receiving("Family", SECRET, stray)
    assert other.store.chats() == []
    assert other.join_by_receiving("Family", SECRET, stray + "\n" + genuine).row.name == "Family"
    other.close()


def _first_draw(first: bytes) -> Callable[[int], bytes]:
    draws = iter([first])
    return lambda n: next(draws, None) or os.urandom(n)


def test_a_split_message_whose_sender_equivocates_is_refused_by_the_app(tmp_path: Path) -> None:
    alice = _identity("alice")
    for order in ("interleaved", "after it joined"):
        app, chat = _home(tmp_path / order.replace(" ", "-"))
        # One message id (the sealer draws it first) and one send time, two texts.
        one, two = (_seal(chat.key, alice, body * 3000, 1000, _first_draw(b"\x42" * 16), NOW_MS) for body in "AB")
        assert len(one) == len(two) > 2
        texts = [one[0], two[0], *one[1:]] if order == "interleaved" else [*one, two[1]]
        for text in texts:
            app.receive(text)
        shown, refused = app.read(chat)
        assert shown == [] and refused == len(texts)
        app.close()


def test_a_backdated_message_is_held_to_its_arrival_and_flagged(tmp_path: Path) -> None:
    app, chat = _home(tmp_path)
    alice, carol = _identity("alice"), _identity("carol")
    app.receive(_pointers(chat, alice, "an hour and more ago", NOW_MS - 2 * 3600_000))
    app.receive(_pointers(chat, alice, "and then this", NOW_MS - 2 * 3600_000 + 1000))
    with app.store.transaction() as db:  # these two reached the store two hours ago
        db.execute("UPDATE pointers SET received_at = received_at - 7200")
    app.receive(_pointers(chat, carol, "I was here first, honest", NOW_MS - 3 * DAY_MS))
    app.receive(_pointers(chat, carol, "written tomorrow", NOW_MS + DAY_MS))
    app.receive(_pointers(chat, alice, "now", NOW_MS))
    shown, refused = app.read(chat)
    assert refused == 0
    bodies = [s.message.body for s in shown]
    assert bodies == ["an hour and more ago", "and then this", "I was here first, honest", "now", "written tomorrow"]
    late = {s.message.body: s.arrived_late for s in shown}
    assert late["an hour and more ago"] is None and late["now"] is None
    backdated = late["I was here first, honest"]
    assert backdated is not None and timedelta(days=3) <= backdated < timedelta(days=3, minutes=5)
    future = late["written tomorrow"]
    assert future is not None and -timedelta(days=1) <= future < -timedelta(hours=23)
    page = app.read_page(chat, limit=10)
    assert [s.message.body for s in page.messages] == bodies
    # A page that holds the backdated message but not what arrived before it flags it too.
    page = app.read_page(chat, limit=3)
    assert [s.message.body for s in page.messages] == bodies[2:]
    assert [s.arrived_late for s in page.messages] == [backdated, None, future]
    app.close()


def test_a_backlog_arriving_at_once_keeps_its_send_order_unflagged(tmp_path: Path) -> None:
    app, chat = _home(tmp_path)
    alice = _identity("alice")
    for days in (5, 3, 4):  # a folder's history, read for the first time: all of it arrives now
        app.receive(_pointers(chat, alice, f"{days} days ago", NOW_MS - days * DAY_MS))
    shown, _ = app.read(chat)
    assert [s.message.body for s in shown] == ["5 days ago", "4 days ago", "3 days ago"]
    assert all(s.arrived_late is None for s in shown)
    app.close()


def test_the_command_line_shows_a_late_message(tmp_path: Path) -> None:
    from test_cli import run

    app, chat = _home(tmp_path)
    app.receive(_pointers(chat, _identity("alice"), "first", NOW_MS - 2 * 3600_000))
    with app.store.transaction() as db:
        db.execute("UPDATE pointers SET received_at = received_at - 7200")
    app.receive(_pointers(chat, _identity("carol"), "backdated", NOW_MS - 3 * DAY_MS))
    app.close()
    args = ("--home", str(tmp_path / "bob"), "read", "Family")
    env = {"PBRIDGE_CHAT_SECRET": SECRET, "PBRIDGE_MASTER_PHRASE": "bob phrase"}
    plain = run(*args, env=env)
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert "first" in lines[0] and "sent" not in lines[0]
    assert "backdated" in lines[1] and "sent 3 days before it arrived" in lines[1]
    data = json.loads(run(*args, "--json", env=env).stdout)
    late = [m.get("arrived_late_seconds") for m in data["messages"]]
    assert late[0] is None and late[1] is not None and late[1] >= 3 * 86_400


def test_a_resealed_copy_of_a_part_belongs_to_the_message_it_repeats(tmp_path: Path) -> None:
    app, chat = _home(tmp_path)
    alice = _identity("alice")
    one, two = (_seal(chat.key, alice, "A" * 3000, 1000, _first_draw(b"\x43" * 16), NOW_MS) for _ in range(2))
    assert one != two  # the same parts under fresh nonces
    for text in [*one, two[0]]:
        app.receive(text)
    shown, refused = app.read(chat)
    assert [s.message.body for s in shown] == ["A" * 3000] and refused == 0
    assert len(shown[0].pointer_ids) == len(one) + 1  # trashing or purging it takes the copy too
    page = app.read_page(chat, limit=len(one) + 1)
    assert [s.message.body for s in page.messages] == ["A" * 3000] and page.older is None
    app.close()
