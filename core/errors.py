"""Every failure Pointer Bridge reports, one type each.

A pointer that fails to open raises exactly one :class:`PointerError` subclass; its
``expect`` attribute is the name the test vectors use for that outcome, so a vector
file and this module cannot drift apart silently.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "EXIT_INTERNAL",
    "ArmorError",
    "BadSignatureError",
    "BlobChunkError",
    "BlobError",
    "BlobHashError",
    "BlobTruncatedError",
    "ClmError",
    "ClmFormatError",
    "ClmTamperedError",
    "ClmWrongChatError",
    "ClmWrongSecretError",
    "InvalidInputError",
    "MalformedError",
    "NonCanonicalError",
    "NotForThisChatError",
    "PaddingError",
    "PointerBridgeError",
    "PointerError",
    "TamperedError",
    "TooLargeError",
    "TruncatedError",
    "UnknownVersionError",
    "WeakKeyError",
]


# The exit code of a failure no error class names: a bug (every front-end reports it as one
# line, never a traceback that could show a secret).
EXIT_INTERNAL = 70


class PointerBridgeError(Exception):
    """Base of every error Pointer Bridge raises on purpose.

    ``exit_code``: the code ``pbridge`` exits with when this error ends a command. Each
    class a user can meet carries its own (documented in the README, distinct, and never
    renumbered: scripts and service managers test them); 1 is the default of the bases.
    """

    exit_code: ClassVar[int] = 1


class InvalidInputError(PointerBridgeError, ValueError):
    """An argument the caller gave cannot be used (empty name, bad limit, ...)."""

    exit_code = 3


class PointerError(PointerBridgeError):
    """A pointer could not be opened. Never raised directly: see the subclasses."""

    expect = "error"


class ArmorError(PointerError):
    """The text is not a pointer: wrong prefix, a character outside the alphabet,
    or characters left over after the pointer ends."""

    expect = "armor"
    exit_code = 10


class NonCanonicalError(ArmorError):
    """The armor decodes, but not from the one canonical encoding of its bytes."""

    expect = "noncanonical"
    exit_code = 11


class UnknownVersionError(PointerError):
    """The pointer names a format version this code does not implement."""

    expect = "version"
    exit_code = 12


class TruncatedError(PointerError):
    """The pointer is shorter than its own length field, or shorter than any pointer."""

    expect = "truncated"
    exit_code = 13


class TooLargeError(PointerError):
    """The input or the pointer's declared length exceeds the format's limit."""

    expect = "oversize"
    exit_code = 14


class NotForThisChatError(PointerError):
    """The routing tag does not match: another chat's pointer, or a wrong secret."""

    expect = "no_match"
    exit_code = 15


class TamperedError(PointerError):
    """The routing tag matches but authenticated decryption fails: bytes were changed."""

    expect = "aead"
    exit_code = 16


class PaddingError(PointerError):
    """Decryption succeeded but the padding is not the canonical zero padding."""

    expect = "padding"
    exit_code = 17


class MalformedError(PointerError):
    """Decryption succeeded but the sealed fields are inconsistent (lengths, flags,
    UTF-8, or parts of a split message that do not belong together)."""

    expect = "malformed"
    exit_code = 18


class BadSignatureError(PointerError):
    """The sender's Ed25519 signature does not verify."""

    expect = "signature"
    exit_code = 19


class WeakKeyError(BadSignatureError):
    """The sender key is of small order or not canonically encoded: no seed gives such a
    key, and OpenSSL accepts forged signatures under some (SPEC §7 step 8)."""

    exit_code = 32


class ClmError(PointerBridgeError):
    """A Chrono-Library Messenger pointer could not be read."""


class ClmFormatError(ClmError):
    """The text is not a CLM pointer (JSON shape, field types, hex)."""

    exit_code = 20


class ClmWrongSecretError(ClmError):
    """The keystream does not produce CLM's plaintext structure: wrong secret or chat."""

    exit_code = 21


class ClmWrongChatError(ClmError):
    """The pointer decrypts, but names another chat than the one asked for."""

    exit_code = 22


class ClmTamperedError(ClmError):
    """The decrypted text does not reproduce the pointer's nonce: it was altered."""

    exit_code = 23


class BlobError(PointerBridgeError):
    """An attachment's blob could not be opened (docs/SPEC-blobs.md). Never raised
    directly: see the subclasses. Like :class:`PointerError`, ``expect`` names the outcome
    in tests/vectors/blob.json."""

    expect = "error"


class BlobHashError(BlobError):
    """The blob's SHA-256 is not the one its reference names: changed, or another file."""

    expect = "blob_hash"
    exit_code = 48


class BlobChunkError(BlobError):
    """A chunk of the blob does not authenticate: altered, moved to another place, or
    sealed under another file key."""

    expect = "blob_chunk"
    exit_code = 50


class BlobTruncatedError(BlobError):
    """The blob is not as long as its reference's size makes it: its last chunk missing,
    bytes after its last chunk, or the size itself wrong."""

    expect = "blob_truncated"
    exit_code = 53
