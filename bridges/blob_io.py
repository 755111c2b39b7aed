"""What every carrier's blob store shares (issue 21): its two failures, and the one way a
fetched blob reaches its file (``dest``: created 0600, never over ``max_bytes``, removed
after any failure).

A blob comes from a carrier, so it is hostile until its hash is checked (by the caller,
after this): it is bounded while it is written, never after.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .base import BridgeError

__all__ = ["BlobNotFoundError", "BlobTooLargeError", "write_blob"]


class BlobNotFoundError(BridgeError):
    """A locator that names no blob on this carrier: removed, never there, malformed, or
    another carrier's. Another carrier's locator of the same blob may still work."""

    exit_code = 51


class BlobTooLargeError(BridgeError):
    """A blob larger than allowed: over this carrier's limit when put, over what the
    attachment says when fetched (nothing is kept of it)."""

    exit_code = 52


def write_blob(carrier: str, dest: Path, chunks: Iterable[bytes], max_bytes: int) -> int:
    """Write ``chunks`` to the new file ``dest`` (0600, refused if it exists or is a
    link); return the bytes written. More than ``max_bytes`` raises
    :class:`BlobTooLargeError`; after any failure (the chunks' own too) ``dest`` is gone."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                written += len(chunk)
                if written > max_bytes:
                    raise BlobTooLargeError(carrier, f"the blob is larger than the {max_bytes} bytes expected")
                out.write(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return written
