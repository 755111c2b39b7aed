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
from test_cli import EXIT_CODES, run

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
    # Without bob's identity line (that alone is refused above, before the chats are unlocked).
    lines = [line for line in export.read_text().splitlines() if '"kind":"identity"' not in line]
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
        (  # version 3 has no pin in the clear: a version-2 file (still read) brings it
            [
                '{"format": "pointerbridge-export", "version": 2, "schema": 10}',
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
    exported = run("--home", str(tmp_path / "a"), "export", str(tmp_path / "a.jsonl"), env=env)
    assert exported.returncode == 0 and "exported 1 record(s)" in exported.stdout
    first = run("--home", str(tmp_path / "b"), "import", str(tmp_path / "a.jsonl"), env=env)
    assert first.returncode == 0 and "imported: 0 new chats" in first.stdout
    (tmp_path / "junk.jsonl").write_text("junk\n")
    refused = run("--home", str(tmp_path / "b"), "import", str(tmp_path / "junk.jsonl"), env=env)
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
            "chat": source.store.chat_lookup("c").hex(),  # version 3 names a chat by its lookup
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


def _pbridge(cwd: Path, *args: str, stdin: str = os.devnull) -> tuple[int, str, str, int]:
    """``pbridge`` run in ``cwd`` with stdin from a file; its exit code, output, error
    output, and its own peak resident memory in bytes (from wait4: no other process counts)."""
    import resource
    import subprocess
    import tempfile

    from test_cli import PBRIDGE

    assert PBRIDGE
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBRIDGE_") or k == "PBRIDGE_IDENTITY_MEMORY_MIB"}
    env["PBRIDGE_MASTER_PHRASE"] = "phrase"

    def limit() -> None:  # a safety net on a shared machine: a runaway read fails, not the machine
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    with (
        open(stdin, "rb") as given,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        child = subprocess.Popen(
            [PBRIDGE, *args], cwd=cwd, env=env, stdin=given, stdout=out, stderr=err, preexec_fn=limit
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return child.returncode, out.read().decode(), err.read().decode(), usage.ru_maxrss * 1024


def test_export_to_standard_output_or_an_existing_file_and_import_into_an_empty_home(tmp_path: Path) -> None:
    """Issue 17, item 12."""
    work = tmp_path / "work"
    work.mkdir()
    assert _pbridge(work, "--home", "a", "init", "--username", "al", "--weak-secret-ok")[0] == 0
    code, out, err, _ = _pbridge(work, "--home", "a", "export", "-")
    assert code == 0 and "exported 1 record(s) to standard output" in err
    assert json.loads(out.splitlines()[0])["format"] == "pointerbridge-export"
    assert json.loads(out.splitlines()[1])["username"] == "al"
    assert sorted(p.name for p in work.iterdir()) == ["a"]  # no file named '-'
    (tmp_path / "a.jsonl").write_text(out)

    kept = work / "kept.jsonl"
    kept.write_text("precious\n")
    code, out, err, _ = _pbridge(work, "--home", "a", "export", "kept.jsonl")
    assert code == EXIT_CODES["ExportExistsError"] == 35 and err.count("\n") == 1
    assert "kept.jsonl exists: give --replace to replace it" in err and kept.read_text() == "precious\n"
    code, out, err, _ = _pbridge(work, "--home", "a", "export", "kept.jsonl", "--replace")
    assert code == 0 and json.loads(kept.read_text().splitlines()[1])["username"] == "al"

    code, out, err, _ = _pbridge(work, "--home", "b", "import", "-", stdin=str(tmp_path / "a.jsonl"))
    assert code == 0, err
    assert "this home had no identity: it now has the export's, al (fingerprint " in out
    assert "that identity's master phrase unlocks it" in out

    assert _pbridge(work, "--home", "c", "init", "--username", "dave", "--weak-secret-ok")[0] == 0
    code, out, err, _ = _pbridge(work, "--home", "c", "import", "kept.jsonl")
    assert code == EXIT_CODES["IdentityExistsError"] and err.count("\n") == 1
    assert "this home's identity is 'dave', the export's is 'al': import it into a new home" in err
    assert "''" not in err


def test_the_documented_header_is_the_one_written(tmp_path: Path) -> None:
    """Issue 17, item 12: docs/EXPORT.md showed schema 5 while exports said 6."""
    doc = (Path(__file__).parents[1] / "docs" / "EXPORT.md").read_text()
    documented = json.loads(doc.split("```\n", 1)[1].splitlines()[0])
    source = _home(tmp_path, "old")
    export = tmp_path / "backup.jsonl"
    export_store(source.store, export)
    written = json.loads(export.read_text().splitlines()[0])
    # Version 4: the export's id is random and its count of sealed lines its own (none
    # here); the same fields, the others the same.
    assert documented.keys() == written.keys() and len(bytes.fromhex(written["id"])) == 16 and written["sealed"] == 0
    assert {k: v for k, v in documented.items() if k not in ("id", "sealed")} == {
        k: v for k, v in written.items() if k not in ("id", "sealed")
    }
    source.close()


def test_import_streams_a_huge_line_and_refuses_a_device_in_bounded_memory(tmp_path: Path) -> None:
    """Issue 17, item 11: ``import /dev/zero`` reached 2.5 GB; a file is read line by line,
    each line bounded, and anything but a regular file refused before it is read."""
    _home(tmp_path, "home").close()
    huge = tmp_path / "huge.jsonl"  # one line of 900 MiB (sparse: nothing of it is on disk)
    with huge.open("wb") as out:
        out.truncate(900 << 20)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    small = _pbridge(tmp_path, "--home", "home", "import", str(tmp_path / "none.jsonl"))
    assert small[0] == 3 and "cannot be read" in small[2]
    for args, stdin, message in (
        (("import", str(huge)), os.devnull, "huge.jsonl, line 1: longer than 1048576 bytes"),
        (("import", "-"), "/dev/zero", "standard input, line 1: longer than 1048576 bytes"),
        (("import", "/dev/zero"), os.devnull, "/dev/zero: not a regular file"),
        (("import", str(tmp_path)), os.devnull, "not a regular file"),
        (("import", str(fifo)), os.devnull, "fifo: not a regular file"),  # refused, not waited on
    ):
        code, _, err, peak = _pbridge(tmp_path, "--home", "home", *args, stdin=stdin)
        assert code == 3 and err.count("\n") == 1 and message in err, err
        assert peak < small[3] + (16 << 20), (args, peak, small[3])  # a 1 MiB line, not the file
