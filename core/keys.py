"""Chat keys and identities: memory-hard derivation from what a person can remember.

Both are derived with Argon2id (RFC 9106, its second recommended parameter set) and
live only in RAM: neither class can be pickled, and neither shows key material in
``repr``. Everything a stranger needs to re-derive them is in ``docs/SPEC.md`` §2.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from hashlib import sha256
from typing import NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from .errors import InvalidInputError

__all__ = [
    "ARGON2_ITERATIONS",
    "ARGON2_LANES",
    "ARGON2_MEMORY_KIB",
    "ChatKey",
    "Identity",
    "fingerprint",
    "normalize_chat_name",
    "normalize_username",
]

ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_ITERATIONS = 3
ARGON2_LANES = 4
KEY_BYTES = 32
ROUTING_TAG_BYTES = 4
MAX_CHAT_NAME_BYTES = 128
MAX_USERNAME_BYTES = 64

_CHAT_SALT_LABEL = b"pointerbridge pb1 chat key"
_IDENTITY_SALT_LABEL = b"pointerbridge pb1 identity"
_FINGERPRINT_LABEL = b"pointerbridge pb1 fingerprint"
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))


def _clean_name(name: str, what: str, limit: int, *, fold: bool) -> str:
    if not isinstance(name, str):
        raise InvalidInputError(f"{what} must be text")
    text = " ".join(unicodedata.normalize("NFKC", name).translate(_ZERO_WIDTH).split())
    if fold:
        text = text.casefold()
    if not text:
        raise InvalidInputError(f"{what} is empty")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text):
        raise InvalidInputError(f"{what} contains control or unassigned characters")
    if len(text.encode("utf-8")) > limit:
        raise InvalidInputError(f"{what} is longer than {limit} bytes of UTF-8")
    return text


def normalize_chat_name(name: str) -> str:
    """The form of a chat name that keys are bound to.

    NFKC, zero-width characters removed, runs of whitespace collapsed to one space,
    trimmed, then case-folded: ``"  Family\u00a0Chat"`` and ``"family chat"`` are one chat.
    """
    return _clean_name(name, "chat name", MAX_CHAT_NAME_BYTES, fold=True)


def normalize_username(name: str) -> str:
    """The form of a username that identities are bound to and pointers carry.

    Like :func:`normalize_chat_name` but case is kept: it is what peers see.
    """
    return _clean_name(name, "username", MAX_USERNAME_BYTES, fold=False)


def _secret_bytes(secret: str, what: str) -> bytes:
    if not isinstance(secret, str):
        raise InvalidInputError(f"{what} must be text")
    # NFC only: a secret typed on macOS (NFD) must match the same secret typed elsewhere,
    # but compatibility folding would merge secrets the user considers different.
    if not secret:
        raise InvalidInputError(f"{what} is empty")
    try:
        return unicodedata.normalize("NFC", secret).encode("utf-8")
    except UnicodeEncodeError:  # the exception would carry the secret itself: drop it
        raise InvalidInputError(f"{what} is not valid Unicode text") from None


def _argon2(label: bytes, name: str, secret: bytes) -> bytes:
    salt = hashlib.sha256(label + b"\x00" + name.encode("utf-8")).digest()
    kdf = Argon2id(
        salt=salt,
        length=KEY_BYTES,
        iterations=ARGON2_ITERATIONS,
        lanes=ARGON2_LANES,
        memory_cost=ARGON2_MEMORY_KIB,
    )
    return kdf.derive(secret)


_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))
_BLOCK_ZEROS = bytes(64)


def _short_hmac(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104) for keys of at most one block (64 bytes), the per-message
    HKDF's case (a 16-byte nonce, then a 32-byte PRK). Built from two SHA-256 calls: the
    one-shot HMAC binding costs ~40 % more per call, and it runs twice per message read."""
    if len(key) > 64:
        raise ValueError("_short_hmac takes keys of at most 64 bytes")
    padded = key + _BLOCK_ZEROS[len(key) :]
    return sha256(padded.translate(_OPAD) + sha256(padded.translate(_IPAD) + message).digest()).digest()


MESSAGE_KEY_INFO = b"pb1 message key"


