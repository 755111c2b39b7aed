"""The store key: what seals the metadata a thief of the disk must not read (docs/AT-REST.md).

Derived from the identity's Argon2id output with HKDF under a label of its own (never the
signing seed itself, :meth:`Identity.store_key`), so only the master phrase gives it. It
holds two subkeys:

- a sealing key: ChaCha20-Poly1305 with a random 96-bit nonce per seal, the plaintext
  padded to a Padmé bucket (:mod:`.padding`) behind a 4-byte length, bound by its
  associated data to where the sealed bytes are kept (a chat's row, an export);
- a lookup key: HMAC-SHA256 of a normalized chat name, what the store finds a chat by
  instead of its name.

Like :class:`~pointerbridge.core.keys.ChatKey` it lives in RAM only: it cannot be pickled
and shows no key material in ``repr``.
"""

from __future__ import annotations

import hmac
import os
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .errors import InvalidInputError, PointerBridgeError
from .padding import padded_length

__all__ = ["SEALED_VERSION", "SealedDataError", "StoreKey"]

SEALED_VERSION = 1
_NONCE_BYTES = 12
_LENGTH_BYTES = 4
_SEAL_LABEL = b"pointerbridge store seal v1"
_LOOKUP_LABEL = b"pointerbridge store lookup v1"
_MAX_SEALED = 16 << 20  # a chat's record is kilobytes; anything near this was not made here


class SealedDataError(PointerBridgeError):
    """Sealed bytes do not open under this store key: changed outside pbridge, moved from
    another place, or sealed under another identity's key."""

    exit_code = 37


def _hkdf(key: bytes, info: bytes) -> bytes:
    prk = hmac.digest(bytes(32), key, "sha256")
    return hmac.digest(prk, info + b"\x01", "sha256")


class StoreKey:
    """The key of one identity's store: seals records and makes lookup hashes."""

    __slots__ = ("_aead", "_lookup")

    def __init__(self, key: bytes) -> None:
        """Wrap a 32-byte key (what :meth:`Identity.store_key` derives)."""
        if not isinstance(key, bytes) or len(key) != 32:
            raise InvalidInputError("a store key is 32 bytes")
        self._aead = ChaCha20Poly1305(_hkdf(key, _SEAL_LABEL))
        self._lookup = _hkdf(key, _LOOKUP_LABEL)

    def lookup(self, normalized_name: str) -> bytes:
        """The 32-byte keyed hash the store finds a chat by (give the normalized name)."""
        return hmac.digest(self._lookup, b"chat\x00" + normalized_name.encode("utf-8"), "sha256")

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """``version(1) || nonce(12) || ChaCha20-Poly1305(length(4) || plaintext || zeros)``,
        padded to a Padmé bucket; ``context`` is the associated data (where it is kept)."""
        body = len(plaintext).to_bytes(_LENGTH_BYTES, "big") + plaintext
        body += bytes(padded_length(len(body)) - len(body))
        nonce = os.urandom(_NONCE_BYTES)
        return bytes([SEALED_VERSION]) + nonce + self._aead.encrypt(nonce, body, _context(context))

    def open(self, sealed: bytes, context: bytes) -> bytes:
        """The plaintext :meth:`seal` sealed with the same ``context``; raise
        :class:`SealedDataError` for anything else."""
        if not isinstance(sealed, bytes) or not 1 + _NONCE_BYTES + 16 <= len(sealed) <= _MAX_SEALED:
            raise SealedDataError("sealed data of an impossible length")
        if sealed[0] != SEALED_VERSION:
            raise SealedDataError(f"sealed data of version {sealed[0]}, not {SEALED_VERSION}")
        nonce = sealed[1 : 1 + _NONCE_BYTES]
        try:
            body = self._aead.decrypt(nonce, sealed[1 + _NONCE_BYTES :], _context(context))
        except InvalidTag:
            raise SealedDataError("sealed data does not open under this identity's store key") from None
        length = int.from_bytes(body[:_LENGTH_BYTES], "big")
        if length > len(body) - _LENGTH_BYTES:
            raise SealedDataError("sealed data declares more than it holds")
        return body[_LENGTH_BYTES : _LENGTH_BYTES + length]

    def __repr__(self) -> str:
        return "StoreKey(...)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("StoreKey holds key material and is never serialized")


def _context(context: bytes) -> bytes:
    return b"pointerbridge store v1\x00" + context
