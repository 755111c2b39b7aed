"""The shared-folder carrier's own promises, beyond the contract suite."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from helpers import raw_chat, raw_identity
from pointerbridge.bridges.base import ConfigurationError
from pointerbridge.bridges.files import FilesBridge
from pointerbridge.core import seal


def bridge(folder: Path) -> FilesBridge:
    made = FilesBridge.from_config("shared", {"path": str(folder)})
    assert isinstance(made, FilesBridge)
    return made


def pointer(text: str) -> str:
    return seal(raw_chat("files"), raw_identity("alice"), text)[0]


def test_names_sort_by_time_and_never_collide(tmp_path: Path) -> None:
    b = bridge(tmp_path)
    names = [b.post(pointer("x")) for _ in range(300)]
    assert len(set(names)) == 300 and names == sorted(names)
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # no temporary file left behind
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in tmp_path.iterdir())


def test_late_file_with_an_old_name_is_still_found(tmp_path: Path) -> None:
    b = bridge(tmp_path)
    b.post(pointer("now"))
    first = b.poll(None)
    late = pointer("sent from a machine whose clock is a year behind")
    (tmp_path / "00000000000000000001-aaaaaaaaaaaa.pb").write_text(late)
    second = b.poll(first.cursor)
    assert [r.text for r in second.pointers] == [late]
    assert b.poll(second.cursor).pointers == []


def test_partial_file_is_read_again_once_complete(tmp_path: Path) -> None:
    b = bridge(tmp_path)
    full = pointer("arrives in two halves")
    target = tmp_path / "0001-partial.pb"
    target.write_text(full[:150])
    first = b.poll(None)
    assert first.pointers == [] and first.skipped_malformed == 1
    time.sleep(0.02)
    target.write_text(full)
    second = b.poll(first.cursor)
    assert [r.text for r in second.pointers] == [full]


def test_temporaries_are_ignored_and_foreign_files_counted(tmp_path: Path) -> None:
    b = bridge(tmp_path)
    (tmp_path / ".syncthing.0001.pb.tmp").write_text(pointer("not yet"))
    (tmp_path / "notes.txt").write_text("shopping list: eggs")
    (tmp_path / "big.bin").write_bytes(b"\0" * (9 * 1024 * 1024))
    (tmp_path / "subfolder").mkdir()
    result = b.poll(None)
    assert result.pointers == [] and result.skipped_foreign == 2


def test_damaged_or_future_cursor_means_a_full_rescan(tmp_path: Path) -> None:
    b = bridge(tmp_path)
    b.post(pointer("one"))
    future = json.dumps({"v": 1, "ctime": time.time_ns() + 10**12, "seen": {}})
    assert len(b.poll(future).pointers) == 1
    assert len(b.poll("not json").pointers) == 1


def test_missing_folder_is_a_configuration_error(tmp_path: Path) -> None:
    b = bridge(tmp_path / "nope")
    with pytest.raises(ConfigurationError):
        b.poll(None)
    with pytest.raises(ConfigurationError):
        b.post(pointer("x"))


def test_relative_path_is_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        FilesBridge.from_config("shared", {"path": "relative/folder"})
    assert "carriers.shared.path" in str(caught.value)


def _age_folder(folder: Path) -> None:
    old = time.time_ns() - 60 * 10**9
    os.utime(folder, ns=(old, old))


def test_idle_poll_does_not_list_the_folder(tmp_path: Path) -> None:
    b = bridge(tmp_path)
    for i in range(20):
        b.post(pointer(f"m{i}"))
    _age_folder(tmp_path)
    first = b.poll(None)
    assert len(first.pointers) == 20 and first.items == 20
    idle = b.poll(first.cursor)
    assert idle.pointers == [] and idle.items == 0  # one stat of the folder, nothing read
    b.post(pointer("new"))
    assert [r.text for r in b.poll(idle.cursor).pointers] == [pointer_text(tmp_path)]


def pointer_text(folder: Path) -> str:
    return max(folder.iterdir(), key=lambda p: p.name).read_text().strip()


def test_half_written_file_is_watched_without_listing(tmp_path: Path) -> None:
    b = bridge(tmp_path)
    full = pointer("appended in place by a sync tool")
    target = tmp_path / "0001-partial.pb"
    target.write_text(full[:100])
    _age_folder(tmp_path)
    first = b.poll(None)
    assert first.pointers == [] and first.skipped_malformed == 1
    time.sleep(0.02)
    with open(target, "a") as handle:  # in place: the folder's mtime does not move
        handle.write(full[100:])
    second = b.poll(first.cursor)
    assert [r.text for r in second.pointers] == [full] and second.items == 1
    assert b.poll(second.cursor).items == 0


def _stale_cursor(b: FilesBridge, folder: Path, **changes: int) -> tuple[str, str]:
    """A file the cursor's ctime mark has passed (as after a clock step), and that cursor."""
    late = pointer("stamped while the clock was behind")
    (folder / "0002-late.pb").write_text(late)
    time.sleep(0.4)
    state = json.loads(b.poll(None).cursor)
    state["ctime"] = time.time_ns() + 4_800_000_000  # inside the "future" margin; the file is below it
    state["seen"], state["folder_mtime"] = {}, None
    state.update(changes)
    return late, json.dumps(state)


