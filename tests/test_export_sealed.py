"""An export is deniable as the store is (issue 18): chat names, members' usernames and
their public keys are sealed under the identity's store key (format version 3, one line
per chat from version 4), a sealed record that does not open refuses the whole file
(exit 37), and version-2 files still import."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from helpers import _place, opened_export, raw_identity, write_export_file
from pointerbridge.app.service import App, UnlockedChat
from pointerbridge.core import Identity
from pointerbridge.core.pointer import _seal
from pointerbridge.core.rotation import make_notice, notice_body
from pointerbridge.home.config import Home
from test_cli import EXIT_CODES, run

SECRET = "the sealed export's chat secret"
CHAT = "Zanzibar Picnic"
PHRASE = "bob phrase"
OLD, NEW = raw_identity("quokkamember"), Identity("quokkamember", b"\x0a" * 32)
NOTICE = notice_body(make_notice(OLD, NEW))
EXPECTED = [("quokkamember", "before", "new"), ("quokkamember", NOTICE, "rotated"), ("quokkamember", "after", "pinned")]


def _receive(app: App, chat: UnlockedChat, sender: Identity, body: str, sent_ms: int) -> None:
    app.receive("\n".join(_seal(chat.key, sender, body, 2000, os.urandom, sent_ms)))


def _filled(root: Path) -> Path:
    """Bob's home: a chat where a member wrote (pinned), then rotated her key, then wrote again."""
    app = App(Home.resolve(root))
    app.init("bob", PHRASE, allow_weak=True)
    chat = app.create_chat(CHAT, SECRET, [], allow_weak=True)
    for at, (sender, body) in enumerate(((OLD, "before"), (NEW, NOTICE), (NEW, "after"))):
        _receive(app, chat, sender, body, 1_790_000_000_000 + at)
    assert [s.trust for s in app.read(chat)[0]] == ["new", "rotated", "pinned"]
    assert app.store.rotation_notices(chat.row.id) and app.store.pins(chat.row.id)
    app.close()
    return root


def _pb(home: Path, *args: str, phrase: str = PHRASE) -> tuple[int, str, str]:
    done = run("--home", str(home), *args, env={"PBRIDGE_CHAT_SECRET": SECRET}, phrase=phrase)
    return done.returncode, done.stdout, done.stderr


def _marks(home: Path) -> list[tuple[str, str, str]]:
    code, out, err = _pb(home, "read", CHAT, "--json")
    assert code == 0, err
    return [(m["username"], m["body"], m["trust"]) for m in json.loads(out)["messages"]]


def _encodings(data: bytes) -> list[bytes]:
    found = [data, data.hex().encode(), data.hex().upper().encode()]
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        found += [encode(data), encode(data).rstrip(b"=")]
    return found


def _nothing_in(home: Path) -> None:
    """A refused import left ``home`` (made by it, with no identity) as empty as it was."""
    app = App(Home.resolve(home))
    assert app.store.identity() is None and app.store.chat_count() == 0
    assert app.store.counts()["pointers"] == 0
    app.close()


def test_an_export_names_no_chat_member_or_key_and_still_round_trips(tmp_path: Path) -> None:
    source = _filled(tmp_path / "source")
    export = tmp_path / "backup.jsonl"
    code, out, err = _pb(source, "export", str(export))
    assert code == 0 and "exported" in out, err
    data = export.read_bytes()
    secrets = [CHAT.encode(), CHAT.lower().encode(), b"Zanzibar", b"quokkamember", NOTICE.encode()]
    for key in (OLD.public_key, NEW.public_key):
        secrets += _encodings(key)
    assert [s for s in secrets if s in data] == []
    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert lines[0]["version"] == 4 and lines[1]["username"] == "bob"  # the home's own stays plain
    assert {line["kind"] for line in lines[1:]} == {"identity", "sealed", "pointer"}

    # Back into a fresh home with bob's phrase: the chat, its messages and the rotation come along.
    fresh = tmp_path / "fresh"
    code, out, err = _pb(fresh, "import", str(export))
    assert code == 0 and "1 new chats" in out and "1 new rotations" in out, err
    assert _marks(fresh) == EXPECTED

    # A file of version 2 (the previous release's: names in the clear) still imports.
    app = App(Home.resolve(source))
    app.unlock_identity(PHRASE)
    old_file = write_export_file(tmp_path / "v2.jsonl", opened_export(app.store, export))
    app.close()
    assert json.loads(old_file.read_text().splitlines()[0])["version"] == 2 and CHAT in old_file.read_text()
    older = tmp_path / "older"
    code, out, err = _pb(older, "import", str(old_file))
    assert code == 0 and "1 new chats" in out and "1 new rotations" in out, err
    assert _marks(older) == EXPECTED


