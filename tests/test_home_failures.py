"""Issue 17, items 4 and 14: a home this user may not write, or a store changed outside
pbridge, is one line naming the path and the problem (exit 8), never an internal error, and
doctor's advice matches the cause (moving a store away is no cure for a permissions problem)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from test_cli import PBRIDGE, PHRASE, initialised_home, run

STORE_ERROR = 8
_COMMANDS = (("chat", "list"), ("status",), ("poll",), ("whoami",), ("read", "family"), ("send", "family", "hi"))


def _one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _confined(home: Path, how: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``pbridge --home HOME ARGS`` where this user cannot write ``home``: in a mount
    namespace where it is a read-only bind mount (``ro``), or in a user namespace where root
    is an ordinary user and ``home`` belongs to someone else (``foreign``)."""
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is needed to make a home read-only for one process"
    command = f'exec "{PBRIDGE}" --home "{home}" "$@"'
    if how == "ro":
        command = f'mount --bind "{home}" "{home}" && mount -o remount,bind,ro "{home}" && {command}'
        prefix = [unshare, "--mount"]
    else:
        prefix = [unshare, "--user", "--map-root-user"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBRIDGE_")}
    return subprocess.run(
        [*prefix, "sh", "-c", command, "sh", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def _can_confine(tmp_path: Path, how: str) -> None:
    probe = tmp_path / "probe"
    probe.mkdir()
    if how == "foreign":
        os.chown(probe, 65534, 65534)
        probe.chmod(0o555)
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is needed"
    prefix = [unshare, "--mount"] if how == "ro" else [unshare, "--user", "--map-root-user"]
    remount = f'mount --bind "{probe}" "{probe}" && mount -o remount,bind,ro "{probe}" && ' if how == "ro" else ""
    tried = subprocess.run([*prefix, "sh", "-c", f'{remount}touch "{probe}/x"'], capture_output=True, text=True)
    assert tried.returncode != 0 and not (probe / "x").exists(), f"cannot make a folder unwritable here: {tried}"


@pytest.mark.parametrize("how", ["ro", "foreign"])
def test_a_home_this_user_cannot_write_is_one_line_naming_it(tmp_path: Path, how: str) -> None:
    _can_confine(tmp_path, how)
    home = Path(initialised_home(tmp_path / "home"))
    before = (home / "store.db").read_bytes()
    if how == "foreign":  # someone else's home: readable, not writable
        for path in (home, *home.iterdir()):
            os.chown(path, 65534, 65534)
            path.chmod(0o555 if path.is_dir() else 0o444)
    why = "is on a read-only file system" if how == "ro" else "this user may not"
    for args in _COMMANDS:
        line = _one_line(_confined(home, how, *args), STORE_ERROR)
        assert line.startswith(f"pbridge: {home}/store.db: ") and why in line, (args, line)
    doctor = _confined(home, how, "doctor", "--json")
    assert doctor.returncode == 28, doctor
    found = {c["check"]: c["detail"] for c in json.loads(doctor.stdout)["checks"] if c["status"] == "fail"}
    advice = " ".join(found.values())
    assert why in advice and "rejoin" not in advice and "move it away" not in advice, found
    assert (home / "store.db").read_bytes() == before  # and nothing was lost


def _tamper(store: Path, statement: str) -> None:
    db = sqlite3.connect(store)
    db.execute(statement)
    db.commit()
    db.close()


def test_a_store_whose_schema_was_changed_by_hand_is_a_store_error(tmp_path: Path) -> None:
    home = Path(initialised_home(tmp_path / "home"))
    _tamper(home / "store.db", "ALTER TABLE chats RENAME TO chats_by_hand")
    _tamper(home / "store.db", "ALTER TABLE pointers RENAME TO pointers_by_hand")
    for args in (a for a in _COMMANDS if a != ("whoami",)):  # whoami reads neither table
        line = _one_line(run("--home", str(home), *args, stdin="hi\n"), STORE_ERROR)
        assert line.startswith(f"pbridge: {home}/store.db: no such table: "), (args, line)
        assert "changed outside pbridge" in line
    doctor = run("--home", str(home), "doctor", "--json")
    assert doctor.returncode == 28 and "Traceback" not in doctor.stderr, doctor
    schema = next(c for c in json.loads(doctor.stdout)["checks"] if c["check"] == "schema")
    assert schema["status"] == "fail" and "no table chats" in schema["detail"] and "backup" in schema["detail"]


def test_a_store_damaged_inside_is_a_store_error_and_doctor_says_restore(tmp_path: Path) -> None:
    home = Path(initialised_home(tmp_path / "home"))
    store = home / "store.db"
    _tamper(store, "PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(store.read_bytes())
    page = 4096  # page 2 on: the header stays valid, so SQLite opens it and fails on reading
    data[page : page + 64] = b"\xff" * 64
    store.write_bytes(bytes(data))
    result = run("--home", str(home), "chat", "list")
    line = _one_line(result, STORE_ERROR)
    assert line.startswith(f"pbridge: {store}: ") and "damaged" in line
    doctor = run("--home", str(home), "doctor", "--json")
    details = " ".join(c["detail"] for c in json.loads(doctor.stdout)["checks"] if c["status"] == "fail")
    assert doctor.returncode == 28 and "restore it from a backup" in details, doctor


def test_a_value_changed_by_hand_is_a_store_error_and_doctor_reports_it(tmp_path: Path) -> None:
    # The review: a chat's carriers set to '{{{' made read, send, chat list and export exit 70,
    # and a pointer's received_at set to 'abc' made doctor itself exit 70 with no output.
    # A chat's carriers are sealed now (docs/AT-REST.md): its sealed record is what a hand
    # can change, and every command says so in one line.
    home = Path(initialised_home(tmp_path / "home"))
    env = {"PBRIDGE_CHAT_SECRET": "correct horse battery staple violet", **PHRASE}
    made = run("--home", str(home), "chat", "create", "family", "--carrier", "shared", env=env)
    assert made.returncode == 0, made
    assert run("--home", str(home), "send", "family", "--queue", stdin="hi", env=env).returncode == 0
    (sealed,) = sqlite3.connect(home / "store.db").execute("SELECT sealed FROM chats").fetchone()
    altered = bytearray(sealed)
    altered[40] ^= 1
    db = sqlite3.connect(home / "store.db")
    db.execute("UPDATE chats SET sealed = ?", (bytes(altered),))
    db.commit()
    db.close()
    for args in (("chat", "list"), ("read", "family"), ("send", "family", "hi"), ("export", str(tmp_path / "x"))):
        line = _one_line(run("--home", str(home), *args, stdin="hi\n", env=env), STORE_ERROR)
        assert "a chat's record does not open" in line and "pbridge doctor" in line, (args, line)
    db = sqlite3.connect(home / "store.db")
    db.execute("UPDATE chats SET sealed = ?", (sealed,))
    db.commit()
    db.close()
    assert run("--home", str(home), "chat", "list", env=env).returncode == 0
    _tamper(home / "store.db", "UPDATE pointers SET received_at = 'abc'")
    doctor = run("--home", str(home), "doctor", "--json")
    assert doctor.returncode == 28 and "Traceback" not in doctor.stderr, doctor
    failed = {c["check"]: c["detail"] for c in json.loads(doctor.stdout)["checks"] if c["status"] == "fail"}
    assert "a stored value cannot be read" in " ".join(failed.values()), failed


def test_doctor_fails_a_store_file_this_user_cannot_write(tmp_path: Path) -> None:
    # The review: someone else's store.db, mode 0644, passed doctor ("chmod 600" only) while
    # send and poll failed with "attempt to write a readonly database".
    _can_confine(tmp_path, "foreign")
    home = Path(initialised_home(tmp_path / "home"))
    os.chown(home / "store.db", 65534, 65534)
    (home / "store.db").chmod(0o644)
    doctor = _confined(home, "foreign", "doctor", "--json")
    assert doctor.returncode == 28, doctor
    store_file = next(c for c in json.loads(doctor.stdout)["checks"] if c["check"] == "store file")
    assert store_file["status"] == "fail" and "may not write" in store_file["detail"], store_file
    assert "nothing is damaged" in store_file["detail"]
