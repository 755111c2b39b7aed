"""The one way Pointer Bridge writes a private file (config.toml, a token, an export).

Atomic: the data goes to a temporary file beside the target, is fsynced, and is renamed
over the target, so a crash leaves the old file or the new one, never half of one; the
folder is fsynced too, where it can be, so the rename survives a power cut. Private: the
temporary file is created 0600 with ``O_EXCL | O_NOFOLLOW`` after whatever stood at its
name was removed, so a planted file or symlink there is never followed or reused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["write_private", "write_private_with"]


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600."""
    write_private_with(path, lambda out: out.write(data))


def write_private_with(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Create ``path`` atomically with mode 0600 from what ``write`` puts in the open
    (binary) file; if ``write`` raises, ``path`` is left as it was."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)  # a leftover of a crash, or a planted link: never followed
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable where the folder allows it. The new file is in place
    already: a folder that cannot be opened or fsynced (write-only, a VirtualBox share,
    some FUSE) must not turn a write that happened into an error (a caller would undo or
    redo it, and a login would revoke the token it just saved)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        return
    finally:
        os.close(fd)
