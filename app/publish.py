"""A file written beside the file a user names, and published there only once whole and
checked (issue 21: ``pbridge save``).

On Linux the file is opened with ``O_TMPFILE`` in the destination's folder: it has no
name while it is written, so a process killed at any moment (SIGKILL, SIGTERM, a power
cut) leaves nothing behind; once checked it gets its name with ``link`` through
``/proc/self/fd`` (which never replaces a file) or, with ``force``, a random name then
``os.replace``. Where the folder's filesystem refuses ``O_TMPFILE``, or ``/proc`` is not
mounted (``linkat`` of the descriptor itself, ``AT_EMPTY_PATH``, needs a privilege), the
file is a named ``.pbridge-<hex>.part`` removed on any exception (the CLI turns
SIGTERM/SIGHUP into one), and such parts an hour old, left by a run killed outright, are
removed before a new one is written there.

Filesystems without hard links (vfat, exFAT, SMB) answer ``link`` with EPERM: the part is
then renamed with ``renameat2(RENAME_NOREPLACE)`` (called through ctypes: the standard
library has no binding, and the one PyPI package for it, ``renameat2``, is unmaintained
since 2022 for a single system call), or where that is missing, renamed after checking
the name is free. Any other failure of the folder (unwritable, full) is
:class:`DestinationWriteError`, one line.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import DestinationExistsError, DestinationWriteError

__all__ = ["PART_PREFIX", "PART_SUFFIX", "Part", "beside"]

PART_PREFIX = ".pbridge-"
PART_SUFFIX = ".part"
_STALE_SECONDS = 3600
_NO_TMPFILE = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)
_NO_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS)
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _exists(dest: Path) -> DestinationExistsError:
    return DestinationExistsError(f"{dest} exists: give another name, or --force to replace it")


def _failed(dest: Path, exc: OSError) -> DestinationWriteError:
    return DestinationWriteError(f"cannot write {dest}: {exc.strerror or exc}")


def _remove_stale_parts(folder: Path) -> None:
    stale = time.time() - _STALE_SECONDS
    with contextlib.suppress(OSError):
        for old in folder.iterdir():
            if old.name.startswith(PART_PREFIX) and old.name.endswith(PART_SUFFIX):
                with contextlib.suppress(OSError):
                    if old.lstat().st_mtime < stale:
                        old.unlink()


def _rename_noreplace(src: Path, dest: Path) -> None:
    """``src`` renamed to ``dest``, never over an existing file (FileExistsError)."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        call = getattr(libc, "renameat2", None)
        if call is not None:
            if call(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dest), _RENAME_NOREPLACE) == 0:
                return
            err = ctypes.get_errno()
            if err not in (errno.ENOSYS, errno.EINVAL):  # EINVAL: this filesystem lacks the flag
                raise OSError(err, os.strerror(err), str(dest))
    if os.path.lexists(dest):  # a checked rename: the best left where the kernel has no other
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dest))
    os.rename(src, dest)


def _fd_folder() -> int | None:
    """``/proc/self/fd`` opened, through which a nameless file is linked; None where it is
    not mounted (a sandbox, a chroot): a file with no name could then never get one, so
    the named part is written instead."""
    try:
        return os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None


class Part:
    """A 0600 file being written beside ``dest``: nameless where the kernel allows it."""

    def __init__(self, dest: Path, force: bool) -> None:
        self.dest, self.force = dest, force
        self.path: Path | None = None
        folder = dest.parent
        self._fds = _fd_folder() if hasattr(os, "O_TMPFILE") else None
        try:
            if self._fds is not None:
                try:
                    self.fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600)
                    return
                except OSError as exc:
                    if exc.errno not in _NO_TMPFILE:
                        raise
                os.close(self._fds)
                self._fds = None
            _remove_stale_parts(folder)
            self.path = folder / f"{PART_PREFIX}{secrets.token_hex(8)}{PART_SUFFIX}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            self.fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            if self._fds is not None:
                os.close(self._fds)
            raise _failed(dest, exc) from None

    def write(self, data: bytes) -> None:
        """Append ``data`` (all of it)."""
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as exc:
            raise _failed(self.dest, exc) from None

    def publish(self) -> None:
        """Flush the file to disk and give it ``dest``'s name (DestinationExistsError:
        ``dest`` appeared meanwhile and ``force`` was not given)."""
        try:
            os.fsync(self.fd)
            if self.path is None:
                self._publish_nameless()
            else:
                self._publish_named(self.path)
        except FileExistsError:
            raise _exists(self.dest) from None
        except OSError as exc:
            raise _failed(self.dest, exc) from None

    def _publish_nameless(self) -> None:
        target = self.dest if not self.force else self.dest.parent / f"{PART_PREFIX}{secrets.token_hex(8)}{PART_SUFFIX}"
        # linkat(AT_SYMLINK_FOLLOW) on /proc/self/fd/N, as open(2) shows: os.link takes
        # that flag only with a dir_fd (without, plain link() links the /proc symlink: EXDEV).
        os.link(str(self.fd), target, src_dir_fd=self._fds, follow_symlinks=True)  # never over a file
        if not self.force:
            return
        try:
            os.replace(target, self.dest)
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    def _publish_named(self, path: Path) -> None:
        if self.force:
            os.replace(path, self.dest)
            return
        try:
            os.link(path, self.dest)  # never over a file
        except OSError as exc:
            if exc.errno not in _NO_LINKS or isinstance(exc, FileExistsError):
                raise
            _rename_noreplace(path, self.dest)  # vfat, exFAT, SMB: no hard links
            return
        path.unlink()

    def close(self) -> None:
        """Close the file; a named part not published is removed."""
        with contextlib.suppress(OSError):
            os.close(self.fd)
        if self._fds is not None:
            with contextlib.suppress(OSError):
                os.close(self._fds)
        if self.path is not None:
            self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def beside(dest: Path, force: bool) -> Iterator[Part]:
    """A :class:`Part` beside ``dest``; whatever happens, nothing but ``dest`` (once
    published) is left."""
    part = Part(dest, force)
    try:
        yield part
    finally:
        part.close()
