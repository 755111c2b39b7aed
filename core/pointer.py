"""The pointer: seal a message for a chat, unseal it, split and join long ones.

A pointer's payload is ``nonce(16) || routing tag(4) || ChaCha20-Poly1305 ciphertext``.
The plaintext inside carries the sender's public key and Ed25519 signature, the send
time, the username and the body, zero-padded to a Padmé bucket. Byte layout, key
schedule and checking order are in ``docs/SPEC.md``; this module follows it. pb1 is
here; pb2 (SPEC §11: the same layout with a stream and sequence number, a typed content
record as its body, its own labels) is in :mod:`.pointer2`, read by the code here through
its :class:`_Format`: the version the armor names picks the format, never a guess.
"""

from __future__ import annotations

import functools
import os
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .armor import dearmor
from .content import TEXT, Content, Text, decode_content, encode_content
from .ed25519 import is_strict_public_key
from .errors import (
    BadSignatureError,
    InvalidInputError,
    MalformedError,
    NotForThisChatError,
    PaddingError,
    PointerError,
    TamperedError,
    TruncatedError,
    WeakKeyError,
)
from .keys import ChatKey, Identity, _short_hmac, fingerprint, normalize_username
from .layout import (  # noqa: F401  (re-exported: tests and scripts craft pointers with them)
    _AD_LABEL,
    _AEAD_NONCE,
    _ENVELOPE_BYTES,
    _EPOCH,
    _HEAD,
    _ID_LABEL,
    _MILLISECOND,
    _MIN_PAYLOAD,
    _PB1,
    _SPLIT,
    _SPLIT_BYTES,
    _U32,
    AEAD_TAG_BYTES,
    FIXED_BYTES,
    FLAG_SPLIT,
    MAX_MESSAGE_BYTES,
    MAX_PARTS,
    MAX_SENT_AT_MS,
    MESSAGE_ID_BYTES,
    MIN_PAYLOAD_BYTES,
    NONCE_BYTES,
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    _Content,
    _content,
    _encrypt,
    _Format,
    _format,
    _max_chars,
    _message_id,
    _message_key,
    _part_capacity,
    _seal_bytes,
    _seal_content,
    _sent_at,
    _signed,
    _text,
)
from .millis import datetime_of_ms
from .padding import padded_length

_NUMBERING = struct.Struct(">8sII")  # pb2's stream and seq, and the body's length
_TEXT_KIND = bytes((TEXT,))  # a pb2 record of the text kind: its kind byte, then the text

