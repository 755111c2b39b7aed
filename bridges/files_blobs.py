"""Where a files carrier keeps blobs (issue 21): ``blobs/blob-<32 hex>.pbb`` under the
shared folder, the locator being the file's name.

A folder of their own, so the pointer scan never meets them: it reads only the shared
folder's own files (a folder in it is passed over), a blob added changes neither the
folder's mtime (an idle poll stays one ``stat``) nor its inotify watch, and the scan's
bounds (8 MiB a file, notes on files it skips) count pointer files only. Sync tools
carry the folder like any other.

A put writes ``.blob-<hex>.pbb.<owner>-<pid>.tmp`` (0600), fsyncs it, renames it into
place and fsyncs the folder, as a post does. ``blobs`` and every blob are opened without
following symbolic links, relative to the opened folder, so a member of the folder
cannot make a put write, or a fetch read, anywhere else; a locator must be a name this
carrier makes (no ``/``, no ``..``). A fetch reads regular files only (a FIFO would
block), at most ``max_bytes``.

Nothing removes blobs: the files carrier keeps pointers as long as the folder does, and
its blobs likewise; a blob file deleted by hand is fetched from another carrier, or
not at all (``BlobNotFoundError``). A put removes this owner's temporary blob files that
no write has touched for ten minutes (a killed put's).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat as stat_mode
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .base import Bridge, ConfigurationError, RetryableError
from .blob_io import BlobNotFoundError, BlobTooLargeError, write_blob

__all__ = ["BLOB_FOLDER", "FilesBlobs", "fsync_folder"]

BLOB_FOLDER = "blobs"
_NAME = re.compile(r"blob-[0-9a-f]{32}\.pbb")
_TEMP = re.compile(r"\.blob-[0-9a-f]{32}\.pbb\.(?P<owner>[0-9a-f]{16})-\d{1,10}\.tmp")
_STALE_NS = 600 * 1_000_000_000
_CHUNK = 1 << 20
_CONFIG_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.ELOOP, errno.ENOSPC, errno.EDQUOT}


class FilesBlobs(Bridge):
    """Mixed into the files bridge: ``put_blob`` and ``get_blob`` on the shared folder."""

    @property
    def _owner(self) -> str:  # the files bridge's: whose temporary files these are
        raise NotImplementedError

    def put_blob(self, source: Path, size: int) -> str:
        """Copy the blob file ``source`` into ``blobs/``; return its file name."""
        limit = self.blob_limit
        if limit is None:
            raise ConfigurationError(self.name, "this files carrier keeps no files (max_blob_bytes = 0)")
        if size > limit:
            raise BlobTooLargeError(self.name, f"{size} bytes is over this carrier's max_blob_bytes ({limit})")
        name = f"blob-{secrets.token_hex(16)}.pbb"
        temp = f".{name}.{self._owner}-{os.getpid()}.tmp"
        with open(source, "rb") as blob:
            folder = self._blob_folder(create=True)
            try:
                self._clean(folder)
                _copy(blob.read, folder, temp, limit, self.name)
                os.replace(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
                _fsync(folder)  # the rename itself must survive a power cut
            except OSError as exc:
                _unlink(temp, folder)
                raise self._blob_error(exc, "write a blob to") from None
            except BaseException:
                _unlink(temp, folder)
                raise
            finally:
                os.close(folder)
        return name

    def get_blob(self, locator: str, dest: Path, max_bytes: int) -> None:
        """Copy the blob file ``locator`` names into ``dest``, at most ``max_bytes``."""
        if not _NAME.fullmatch(locator):
            raise BlobNotFoundError(self.name, f"{locator[:80]!r} is not a files carrier's blob name")
        folder = self._blob_folder(create=False)
        try:
            try:
                fd = os.open(locator, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder)
            except FileNotFoundError:
                raise BlobNotFoundError(self.name, f"no blob {locator} in {self._where}") from None
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise BlobNotFoundError(self.name, f"{locator} is a symbolic link: not followed") from None
                raise self._blob_error(exc, "read a blob in") from None
        finally:
            os.close(folder)
        with os.fdopen(fd, "rb") as blob:
            found = os.fstat(blob.fileno())
            if not stat_mode.S_ISREG(found.st_mode):
                raise BlobNotFoundError(self.name, f"{locator} is not a regular file")
            if found.st_size > max_bytes:
                raise BlobTooLargeError(
                    self.name, f"{locator} has {found.st_size} bytes, over the {max_bytes} expected"
                )
            os.set_blocking(blob.fileno(), True)
            write_blob(self.name, dest, self._chunks(blob.read), max_bytes)

    def _chunks(self, read: Callable[[int], bytes]) -> Iterator[bytes]:
        """The blob's bytes; a failed read is the carrier's (dest's own failures are the caller's)."""
        try:
            while chunk := read(_CHUNK):
                yield chunk
        except OSError as exc:
            raise self._blob_error(exc, "read a blob in") from None

    @property
    def _where(self) -> Path:
        return Path(self.settings.path) / BLOB_FOLDER

    def _blob_folder(self, *, create: bool) -> int:
        """The opened ``blobs`` folder (made 0700 when ``create``); a symbolic link is refused."""
        where = self._where
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(where, 0o700)
            return os.open(where, flags)
        except FileNotFoundError:
            if not create:
                raise BlobNotFoundError(self.name, f"no folder {where}: no blob was put here") from None
            raise ConfigurationError(self.name, f"cannot make {where}: its folder is gone") from None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                refused = ConfigurationError if create else BlobNotFoundError
                raise refused(self.name, f"{where} is not a folder (a link or a file): not used") from None
            raise self._blob_error(exc, "open") from None

    def _blob_error(self, exc: OSError, doing: str) -> Exception:
        kind = ConfigurationError if exc.errno in _CONFIG_ERRNOS else RetryableError
        return kind(self.name, f"cannot {doing} {self._where}: {exc.strerror}")

    def _clean(self, folder: int) -> None:
        """Remove this owner's temporary blob files that no write touched for ten minutes."""
        stale = time.time_ns() - _STALE_NS
        for name in os.listdir(folder):
            match = _TEMP.fullmatch(name)
            if match is None or match["owner"] != self._owner:
                continue  # a blob, or another member's put: maybe in flight on their machine
            with contextlib.suppress(FileNotFoundError):  # its put renamed it, or another removed it
                if os.stat(name, dir_fd=folder, follow_symlinks=False).st_mtime_ns < stale:
                    os.unlink(name, dir_fd=folder)


def _copy(read: Callable[[int], bytes], folder: int, temp: str, limit: int, carrier: str) -> None:
    """What ``read`` gives into the new file ``temp`` of ``folder``, fsynced."""
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=folder)
    with os.fdopen(fd, "wb") as out:
        copied = 0
        while chunk := read(_CHUNK):
            copied += len(chunk)
            if copied > limit:
                raise BlobTooLargeError(carrier, f"the file grew over this carrier's max_blob_bytes ({limit})")
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())


def _unlink(name: str, folder: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=folder)


def _fsync(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some filesystems (VirtualBox shares, some FUSE) cannot fsync a folder: the file
        # is in place all the same, and failing the post would write it again each poll.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise


def fsync_folder(folder: Path) -> None:
    """fsync a folder (a rename in it), where its filesystem can."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        _fsync(fd)
    finally:
        os.close(fd)
