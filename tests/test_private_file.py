"""The one private-file writer: atomic, 0600, never following a planted link."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

import pytest
from pointerbridge.home.private_file import write_private, write_private_with


def test_a_written_file_is_0600_and_holds_exactly_the_data(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    write_private(target, b"a = 1\n")
    assert target.read_bytes() == b"a = 1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]  # no temporary file left


def test_a_planted_link_at_the_temporary_name_is_removed_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    target = tmp_path / "export.jsonl"
    (tmp_path / f".{target.name}.{os.getpid()}.tmp").symlink_to(victim)
    write_private(target, b"new")
    assert victim.read_bytes() == b"precious"
    assert target.read_bytes() == b"new" and not target.is_symlink()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "token"
    write_private(target, b"old")

    def fail(out: BinaryIO) -> None:
        out.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_private_with(target, fail)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token"]


def test_a_file_replaced_over_a_looser_one_is_0600(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_private(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_folder_that_cannot_be_read_does_not_undo_a_write_that_happened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A drop-box folder (write and search, no read) cannot be opened to fsync the rename;
    # the file was replaced all the same, so the write is not reported as failed (a login
    # would otherwise revoke the token it had just saved).
    target = tmp_path / "token"
    write_private(target, b"old")
    real_open = os.open

    def refuse_folders(path: str | Path, flags: int, mode: int = 0o777) -> int:
        if Path(path).is_dir():
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", refuse_folders)
    write_private(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token"]
