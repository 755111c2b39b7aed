"""A user who rotated their identity and joins one of their chats again (after ``chat
hide``, or on another machine with the new identity) sees their own older messages as
theirs: the rotation notices in the chat's history, each signed by the key before and
sealed by the key after, are followed back from the key they hold now (app/trust.py,
:meth:`TrustWalk.trace_back`). Only a key that chain does not reach is a changed key."""

from __future__ import annotations

import json
import os
from itertools import pairwise
from pathlib import Path

from helpers import raw_identity
from pointerbridge.app.service import App, UnlockedChat
from pointerbridge.app.trust import MAX_TRACE
from pointerbridge.core import Identity
from pointerbridge.core.pointer import _seal
from pointerbridge.core.rotation import make_notice, notice_body
from pointerbridge.home.config import Home
from test_cli import run

CHAT = "Zanzibar Rotations"
SECRET = "tulips in the rain at dawn 7 zebra, rotated"
PHRASES = [
    "alice first phrase of the rejoin tests, cobalt",
    "alice second phrase of the rejoin tests, walnut",
    "alice third phrase of the rejoin tests, marigold",
]
BOB = "bob phrase of the rejoin tests, lantern meadow"
NOTICE = "alice changed their key; this notice is signed by the old one."


def _as(phrase: str, home: Path, *args: str, stdin: str = "", new: str | None = None) -> str:
    env: dict[str, str | bytes] = {"PBRIDGE_CHAT_SECRET": SECRET}
    if new is not None:
        env["PBRIDGE_NEW_MASTER_PHRASE"] = new
    done = run("--home", str(home), *args, stdin=stdin, env=env, phrase=phrase)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def _read(phrase: str, home: Path) -> list[tuple[str, str, str]]:
    data = json.loads(_as(phrase, home, "read", CHAT, "--json"))
    assert data["refused"] == 0
    return [(m["username"], m["trust"], m["body"].split("\n")[0]) for m in data["messages"]]


