"""The inner layout pb1 and pb2 share (SPEC §3, §5, §6, §8, §11): sizes, labels, the
fields before the signature, sealing one pointer and splitting a long body.

A version differs from pb1 only in what :class:`_Format` holds: its labels (AEAD data,
signature, message id, message key), the fields it adds after the username, and how a
body becomes content. :mod:`.pointer` opens pointers of any format, :mod:`.pointer2`
seals pb2's; both build on this module.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .armor import MAX_PAYLOAD_BYTES, armor, max_payload_bytes
from .content import Content, Text
from .errors import InvalidInputError, MalformedError, TooLargeError, UnknownVersionError
from .keys import MESSAGE_KEY_INFO, ROUTING_TAG_BYTES, ChatKey, Identity, _short_hmac
from .millis import datetime_of_ms
from .padding import MIN_PADDED, largest_padded_at_most, padded_length

__all__ = [
    "AEAD_TAG_BYTES",
    "FIXED_BYTES",
    "FLAG_SPLIT",
    "MAX_MESSAGE_BYTES",
    "MAX_PARTS",
    "MAX_SENT_AT_MS",
    "MESSAGE_ID_BYTES",
    "MIN_PAYLOAD_BYTES",
    "NONCE_BYTES",
    "PUBLIC_KEY_BYTES",
    "SIGNATURE_BYTES",
]

NONCE_BYTES = 16
AEAD_TAG_BYTES = 16
SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32
MESSAGE_ID_BYTES = 16
MAX_PARTS = 0xFFFF
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_SENT_AT_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last datetime Python has

FLAG_SPLIT = 0x01
_ENVELOPE_BYTES = NONCE_BYTES + ROUTING_TAG_BYTES
_MIN_PAYLOAD = _ENVELOPE_BYTES + MIN_PADDED + AEAD_TAG_BYTES
MIN_PAYLOAD_BYTES = _MIN_PAYLOAD  # the shortest payload of a pb1 pointer: anything shorter never opens
_AD_LABEL = b"pb1"
_SIGNATURE_LABEL = b"pb1 signature\x00"
_ID_LABEL = b"pb1 message id\x00"
_MESSAGE_KEY_EXPAND = MESSAGE_KEY_INFO + b"\x01"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_AEAD_NONCE = bytes(12)  # every message has its own key, so a constant AEAD nonce is safe
# The fixed bytes of every inner message: flags, sent_at, sender key, username length, body
# length, signature (public: the codec benchmark sizes its floor by it).
FIXED_BYTES = 1 + 8 + PUBLIC_KEY_BYTES + 1 + 4 + SIGNATURE_BYTES
_SPLIT_BYTES = MESSAGE_ID_BYTES + 2 + 2
_HEAD = struct.Struct(">BQ32sB")
_SPLIT = struct.Struct(">16sHH")
_U32 = struct.Struct(">I")


class _Format(NamedTuple):
    """What sets one version's pointers apart (SPEC §11.2): its labels, the fields it has
    between the username and the split header (``extra`` bytes, read by ``read_extra`` into
    (stream, seq)), and how its body becomes content and the text to show (``read_body``).
    Both readers raise :class:`MalformedError`."""

    version: int
    ad: bytes
    signature: bytes
    id_label: bytes
    key_expand: bytes
    extra: int
    read_extra: Callable[[bytes, int], tuple[bytes | None, int | None]]
    read_body: Callable[[bytes], tuple[Content, str]]


def _no_extra(inner: bytes, pos: int) -> tuple[None, None]:
    return None, None


def _pb1_body(data: bytes) -> tuple[Content, str]:
    body = _text(data, "message body")
    return Text(body), body


_PB1 = _Format(1, _AD_LABEL, _SIGNATURE_LABEL, _ID_LABEL, _MESSAGE_KEY_EXPAND, 0, _no_extra, _pb1_body)
_FORMATS = {1: _PB1}


def _format(version: int) -> _Format:
    """The format of ``version`` (pb2's is loaded on first use: pb1 readers never pay for it)."""
    fmt = _FORMATS.get(version)
    if fmt is None:
        if version != 2:
            raise UnknownVersionError(f"pointer version {version!r} is not supported (this reads pb1 and pb2)")
        from .pointer2 import _PB2

        fmt = _FORMATS[2] = _PB2
    return fmt


def _signed(chat: ChatKey, nonce: bytes, *fields: bytes | memoryview, label: bytes = _SIGNATURE_LABEL) -> bytes:
    """What the sender signs: a label, the chat, the nonce, and the fields before the signature."""
    return b"".join((label, chat._chat_id, nonce, *fields))


class _Content(NamedTuple):
    """Sealed fields before the signature, as bytes ready to sign (a named tuple: built
    once per pointer sealed, three times cheaper than a frozen dataclass)."""

    head: bytes
    body: bytes
    version: int = 1

    def signed(self, chat: ChatKey, nonce: bytes) -> bytes:
        return _signed(chat, nonce, self.head, self.body, label=_format(self.version).signature)


def _message_id(sender_key: bytes, unique: bytes, label: bytes = _ID_LABEL) -> str:
    """A message's id: bound to its sender, so no one else can claim the same id."""
    return hashlib.sha256(label + sender_key + unique).digest()[:16].hex()


def _content(
    sender: Identity,
    sent_ms: int,
    body: bytes,
    split: tuple[bytes, int, int] | None,
    extra: bytes = b"",
    version: int = 1,
) -> _Content:
    """The fields of one pointer; ``extra``: a later version's fields after the username."""
    user = sender.username.encode("utf-8")
    head = _HEAD.pack(FLAG_SPLIT if split else 0, sent_ms, sender.public_key, len(user))
    split_head = _SPLIT.pack(*split) if split else b""
    return _Content(b"".join((head, user, extra, split_head, _U32.pack(len(body)))), body, version)


def _message_key(chat: ChatKey, nonce: bytes, fmt: _Format) -> bytes:
    """HKDF(chat key, salt = nonce, info = the version's label), SPEC §3 (keys.hkdf, inlined)."""
    return _short_hmac(_short_hmac(nonce, chat._key), fmt.key_expand)


def _encrypt(chat: ChatKey, nonce: bytes, inner: bytes, version: int = 1) -> str:
    fmt = _format(version)
    envelope = nonce + chat.routing_tag(nonce)
    ciphertext = ChaCha20Poly1305(_message_key(chat, nonce, fmt)).encrypt(_AEAD_NONCE, inner, fmt.ad + envelope)
    return armor(version, envelope + ciphertext)


def _seal_content(chat: ChatKey, sender: Identity, nonce: bytes, content: _Content) -> str:
    head, body = content.head, content.body
    signed = len(head) + len(body) + SIGNATURE_BYTES
    signature = sender._sign(content.signed(chat, nonce))
    padding = bytes(padded_length(signed) - signed)
    return _encrypt(chat, nonce, b"".join((head, body, signature, padding)), content.version)


def _part_capacity(fixed: int, max_chars: int | None) -> int:
    payload = MAX_PAYLOAD_BYTES if max_chars is None else max_payload_bytes(max_chars)
    bucket = largest_padded_at_most(payload - _ENVELOPE_BYTES - AEAD_TAG_BYTES)
    return bucket - fixed if bucket else -1


def _seal_bytes(
    chat: ChatKey,
    sender: Identity,
    data: bytes,
    max_chars: int | None,
    random: Callable[[int], bytes],
    sent_ms: int,
    extra: bytes = b"",
    version: int = 1,
) -> list[str]:
    """Seal a body of bytes (pb1: its text; pb2: its content record), split as SPEC §8 says."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise TooLargeError(f"a message is at most {MAX_MESSAGE_BYTES} bytes, not {len(data)}")
    fixed = FIXED_BYTES + len(extra) + len(sender.username.encode("utf-8"))
    if len(data) <= _part_capacity(fixed, max_chars):
        content = _content(sender, sent_ms, data, None, extra, version)
        return [_seal_content(chat, sender, random(NONCE_BYTES), content)]
    chunk = _part_capacity(fixed + _SPLIT_BYTES, max_chars)
    if chunk < 1:
        raise InvalidInputError(f"max_chars={max_chars} cannot hold even one byte of a message")
    bounds = _balanced(len(data), chunk, fixed + _SPLIT_BYTES)
    count = len(bounds) - 1
    message_id = random(MESSAGE_ID_BYTES)
    return [
        _seal_content(
            chat,
            sender,
            random(NONCE_BYTES),
            _content(sender, sent_ms, data[bounds[i] : bounds[i + 1]], (message_id, i, count), extra, version),
        )
        for i in range(count)
    ]


def _balanced(length: int, capacity: int, fixed: int) -> list[int]:
    """Where the parts of a ``length``-byte body start (and the end), SPEC §8: the fewest
    parts of at most ``capacity`` bytes whose sizes differ by at most one byte, so every
    part pads to the same bucket and the last one does not tell the length to ~64 bytes.
    (Should the larger and the smaller size fall on either side of a bucket boundary, one
    part more is used.)"""
    count = -(-length // capacity)
    while True:
        if count > MAX_PARTS:
            raise TooLargeError(f"the message needs {count} pointers; the limit is {MAX_PARTS}")
        base, extra = divmod(length, count)
        if not extra or padded_length(fixed + base) == padded_length(fixed + base + 1):
            break
        count += 1
    # The first ``extra`` parts carry one byte more.
    return [i * base + min(i, extra) for i in range(count + 1)]


def _max_chars(max_chars: int | None) -> int | None:
    if max_chars is not None and (not isinstance(max_chars, int) or max_chars < 1):
        raise InvalidInputError("max_chars is a positive number of characters")
    return max_chars


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError(f"the {what} is not valid UTF-8") from None


def _sent_at(ms: int) -> datetime:
    return datetime_of_ms(ms)
