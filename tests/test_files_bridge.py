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