def test_own_older_keys_are_followed_back_after_hiding_or_on_another_machine(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    for phrase, home, user in ((PHRASES[0], alice, "alice"), (BOB, bob, "bob")):
        _as(phrase, home, "init", "--username", user)
        _as(phrase, home, "carrier", "add", "shared", "--type", "files", "--path", str(shared))
    invite = _as(PHRASES[0], alice, "chat", "create", CHAT, "--carrier", "shared").splitlines()[1]
    _as(BOB, bob, "chat", "join", invite)
    _as(PHRASES[0], alice, "send", CHAT, stdin="from my first key")
    _as(BOB, bob, "poll")
    _as(BOB, bob, "send", CHAT, stdin="hello alice")
    _as(PHRASES[0], alice, "poll")
    # Two rotations, A -> B -> C, each notice going out with the next message.
    _as(PHRASES[0], alice, "identity", "rotate", new=PHRASES[1])
    _as(PHRASES[1], alice, "send", CHAT, stdin="from my second key")
    _as(PHRASES[1], alice, "identity", "rotate", new=PHRASES[2])
    _as(PHRASES[2], alice, "send", CHAT, stdin="from my third key")
    history = [
        ("alice", "pinned", "from my first key"),
        ("bob", "new", "hello alice"),
        ("alice", "rotated", NOTICE),
        ("alice", "pinned", "from my second key"),
        ("alice", "rotated", NOTICE),
        ("alice", "pinned", "from my third key"),
    ]
    assert _read(PHRASES[2], alice) == history
    _as(BOB, bob, "poll")
    assert _read(BOB, bob) == [("alice", "new", "from my first key"), ("bob", "pinned", "hello alice"), *history[2:]]

    # Hidden and joined again: the fresh chat pins alice's third key, and follows it back.
    _as(PHRASES[2], alice, "chat", "hide", CHAT, "--yes")
    _as(PHRASES[2], alice, "chat", "join", invite)
    assert _read(PHRASES[2], alice) == history
    again = [*history[:1], ("bob", "pinned", "hello alice"), *history[2:]]
    assert _read(PHRASES[2], alice) == again  # as stored: the second read replays it
    with App(Home.resolve(alice), create=False) as app:  # a page of it, judged against what is stored
        app.unlock_identity(PHRASES[2])
        page = app.read_page(app.unlock_chat(CHAT, SECRET), limit=3)
        assert [(s.message.body.split("\n")[0], s.trust) for s in page.messages] == [
            ("from my second key", "pinned"),
            (NOTICE, "rotated"),
            ("from my third key", "pinned"),
        ]

    # Another machine, the new identity from its recovery code: the same history.
    code = json.loads(_as(PHRASES[2], alice, "whoami", "--json"))["recovery_code"]
    laptop = tmp_path / "laptop"
    _as(PHRASES[2], laptop, "init", "--username", "alice", "--recovery-code", code)
    _as(PHRASES[2], laptop, "carrier", "add", "shared", "--type", "files", "--path", str(shared))
    _as(PHRASES[2], laptop, "chat", "join", invite)
    _as(PHRASES[2], laptop, "poll")
    assert _read(PHRASES[2], laptop) == history


def _receive(app: App, chat: UnlockedChat, sender: Identity, body: str, sent_ms: int) -> None:
    app.receive("\n".join(_seal(chat.key, sender, body, 2000, os.urandom, sent_ms)))


def _fresh(tmp_path: Path, name: str) -> tuple[App, Identity, UnlockedChat]:
    """A home of alice's whose chat pins her current key (as one joined after rotating)."""
    app = App(Home.resolve(tmp_path / name))
    me = app.init("alice", PHRASES[2])
    return app, me, app.create_chat(CHAT, SECRET, [])


def _marks(app: App, chat: UnlockedChat) -> list[tuple[str, str]]:
    shown, refused = app.read(chat)
    assert refused == 0
    return [(s.message.body.split("\n")[0], s.trust) for s in shown]


def test_only_notices_signed_by_the_key_before_and_sealed_by_the_key_after_are_followed(tmp_path: Path) -> None:
    app, me, chat = _fresh(tmp_path, "hostile")
    a, b, x = raw_identity("alice"), Identity("alice", b"\x0b" * 32), Identity("alice", b"\x0c" * 32)
    at = 1_790_000_000_000
    steps = [
        (x, "a forger's key, before everything"),
        (a, "from my first key"),
        (x, notice_body(make_notice(x, me))),  # sealed by another key than the one it names
        (b, notice_body(make_notice(a, b))),
        (b, "from my second key"),
        (me, notice_body(make_notice(b, me))),
        (me, "from the key I hold"),
        (a, "late, from my first key"),
    ]
    for offset, (sender, body) in enumerate(steps):
        _receive(app, chat, sender, body, at + offset)
    assert _marks(app, chat) == [
        ("a forger's key, before everything", "changed"),
        ("from my first key", "pinned"),
        (NOTICE, "changed"),
        (NOTICE, "rotated"),
        ("from my second key", "pinned"),
        (NOTICE, "rotated"),
        ("from the key I hold", "pinned"),
        ("late, from my first key", "retired"),
    ]
    assert app.store.pins(chat.row.id)["alice"] == a.public_key
    app.close()


def test_two_keys_claiming_one_place_in_the_chain_stop_it_there(tmp_path: Path) -> None:
    app, me, chat = _fresh(tmp_path, "ambiguous")
    a, b, y = raw_identity("alice"), Identity("alice", b"\x0d" * 32), Identity("alice", b"\x0e" * 32)
    at = 1_790_000_000_000
    steps = [
        (a, "from my first key"),
        (y, "from a key someone holding my second one vouches for"),
        (b, notice_body(make_notice(a, b))),
        (b, notice_body(make_notice(y, b))),  # b leaked: a second key before it
        (me, notice_body(make_notice(b, me))),
        (me, "from the key I hold"),
    ]
    for offset, (sender, body) in enumerate(steps):
        _receive(app, chat, sender, body, at + offset)
    marks = _marks(app, chat)
    # Each notice sealed by the key pinned now shows as an ordinary message from that key.
    assert [t for _, t in marks] == ["changed", "changed", "pinned", "pinned", "rotated", "pinned"]
    assert app.store.pins(chat.row.id)["alice"] == b.public_key  # followed back as far as it is sure
    app.close()


def test_a_notice_arriving_after_the_one_it_would_precede_is_not_followed(tmp_path: Path) -> None:
    app, me, chat = _fresh(tmp_path, "order")
    a, b = raw_identity("alice"), Identity("alice", b"\x0f" * 32)
    at = 1_790_000_000_000
    steps = [
        (a, "from a key"),
        (me, notice_body(make_notice(b, me))),
        (b, notice_body(make_notice(a, b))),  # too late to have moved alice to b
    ]
    for offset, (sender, body) in enumerate(steps):
        _receive(app, chat, sender, body, at + offset)
    assert [t for _, t in _marks(app, chat)] == ["changed", "rotated", "retired"]
    assert app.store.pins(chat.row.id)["alice"] == b.public_key
    app.close()


def test_a_long_chain_is_followed_back_only_so_far(tmp_path: Path) -> None:
    app, me, chat = _fresh(tmp_path, "long")
    keys = [Identity("alice", bytes([n]) * 32) for n in range(1, MAX_TRACE + 3)] + [me]
    at = 1_790_000_000_000
    _receive(app, chat, keys[0], "from my very first key", at)
    for n, (old, new) in enumerate(pairwise(keys)):
        _receive(app, chat, new, notice_body(make_notice(old, new)), at + 1 + n)
    marks = [t for _, t in _marks(app, chat)]
    # MAX_TRACE links back from the key held now: the rotations before them are not its.
    assert marks[-MAX_TRACE:] == ["rotated"] * MAX_TRACE
    assert "rotated" not in marks[:-MAX_TRACE] and marks[0] == "changed"
    assert app.store.pins(chat.row.id)["alice"] == keys[-1 - MAX_TRACE].public_key
    app.close()
