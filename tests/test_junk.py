"""Junk on a carrier (issue 17, item 7): what is stored of it, what ``status`` shows, and what
``pbridge junk clear`` deletes, through a real shared folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pointerbridge.app.base import MIN_LATER_PAYLOAD, MIN_PB1_PAYLOAD
from pointerbridge.app.service import App
from pointerbridge.core.armor import ALPHABET, armor, dearmor
from pointerbridge.core.pointer import FIXED_BYTES, MIN_PAYLOAD_BYTES
from pointerbridge.home.store import Direction
from pointerbridge.home.store.pointers import KEEP_LATER_VERSION_BYTES, KEEP_LATER_VERSION_POINTERS
from test_cli import run


def _later(version: int, size: int) -> str:
    """A pointer of a later version whose payload is ``size`` bytes (the §4 envelope)."""
    return "pb" + ALPHABET[version] + armor(1, os.urandom(size))[3:]


def _texts(home: str) -> list[str]:
    with App.at(Path(home)) as app:
        return [row.text for row in app.store.unrouted()]


def test_the_storage_floors_are_the_formats_own() -> None:
    assert (MIN_PB1_PAYLOAD, MIN_LATER_PAYLOAD) == (MIN_PAYLOAD_BYTES, FIXED_BYTES)


def test_carrier_junk_is_not_kept_is_bounded_shown_and_cleared(tmp_path: Path) -> None:
    home, shared = str(tmp_path / "home"), tmp_path / "shared"
    shared.mkdir()
    env: dict[str, str | bytes] = {"PBRIDGE_MASTER_PHRASE": "junk phrase"}
    assert run("--home", home, "init", "--username", "al", "--weak-secret-ok", env=env).returncode == 0
    assert run("--home", home, "carrier", "add", "sh", "--type", "files", "--path", str(shared)).returncode == 0

    # Well-formed but too short to open: a pb1 payload under the shortest pointer's, and
    # later versions declaring less than a pb1 message's fixed fields. Not stored.
    short = [armor(1, os.urandom(40)), armor(1, os.urandom(MIN_PAYLOAD_BYTES - 1))]
    short += [_later(v, 50) for v in range(2, 10)]
    stranger = armor(1, os.urandom(300))  # could be a chat's not opened here yet: kept
    (shared / "00000000000000000001-junk.pb").write_text("\n".join([*short, stranger]))
    # Later versions beyond the bound: the oldest are dropped, by count ...
    many = [_later(3, FIXED_BYTES) for _ in range(KEEP_LATER_VERSION_POINTERS + 5)]
    (shared / "00000000000000000002-later.pb").write_text(" ".join(many))
    polled = json.loads(run("--home", home, "poll", "--json").stdout)
    assert polled["received"] == {"sh": 1 + len(many)} and polled["skipped"] == {"sh": len(short)}
    assert _texts(home) == [stranger, *many[5:]]

    # ... and by bytes (newest first): 100 of the longest pointers are more than the bound.
    big = [_later(3, 32768) for _ in range(100)]  # pb3: pb2 is read (and kept with its payload) since issue 21
    (shared / "00000000000000000003-big.pb").write_text("\n".join(big))
    assert run("--home", home, "poll").returncode == 0
    kept = KEEP_LATER_VERSION_BYTES // len(big[0])
    assert _texts(home) == [stranger, *big[-kept:]]

    # A too-short pb1 payload stored by a build before the fix is junk too.
    legacy = armor(1, os.urandom(40))
    with App.at(Path(home)) as app:
        app.store.add_pointers([(legacy, dearmor(legacy)[1])], Direction.IN, carrier="sh")
    status = json.loads(run("--home", home, "status", "--json").stdout)
    junk_bytes = kept * len(big[0]) + len(legacy)
    assert (status["unrouted"], status["junk"], status["junk_bytes"]) == (kept + 2, kept + 1, junk_bytes)
    assert status["unrouted_bytes"] == junk_bytes + len(stranger)
    plain = run("--home", home, "status").stdout
    assert f"junk: {kept + 1} unrouted pointer(s)" in plain and "'pbridge junk clear'" in plain

    declined = run("--home", home, "junk", "clear", stdin="n\n")
    assert declined.returncode == 1 and len(_texts(home)) == kept + 2
    cleared = run("--home", home, "junk", "clear", "--yes")
    assert cleared.returncode == 0 and f"deleted {kept + 1} pointer(s)" in cleared.stdout
    assert _texts(home) == [stranger]
    after = run("--home", home, "status")
    assert "junk:" not in after.stdout and json.loads(run("--home", home, "status", "--json").stdout)["junk"] == 0
    assert "no junk" in run("--home", home, "junk", "clear", "--yes").stdout


def _home_with_chat(root: Path) -> tuple[str, Path, dict[str, str | bytes]]:
    """A home with chat fam (one message from itself) on a shared folder."""
    home, shared = str(root / "home"), root / "shared"
    shared.mkdir()
    env: dict[str, str | bytes] = {"PBRIDGE_MASTER_PHRASE": "junk phrase", "PBRIDGE_CHAT_SECRET": "fam secret 1"}
    assert run("--home", home, "init", "--username", "al", "--weak-secret-ok", env=env).returncode == 0
    assert run("--home", home, "carrier", "add", "sh", "--type", "files", "--path", str(shared)).returncode == 0
    made = run("--home", home, "chat", "create", "fam", "--carrier", "sh", "--weak-secret-ok", env=env)
    assert made.returncode == 0, made.stderr
    assert run("--home", home, "send", "fam", stdin="hello fam", env=env).returncode == 0
    return home, shared, env


def test_a_tampered_copy_of_a_chats_pointer_is_deleted_by_chat_clear(tmp_path: Path) -> None:
    home, shared, env = _home_with_chat(tmp_path)
    (real,) = [p.read_text().strip() for p in shared.iterdir()]
    tampered = real[:-10] + ("A" if real[-10] != "A" else "B") + real[-9:]  # the tag is intact, the AEAD fails
    assert run("--home", home, "receive", tampered).returncode == 0  # without --chat: kept for its chat
    read = run("--home", home, "read", "fam", env=env)
    assert "1 pointer(s) of this chat failed their checks" in read.stderr
    assert "'pbridge chat clear fam --refused'" in read.stderr
    declined = run("--home", home, "chat", "clear", "fam", "--refused", env=env, stdin="n\n")
    assert declined.returncode == 1 and "fail its checks" in declined.stdout
    cleared = run("--home", home, "chat", "clear", "fam", "--refused", "--yes", env=env)
    assert cleared.returncode == 0 and "1 pointer(s) that carry its routing tag but fail its checks" in cleared.stdout
    again = run("--home", home, "read", "fam", env=env)
    assert "hello fam" in again.stdout and "failed their checks" not in again.stderr
    assert tampered not in _texts(home)
    # Never stored again (tombstoned); and a plain 'chat clear' deletes such a pointer too.
    assert "0 new pointer(s)" in run("--home", home, "receive", tampered).stdout
    other = real[:-20] + ("A" if real[-20] != "A" else "B") + real[-19:]
    assert run("--home", home, "receive", other).returncode == 0
    wiped = run("--home", home, "chat", "clear", "fam", "--yes", env=env)
    assert wiped.returncode == 0 and "; 1 pointer(s) that carry its routing tag but fail its checks" in wiped.stdout
    assert _texts(home) == []


def test_unclaimed_pointers_are_cleared_only_with_every_secret_of_every_chat(tmp_path: Path) -> None:
    from test_secret_policy import Terminal

    home, shared, env = _home_with_chat(tmp_path)
    new_env = {**env, "PBRIDGE_NEW_CHAT_SECRET": "fam secret 2"}
    assert run("--home", home, "chat", "rekey", "fam", "--weak-secret-ok", env=new_env).returncode == 0
    two = {**env, "PBRIDGE_CHAT_SECRET": "fam secret 2"}
    assert run("--home", home, "send", "fam", stdin="after the rekey", env=two).returncode == 0
    junk = [armor(1, os.urandom(MIN_PAYLOAD_BYTES)) for _ in range(300)]
    (shared / "00000000000000000009-junk.pb").write_text("\n".join(junk))
    assert run("--home", home, "poll").returncode == 0
    assert json.loads(run("--home", home, "status", "--json").stdout)["unrouted"] == 300

    # No terminal to ask every chat's secrets on: refused (a --secret-fd serves one chat).
    piped = run("--home", home, "junk", "clear", "--unclaimed", "--yes", env=env)
    assert piped.returncode == 4 and "terminal" in piped.stderr and len(_texts(home)) == 300

    # A secret left out: nothing deleted. The master phrase is asked first (the chat list is
    # sealed under it), on the terminal as the secrets are.
    term = Terminal("--home", home, "junk", "clear", "--unclaimed", env={})
    term.expect("Master phrase")
    term.send("junk phrase")
    term.expect("Secret of chat 'fam'")
    term.send("fam secret 2")
    term.expect("Another secret of chat 'fam'")
    term.send("")
    assert term.finish() == 1 and "nothing deleted" in term.seen and len(_texts(home)) == 300

    term = Terminal("--home", home, "junk", "clear", "--unclaimed", env={"PBRIDGE_MASTER_PHRASE": "junk phrase"})
    term.expect("Secret of chat 'fam'")
    term.send("fam secret 1")
    term.expect("Another secret of chat 'fam'")
    term.send("fam secret 2")
    screen = term.expect("Delete these 300 pointer(s) for good?")
    assert "chats this home has not joined yet" in screen.replace("\r\n", " ")
    term.send("y")
    assert term.finish() == 0, term.seen
    assert "deleted 300 pointer(s) no chat of this home claims" in term.seen
    assert _texts(home) == [] and json.loads(run("--home", home, "status", "--json").stdout)["unrouted"] == 0
    read = run("--home", home, "read", "fam", env=two)  # the chat's messages stay
    assert "after the rekey" in read.stdout and "under another of its secrets" in read.stderr
    # Tombstoned: a carrier bringing them again stores nothing.
    assert "0 new pointer(s)" in run("--home", home, "receive", junk[0]).stdout
