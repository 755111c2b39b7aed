"""The pb1 pointer: seal a message for a chat, unseal it, split and join long ones.

A pointer's payload is ``nonce(16) || routing tag(4) || ChaCha20-Poly1305 ciphertext``.
The plaintext inside carries the sender's public key and Ed25519 signature, the send
time, the username and the body, zero-padded to a Padmé bucket. Byte layout, key
schedule and checking order are in ``docs/SPEC.md``; this module follows it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .armor import MAX_PAYLOAD_BYTES, VERSION, armor, dearmor, max_payload_bytes
from .ed25519 import is_strict_public_key
from .errors import (
    BadSignatureError,
    InvalidInputError,
    MalformedError,
    NotForThisChatError,
    PaddingError,
    PointerError,
    TamperedError,
    TooLargeError,
    TruncatedError,
    WeakKeyError,
)
from .keys import (
    MESSAGE_KEY_INFO,
    ROUTING_TAG_BYTES,
    ChatKey,
    Identity,
    _short_hmac,
    fingerprint,
    normalize_username,
)
from .padding import MIN_PADDED, largest_padded_at_most, padded_length

__all__ = [
    "FIXED_BYTES",
    "MAX_MESSAGE_BYTES",
    "MIN_PAYLOAD_BYTES",
    "Keyring",
    "Message",
    "MessageFields",
    "Part",
    "SignatureCheck",
    "belongs_to",
    "envelope",
    "message_fields",
    "message_from_fields",
    "open_known_fields",
    "open_payload",
    "open_payload_deferred",
    "seal",
    "signature_holds",
    "tag_matches",
    "unseal",
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


class Message(NamedTuple):
    """A whole message, authenticated: who sent it, when (their clock), and what.

    A named tuple rather than a frozen dataclass: a history re-read builds 100,000 of
    them, and a frozen dataclass costs four times as much to construct.
    """

    chat: str
    username: str
    sender_key: bytes
    sent_at: datetime
    body: str
    id: str

    @property
    def fingerprint(self) -> str:
        """The sender key's fingerprint, for comparing with what the sender shows."""
        return fingerprint(self.sender_key)


@dataclass(frozen=True, slots=True)
class Part:
    """One authenticated piece of a message that was split over several pointers."""

    chat: str
    username: str
    sender_key: bytes
    sent_at: datetime
    message_id: str
    index: int
    count: int
    data: bytes = field(repr=False)


def _signed(chat: ChatKey, nonce: bytes, *fields: bytes | memoryview) -> bytes:
    """What the sender signs: a label, the chat, the nonce, and the fields before the signature."""
    return b"".join((_SIGNATURE_LABEL, chat._chat_id, nonce, *fields))


class _Content(NamedTuple):
    """Sealed fields before the signature, as bytes ready to sign (a named tuple: built
    once per pointer sealed, three times cheaper than a frozen dataclass)."""

    head: bytes
    body: bytes

    def signed(self, chat: ChatKey, nonce: bytes) -> bytes:
        return _signed(chat, nonce, self.head, self.body)


def _message_id(sender_key: bytes, unique: bytes) -> str:
    """A message's id: bound to its sender, so no one else can claim the same id."""
    return hashlib.sha256(_ID_LABEL + sender_key + unique).digest()[:16].hex()


def _sent_at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _content(sender: Identity, sent_ms: int, body: bytes, split: tuple[bytes, int, int] | None) -> _Content:
    user = sender.username.encode("utf-8")
    head = _HEAD.pack(FLAG_SPLIT if split else 0, sent_ms, sender.public_key, len(user))
    return _Content(b"".join((head, user, _SPLIT.pack(*split) if split else b"", _U32.pack(len(body)))), body)


def _encrypt(chat: ChatKey, nonce: bytes, inner: bytes) -> str:
    envelope = nonce + chat.routing_tag(nonce)
    ciphertext = ChaCha20Poly1305(chat.message_key(nonce)).encrypt(_AEAD_NONCE, inner, _AD_LABEL + envelope)
    return armor(VERSION, envelope + ciphertext)


def _seal_content(chat: ChatKey, sender: Identity, nonce: bytes, content: _Content) -> str:
    head, body = content.head, content.body
    signed = len(head) + len(body) + SIGNATURE_BYTES
    signature = sender._sign(_signed(chat, nonce, head, body))
    return _encrypt(chat, nonce, b"".join((head, body, signature, bytes(padded_length(signed) - signed))))


