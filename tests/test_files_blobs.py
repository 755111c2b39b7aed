"""Where the shared-folder carrier keeps blobs (issue 21), beyond the contract suite: out of
the pointer scan's way, written atomically 0600, never followed out of the folder, bounded
by ``max_blob_bytes``."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from pointerbridge.bridges.base import ConfigurationError
from pointerbridge.bridges.blob_io import BlobNotFoundError, BlobTooLargeError
from pointerbridge.bridges.files import FilesBridge
from test_files_bridge import _age_folder, bridge, pointer


def _source(tmp_path: Path, data: bytes, name: str = "source") -> Path:
    source = tmp_path / name
    source.write_bytes(data)
    return source


def test_blob_files_are_never_read_as_pointers_nor_counted(tmp_path: Path) -> None:
    folder, outside = tmp_path / "shared", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    b = bridge(folder)
    posted = [pointer("one"), pointer("two")]
    for text in posted:
        b.post(text)
    # A blob that holds pointers, and one over the 8 MiB a pointer file may have.
    looks_like_pointers = ("\n".join([pointer("inside a blob")] * 3) + "\n").encode()
    b.put_blob(_source(outside, looks_like_pointers, "a"), len(looks_like_pointers))
    b.put_blob(_source(outside, os.urandom(9 << 20), "b"), 9 << 20)
    first = b.poll(None)
    assert sorted(r.text for r in first.pointers) == sorted(posted)
    assert (first.items, first.skipped_foreign, first.skipped_malformed, first.notes) == (2, 0, 0, [])
    assert [f.status for f in b.diagnose(first.cursor)] == ["ok"]  # no "skipped files" warning either
    _age_folder(folder)
    mtime = os.stat(folder).st_mtime_ns
    b.put_blob(_source(outside, b"a third", "c"), 7)
    assert os.stat(folder).st_mtime_ns == mtime  # a blob added: the shared folder itself unchanged
    idle = b.poll(first.cursor)
    assert idle.pointers == [] and idle.items == 0  # an idle poll stays one stat


def test_a_put_is_atomic_private_and_leaves_no_temporary(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    b = bridge(folder)
    data = os.urandom(3 << 20)
    names = [b.put_blob(_source(tmp_path, data), len(data)) for _ in range(3)]
    assert len(set(names)) == 3
    blobs = folder / "blobs"
    assert sorted(p.name for p in blobs.iterdir()) == sorted(names)  # no temporary file left behind
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 and p.read_bytes() == data for p in blobs.iterdir())
    assert stat.S_IMODE(blobs.stat().st_mode) == 0o700
    assert [p.name for p in folder.iterdir()] == ["blobs"]


def test_locators_and_links_from_strangers_are_refused(tmp_path: Path) -> None:
    folder, outside = tmp_path / "shared", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    secret = outside / "secret"
    secret.write_bytes(b"not for the carrier")
    b = bridge(folder)
    name = b.put_blob(_source(tmp_path, b"x" * 100), 100)
    blobs = folder / "blobs"
    linked, fifo = "blob-" + "1" * 32 + ".pbb", "blob-" + "2" * 32 + ".pbb"
    (blobs / linked).symlink_to(secret)
    os.mkfifo(blobs / fifo)  # a read would block forever
    for stranger in (linked, fifo, f"../blobs/{name}", str(blobs / name), f"blobs/{name}", "../outside/secret"):
        with pytest.raises(BlobNotFoundError):
            b.get_blob(stranger, tmp_path / "dest", 1000)
        assert not (tmp_path / "dest").exists()
    # The whole blobs folder swapped for a link to elsewhere: neither read nor written.
    (outside / name).write_bytes(b"x" * 100)
    os.rename(blobs, tmp_path / "moved")
    blobs.symlink_to(outside)
    with pytest.raises(BlobNotFoundError, match="not a folder"):
        b.get_blob(name, tmp_path / "dest", 1000)
    with pytest.raises(ConfigurationError, match="not a folder"):
        b.put_blob(_source(tmp_path, b"y"), 1)
    assert sorted(p.name for p in outside.iterdir()) == sorted([name, "secret"])


def test_max_blob_bytes_sets_the_limit_and_zero_keeps_no_files(tmp_path: Path) -> None:
    assert bridge(tmp_path).blob_limit == 100 * 2**20
    small = FilesBridge.from_config("shared", {"path": str(tmp_path), "max_blob_bytes": 1000})
    assert small.blob_limit == 1000
    with pytest.raises(BlobTooLargeError, match="max_blob_bytes"):
        small.put_blob(_source(tmp_path, b"z" * 1001), 1001)
    with pytest.raises(BlobTooLargeError, match="grew"):  # a file larger than it was said to be
        small.put_blob(_source(tmp_path, b"z" * 1001), 10)
    assert list((tmp_path / "blobs").iterdir()) == []  # nothing half-written left
    none = FilesBridge.from_config("shared", {"path": str(tmp_path), "max_blob_bytes": 0})
    assert none.blob_limit is None
    with pytest.raises(ConfigurationError, match="keeps no files"):
        none.put_blob(_source(tmp_path, b"z"), 1)
    with pytest.raises(ConfigurationError, match="max_blob_bytes"):
        FilesBridge.from_config("shared", {"path": str(tmp_path), "max_blob_bytes": -1})


def test_a_temporary_blob_left_by_a_killed_put_is_removed_and_no_one_elses(tmp_path: Path) -> None:
    b = bridge(tmp_path)
    b.put_blob(_source(tmp_path, b"first"), 5)
    blobs = tmp_path / "blobs"
    hex32 = "3" * 32
    ours_old = blobs / f".blob-{hex32}.pbb.{b._owner}-{os.getpid()}.tmp"
    ours_fresh = blobs / f".blob-{'4' * 32}.pbb.{b._owner}-{os.getpid()}.tmp"
    theirs_old = blobs / f".blob-{hex32}.pbb.{'0' * 16}-1.tmp"
    old = time.time_ns() - 3600 * 10**9
    for path in (ours_old, ours_fresh, theirs_old):
        path.write_bytes(b"partial")
    for path in (ours_old, theirs_old):
        os.utime(path, ns=(old, old))
    b.put_blob(_source(tmp_path, b"second"), 6)
    assert not ours_old.exists()
    assert ours_fresh.exists() and theirs_old.exists()  # a put in flight; another member's
