"""``pbridge chat hide`` (issue 18, item 4; docs/AT-REST.md §7): a hidden chat leaves no
trace of its name or members in any file of the home, its pointers stay as unclaimed
ones, and joining it again with its invite (or, an open chat, its name) and secret brings
its whole history back, this home's own messages included."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

from pointerbridge.app.service import App
from pointerbridge.home.config import Home
from test_cli import EXIT_CODES, run

PHRASES = {
    "alice": "alice phrase of the hiding tests, cobalt",
    "bobthebuilder": "bob phrase of the hiding tests, walnut",
}
SALTED = "Zanzibar Hideout"
OPEN = "Open Lounge Quokka"
SECRETS = {SALTED: "tulips in the rain at dawn 7 zebra", OPEN: "a long open secret 42 of the quokka lounge"}


def _as(user: str, home: Path, *args: str, stdin: str = "", chat: str | None = None) -> str:
    """Run pbridge as ``user`` on ``home`` (their phrase, and ``chat``'s secret); its stdout."""
    env: dict[str, str | bytes] = {"PBRIDGE_CHAT_SECRET": SECRETS[chat]} if chat else {}
    done = run("--home", str(home), *args, stdin=stdin, env=env, phrase=PHRASES[user])
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def _home(tmp_path: Path, user: str, shared: Path) -> Path:
    home = tmp_path / user
    _as(user, home, "init", "--username", user)
    _as(user, home, "carrier", "add", "shared", "--type", "files", "--path", str(shared))
    return home


def _read(user: str, home: Path, chat: str) -> list[tuple[str, str, str]]:
    data = json.loads(_as(user, home, "read", chat, "--json", chat=chat))
    assert data["refused"] == 0
    return [(m["username"], m["trust"], m["body"]) for m in data["messages"]]


def _every_file(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def _chat_id(home: Path, user: str, chat: str) -> int:
    with App(Home.resolve(home), create=False) as app:
        app.unlock_identity(PHRASES[user])
        return app.chat_row(chat).id


def _pointers(home: Path) -> list[tuple[int, int | None, str, int]]:
    with sqlite3.connect(home / "store.db") as db:
        return db.execute("SELECT id, chat_id, direction, trashed FROM pointers ORDER BY id").fetchall()


def _rows(home: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(home / "store.db") as db:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in ("pointers", "posts", "chats")}


def test_a_hidden_chat_leaves_no_trace_and_comes_back_with_its_invite(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, bob = _home(tmp_path, "alice", shared), _home(tmp_path, "bobthebuilder", shared)
    invite = _as("alice", alice, "chat", "create", SALTED, "--carrier", "shared", chat=SALTED).splitlines()[1]
    _as("bobthebuilder", bob, "chat", "join", invite, chat=SALTED)
    _as("alice", alice, "chat", "create", OPEN, "--carrier", "shared", "--open", chat=OPEN)
    _as("bobthebuilder", bob, "chat", "create", OPEN, "--carrier", "shared", "--open", chat=OPEN)
    _as("alice", alice, "send", SALTED, stdin="hello bob, from alice", chat=SALTED)
    _as("alice", alice, "send", SALTED, stdin="a message alice trashes", chat=SALTED)
    _as("bobthebuilder", bob, "poll")
    _as("bobthebuilder", bob, "send", SALTED, stdin="hello alice, from bob", chat=SALTED)
    _as("bobthebuilder", bob, "send", OPEN, stdin="bob in the open lounge", chat=OPEN)
    _as("alice", alice, "poll")
    history = [
        ("alice", "pinned", "hello bob, from alice"),
        ("alice", "pinned", "a message alice trashes"),
        ("bobthebuilder", "new", "hello alice, from bob"),
    ]
    assert _read("alice", alice, SALTED) == history
    assert _read("alice", alice, OPEN) == [("bobthebuilder", "new", "bob in the open lounge")]  # bob pinned there too
    trashed = json.loads(_as("alice", alice, "read", SALTED, "--json", chat=SALTED))["messages"][1]["id"]
    _as("alice", alice, "trash", SALTED, trashed, chat=SALTED)
    hidden_id = _chat_id(alice, "alice", SALTED)
    ids = [pid for pid, chat_id, _, _ in _pointers(alice) if chat_id == hidden_id]
    assert len(ids) == 3
    before = json.loads(_as("alice", alice, "status", "--json"))

    declined = run("--home", str(alice), "chat", "hide", SALTED, stdin="n\n", phrase=PHRASES["alice"])
    assert declined.returncode == 1 and _chat_id(alice, "alice", SALTED) == hidden_id
    hid = run("--home", str(alice), "chat", "hide", SALTED, "--yes", phrase=PHRASES["alice"])
    assert hid.returncode == 0, hid.stderr
    printed, said = hid.stdout.splitlines(), " ".join(hid.stderr.split())
    assert printed[0].startswith("pbinvite1.") and printed[1:] == [
        f"chat {SALTED!r} hidden; its 3 pointer(s) stay as unclaimed ones"
    ]
    for told in ("invite and its secret are what bring it back", "a salted chat's", "junk clear --unclaimed"):
        assert told in said
    assert "cannot be told from a carrier's junk" in said and "trash is not kept" in said

    # Nothing of the chat's name or of bob remains in any file of alice's home (WAL included).
    who = json.loads(run("--home", str(bob), "whoami", "--json").stdout)
    key = bytes.fromhex(who["public_key"])
    needles = [SALTED, SALTED.casefold(), "bobthebuilder", who["fingerprint"], key.hex(), key.hex().upper()]
    needles += [code(key).decode().rstrip("=") for code in (base64.b64encode, base64.urlsafe_b64encode)]
    found = _every_file(alice)
    assert len(found) > 10_000 and b"alice" in found  # the scan sees the store (her own name may stay)
    for needle in [n.encode() for n in needles] + [key]:
        assert needle not in found, needle
    after = json.loads(_as("alice", alice, "status", "--json"))
    assert after["pointers"] == before["pointers"] and after["unrouted"] == before["unrouted"] + 3
    assert [row for row in _pointers(alice) if row[0] in ids] == [(pid, None, "in", 0) for pid in ids]
    with sqlite3.connect(alice / "store.db") as db:
        marks = ",".join("?" * len(ids))
        assert db.execute(f"SELECT count(*) FROM posts WHERE pointer_id IN ({marks})", ids).fetchone() == (0,)
    assert [c["name"] for c in json.loads(_as("alice", alice, "chat", "list", "--json"))] == [OPEN]

    # Joined again with the invite hide printed and the secret: the whole history is back,
    # alice's own messages as hers, out of the trash.
    _as("alice", alice, "chat", "join", printed[0], chat=SALTED)
    assert _read("alice", alice, SALTED) == history
    assert [c["name"] for c in json.loads(_as("alice", alice, "chat", "list", "--json"))] == [OPEN, SALTED]
    _as("alice", alice, "send", SALTED, stdin="back again", chat=SALTED)  # and it sends
    _as("bobthebuilder", bob, "poll")
    assert _read("bobthebuilder", bob, SALTED)[-1] == ("alice", "pinned", "back again")


def test_an_open_chat_comes_back_by_name_and_secret(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, bob = _home(tmp_path, "alice", shared), _home(tmp_path, "bobthebuilder", shared)
    for user, home in (("alice", alice), ("bobthebuilder", bob)):
        _as(user, home, "chat", "create", OPEN, "--carrier", "shared", "--open", chat=OPEN)
    _as("alice", alice, "send", OPEN, stdin="alice, before hiding", chat=OPEN)
    _as("bobthebuilder", bob, "poll")
    _as("bobthebuilder", bob, "send", OPEN, stdin="bob, before hiding", chat=OPEN)
    _as("alice", alice, "poll")
    history = [("alice", "pinned", "alice, before hiding"), ("bobthebuilder", "new", "bob, before hiding")]
    assert _read("alice", alice, OPEN) == history
    hid = run("--home", str(alice), "chat", "hide", OPEN, "--yes", phrase=PHRASES["alice"])
    assert hid.returncode == 0 and "an open chat's" in hid.stderr
    assert json.loads(_as("alice", alice, "chat", "list", "--json")) == []
    # CLM's way: a pointer of the chat pasted with its name and secret makes it again.
    pasted = "\n".join(p.read_text() for p in sorted(shared.iterdir()))
    _as("alice", alice, "receive", "--chat", OPEN, stdin=pasted, chat=OPEN)
    assert _read("alice", alice, OPEN) == history


def test_hiding_a_chat_with_a_post_waiting_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice = _home(tmp_path, "alice", shared)
    _as("alice", alice, "chat", "create", SALTED, "--carrier", "shared", chat=SALTED)
    _as("alice", alice, "send", SALTED, "--queue", stdin="not posted yet", chat=SALTED)
    rows = _rows(alice)
    refused = run("--home", str(alice), "chat", "hide", SALTED, "--yes", phrase=PHRASES["alice"])
    assert EXIT_CODES["PostsWaitingError"] == 38
    assert refused.returncode == 38 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith(f"pbridge: 1 post(s) of chat {SALTED!r}")
    assert "poll first" in refused.stderr and refused.stdout == ""  # refused before the invite is shown
    assert _rows(alice) == rows and len(rows["pointers"]) == len(rows["posts"]) == len(rows["chats"]) == 1
    assert [c["name"] for c in json.loads(_as("alice", alice, "chat", "list", "--json"))] == [SALTED]
    _as("alice", alice, "poll")  # posted: now it hides
    assert "1 pointer(s) stay" in _as("alice", alice, "chat", "hide", SALTED, "--yes")


def test_a_post_waiting_for_a_carrier_removed_since_does_not_keep_a_chat_from_hiding(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice = _home(tmp_path, "alice", shared)
    gone = tmp_path / "gone"
    gone.mkdir()
    assert run("--home", str(alice), "carrier", "add", "gone", "--type", "files", "--path", str(gone)).returncode == 0
    _as("alice", alice, "chat", "create", SALTED, "--carrier", "gone", chat=SALTED)
    _as("alice", alice, "send", SALTED, "--queue", stdin="never carried", chat=SALTED)
    config = alice / "config.toml"  # no command removes a carrier: its section is deleted by hand
    text = config.read_text()
    start = text.index("[carriers.gone]")
    end = text.find("[carriers.", start + 1)
    config.write_text(text[:start] + (text[end:] if end >= 0 else ""))
    assert "1 pointer(s) stay" in _as("alice", alice, "chat", "hide", SALTED, "--yes")
    rows = _rows(alice)
    assert rows["posts"] == [] and rows["chats"] == []  # the post no carrier will ever take is dropped


def test_init_force_on_a_terminal_asks_the_old_phrase_and_hides_only_after_a_yes(tmp_path: Path) -> None:
    import os

    from test_secret_policy import Terminal

    shared = tmp_path / "shared"
    shared.mkdir()
    alice = _home(tmp_path, "alice", shared)
    _as("alice", alice, "chat", "create", SALTED, "--carrier", "shared", chat=SALTED)
    before = run("--home", str(alice), "whoami", "--json").stdout
    new = {"PBRIDGE_MASTER_PHRASE": "a wholly new phrase for alice, copper fennel 31"}
    cost = {"PBRIDGE_IDENTITY_MEMORY_MIB": os.environ.get("PBRIDGE_IDENTITY_MEMORY_MIB", "64")}
    args = ("--home", str(alice), "init", "--username", "alice", "--force")
    asked = Terminal(*args, env={**new, **cost})
    asked.expect("Enter alone: hide its 1 chat(s)")
    asked.send("")
    asked.expect("Hide all 1 chat(s)?")
    asked.send("n")
    assert asked.finish() == 1, asked.seen
    assert run("--home", str(alice), "whoami", "--json").stdout == before  # nothing changed
    typed = Terminal(*args, env={**new, **cost})
    typed.expect("Enter alone: hide its 1 chat(s)")
    typed.send(PHRASES["alice"])
    assert typed.finish() == 0, typed.seen
    assert "hidden" not in typed.seen and "PBRIDGE" not in typed.seen and PHRASES["alice"] not in typed.seen
    listed = run("--home", str(alice), "chat", "list", "--json", phrase=new["PBRIDGE_MASTER_PHRASE"])
    assert [c["name"] for c in json.loads(listed.stdout)] == [SALTED]
