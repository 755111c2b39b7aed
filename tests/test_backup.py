"""``pbridge export`` / ``pbridge import``: nothing secret in the file, nothing lost or
doubled on the way, and a bad file refused before anything is written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import raw_identity
from pointerbridge.app.backup import export_store, import_store
from pointerbridge.app.errors import IdentityExistsError
from pointerbridge.app.service import App
from pointerbridge.core import seal
from pointerbridge.core.errors import InvalidInputError
from pointerbridge.home.config import Home
from pointerbridge.home.store import StoreError
from test_cli import run

SECRET = "the chat secret of the backup test"


def _home(root: Path, name: str, same_as: App | None = None) -> App:
    """Bob's home; ``same_as``: Bob's identity on another machine (regenerated with the
    recovery code that home shows)."""
    app = App(Home(root / name, root / name))
    app.init("bob", "bob's phrase", recovery=same_as.recovery_code() if same_as else None, allow_weak=True)
    return app


def test_10000_pointers_exported_and_imported_read_the_same(tmp_path: Path) -> None:
    source = _home(tmp_path, "old")
    chat = source.create_chat("Family", SECRET, [], allow_weak=True)
    senders = [raw_identity(n) for n in ("alice", "carol")]
    texts = [p for i in range(10_000) for p in seal(chat.key, senders[i % 2], f"message {i}")]
    for start in range(0, len(texts), 2500):
        source.receive("\n".join(texts[start : start + 2500]))
    before, refused = source.read(chat)
    source.set_trashed(chat, [before[7].message.id], True)
    source.store.save_cursor("shared", '{"high": 12}')
    export = tmp_path / "backup.jsonl"
    assert export_store(source.store, export) > 10_000
    assert export.stat().st_mode & 0o777 == 0o600
    assert SECRET not in export.read_text() and "bob's phrase" not in export.read_text()

    target = _home(tmp_path, "new", same_as=source)
    added = import_store(target.store, export)
    assert added["pointers"] == 10_000 and added["chats"] == 1 and added["cursors"] == 1
    assert all(count == 0 for count in import_store(target.store, export).values())  # twice: nothing new
    moved = target.unlock_chat("family", SECRET)  # the verifier came along
    after, refused_after = target.read(moved, include_trash=True)
    shown_before, _ = source.read(chat, include_trash=True)
    assert refused == refused_after == 0
    # The file brings no pins (issue 17, item 8): the new home judges the senders as the old
    # one did on its first read (each one's first message a new key), then as it does now.
    assert [(s.message.id, s.message.body, s.trust) for s in after] == [
        (s.message.id, s.message.body, s.trust) for s in before
    ]
    assert [s.trust for s in after].count("new") == 2
    again, _ = target.read(moved, include_trash=True)
    assert [(s.message.id, s.message.body, s.trust, s.trashed) for s in again] == [
        (s.message.id, s.message.body, s.trust, s.trashed) for s in shown_before
    ]
    assert target.store.cursor("shared") == '{"high": 12}'
    source.close()
    target.close()


def test_another_identitys_export_or_a_bad_file_changes_nothing(tmp_path: Path) -> None:
    source = _home(tmp_path, "mine")
    source.create_chat("c", SECRET, [], allow_weak=True)
    export = tmp_path / "backup.jsonl"
    export_store(source.store, export)
    stranger = App(Home(tmp_path / "theirs", tmp_path / "theirs"))
    stranger.init("eve", "eve's phrase", allow_weak=True)
    with pytest.raises(IdentityExistsError, match=r"^this home's identity is 'eve', the export's is 'bob': import"):
        import_store(stranger.store, export)
    assert stranger.store.chats() == []  # the chat line before the refusal was not kept
    theirs = {"kind": "identity", "username": "bob", "public_key": "00" * 32, "recovery": None}
    with pytest.raises(StoreError, match=r"^this home's identity is 'eve', the export's is 'bob'$"):
        stranger.store.import_records([theirs])  # the store's own guard, under the app's check
    lines = export.read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    for bad, message in (
        (lines[1:], "not a pointerbridge-export"),
        ([*lines, '{"kind": "pointer", "text": 5}'], "line"),
        (
            [
                *lines,
                '{"kind": "pointer", "text": "pb1nope", "direction": "in", "chat": null, '
                '"carrier": null, "carrier_ref": null, "received_at": 1.0, "trashed": false, '
                '"posts": []}',
            ],
            "not a pointer",
        ),
        (
            [
                *lines,
                '{"kind": "pin", "chat": "elsewhere", "username": "x", "public_key": "'
                + "0" * 64
                + '", "first_seen": 1.0}',
            ],
            "does not hold",
        ),
        ([*lines, '{"kind": "cursor", "carrier": "c", "cursor": "{}", "updated_at": NaN}'], "updated_at"),
        ([*lines, '{"kind": "cursor", "carrier": "c", "cursor": "{}", "updated_at": 1e400}'], "updated_at"),
    ):
        broken.write_text("\n".join(bad) + "\n")
        with pytest.raises(InvalidInputError, match=message):
            import_store(stranger.store, broken)
    source.close()
    stranger.close()


def test_export_and_import_through_the_cli(tmp_path: Path) -> None:
    env: dict[str, str | bytes] = {"PBRIDGE_MASTER_PHRASE": "phrase", "PBRIDGE_CHAT_SECRET": SECRET}
    assert run("--home", str(tmp_path / "a"), "init", "--username", "al", "--weak-secret-ok", env=env).returncode == 0
    assert run("--home", str(tmp_path / "a"), "chat", "create", "c", "--carrier", "x", env=env).returncode == 9
    exported = run("--home", str(tmp_path / "a"), "export", str(tmp_path / "a.jsonl"))
    assert exported.returncode == 0 and "exported 1 record(s)" in exported.stdout
    first = run("--home", str(tmp_path / "b"), "import", str(tmp_path / "a.jsonl"))
    assert first.returncode == 0 and "imported: 0 new chats" in first.stdout
    (tmp_path / "junk.jsonl").write_text("junk\n")
    refused = run("--home", str(tmp_path / "b"), "import", str(tmp_path / "junk.jsonl"))
    assert refused.returncode == 3 and refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert json.loads((tmp_path / "a.jsonl").read_text().splitlines()[1])["kind"] == "identity"
    assert os.stat(tmp_path / "a.jsonl").st_mode & 0o777 == 0o600


def test_a_purged_pointer_in_the_file_stays_purged(tmp_path: Path) -> None:
    source = _home(tmp_path, "old")
    chat = source.create_chat("c", SECRET, [], allow_weak=True)
    kept, purged = (seal(chat.key, raw_identity("alice"), body)[0] for body in ("kept", "purged"))
    source.receive(f"{kept}\n{purged}")
    shown, _ = source.read(chat)
    source.purge(chat, [s.message.id for s in shown if s.message.body == "purged"])
    export = tmp_path / "backup.jsonl"
    export_store(source.store, export)
    lines = export.read_text().splitlines()
    pointer = json.dumps(
        {
            "kind": "pointer",
            "text": purged,
            "direction": "in",
            "chat": "c",
            "carrier": None,
            "carrier_ref": None,
            "received_at": 1.0,
            "trashed": False,
            "posts": [],
        }
    )
    tombstones = [line for line in lines if '"tombstone"' in line]
    assert len(tombstones) == 1
    reordered = tmp_path / "reordered.jsonl"  # the purged pointer back in, before its tombstone
    reordered.write_text("\n".join([line for line in lines if line not in tombstones] + [pointer, *tombstones]))
    target = _home(tmp_path, "new", same_as=source)
    assert import_store(target.store, reordered)["pointers"] == 1
    assert [s.message.body for s in target.read(target.unlock_chat("c", SECRET))[0]] == ["kept"]
    source.close()
    target.close()
