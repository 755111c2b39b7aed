"""The blob hooks every bridge has: where a carrier keeps the encrypted file of an
attachment (issue 21; ``core/blob.py`` encrypts it, the pointer carries its key, hash
and locators). A carrier that keeps no files says so; the default here.

A blob is ciphertext already (age's STREAM under a fresh key per file), so a carrier
sees its size and when it was put, never a name, type or content: the name and type
travel inside the sealed pointer.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

__all__ = ["BlobHooks"]


class BlobHooks:
    """Mixed into :class:`~pointerbridge.bridges.base.Bridge`: the default, no blobs."""

    name: str
    carrier_type: ClassVar[str]
    # Bytes of the largest blob this carrier takes (an encrypted file is 16 bytes per
    # 64 KiB chunk longer than the file); None: it keeps no blobs. A class attribute, or
    # set per bridge from its settings (files, e-mail: ``max_blob_bytes``).
    blob_limit: int | None = None

    def put_blob(self, source: Path, size: int) -> str:
        """Store the encrypted blob in the file ``source`` (``size`` bytes) where the
        carrier keeps files; return its locator (a text of at most 1000 characters that
        :meth:`get_blob` of any member's bridge on the same place resolves). Raises
        :class:`~pointerbridge.bridges.base.RetryableError` when it may work later,
        :class:`~pointerbridge.bridges.blob_io.BlobTooLargeError` when it is larger than
        the carrier takes, ``ConfigurationError`` when it cannot (no blob store)."""
        from .base import ConfigurationError

        raise ConfigurationError(
            self.name,
            f"a {self.carrier_type} carrier keeps no files: to send files in a chat, give it another carrier "
            f"that does (a shared folder, e-mail, Matrix or Telegram): pbridge chat carriers CHAT "
            f"--carrier {self.name} --carrier OTHER",
        )

    def get_blob(self, locator: str, dest: Path, max_bytes: int) -> None:
        """Fetch the blob ``locator`` names into the new file ``dest`` (0600; it must not
        exist), reading at most ``max_bytes``: more is
        :class:`~pointerbridge.bridges.blob_io.BlobTooLargeError`, a locator that names
        no blob here (removed, malformed, another carrier's)
        :class:`~pointerbridge.bridges.blob_io.BlobNotFoundError`; after any failure
        ``dest`` does not exist. The caller checks its hash: the carrier is not trusted
        with it."""
        from .base import ConfigurationError

        raise ConfigurationError(self.name, f"a {self.carrier_type} carrier keeps no files")
