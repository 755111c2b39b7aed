"""Every failure Pointer Bridge reports, one type each.

A pointer that fails to open raises exactly one :class:`PointerError` subclass; its
``expect`` attribute is the name the test vectors use for that outcome, so a vector
file and this module cannot drift apart silently.
"""

from __future__ import annotations

__all__ = [
    "ArmorError",
    "BadSignatureError",
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


class PointerBridgeError(Exception):
    """Base of every error Pointer Bridge raises on purpose."""


class InvalidInputError(PointerBridgeError, ValueError):
    """An argument the caller gave cannot be used (empty name, bad limit, ...)."""


class PointerError(PointerBridgeError):
    """A pointer could not be opened. Never raised directly: see the subclasses."""

    expect = "error"


class ArmorError(PointerError):
    """The text is not a pointer: wrong prefix, a character outside the alphabet,
    or characters left over after the pointer ends."""

    expect = "armor"


class NonCanonicalError(ArmorError):
    """The armor decodes, but not from the one canonical encoding of its bytes."""

    expect = "noncanonical"


class UnknownVersionError(PointerError):
    """The pointer names a format version this code does not implement."""

    expect = "version"


class TruncatedError(PointerError):
    """The pointer is shorter than its own length field, or shorter than any pointer."""

    expect = "truncated"


class TooLargeError(PointerError):
    """The input or the pointer's declared length exceeds the format's limit."""

    expect = "oversize"


class NotForThisChatError(PointerError):
    """The routing tag does not match: another chat's pointer, or a wrong secret."""

    expect = "no_match"


class TamperedError(PointerError):
    """The routing tag matches but authenticated decryption fails: bytes were changed."""

    expect = "aead"


class PaddingError(PointerError):
    """Decryption succeeded but the padding is not the canonical zero padding."""

    expect = "padding"


class MalformedError(PointerError):
    """Decryption succeeded but the sealed fields are inconsistent (lengths, flags,
    UTF-8, or parts of a split message that do not belong together)."""

    expect = "malformed"


class BadSignatureError(PointerError):
    """The sender's Ed25519 signature does not verify."""

    expect = "signature"


class WeakKeyError(BadSignatureError):
    """The sender key is of small order or not canonically encoded: no seed gives such a
    key, and OpenSSL accepts forged signatures under some (SPEC §7 step 8)."""


class ClmError(PointerBridgeError):
    """A Chrono-Library Messenger pointer could not be read."""


class ClmFormatError(ClmError):
    """The text is not a CLM pointer (JSON shape, field types, hex)."""


class ClmWrongSecretError(ClmError):
    """The keystream does not produce CLM's plaintext structure: wrong secret or chat."""


class ClmWrongChatError(ClmError):
    """The pointer decrypts, but names another chat than the one asked for."""


class ClmTamperedError(ClmError):
    """The decrypted text does not reproduce the pointer's nonce: it was altered."""
