"""An export file cannot forge trust (issue 17, item 8): anyone can edit one, so an import
takes no pin from it, a rotation only with the notice its old key signed, and no re-pinned
key of a conflict. The audit's repro runs end to end through the real ``pbridge import``."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from helpers import opened_export, raw_identity
from pointerbridge.app.service import App, UnlockedChat
from pointerbridge.core import Identity, seal
from pointerbridge.core.rotation import MARKER, make_notice, notice_body
from pointerbridge.home.config import Home
from test_cli import run
from test_rotation import SECRET, _home  # the same three-member family, on a files carrier

HEADER = {"format": "pointerbridge-export", "version": 1, "schema": 6}  # what the audit's file said


def _file(path: Path, *records: dict[str, object], header: dict[str, object] = HEADER) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in (header, *records)))
    return path


def _pbridge(home: Path, *args: str) -> tuple[int, str, str]:
    result = run("--home", str(home), *args, env={"PBRIDGE_MASTER_PHRASE": "bob phrase", "PBRIDGE_CHAT_SECRET": SECRET})
    return result.returncode, result.stdout, result.stderr


def _marks(home: Path) -> list[tuple[str, str, str]]:
    code, out, err = _pbridge(home, "poll")
    assert code == 0, err
    code, out, err = _pbridge(home, "read", "family", "--json")
    assert code == 0, err
    return [(m["username"], m["body"], m["trust"]) for m in json.loads(out)["messages"]]


def _say(app: App, chat: UnlockedChat, sender: Identity, body: str) -> None:
    app.send(chat, sender, body)
    app.poll()


def test_a_forged_rotation_in_an_export_does_not_give_mallory_alices_name(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, alice_id, alice_chat = _home(tmp_path, "alice", shared)
    bob, _, _ = _home(tmp_path, "bob", shared)
    bob.close()  # bob uses the command line from here on
    mallory, mallory_id, mallory_chat = _home(tmp_path, "mallory", shared, username="alice")
    _say(alice, alice_chat, alice_id, "hello, it is alice")
    assert _marks(tmp_path / "bob") == [("alice", "hello, it is alice", "new")]

    # The audit's file: a header and one rotation naming alice's key as old, mallory's as new.
    rotation = {
        "kind": "rotation",
        "chat": "family",
        "username": "alice",
        "old_key": alice_id.public_key.hex(),
        "new_key": mallory_id.public_key.hex(),
        "at": None,
    }
    code, out, err = _pbridge(tmp_path / "bob", "import", str(_file(tmp_path / "forged.jsonl", rotation)))
    assert code == 0, err
    _say(mallory, mallory_chat, mallory_id, "it is alice: pay mallory 900 euros")
    expected = [
        ("alice", "hello, it is alice", "pinned"),
        ("alice", "it is alice: pay mallory 900 euros", "changed"),  # not alice's, and shown so
    ]
    assert _marks(tmp_path / "bob") == expected
    assert "0 new rotations" in out and "not taken from the file: 1 rotations without their signed notice" in out

    # The same rotation with a notice: one alice never signed is refused whole, by its line.
    mallory_next = Identity("alice", b"\x0d" * 32)
    by_mallory = notice_body(make_notice(mallory_id, mallory_next))
    raw = bytearray(base64.urlsafe_b64decode(by_mallory.split(MARKER)[1] + "=="))
    raw[1 + len("alice") : 1 + len("alice") + 64] = alice_id.public_key + mallory_id.public_key  # old, new
    doctored = by_mallory.split(MARKER)[0] + MARKER + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    v2 = {**HEADER, "version": 2}
    for notice, why in ((doctored, "not signed by the old key"), (by_mallory, "not the notice of this rotation")):
        forged = _file(tmp_path / "signed.jsonl", {**rotation, "notice": notice}, header=v2)
        code, _, err = _pbridge(tmp_path / "bob", "import", str(forged))
        assert code == 3 and "signed.jsonl, line 2: notice: " in err and why in err
    # Mallory's own notice, for her own two keys, is genuine: it is taken, and moves nothing.
    keys = {"old_key": mallory_id.public_key.hex(), "new_key": mallory_next.public_key.hex()}
    own = {**rotation, **keys, "notice": by_mallory}
    code, out, err = _pbridge(tmp_path / "bob", "import", str(_file(tmp_path / "own.jsonl", own, header=v2)))
    assert code == 0 and "1 new rotations" in out, err
    assert _marks(tmp_path / "bob") == expected
    alice.close()
    mallory.close()


def test_pins_in_an_export_neither_replace_nor_create_a_pin(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, alice_id, alice_chat = _home(tmp_path, "alice", shared)
    carol, carol_id, carol_chat = _home(tmp_path, "carol", shared)
    bob, _, _ = _home(tmp_path, "bob", shared)
    bob.close()
    mallory, mallory_id, mallory_chat = _home(tmp_path, "mallory", shared, username="carol")
    _say(alice, alice_chat, alice_id, "hello, it is alice")
    assert _marks(tmp_path / "bob") == [("alice", "hello, it is alice", "new")]

    # alice is pinned here; carol, who has not written yet, is not: the file pins both to mallory.
    key = mallory_id.public_key.hex()
    pins = [
        {"kind": "pin", "chat": "family", "username": name, "public_key": key, "first_seen": 1.0}
        for name in ("alice", "carol")
    ]
    code, out, err = _pbridge(tmp_path / "bob", "import", str(_file(tmp_path / "pins.jsonl", *pins)))
    assert code == 0, err
    _say(carol, carol_chat, carol_id, "hello, it is the real carol")
    _say(mallory, mallory_chat, mallory_id, "it is carol: pay mallory 900 euros")
    assert _marks(tmp_path / "bob") == [
        ("alice", "hello, it is alice", "pinned"),
        ("carol", "hello, it is the real carol", "new"),  # first seen, as without the file
        ("carol", "it is carol: pay mallory 900 euros", "changed"),
    ]
    assert "0 new pins" not in out and "not taken from the file: 2 pins" in out
    for app in (alice, carol, mallory):
        app.close()


def test_a_rotation_keeps_its_notice_so_an_export_can_carry_it(tmp_path: Path) -> None:
    from pointerbridge.app.backup import export_store, import_file

    shared = tmp_path / "shared"
    shared.mkdir()
    source, _, chat = _home(tmp_path, "bob", shared)
    old, new = raw_identity("alice"), Identity("alice", b"\x0e" * 32)
    body = notice_body(make_notice(old, new))
    for sender, text in ((old, "before"), (new, body), (new, "after")):
        source.receive("\n".join(seal(chat.key, sender, text)))
    assert [s.trust for s in source.read(chat)[0]] == ["new", "rotated", "pinned"]
    assert [notice for _, notice in source.store.rotation_notices(chat.row.id)] == [body]
    # A rotation accepted before notices were kept gets its notice on the next full read.
    with source.store._editing(chat.row.id) as record:
        record.rotations[0].notice = None
    assert [notice for _, notice in source.store.rotation_notices(chat.row.id)] == [None]
    source.read(chat)
    assert [notice for _, notice in source.store.rotation_notices(chat.row.id)] == [body]

    notice_id = next(s.message.id for s in source.read(chat)[0] if s.trust == "rotated")
    source.purge(chat, [notice_id])  # only the stored rotation is left, with its notice
    export = tmp_path / "backup.jsonl"
    export_store(source.store, export)
    (rotation,) = [r for r in opened_export(source.store, export) if r["kind"] == "rotation"]  # sealed in the file
    assert rotation["notice"] == body and json.loads(export.read_text().splitlines()[0])["version"] == 4
    target = App(Home.resolve(tmp_path / "target"))
    target.init("bob", "bob phrase", recovery=source.recovery_code(), allow_weak=True)
    done = import_file(target.store, export, unlock=lambda theirs: None)  # init unlocked it
    assert done.added["rotations"] == 1 and done.left_out == {"pins": 2, "rotations without their signed notice": 0}
    moved = target.unlock_chat("family", SECRET)
    assert [(s.message.body, s.trust) for s in target.read(moved)[0]] == [("before", "new"), ("after", "pinned")]
    source.close()
    target.close()