def _part_capacity(fixed: int, max_chars: int | None) -> int:
    payload = MAX_PAYLOAD_BYTES if max_chars is None else max_payload_bytes(max_chars)
    bucket = largest_padded_at_most(payload - _ENVELOPE_BYTES - AEAD_TAG_BYTES)
    return bucket - fixed if bucket else -1


def _seal(
    chat: ChatKey,
    sender: Identity,
    body: str,
    max_chars: int | None,
    random: Callable[[int], bytes],
    sent_ms: int,
) -> list[str]:
    if not isinstance(body, str):
        raise InvalidInputError("a message body is text")
    data = body.encode("utf-8")
    if len(data) > MAX_MESSAGE_BYTES:
        raise TooLargeError(f"a message is at most {MAX_MESSAGE_BYTES} bytes, not {len(data)}")
    fixed = FIXED_BYTES + len(sender.username.encode("utf-8"))
    if len(data) <= _part_capacity(fixed, max_chars):
        return [_seal_content(chat, sender, random(NONCE_BYTES), _content(sender, sent_ms, data, None))]
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
            _content(sender, sent_ms, data[bounds[i] : bounds[i + 1]], (message_id, i, count)),
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


def seal(chat: ChatKey, sender: Identity, body: str, *, max_chars: int | None = None) -> list[str]:
    """Seal ``body`` from ``sender`` into pointers for ``chat``.

    Returns one pointer when the message fits, otherwise the parts of a split message,
    each at most ``max_chars`` characters (default: the format's limit of 32 KiB payload).
    """
    if max_chars is not None and (not isinstance(max_chars, int) or max_chars < 1):
        raise InvalidInputError("max_chars is a positive number of characters")
    global _last_sent_ms
    # Readers order messages by their send time: a burst sealed within one millisecond
    # (``send --lines``) must keep the order it was written in, so each seal of this
    # process is at least a millisecond after the one before.
    _last_sent_ms = max(time.time_ns() // 1_000_000, _last_sent_ms + 1)
    return _seal(chat, sender, body, max_chars, os.urandom, _last_sent_ms)


_last_sent_ms = 0


def envelope(payload: bytes) -> tuple[bytes, bytes]:
    """The nonce and routing tag of a payload long enough to be a pointer."""
    if len(payload) < _MIN_PAYLOAD:
        raise TruncatedError(f"{len(payload)} bytes is shorter than any pb1 pointer")
    return payload[:NONCE_BYTES], payload[NONCE_BYTES:_ENVELOPE_BYTES]


def _decrypt(chat: ChatKey, payload: bytes, check_tag: bool = True) -> tuple[bytes, bytes]:
    """Check the routing tag and open the AEAD; return (nonce, padded plaintext)."""
    nonce, tag = envelope(payload)
    if check_tag and not chat.matches(nonce, tag):
        raise NotForThisChatError(f"the pointer is not for chat {chat.name!r}, or the secret is wrong")
    aead = ChaCha20Poly1305(chat.message_key(nonce))
    try:
        inner = aead.decrypt(_AEAD_NONCE, payload[_ENVELOPE_BYTES:], _AD_LABEL + nonce + tag)
    except InvalidTag:
        raise TamperedError("the pointer was altered: authenticated decryption failed") from None
    return nonce, inner


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError(f"the {what} is not valid UTF-8") from None


SignatureCheck = tuple[bytes, bytes, bytes]
"""What the Ed25519 check of one pointer needs, all of it public: the sender key, the
signature, the signed bytes (:func:`open_payload_deferred`, :func:`signature_holds`)."""


def _parse(
    chat: ChatKey, nonce: bytes, inner: bytes, verify: bool = True, deferred: list[SignatureCheck] | None = None
) -> Part | Message:
    flags, sent_ms, sender_key, user_len = _HEAD.unpack_from(inner)
    if flags & ~FLAG_SPLIT:
        raise MalformedError(f"unknown flags 0x{flags:02x}")
    if sent_ms > MAX_SENT_AT_MS:
        raise MalformedError("the send time is after the year 9999")
    pos = _HEAD.size + user_len
    split = None
    if flags & FLAG_SPLIT:
        split = _SPLIT.unpack_from(inner, pos) if pos + _SPLIT.size <= len(inner) else None
        if split is None:
            raise MalformedError("the split header runs past the end")
        pos += _SPLIT.size
    if pos + 4 > len(inner):
        raise MalformedError("the body length runs past the end")
    (body_len,) = _U32.unpack_from(inner, pos)
    head_end = pos + 4
    end = head_end + body_len + SIGNATURE_BYTES
    if end > len(inner):
        raise MalformedError("the body runs past the end")
    user_bytes = inner[_HEAD.size : _HEAD.size + user_len]
    username = _text(user_bytes, "username")
    if verify:  # a pointer opened with verify=False passed these checks before
        if len(inner) != padded_length(end) or inner.count(0, end) != len(inner) - end:
            raise PaddingError("the padding is not canonical zero padding")
        if not user_bytes or username != _normalized(username):
            raise MalformedError("the username is empty or not in normalized form")
    if split and not (split[2] >= 2 and split[1] < split[2]):
        raise MalformedError(f"part {split[1]} of {split[2]} is impossible")
    data = inner[head_end : head_end + body_len]
    body = "" if split else _text(data, "message body")
    if verify:
        if not is_strict_public_key(sender_key):
            raise WeakKeyError(f"the sender key of {username!r} is of small order or not canonical")
        signed = _signed(chat, nonce, memoryview(inner)[: end - SIGNATURE_BYTES])
        if deferred is not None:
            deferred.append((sender_key, inner[end - SIGNATURE_BYTES : end], signed))
        elif not signature_holds((sender_key, inner[end - SIGNATURE_BYTES : end], signed)):
            raise BadSignatureError(f"the signature of {username!r} does not verify")
    sent_at = _sent_at(sent_ms)
    if split:
        message_id, index, count = split
        return Part(chat.name, username, sender_key, sent_at, message_id.hex(), index, count, data)
    return Message(chat.name, username, sender_key, sent_at, body, _message_id(sender_key, nonce))


@functools.lru_cache(maxsize=1024)  # a chat has few senders; loading a key costs ~2 µs a pointer
def _public_key(raw: bytes) -> Ed25519PublicKey:
    """A sender's key, loaded once (ValueError, never cached, for bytes that are no point)."""
    return Ed25519PublicKey.from_public_bytes(raw)


@functools.lru_cache(maxsize=4096)  # a chat has few senders; normalizing costs ~7 µs
def _normalized(username: str) -> str:
    try:
        return normalize_username(username)
    except InvalidInputError:
        raise MalformedError("the username is not a valid username") from None


def signature_holds(check: SignatureCheck) -> bool:
    """Whether the signature of a :data:`SignatureCheck` verifies under its sender key."""
    sender_key, signature, signed = check
    try:
        _public_key(sender_key).verify(signature, signed)
    except (InvalidSignature, ValueError):
        return False
    return True


def open_payload_deferred(chat: ChatKey, payload: bytes) -> tuple[Part | Message, SignatureCheck]:
    """:func:`open_payload` with every check but the sender's signature, and what that
    check needs, for a caller that runs it elsewhere (another process: it needs no key).
    The result is not a message until :func:`signature_holds` says so: a caller that
    shows, stores or judges it before then trusts a forgery."""
    checks: list[SignatureCheck] = []
    nonce, inner = _decrypt(chat, payload)
    item = _parse(chat, nonce, inner, deferred=checks)
    return item, checks[0]


def open_payload(chat: ChatKey, payload: bytes, verify: bool = True) -> Part | Message:
    """Open a dearmored payload. ``verify=False`` skips the checks a full open made before
    (routing tag, padding, username form, signature) but never the AEAD: for a caller
    that holds its own proof over this exact payload that it opened the pointer fully
    before (one no other member can make: SPEC §9)."""
    if not verify:
        return _open_known(chat, payload)
    nonce, inner = _decrypt(chat, payload)
    return _parse(chat, nonce, inner)


def _open_known(chat: ChatKey, payload: bytes) -> Part | Message:
    """``open_payload(chat, payload, verify=False)``, the re-read path."""
    fields = open_known_fields(chat, payload)
    if type(fields) is tuple:
        return message_from_fields(chat.name, fields)
    return fields  # type: ignore[return-value]  # a Part


MessageFields = tuple[str, bytes, int, str, str]  # username, sender key, sent ms, body, message id


def open_known_fields(chat: ChatKey, payload: bytes) -> Part | MessageFields:
    """Open a payload known to have passed every check before (the caller holds its own
    proof of that): the AEAD only. A whole message comes back as plain fields (cheap to
    send between processes, :func:`message_from_fields` makes the message), a part as a
    :class:`Part`."""
    # The re-read path, ~100,000 times per history: one function, no re-checks of what
    # the proof covers; the layout is the one _parse validated when the proof was made.
    nonce = payload[:NONCE_BYTES]
    key = _short_hmac(_short_hmac(nonce, chat._key), _MESSAGE_KEY_EXPAND)  # keys.hkdf, inlined
    try:
        inner = ChaCha20Poly1305(key).decrypt(
            _AEAD_NONCE, payload[_ENVELOPE_BYTES:], _AD_LABEL + payload[:_ENVELOPE_BYTES]
        )
    except InvalidTag:
        raise TamperedError("the pointer was altered: authenticated decryption failed") from None
    flags, sent_ms, sender_key, user_len = _HEAD.unpack_from(inner)
    pos = _HEAD.size + user_len
    if flags & FLAG_SPLIT:
        part = _parse(chat, nonce, inner, verify=False)  # rare: the full parser builds the part
        assert isinstance(part, Part)
        return part
    (body_len,) = _U32.unpack_from(inner, pos)
    try:
        username = inner[_HEAD.size : pos].decode("utf-8")
        body = inner[pos + 4 : pos + 4 + body_len].decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("the username or message body is not valid UTF-8") from None
    return username, sender_key, sent_ms, body, sha256(_ID_LABEL + sender_key + nonce).digest()[:16].hex()


def message_from_fields(chat_name: str, fields: MessageFields) -> Message:
    """The message ``open_known_fields`` described."""
    username, sender_key, sent_ms, body, message_id = fields
    return Message(chat_name, username, sender_key, datetime.fromtimestamp(sent_ms / 1000, UTC), body, message_id)


def message_fields(message: Message) -> MessageFields:
    """A message as the fields ``open_known_fields`` gives (the time back in exact milliseconds)."""
    sent_ms = (message.sent_at - _EPOCH) // _MILLISECOND
    return message.username, message.sender_key, sent_ms, message.body, message.id


def unseal(chat: ChatKey, pointer: str) -> Part | Message:
    """Open one pointer of ``chat``: a :class:`Message`, or a :class:`Part` of a split one.

    Checks in the order of SPEC §7 and raises the matching :class:`PointerError` subclass.
    """
    _, payload = dearmor(pointer)
    return open_payload(chat, payload)


def tag_matches(chat: ChatKey, payload: bytes) -> bool:
    """Whether a dearmored payload carries ``chat``'s routing tag (one keyed BLAKE2s,
    ~0.5 µs): the cheap first sieve over many chats. A match is not proof that the pointer
    is the chat's: see :func:`belongs_to`. False for a payload too short to be a pointer."""
    if len(payload) < _MIN_PAYLOAD:
        return False
    return chat.matches(payload[:NONCE_BYTES], payload[NONCE_BYTES:_ENVELOPE_BYTES])


def belongs_to(chat: ChatKey, payload: bytes) -> bool:
    """Whether a dearmored payload is sealed under ``chat``: its routing tag is the chat's
    and its AEAD opens (SPEC §7 steps 3-4). The 4-byte tag alone collides, by chance (one
    in 2^32 per chat) or on purpose (a member of another chat can copy this one's tag, not
    its key); decide on this before a pointer is filed under a chat or a chat is created
    from it. Costs one BLAKE2s, and an HKDF and an AEAD open (~3 µs) when the tag matches;
    the layout and the signature are not checked."""
    try:
        _decrypt(chat, payload)
    except PointerError:
        return False
    return True


class Keyring:
    """The chats one person has unlocked; finds which chat a pointer belongs to.

    Routing computes one keyed BLAKE2s per chat (~0.5 µs) and decrypts only for the
    chat whose tag matches, so the cost of a pointer is one decryption however many
    chats there are.
    """

    def __init__(self, chats: Iterable[ChatKey] = ()) -> None:
        """Start with ``chats`` (more can be added)."""
        self._chats: dict[str, ChatKey] = {}
        for chat in chats:
            self.add(chat)

    def add(self, chat: ChatKey) -> None:
        """Add or replace the key of a chat (by normalized name)."""
        self._chats[chat.normalized_name] = chat

    def __len__(self) -> int:
        return len(self._chats)

    def unseal(self, pointer: str) -> tuple[ChatKey, Part | Message]:
        """Open a pointer of any known chat; raise :class:`NotForThisChatError` if none."""
        _, payload = dearmor(pointer)
        nonce, tag = envelope(payload)
        failure: PointerError = NotForThisChatError("the pointer belongs to no unlocked chat")
        for chat in self._chats.values():
            if chat.matches(nonce, tag):
                try:
                    return chat, open_payload(chat, payload)
                except TamperedError as exc:  # a 32-bit tag collides now and then
                    failure = exc
        raise failure