def test_a_sealed_record_that_does_not_open_refuses_the_file(tmp_path: Path) -> None:
    source = _filled(tmp_path / "source")
    export = tmp_path / "backup.jsonl"
    assert _pb(source, "export", str(export))[0] == 0
    eve = App(Home.resolve(tmp_path / "eve"))
    eve.init("eve", "eve phrase", allow_weak=True)
    eve.create_chat("eve's chat", SECRET, [], allow_weak=True)
    eve.close()
    theirs = tmp_path / "eve.jsonl"
    assert _pb(tmp_path / "eve", "export", str(theirs), phrase="eve phrase")[0] == 0

    lines = export.read_text().splitlines()
    sealed_at = next(i for i, line in enumerate(lines) if '"kind":"sealed"' in line)
    record = json.loads(lines[sealed_at])
    raw = bytearray(base64.b64decode(record["data"]))
    raw[20] ^= 1  # a byte of the ciphertext
    flipped = [*lines]
    flipped[sealed_at] = json.dumps({"kind": "sealed", "data": base64.b64encode(bytes(raw)).decode()})
    # Eve's sealed chat under bob's identity line: it opens under eve's phrase only.
    swapped = [*lines[:2], *theirs.read_text().splitlines()[2:]]
    for name, bad in (("flipped", flipped), ("swapped", swapped)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("\n".join(bad) + "\n")
        target = tmp_path / f"into-{name}"
        code, _, err = _pb(target, "import", str(path))
        assert code == EXIT_CODES["SealedDataError"] == 37, (name, err)
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "a sealed record does not open" in err
        assert "sealed under another identity's master phrase, or changed" in err
        _nothing_in(target)
    # Into bob's own home, which holds the chat already: refused too, and nothing changes.
    code, _, err = _pb(source, "import", str(tmp_path / "flipped.jsonl"))
    assert code == 37 and "sealed under another identity's master phrase, or changed" in err
    assert _marks(source) == [(u, b, "pinned" if t == "new" else t) for u, b, t in EXPECTED]


def test_a_pointer_of_a_chat_the_file_does_not_hold_is_refused(tmp_path: Path) -> None:
    source = _filled(tmp_path / "source")
    export = tmp_path / "backup.jsonl"
    assert _pb(source, "export", str(export))[0] == 0
    records = [json.loads(line) for line in export.read_text().splitlines()]
    lookups = {r["chat"] for r in records if r.get("kind") == "pointer"}
    assert len(lookups) == 1 and len(next(iter(lookups))) == 64  # a lookup, not the name
    for r in records:
        if r.get("kind") == "pointer":
            r["chat"] = "ab" * 32
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps(r) + "\n" for r in records))
    code, _, err = _pb(tmp_path / "fresh", "import", str(other))
    assert code == 3 and "a pointer of a chat which the file does not hold" in err, err
    _nothing_in(tmp_path / "fresh")
    # From version 3 a chat record is never in the clear, and a sealed line holds nothing
    # else (version 4: sealed in the first sealed line's place, so that it opens).
    lines = export.read_text().splitlines()
    app = App(Home.resolve(source))
    app.unlock_identity(PHRASE)
    opened = opened_export(app.store, export)
    identity = json.dumps([opened[0]]).encode()
    data = app.store.seal_for_export(identity, _place(json.loads(lines[0]), 0))
    inner = {"kind": "sealed", "data": base64.b64encode(data).decode()}
    app.close()
    sealed_at = next(i for i, line in enumerate(lines) if '"kind":"sealed"' in line)
    chat = next(r for r in opened if r["kind"] == "chat")
    for record, message in (
        (chat, f"line {sealed_at + 1}: a chat record in the clear (version 4 seals them)"),
        (inner, f"line {sealed_at + 1} (sealed): 0: a sealed line holds a chat's records, not one of kind 'identity'"),
    ):
        other.write_text("\n".join([*lines[:sealed_at], json.dumps(record), *lines[sealed_at + 1 :]]) + "\n")
        code, _, err = _pb(tmp_path / "fresh", "import", str(other))
        assert code == 3 and message in err, err
        _nothing_in(tmp_path / "fresh")
