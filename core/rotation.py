"""Identity rotation notices: "my key changed", signed by the old key.

A new master phrase gives a new Ed25519 identity under the same username. So that peers
re-pin without the "changed key" warning, the old key signs a statement naming the new
one, and the statement travels in each chat as an ordinary message (sealed by the new
identity). It is public signed data, nothing secret; docs/KEYS.md has the layout:

    statement = "pb1 key rotation" 0x00 || ulen (1) || username (UTF-8, normalized)
                || old key (32) || new key (32) || at_ms (8, big-endian)
    signature = Ed25519-Sign(old private key, statement)

and a message body that carries one is exactly two lines::

    <username> changed their key; this notice is signed by the old one.
    pb-rotate-1 <base64url, no padding, of ulen || username || old || new || at_ms || signature>
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .ed25519 import is_strict_public_key
from .errors import InvalidInputError, PointerBridgeError
from .keys import Identity, normalize_username
from .millis import datetime_of_ms

__all__ = [
    "MARKER",
    "NOTICE_FIXED_BYTES",
    "RotationError",
    "RotationNotice",
    "make_notice",
    "notice_body",
    "notice_bytes",
    "notice_text",
    "parse_notice",
]

MARKER = "pb-rotate-1 "
_LABEL = b"pb1 key rotation\x00"
_KEY = 32
_SIGNATURE = 64
NOTICE_FIXED_BYTES = 1 + 2 * _KEY + 8 + _SIGNATURE
"""The bytes of a notice (:func:`notice_bytes`) besides its username: ulen, two keys, the
time and the signature (a pb2 rotation record, SPEC §11, is these and the username)."""
_MAX_AT_MS = 253_402_300_799_999  # the last millisecond a datetime holds


class RotationError(PointerBridgeError):
    """A rotation notice is malformed, or its signature is not the old key's."""

    exit_code = 30


@dataclass(frozen=True, slots=True)
class RotationNotice:
    """``username`` replaced ``old_key`` by ``new_key`` at ``at``; ``signature`` is the
    old key's over :meth:`statement`."""

    username: str
    old_key: bytes
    new_key: bytes
    at: datetime
    signature: bytes

    def statement(self) -> bytes:
        """The bytes the old key signs."""
        return _statement(self.username, self.old_key, self.new_key, _ms(self.at))


def _ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


def _statement(username: str, old_key: bytes, new_key: bytes, at_ms: int) -> bytes:
    name = username.encode("utf-8")
    return b"".join((_LABEL, bytes([len(name)]), name, old_key, new_key, at_ms.to_bytes(8, "big")))


def _sentence(username: str) -> str:
    return f"{username} changed their key; this notice is signed by the old one."


def make_notice(old: Identity, new: Identity, at: datetime | None = None) -> RotationNotice:
    """The notice that ``old`` is replaced by ``new`` (same username), signed by ``old``."""
    if old.username != new.username:
        raise InvalidInputError("a rotation keeps the username")
    if old.public_key == new.public_key:
        raise InvalidInputError("a rotation needs a new key")
    at_ms = time.time_ns() // 1_000_000 if at is None else _ms(at)
    signature = old._sign(_statement(old.username, old.public_key, new.public_key, at_ms))
    when = datetime_of_ms(at_ms)
    return RotationNotice(old.username, old.public_key, new.public_key, when, signature)


def notice_bytes(notice: RotationNotice) -> bytes:
    """The notice as bytes: ``ulen || username || old key || new key || at_ms || signature``
    (what a pb1 body carries in base64url, and a pb2 rotation record holds as it is)."""
    name = notice.username.encode("utf-8")
    at_ms = _ms(notice.at).to_bytes(8, "big")
    return b"".join((bytes([len(name)]), name, notice.old_key, notice.new_key, at_ms, notice.signature))


def notice_text(raw: bytes) -> str:
    """The message body that carries a notice's bytes (:func:`notice_bytes`): a sentence for
    people, a line for programs. ``raw`` must hold a UTF-8 username; nothing else is checked
    here (:func:`parse_notice` checks the body)."""
    username = raw[1 : 1 + raw[0]].decode("utf-8")
    return f"{_sentence(username)}\n{MARKER}{base64.urlsafe_b64encode(raw).decode('ascii').rstrip('=')}"


def notice_body(notice: RotationNotice) -> str:
    """The message body that carries ``notice``: a sentence for people, a line for programs."""
    return notice_text(notice_bytes(notice))


def parse_notice(body: str) -> RotationNotice | None:
    """The notice a message body carries; None if it carries none (no line starts with
    the ``pb-rotate-1`` marker). A body with the marker that is not exactly a notice, or
    whose signature is not the old key's, raises :class:`RotationError`."""
    if MARKER not in body:  # the common case, at C speed: a read checks every message
        return None
    lines = body.split("\n")
    if not any(line.startswith(MARKER) for line in lines):
        return None
    if len(lines) != 2 or not lines[1].startswith(MARKER):
        raise RotationError("a rotation notice is two lines: a sentence, then the pb-rotate-1 line")
    raw = _decode(lines[1][len(MARKER) :])
    name_len = raw[0] if raw else 0
    if len(raw) != name_len + NOTICE_FIXED_BYTES:
        raise RotationError("a rotation notice has the wrong length")
    try:
        username = raw[1 : 1 + name_len].decode("utf-8")
        if normalize_username(username) != username:
            raise RotationError("the username of a rotation notice is not in normal form")
    except (UnicodeDecodeError, InvalidInputError):
        raise RotationError("the username of a rotation notice is not a valid username") from None
    pos = 1 + name_len
    old_key, new_key = raw[pos : pos + _KEY], raw[pos + _KEY : pos + 2 * _KEY]
    at_ms = int.from_bytes(raw[pos + 2 * _KEY : pos + 2 * _KEY + 8], "big")
    signature = raw[pos + 2 * _KEY + 8 :]
    if at_ms > _MAX_AT_MS:
        raise RotationError("the time of a rotation notice is out of range")
    if lines[0] != _sentence(username):
        raise RotationError("the sentence of a rotation notice does not name its user")
    if old_key == new_key:
        raise RotationError("a rotation notice names the same key twice")
    if not (is_strict_public_key(old_key) and is_strict_public_key(new_key)):
        # OpenSSL would take (identity, 0) as the identity key's signature of anything:
        # a notice "from" a small-order key would move any name pinned to it.
        raise RotationError("a rotation notice names a key of small order or not canonically encoded")
    try:
        Ed25519PublicKey.from_public_bytes(old_key).verify(signature, _statement(username, old_key, new_key, at_ms))
    except (InvalidSignature, ValueError):
        raise RotationError("the rotation notice is not signed by the old key") from None
    return RotationNotice(username, old_key, new_key, datetime_of_ms(at_ms), signature)


def _decode(text: str) -> bytes:
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise RotationError("a rotation notice is not base64url") from None
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != text:
        raise RotationError("a rotation notice is not in canonical base64url")
    return raw
