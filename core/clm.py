"""Chrono-Library Messenger (CLM) pointers: read and write them, for migration.

Implements CLM 2.0.2's ``{"e","n","d"}`` pointer and the legacy ``{"c","e","d"}``
pointer of CLM 0.1.0-2.0.1 from the facts in ``shared/clm/CLM-FORMAT.md``. CLM has no
MAC and no sender authentication: a decoded CLM message says only that someone holding
the chat secret wrote it, and the username inside is a claim. The recomputed nonce is
the one integrity signal the format has, and :func:`decode` always checks it.

CLM joins its fields with :data:`SEPARATOR` and escapes nothing, and its reader splits on
every separator: :func:`encode` refuses a chat name or a username holding one, or ending
in its first two characters ``|¶`` (with the separator after it, ``bob|¶`` + ``|¶|`` reads
as ``bob`` + ``|¶|`` + ``¶|``), as no reader would parse the pointer (:func:`check_names`);
a field starting with ``¶|`` or ending with ``|`` is read where it was written, since the
separator after it is then the first one found. A body holding one reaches a CLM peer cut
before it (:func:`clm_cuts`; this project's reader keeps it whole). The legacy format joins
``username: message``, so a legacy username must not hold ``": "``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from .errors import ClmFormatError, ClmTamperedError, ClmWrongChatError, ClmWrongSecretError, InvalidInputError

__all__ = [
    "SEPARATOR",
    "ClmMessage",
    "auth_public_key",
    "chat_secret_hash",
    "check_names",
    "clm_cuts",
    "decode",
    "decode_legacy",
    "encode",
    "encode_legacy",
    "keystream",
]

SEPARATOR = "|¶|"
MAX_POINTER_CHARS = 1 << 22  # CLM has no limit; 2 MiB of message is plenty for migration
MAX_EPOCH = (1 << 63) - 1
_NONCE = re.compile(r"[A-Za-z0-9_-]{16}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # the exception would carry the text (maybe a secret): drop it
        raise InvalidInputError(f"the {what} is not valid Unicode text") from None


@dataclass(frozen=True, slots=True)
class ClmMessage:
    """A message read from a CLM pointer. ``username`` is unauthenticated."""

    chat: str
    username: str
    body: str
    epoch: int


def keystream(seed: bytes, length: int) -> bytes:
    """HMAC_DRBG-SHA256 instantiated with ``seed``, one generate of ``length`` bytes."""
    key, value = b"\x00" * 32, b"\x01" * 32
    for marker in (b"\x00", b"\x01"):
        key = hmac.digest(key, value + marker + seed, "sha256")
        value = hmac.digest(key, value, "sha256")
    out = bytearray()
    while len(out) < length:
        value = hmac.digest(key, value, "sha256")
        out += value
    return bytes(out[:length])


def _xor(data: bytes, stream: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def _nonce(signed: str, epoch: int) -> str:
    digest = hashlib.sha256(_utf8(f"{signed}_{epoch}", "message")).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode("ascii")


def _seed(secret: str, epoch: int, nonce: str) -> bytes:
    return hashlib.sha256(_utf8(f"{secret}_{epoch}_{nonce}", "chat secret")).digest()


def clm_cuts(message: str) -> bool:
    """Whether a CLM peer would show ``message`` cut: it holds CLM's field separator, and
    CLM keeps only what comes before the first one."""
    return SEPARATOR in message


def check_names(chat_name: str, username: str) -> None:
    """Raise :class:`InvalidInputError` when the chat name or the username holds
    :data:`SEPARATOR` or ends with its first two characters (the separator written after
    it would then be found a character early): the fields of a pointer would run into
    each other for every reader."""
    for what, text in (("chat name", chat_name), ("username", username)):
        if SEPARATOR in text:
            raise InvalidInputError(f"the {what} holds {SEPARATOR!r}, CLM's field separator: no reader could parse it")
        if text.endswith(SEPARATOR[:2]):
            raise InvalidInputError(
                f"the {what} ends with {SEPARATOR[:2]!r}, which with the next {SEPARATOR!r} forms CLM's field "
                "separator a character early: no reader could parse it"
            )


def encode(chat_name: str, username: str, message: str, secret: str, epoch: int) -> str:
    """Write a CLM 2.0.2 pointer exactly as CLM's ``send_message`` would (after
    :func:`check_names`)."""
    check_names(chat_name, username)
    signed = f"#{chat_name}{SEPARATOR}{username}{SEPARATOR}{message}"
    nonce = _nonce(signed, epoch)
    data = _utf8(signed, "message")
    cipher = _xor(data, keystream(_seed(secret, epoch, nonce), len(data)))
    return json.dumps({"e": epoch, "n": nonce, "d": cipher.hex()}, ensure_ascii=False)


def _load(pointer: str, keys: tuple[str, ...]) -> dict[str, object]:
    if not isinstance(pointer, str) or len(pointer) > MAX_POINTER_CHARS:
        raise ClmFormatError("a CLM pointer is JSON text of reasonable size")
    try:
        obj = json.loads(pointer)
    except (ValueError, RecursionError):  # JSONDecodeError, or an integer too long to parse
        raise ClmFormatError("a CLM pointer is a JSON object") from None
    if not isinstance(obj, dict) or tuple(sorted(obj)) != tuple(sorted(keys)):
        raise ClmFormatError(f"a CLM pointer has exactly the keys {', '.join(keys)}")
    epoch = obj["e"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch <= MAX_EPOCH:
        raise ClmFormatError("'e' is a non-negative 64-bit integer")
    if not isinstance(obj["d"], str) or not _HEX.fullmatch(obj["d"]):
        raise ClmFormatError("'d' is a string of hex byte pairs")
    return obj


def _cipher(obj: dict[str, object]) -> bytes:
    return bytes.fromhex(str(obj["d"]))  # _load checked it is hex pairs


def decode(pointer: str, chat_name: str, secret: str) -> ClmMessage:
    """Read a CLM 2.0.2 pointer of chat ``chat_name``.

    Raises :class:`ClmFormatError` for text that is not such a pointer,
    :class:`ClmWrongSecretError` when the plaintext has no CLM structure,
    :class:`ClmWrongChatError` when it names another chat, and
    :class:`ClmTamperedError` when it does not reproduce its own nonce.
    """
    obj = _load(pointer, ("e", "n", "d"))
    nonce, epoch = obj["n"], obj["e"]
    if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
        raise ClmFormatError("'n' is a 16-character base64url nonce")
    assert isinstance(epoch, int)
    cipher = _cipher(obj)
    try:
        signed = _xor(cipher, keystream(_seed(secret, epoch, nonce), len(cipher))).decode("utf-8")
    except UnicodeDecodeError:
        raise ClmWrongSecretError("wrong chat secret (the text does not decrypt)") from None
    fields = signed[1:].split(SEPARATOR, 2)
    if not signed.startswith("#") or len(fields) != 3:
        raise ClmWrongSecretError("wrong chat secret (the text does not decrypt)")
    if fields[0] != chat_name:
        raise ClmWrongChatError(f"the pointer is for chat {fields[0]!r}, not {chat_name!r}")
    if not hmac.compare_digest(_nonce(signed, epoch), nonce):
        raise ClmTamperedError("the pointer was altered: its nonce does not match its text")
    return ClmMessage(fields[0], fields[1], fields[2], epoch)


def encode_legacy(chat_id: str, username: str, message: str, master_seed: str, seed_suffix: str, epoch: int) -> str:
    """Write a legacy (CLM 0.1.0-2.0.1) ``{"c","e","d"}`` pointer. A username holding
    ``": "`` is refused (:class:`InvalidInputError`): the reader splits at the first one."""
    if ": " in username:
        raise InvalidInputError("a legacy CLM username cannot hold ': ', which ends the name in the pointer")
    data = _utf8(f"{username}: {message}", "message")
    seed = _utf8(f"{master_seed}_{seed_suffix}_{epoch}", "master seed")
    cipher = _xor(data, keystream(seed, len(data)))
    return json.dumps({"c": chat_id, "e": epoch, "d": cipher.hex()})


def decode_legacy(pointer: str, master_seed: str, seed_suffix: str) -> ClmMessage:
    """Read a legacy pointer. Integrity cannot be checked: the format has no signal for it."""
    obj = _load(pointer, ("c", "e", "d"))
    chat_id, epoch = obj["c"], obj["e"]
    if not isinstance(chat_id, str):
        raise ClmFormatError("'c' is a chat id string")
    assert isinstance(epoch, int)
    cipher = _cipher(obj)
    seed = _utf8(f"{master_seed}_{seed_suffix}_{epoch}", "master seed")
    try:
        text = _xor(cipher, keystream(seed, len(cipher))).decode("utf-8")
    except UnicodeDecodeError:
        raise ClmWrongSecretError("wrong master seed or suffix (the text does not decrypt)") from None
    username, sep, body = text.partition(": ")
    if not sep or not username.isprintable():
        raise ClmWrongSecretError("wrong master seed or suffix (no 'username: ' inside)")
    return ClmMessage(chat_id, username, body, epoch)


def auth_public_key(username: str, secret: str) -> str:
    """CLM 2.0.x's profile verifier: a fast unsalted HMAC, kept only to import profiles."""
    mac = hmac.digest(b"clm-auth-key", _utf8(f"{username}:{secret}", "secret"), "sha256")
    return base64.b64encode(mac).decode("ascii")


def chat_secret_hash(chat_name: str, secret: str) -> str:
    """CLM 2.0.2's per-chat verifier (unsalted SHA-256), kept only to import chats."""
    return hashlib.sha256(_utf8(f"{chat_name}:{secret}", "secret")).hexdigest()
