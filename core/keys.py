"""Chat keys and identities: memory-hard derivation from what a person can remember.

Both are derived with Argon2id and live only in RAM: neither class can be pickled, and
neither shows key material in ``repr``. Everything a stranger needs to re-derive them is
in ``docs/SPEC.md`` §2.

Each has two key schedules. The first (pb1's original) salts Argon2id with the chat name
or username alone, so one dictionary computed for "family" serves every chat of that name:
it is kept for open chats (CLM's model, joined by name and secret) and identities made
before the second existed. The second salts with random bytes made when the chat or
identity is created (:func:`new_chat_salt`, :class:`RecoveryCode`), so every guess costs
an Argon2id per target; identities also get more memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import unicodedata
from dataclasses import dataclass
from hashlib import sha256
from typing import NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from .errors import InvalidInputError
from .store_key import StoreKey

__all__ = [
    "ARGON2_ITERATIONS",
    "ARGON2_LANES",
    "ARGON2_MEMORY_KIB",
    "CHAT_SALT_BYTES",
    "IDENTITY_MEMORY_MIB",
    "ChatKey",
    "Identity",
    "RecoveryCode",
    "fingerprint",
    "hkdf",
    "new_chat_salt",
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

CHAT_SALT_BYTES = 16
# The identity's Argon2id runs once per session, so it can afford far more than a chat
# key's: 512 MiB, 2 passes is the largest that unlocks within about a second here
# (docs/BENCHMARKS.md, bench/keys.py). A recovery code may name less, for small machines.
IDENTITY_MEMORY_MIB = 512
IDENTITY_MEMORY_CHOICES = (64, 128, 256, 512, 1024)
IDENTITY_ITERATIONS = 2
_CHAT_SALT_LABEL = b"pointerbridge pb1 chat key"
_SALTED_CHAT_LABEL = b"pointerbridge chat key v2"
_IDENTITY_SALT_LABEL = b"pointerbridge pb1 identity"
_SALTED_IDENTITY_LABEL = b"pointerbridge identity v2"
_RECOVERY_LABEL = b"pointerbridge recovery code"
_RECOVERY_VERSION = 1
_RECOVERY_SALT_BYTES = 8
_FINGERPRINT_LABEL = b"pointerbridge pb1 fingerprint"
_STORE_KEY_LABEL = b"pointerbridge store key v1"
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


def _argon2_salt(label: bytes, name: str, random_salt: bytes | None) -> bytes:
    """SHA-256 of the label, the normalized name and (second schedule) the random salt,
    each after a 0x00: a name holds no U+0000 (control characters are refused), so the
    fields cannot run into each other."""
    tail = b"" if random_salt is None else b"\x00" + random_salt
    return hashlib.sha256(label + b"\x00" + name.encode("utf-8") + tail).digest()


# Two Argon2id derivations at once in one process never finish: measured with cryptography
# 50.0.2 here, both threads wait forever inside OpenSSL's ARGON2 KDF (its lanes run on a
# process-wide thread pool). One at a time costs nothing: each already uses every lane.
_ONE_ARGON2 = threading.Lock()


def _argon2(
    salt: bytes,
    secret: bytes,
    memory_kib: int = ARGON2_MEMORY_KIB,
    iterations: int = ARGON2_ITERATIONS,
) -> bytes:
    kdf = Argon2id(salt=salt, length=KEY_BYTES, iterations=iterations, lanes=ARGON2_LANES, memory_cost=memory_kib)
    with _ONE_ARGON2:
        return kdf.derive(secret)


def new_chat_salt() -> bytes:
    """A fresh random salt for a new chat key (it travels in the chat's invite)."""
    return os.urandom(CHAT_SALT_BYTES)


def _check_chat_salt(salt: bytes) -> bytes:
    if not isinstance(salt, bytes) or not 16 <= len(salt) <= 32:
        raise InvalidInputError("a chat salt is 16 to 32 bytes")
    return salt


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
_MESSAGE_KEY_EXPAND = MESSAGE_KEY_INFO + b"\x01"  # HKDF-Expand's one block: info || 0x01


def hkdf(key: bytes, info: bytes, salt: bytes | None = None) -> bytes:
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

    __slots__ = ("_chat_id", "_key", "_tag_key", "_tag_state", "name", "normalized_name", "salt")

    name: str
    normalized_name: str
    salt: bytes | None

    def __init__(self, name: str, key: bytes, salt: bytes | None = None) -> None:
        """Wrap an already derived 32-byte key; most callers want :meth:`derive`.

        ``salt`` is the chat's random salt the key was derived with (None: an open chat's
        key, derived from name and secret alone); it is carried, never used here.
        """
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise InvalidInputError(f"a chat key is {KEY_BYTES} bytes")
        self.normalized_name = normalize_chat_name(name)
        self.name = " ".join(name.split())
        self.salt = None if salt is None else _check_chat_salt(salt)
        self._key = key
        self._tag_key = hkdf(key, b"pb1 routing tag")
        # Keyed BLAKE2s spends a block on the key; copying this state skips it per pointer.
        self._tag_state = hashlib.blake2s(key=self._tag_key)
        self._chat_id = hkdf(key, b"pb1 chat id")

    @classmethod
    def derive(cls, chat_name: str, secret: str, salt: bytes) -> ChatKey:
        """Run Argon2id (64 MiB, 3 passes, 4 lanes; ~150 ms) over the chat's secret, salted
        with its name and the chat's random ``salt`` (:func:`new_chat_salt`, carried by the
        invite): a guess of the secret costs an Argon2id for this chat alone."""
        normalized = normalize_chat_name(chat_name)
        argon_salt = _argon2_salt(_SALTED_CHAT_LABEL, normalized, _check_chat_salt(salt))
        return cls(chat_name, _argon2(argon_salt, _secret_bytes(secret, "chat secret")), salt)

    @classmethod
    def derive_open(cls, chat_name: str, secret: str) -> ChatKey:
        """The key of an *open* chat (CLM's model: name and secret are all it takes to
        join, by receiving). Its Argon2id is salted with the name alone, so whoever sees
        one pointer can test guesses of the secret offline, and a dictionary computed for
        one name serves every chat of that name: only a strong secret protects it."""
        normalized = normalize_chat_name(chat_name)
        key = _argon2(_argon2_salt(_CHAT_SALT_LABEL, normalized, None), _secret_bytes(secret, "chat secret"))
        return cls(chat_name, key)

    @property
    def is_open(self) -> bool:
        """Whether this is an open chat's key (no random salt)."""
        return self.salt is None

    def same_key(self, other: ChatKey) -> bool:
        """Whether ``other`` holds the same key (compared in constant time)."""
        return hmac.compare_digest(self._key, other._key)

    def subkey(self, info: bytes, salt: bytes | None = None) -> bytes:
        """A 32-byte key derived from this chat key for one purpose (HKDF, ``info`` names
        the purpose): what an app keys its own checks with, never the chat key itself."""
        return hkdf(self._key, info, salt)

    def routing_tag(self, nonce: bytes) -> bytes:
        """The routing tag of a pointer sealed under this key with ``nonce`` (SPEC §5): who
        holds the key tells its pointers from others' without opening them."""
        state = self._tag_state.copy()
        state.update(nonce)
        return state.digest()[:ROUTING_TAG_BYTES]

    def matches(self, nonce: bytes, tag: bytes) -> bool:
        """Whether ``tag`` is this key's routing tag for ``nonce`` (constant time). A tag can
        collide, by chance or on purpose: only the AEAD says a pointer is this chat's."""
        return hmac.compare_digest(self.routing_tag(nonce), tag)

    def message_key(self, nonce: bytes) -> bytes:
        """The AEAD key of the message sealed with ``nonce`` (SPEC §5): RAM only, like this key.
        HKDF(key, salt=nonce, info="pb1 message key") from two-SHA-256 HMACs (see _short_hmac)."""
        return _short_hmac(_short_hmac(nonce, self._key), _MESSAGE_KEY_EXPAND)

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
    def derive(cls, username: str, master_phrase: str, code: RecoveryCode) -> Identity:
        """Run Argon2id over the master phrase, salted with the username and the random
        salt of ``code``, at the code's memory cost (512 MiB, 2 passes by default): a
        guess of the phrase costs a large Argon2id for this identity alone."""
        normalized = normalize_username(username)
        salt = _argon2_salt(_SALTED_IDENTITY_LABEL, normalized, code.salt)
        seed = _argon2(salt, _secret_bytes(master_phrase, "master phrase"), code.memory_mib * 1024, IDENTITY_ITERATIONS)
        return cls(normalized, seed)

    @classmethod
    def derive_unsalted(cls, username: str, master_phrase: str) -> Identity:
        """The first schedule, for identities made before recovery codes: Argon2id (64 MiB)
        salted with the username alone, so a table computed for a common username turns
        its public keys back into weak phrases. ``pbridge identity rotate`` moves off it."""
        normalized = normalize_username(username)
        seed = _argon2(
            _argon2_salt(_IDENTITY_SALT_LABEL, normalized, None), _secret_bytes(master_phrase, "master phrase")
        )
        return cls(normalized, seed)

    def _sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def local_key(self, purpose: bytes) -> bytes:
        """A 32-byte key for this user's own machine, never sent or stored:
        HKDF(seed, "pb1 local key" || 0x00 || purpose). Only the master phrase gives it,
        so a chat member (who holds the chat key) cannot make what it authenticates."""
        return hkdf(self._private.private_bytes_raw(), b"pb1 local key\x00" + purpose)

    def store_key(self) -> StoreKey:
        """The key that seals this home's chat list at rest (docs/AT-REST.md): HKDF(seed,
        "pointerbridge store key v1"), a key of its own, never the seed itself. Only the
        master phrase gives it, so a thief of the disk reads no chat name or member."""
        return StoreKey(hkdf(self._private.private_bytes_raw(), _STORE_KEY_LABEL))

    def __repr__(self) -> str:
        return f"Identity(username={self.username!r}, fingerprint={self.fingerprint!r})"

    def __reduce__(self) -> NoReturn:
        _refuse_pickle(self)


_B32_FIXES = str.maketrans({"0": "O", "1": "I", "8": "B", "-": None, " ": None})


@dataclass(frozen=True, slots=True)
class RecoveryCode:
    """What an identity of the second schedule needs besides username and phrase: its
    random salt and its Argon2id memory cost. Not secret (the store keeps it), but needed
    to regenerate the identity on another machine, so it is shown at ``init``.

    Written as 16 base32 letters in four groups, ``ABCD-EFGH-IJKL-MNOP``: a byte of version
    and cost, 8 bytes of salt and a check byte, so a mistyped code is refused instead of
    silently giving another identity.
    """

    memory_mib: int
    salt: bytes

    def __post_init__(self) -> None:
        if self.memory_mib not in IDENTITY_MEMORY_CHOICES:
            raise InvalidInputError(f"an identity's memory cost is one of {IDENTITY_MEMORY_CHOICES} MiB")
        if not isinstance(self.salt, bytes) or len(self.salt) != _RECOVERY_SALT_BYTES:
            raise InvalidInputError(f"a recovery code's salt is {_RECOVERY_SALT_BYTES} bytes")

    @classmethod
    def new(cls, memory_mib: int = IDENTITY_MEMORY_MIB) -> RecoveryCode:
        """A fresh code with a random salt."""
        return cls(memory_mib, os.urandom(_RECOVERY_SALT_BYTES))

    def to_bytes(self) -> bytes:
        """The 10 bytes the text encodes."""
        head = bytes([_RECOVERY_VERSION << 4 | IDENTITY_MEMORY_CHOICES.index(self.memory_mib)]) + self.salt
        return head + _recovery_check(head)

    @classmethod
    def from_bytes(cls, raw: bytes) -> RecoveryCode:
        """Parse :meth:`to_bytes`; raise InvalidInputError on a wrong length, version or check."""
        if len(raw) != 2 + _RECOVERY_SALT_BYTES or not hmac.compare_digest(raw[-1:], _recovery_check(raw[:-1])):
            raise InvalidInputError("that recovery code is mistyped (its check letter does not match)")
        version, cost = raw[0] >> 4, raw[0] & 0x0F
        if version != _RECOVERY_VERSION or cost >= len(IDENTITY_MEMORY_CHOICES):
            raise InvalidInputError("that recovery code is from a newer version")
        return cls(IDENTITY_MEMORY_CHOICES[cost], raw[1:-1])

    @property
    def text(self) -> str:
        """The code as people write it down: four groups of four letters and digits."""
        letters = base64.b32encode(self.to_bytes()).decode("ascii")
        return "-".join(letters[i : i + 4] for i in range(0, len(letters), 4))

    @classmethod
    def parse(cls, text: str) -> RecoveryCode:
        """Read a code as typed: any case, dashes and spaces anywhere, 0/1/8 for O/I/B."""
        if not isinstance(text, str) or len(text) > 64:
            raise InvalidInputError("a recovery code is 16 letters and digits")
        compact = text.upper().translate(_B32_FIXES)
        try:
            raw = base64.b32decode(compact)
        except (binascii.Error, ValueError):
            raise InvalidInputError("a recovery code is 16 letters (A-Z) and digits (2-7)") from None
        return cls.from_bytes(raw)

    def __str__(self) -> str:
        return self.text


def _recovery_check(head: bytes) -> bytes:
    return hashlib.sha256(_RECOVERY_LABEL + b"\x00" + head).digest()[:1]