def _hkdf(key: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    """HKDF-SHA256 (RFC 5869) with a 32-byte output: one Extract, one Expand block.

    Written with ``hmac.digest`` because building cryptography's HKDF object costs more
    than the hashing itself on the per-message path (2.8 µs against 1.2 µs).
    """
    prk = hmac.digest(salt or bytes(32), key, "sha256")
    return hmac.digest(prk, info + b"\x01", "sha256")


def fingerprint(public_key: bytes) -> str:
    """Six groups of five digits that two people read to each other to compare keys."""
    digest = hashlib.sha256(_FINGERPRINT_LABEL + b"\x00" + public_key).digest()
    groups = (int.from_bytes(digest[i : i + 5], "big") % 100_000 for i in range(0, 30, 5))
    return " ".join(f"{g:05d}" for g in groups)


def _refuse_pickle(obj: object) -> NoReturn:
    raise TypeError(f"{type(obj).__name__} holds key material and is never serialized")


class ChatKey:
    """The key of one chat, derived from its name and shared secret.

    Holds the Argon2id output and the subkeys pointers use (routing tag key, chat
    identifier); derive once per session, keep in RAM, pass to :func:`seal`/:func:`unseal`.
    """

    __slots__ = ("_chat_id", "_key", "_tag_key", "_tag_state", "name", "normalized_name")

    name: str
    normalized_name: str

    def __init__(self, name: str, key: bytes) -> None:
        """Wrap an already derived 32-byte key; most callers want :meth:`derive`."""
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise InvalidInputError(f"a chat key is {KEY_BYTES} bytes")
        self.normalized_name = normalize_chat_name(name)
        self.name = " ".join(name.split())
        self._key = key
        self._tag_key = _hkdf(key, b"pb1 routing tag")
        # Keyed BLAKE2s spends a block on the key; copying this state skips it per pointer.
        self._tag_state = hashlib.blake2s(key=self._tag_key)
        self._chat_id = _hkdf(key, b"pb1 chat id")

    @classmethod
    def derive(cls, chat_name: str, secret: str) -> ChatKey:
        """Run Argon2id (64 MiB, 3 passes, 4 lanes; ~150 ms) over the chat's secret."""
        normalized = normalize_chat_name(chat_name)
        key = _argon2(_CHAT_SALT_LABEL, normalized, _secret_bytes(secret, "chat secret"))
        return cls(chat_name, key)

    def _routing_tag(self, nonce: bytes) -> bytes:
        state = self._tag_state.copy()
        state.update(nonce)
        return state.digest()[:ROUTING_TAG_BYTES]

    def _matches(self, nonce: bytes, tag: bytes) -> bool:
        return hmac.compare_digest(self._routing_tag(nonce), tag)

    def _message_key(self, nonce: bytes) -> bytes:
        return _hkdf(self._key, MESSAGE_KEY_INFO, salt=nonce)

    def __repr__(self) -> str:
        return f"ChatKey(name={self.name!r})"

    def __reduce__(self) -> NoReturn:
        _refuse_pickle(self)


class Identity:
    """A person's Ed25519 signing identity, regenerated from username and master phrase.

    Only :attr:`public_key` and :attr:`fingerprint` are meant to leave RAM.
    """

    __slots__ = ("_private", "fingerprint", "public_key", "username")

    username: str
    public_key: bytes
    fingerprint: str

    def __init__(self, username: str, seed: bytes) -> None:
        """Wrap a 32-byte Ed25519 seed; most callers want :meth:`derive`."""
        if not isinstance(seed, bytes) or len(seed) != KEY_BYTES:
            raise InvalidInputError(f"an identity seed is {KEY_BYTES} bytes")
        self.username = normalize_username(username)
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._private.public_key().public_bytes_raw()
        self.fingerprint = fingerprint(self.public_key)

    @classmethod
    def derive(cls, username: str, master_phrase: str) -> Identity:
        """Run Argon2id over the master phrase, salted with the normalized username."""
        normalized = normalize_username(username)
        seed = _argon2(_IDENTITY_SALT_LABEL, normalized, _secret_bytes(master_phrase, "master phrase"))
        return cls(normalized, seed)

    def _sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def local_key(self, purpose: bytes) -> bytes:
        """A 32-byte key for this user's own machine, never sent or stored:
        HKDF(seed, "pb1 local key" || 0x00 || purpose). Only the master phrase gives it,
        so a chat member (who holds the chat key) cannot make what it authenticates."""
        return _hkdf(self._private.private_bytes_raw(), b"pb1 local key\x00" + purpose)

    def __repr__(self) -> str:
        return f"Identity(username={self.username!r}, fingerprint={self.fingerprint!r})"

    def __reduce__(self) -> NoReturn:
        _refuse_pickle(self)