def test_wall_clock_stepping_back_means_a_full_rescan(tmp_path: Path) -> None:
    from pointerbridge.bridges.files import _since_boot_ns

    b = bridge(tmp_path)
    late, cursor = _stale_cursor(b, tmp_path)
    assert b.poll(cursor).pointers == []  # without a step the mark is trusted
    offset = time.time_ns() - _since_boot_ns()
    late, cursor = _stale_cursor(b, tmp_path, offset=offset + 60 * 10**9)  # the clock was 60 s ahead
    assert [r.text for r in b.poll(cursor).pointers] == [late]


def test_every_file_is_read_again_after_a_day(tmp_path: Path) -> None:
    b = bridge(tmp_path)
    late, cursor = _stale_cursor(b, tmp_path, full_at=time.time_ns() - 25 * 3600 * 10**9)
    result = b.poll(cursor)
    assert [r.text for r in result.pointers] == [late]
    assert b.poll(result.cursor).pointers == []
    never = FilesBridge.from_config("shared", {"path": str(tmp_path), "full_scan_hours": 0})
    assert never.poll(cursor).pointers == []


def test_an_unreadable_file_is_noted_and_tried_on_every_poll(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from pointerbridge.bridges import files

    b = bridge(tmp_path)
    b.post(pointer("readable"))
    locked = pointer("not readable yet")
    (tmp_path / "0009-locked.pb").write_text(locked)
    real_open = builtins.open

    def refusing(path: str, *args: object, **kwargs: object) -> object:
        if str(path).endswith("0009-locked.pb"):  # tests run as root: chmod 000 would not stop us
            raise OSError(5, "Input/output error")  # as a network mount fails, ctime unchanged
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(files, "open", refusing, raising=False)
    first = b.poll(None)
    assert len(first.pointers) == 1 and first.notes == ["cannot read '0009-locked.pb': Input/output error"]
    _age_folder(tmp_path)
    second = b.poll(first.cursor)  # the idle path: the folder did not change
    assert second.pointers == [] and len(second.notes) == 1 and second.items == 0
    monkeypatch.undo()  # the mount recovers; the file itself never changed
    third = b.poll(second.cursor)
    assert [r.text for r in third.pointers] == [locked] and third.notes == []
    assert b.poll(third.cursor).pointers == []
    (tmp_path / "0010-new.pb").write_text(pointer("forces a full scan"))
    monkeypatch.setattr(files, "open", refusing, raising=False)
    fourth = b.poll(first.cursor)  # the scan path retries it too, old ctime or not
    assert len(fourth.notes) == 1


def test_a_folder_that_cannot_be_fsynced_still_takes_posts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    real_fsync = os.fsync

    def picky(fd: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(errno.EINVAL, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", picky)
    b = bridge(tmp_path)
    name = b.post(pointer("posted once"))
    assert [p.name for p in tmp_path.iterdir()] == [name]


def _home_with_folder(tmp_path: Path, folder: Path) -> Path:
    from pointerbridge.home.config import CarrierConfig, Config, save_config
    from test_cli import run

    home = tmp_path / "home"
    made = run(
        "--home", str(home), "init", "--username", "alice", "--weak-secret-ok", env={"PBRIDGE_MASTER_PHRASE": "phrase"}
    )
    assert made.returncode == 0, made
    carrier = CarrierConfig.model_validate({"type": "files", "path": str(folder)})
    save_config(home / "config.toml", Config(carriers={"shared": carrier}))
    return home


def test_files_never_read_are_named_by_poll_and_doctor(tmp_path: Path) -> None:
    # issue 17, item 11: a file over 8 MiB and a symbolic link were skipped without a word
    from test_cli import run

    shared = tmp_path / "shared"
    shared.mkdir()
    outside = tmp_path / "outside.pb"
    outside.write_text(pointer("a symbolic link is not followed"))
    (shared / "link.pb").symlink_to(outside)
    (shared / "big.pb").write_bytes(b"x" * (9 * 1024 * 1024))
    bridge(shared).post(pointer("read as usual"))
    home = _home_with_folder(tmp_path, shared)
    polled = run("--home", str(home), "poll")
    assert polled.returncode == 0, polled
    assert "shared: posted 0, received 1, already known 0, skipped 2" in polled.stdout
    notes = [line for line in polled.stderr.splitlines() if "skipped" in line]
    assert notes == [
        "shared: skipped 'big.pb': 9.0 MiB, over the 8 MiB a pointer file may have",
        "shared: skipped 'link.pb': a symbolic link (only regular files are read)",
    ]
    again = run("--home", str(home), "poll")  # named when they appear, not on every poll
    assert again.returncode == 0 and "skipped '" not in again.stderr
    doctor = run("--home", str(home), "doctor", "--json")
    assert doctor.returncode == 0, doctor
    checks = {f"{c['scope']} {c['check']}": (c["status"], c["detail"]) for c in json.loads(doctor.stdout)["checks"]}
    assert checks["shared skipped files"] == (
        "warn",
        "skipped 'big.pb': 9.0 MiB, over the 8 MiB a pointer file may have; "
        "skipped 'link.pb': a symbolic link (only regular files are read)",
    )


def test_many_skipped_files_are_named_up_to_ten_and_counted(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("x")
    shared = tmp_path / "shared"
    shared.mkdir()
    for i in range(13):
        (shared / f"link-{i:02d}\x1b[31m").symlink_to(target)
    result = bridge(shared).poll(None)
    assert len(result.notes) == 11 and result.skipped_foreign == 13
    assert result.notes[0] == "skipped 'link-00?[31m': a symbolic link (only regular files are read)"
    assert result.notes[-1] == "and 3 more file(s) skipped"


_CHILD = """
import os, sys, threading
from pointerbridge.bridges.files import FilesBridge

def stuck(fd):  # the pointer is written, not yet renamed into place
    print("writing", flush=True)
    threading.Event().wait()

os.fsync = stuck
FilesBridge.from_config("shared", {"path": sys.argv[1]}).post(sys.argv[2])
"""


def test_a_temporary_file_left_by_a_killed_post_is_removed_and_no_one_elses(tmp_path: Path) -> None:
    # issue 17, item 11: a kill during a post left a dot-file that synced to every member forever
    import re
    import signal
    import subprocess
    import sys

    sent = pointer("killed before its rename")
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path), sent], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "writing\n"
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    [left] = list(tmp_path.iterdir())
    assert left.read_text() == sent + "\n"
    named = re.fullmatch(r"\.(\d{20}-[0-9a-f]{12}\.pb)\.([0-9a-f]{16})-(\d+)\.tmp", left.name)
    assert named is not None, left.name
    name, owner, pid = named.groups()
    assert int(pid) == child.pid
    hour_ago = time.time() - 3600
    other_owner = "0" * 16 if owner != "0" * 16 else "1" * 16
    others = tmp_path / f".{name}.{other_owner}-{pid}.tmp"  # another member's: old, its pid dead here
    others.write_text(sent)
    os.utime(others, (hour_ago, hour_ago))
    in_flight = tmp_path / f".{name}.{owner}-{os.getpid()}.tmp"  # ours, its post still running
    in_flight.write_text(sent)
    forgotten = tmp_path / f".{'9' * 20}-{'a' * 12}.pb.{owner}-{os.getpid()}.tmp"  # ours, pid reused since
    forgotten.write_text(sent)
    os.utime(forgotten, (hour_ago, hour_ago))
    syncing = tmp_path / ".syncthing.0001.pb.tmp"
    syncing.write_text(sent)
    result = bridge(tmp_path).poll(None)
    assert result.pointers == [] and result.notes == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([others.name, in_flight.name, syncing.name])