__all__ = [
    "AEAD_TAG_BYTES",
    "FIXED_BYTES",
    "MAX_MESSAGE_BYTES",
    "MAX_PARTS",
    "MESSAGE_ID_BYTES",
    "MIN_PAYLOAD_BYTES",
    "NONCE_BYTES",
    "PUBLIC_KEY_BYTES",
    "SIGNATURE_BYTES",
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
    """The text to show: the text, a reply's or edit's, an attachment's caption; "" for a
    delete or a kind this version does not know (see ``content``)."""
    id: str
    content: Content | None = None
    """What the message says, typed (pb1: always a ``Text(body)``; None only in a message
    built by hand, read as ``Text(body)``)."""
    stream: bytes | None = None
    """pb2: the sending device's 8-byte stream for this chat and key (None: pb1)."""
    seq: int | None = None
    """pb2: the message's number in its stream, from 1 (None: pb1)."""

    @property
    def fingerprint(self) -> str:
        """The sender key's fingerprint, for comparing with what the sender shows."""
        return fingerprint(self.sender_key)

    @property
    def version(self) -> int:
        """The pointer version the message came in: 1 or 2."""
        return 1 if self.stream is None else 2


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
    stream: bytes | None = None  # pb2: every part of a message has the same stream and seq
    seq: int | None = None

    @property
    def version(self) -> int:
        """The pointer version the part came in: 1 or 2."""
        return 1 if self.stream is None else 2


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
    return _seal_bytes(chat, sender, body.encode("utf-8"), max_chars, random, sent_ms)


def seal(chat: ChatKey, sender: Identity, body: str, *, max_chars: int | None = None) -> list[str]:
    """Seal ``body`` from ``sender`` into pointers for ``chat``.

    Returns one pointer when the message fits, otherwise the parts of a split message,
    each at most ``max_chars`` characters (default: the format's limit of 32 KiB payload).
    """
    return _seal(chat, sender, body, _max_chars(max_chars), os.urandom, _next_sent_ms())


def _next_sent_ms() -> int:
    """Now, in milliseconds, and at least one after the last seal of this process: readers
    order messages by their send time, and a burst sealed within one millisecond (``send
    --lines``) must keep the order it was written in."""
    global _last_sent_ms
    _last_sent_ms = max(time.time_ns() // 1_000_000, _last_sent_ms + 1)
    return _last_sent_ms


_last_sent_ms = 0


def envelope(payload: bytes) -> tuple[bytes, bytes]:
    """The nonce and routing tag of a payload long enough to be a pointer."""
    if len(payload) < _MIN_PAYLOAD:
        raise TruncatedError(f"{len(payload)} bytes is shorter than any pb1 pointer")
    return payload[:NONCE_BYTES], payload[NONCE_BYTES:_ENVELOPE_BYTES]


def _decrypt(chat: ChatKey, payload: bytes, check_tag: bool = True, fmt: _Format = _PB1) -> tuple[bytes, bytes]:
    """Check the routing tag and open the AEAD under ``fmt``'s labels; return (nonce,
    padded plaintext)."""
    nonce, tag = envelope(payload)
    if check_tag and not chat.matches(nonce, tag):
        raise NotForThisChatError(f"the pointer is not for chat {chat.name!r}, or the secret is wrong")
    aead = ChaCha20Poly1305(_message_key(chat, nonce, fmt))
    try:
        inner = aead.decrypt(_AEAD_NONCE, payload[_ENVELOPE_BYTES:], fmt.ad + nonce + tag)
    except InvalidTag:
        raise TamperedError("the pointer was altered: authenticated decryption failed") from None
    return nonce, inner


SignatureCheck = tuple[bytes, bytes, bytes]
"""What the Ed25519 check of one pointer needs, all of it public: the sender key, the
signature, the signed bytes (:func:`open_payload_deferred`, :func:`signature_holds`)."""


def _parse(
    chat: ChatKey,
    nonce: bytes,
    inner: bytes,
    verify: bool = True,
    deferred: list[SignatureCheck] | None = None,
    fmt: _Format = _PB1,
) -> Part | Message:
    flags, sent_ms, sender_key, user_len = _HEAD.unpack_from(inner)
    if flags & ~FLAG_SPLIT:
        raise MalformedError(f"unknown flags 0x{flags:02x}")
    if sent_ms > MAX_SENT_AT_MS:
        raise MalformedError("the send time is after the year 9999")
    pos = _HEAD.size + user_len
    stream, seq = fmt.read_extra(inner, pos)
    pos += fmt.extra
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
    content, body = (None, "") if split else fmt.read_body(data)
    if verify:
        if not is_strict_public_key(sender_key):
            raise WeakKeyError(f"the sender key of {username!r} is of small order or not canonical")
        signed = _signed(chat, nonce, memoryview(inner)[: end - SIGNATURE_BYTES], label=fmt.signature)
        if deferred is not None:
            deferred.append((sender_key, inner[end - SIGNATURE_BYTES : end], signed))
        elif not signature_holds((sender_key, inner[end - SIGNATURE_BYTES : end], signed)):
            raise BadSignatureError(f"the signature of {username!r} does not verify")
    sent_at = _sent_at(sent_ms)
    if split:
        message_id, index, count = split
        return Part(chat.name, username, sender_key, sent_at, message_id.hex(), index, count, data, stream, seq)
    message_id = _message_id(sender_key, nonce, fmt.id_label)
    return Message(chat.name, username, sender_key, sent_at, body, message_id, content, stream, seq)


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


def open_payload_deferred(chat: ChatKey, payload: bytes, *, version: int = 1) -> tuple[Part | Message, SignatureCheck]:
    """:func:`open_payload` with every check but the sender's signature, and what that
    check needs, for a caller that runs it elsewhere (another process: it needs no key).
    The result is not a message until :func:`signature_holds` says so: a caller that
    shows, stores or judges it before then trusts a forgery."""
    fmt = _format(version)
    checks: list[SignatureCheck] = []
    nonce, inner = _decrypt(chat, payload, fmt=fmt)
    item = _parse(chat, nonce, inner, deferred=checks, fmt=fmt)
    return item, checks[0]


def open_payload(chat: ChatKey, payload: bytes, verify: bool = True, *, version: int = 1) -> Part | Message:
    """Open a dearmored payload of pointer ``version`` (what :func:`~.armor.dearmor` said:
    the version is not in the payload, and a payload opens under its own version's labels
    alone, so a pb1 pointer relabelled ``pb2`` is no second copy of its message).
    ``verify=False`` skips the checks a full open made before (routing tag, padding,
    username form, signature) but never the AEAD: for a caller that holds its own proof
    over this exact payload that it opened the pointer fully before (one no other member
    can make: SPEC §9)."""
    if not verify:
        return _open_known(chat, payload, version)
    fmt = _format(version)
    nonce, inner = _decrypt(chat, payload, fmt=fmt)
    return _parse(chat, nonce, inner, fmt=fmt)


def _open_known(chat: ChatKey, payload: bytes, version: int = 1) -> Part | Message:
    """``open_payload(chat, payload, verify=False)``, the re-read path."""
    fields = open_known_fields(chat, payload, version=version)
    if type(fields) is tuple:
        return message_from_fields(chat.name, fields)
    return fields  # type: ignore[return-value]  # a Part


MessageFields = tuple[str, bytes, int, str, str] | tuple[str, bytes, int, str, str, bytes, bytes, int]
"""A whole message as plain fields: username, sender key, sent ms, body, message id; a pb2
message adds its content record, stream and seq."""


def open_known_fields(chat: ChatKey, payload: bytes, *, version: int = 1) -> Part | MessageFields:
    """Open a payload of ``version`` known to have passed every check before (the caller
    holds its own proof of that): the AEAD only. A whole message comes back as plain fields
    (cheap to send between processes, :func:`message_from_fields` makes the message), a
    part as a :class:`Part`."""
    # The re-read path, ~100,000 times per history: one function, no re-checks of what
    # the proof covers; the layout is the one _parse validated when the proof was made.
    fmt = _PB1 if version == 1 else _format(version)
    nonce = payload[:NONCE_BYTES]
    key = _short_hmac(_short_hmac(nonce, chat._key), fmt.key_expand)  # keys.hkdf, inlined
    try:
        inner = ChaCha20Poly1305(key).decrypt(
            _AEAD_NONCE, payload[_ENVELOPE_BYTES:], fmt.ad + payload[:_ENVELOPE_BYTES]
        )
    except InvalidTag:
        raise TamperedError("the pointer was altered: authenticated decryption failed") from None
    flags, sent_ms, sender_key, user_len = _HEAD.unpack_from(inner)
    pos = _HEAD.size + user_len
    if flags & FLAG_SPLIT or version > 2:
        item = _parse(chat, nonce, inner, verify=False, fmt=fmt)  # the full parser: a part
        if isinstance(item, Part):
            return item
        return message_fields(item)
    message_id = sha256(fmt.id_label + sender_key + nonce).digest()[:16].hex()
    try:
        username = inner[_HEAD.size : pos].decode("utf-8")
        if version == 1:
            (body_len,) = _U32.unpack_from(inner, pos)
            return username, sender_key, sent_ms, inner[pos + 4 : pos + 4 + body_len].decode("utf-8"), message_id
        stream, seq, body_len = _NUMBERING.unpack_from(inner, pos)  # pb2: stream and seq before the body
        data = inner[pos + _NUMBERING.size : pos + _NUMBERING.size + body_len]
        body = data[1:].decode("utf-8") if data[:1] == _TEXT_KIND else decode_content(data).body
    except UnicodeDecodeError:
        raise MalformedError("the username or message body is not valid UTF-8") from None
    return username, sender_key, sent_ms, body, message_id, data, stream, seq


def message_from_fields(chat_name: str, fields: MessageFields) -> Message:
    """The message ``open_known_fields`` described."""
    sent_at = datetime_of_ms(fields[2])
    if len(fields) == 5:
        username, sender_key, _, body, message_id = fields
        return Message(chat_name, username, sender_key, sent_at, body, message_id, Text(body))
    username, sender_key, _, body, message_id, record, stream, seq = fields
    content = Text(body) if record[:1] == _TEXT_KIND else decode_content(record)  # most are texts: no second parse
    return Message(chat_name, username, sender_key, sent_at, body, message_id, content, stream, seq)


def message_fields(message: Message) -> MessageFields:
    """A message as the fields ``open_known_fields`` gives (the time back in exact milliseconds)."""
    sent_ms = (message.sent_at - _EPOCH) // _MILLISECOND
    if message.stream is None or message.seq is None:
        return message.username, message.sender_key, sent_ms, message.body, message.id
    record = encode_content(message.content or Text(message.body))
    return message.username, message.sender_key, sent_ms, message.body, message.id, record, message.stream, message.seq


def unseal(chat: ChatKey, pointer: str) -> Part | Message:
    """Open one pointer of ``chat`` (pb1 or pb2): a :class:`Message`, or a :class:`Part`
    of a split one.

    Checks in the order of SPEC §7 (pb2: §11.4) and raises the matching
    :class:`PointerError` subclass.
    """
    version, payload = dearmor(pointer)
    return open_payload(chat, payload, version=version)


def tag_matches(chat: ChatKey, payload: bytes) -> bool:
    """Whether a dearmored payload carries ``chat``'s routing tag (one keyed BLAKE2s,
    ~0.5 µs): the cheap first sieve over many chats. A match is not proof that the pointer
    is the chat's: see :func:`belongs_to`. False for a payload too short to be a pointer."""
    if len(payload) < _MIN_PAYLOAD:
        return False
    return chat.matches(payload[:NONCE_BYTES], payload[NONCE_BYTES:_ENVELOPE_BYTES])


def belongs_to(chat: ChatKey, payload: bytes, *, version: int = 1) -> bool:
    """Whether a dearmored payload is sealed under ``chat``: its routing tag is the chat's
    and its AEAD opens (SPEC §7 steps 3-4). The 4-byte tag alone collides, by chance (one
    in 2^32 per chat) or on purpose (a member of another chat can copy this one's tag, not
    its key); decide on this before a pointer is filed under a chat or a chat is created
    from it. Costs one BLAKE2s, and an HKDF and an AEAD open (~3 µs) when the tag matches;
    the layout and the signature are not checked."""
    try:
        _decrypt(chat, payload, fmt=_format(version))
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
        version, payload = dearmor(pointer)
        nonce, tag = envelope(payload)
        failure: PointerError = NotForThisChatError("the pointer belongs to no unlocked chat")
        for chat in self._chats.values():
            if chat.matches(nonce, tag):
                try:
                    return chat, open_payload(chat, payload, version=version)
                except TamperedError as exc:  # a 32-bit tag collides now and then
                    failure = exc
        raise failure
