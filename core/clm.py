"""Chrono-Library Messenger (CLM) pointers: read and write them, for migration.

Implements CLM 2.0.2's ``{"e","n","d"}`` pointer and the legacy ``{"c","e","d"}``
pointer of CLM 0.1.0-2.0.1 from the facts in ``shared/clm/CLM-FORMAT.md``. CLM has no
MAC and no sender authentication: a decoded CLM message says only that someone holding
the chat secret wrote it, and the username inside is a claim. The recomputed nonce is
the one integrity signal the format has, and :func:`decode` always checks it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from .errors import ClmFormatError, ClmTamperedError, ClmWrongChatError, ClmWrongSecretError

__all__ = [
    "ClmMessage",
    "auth_public_key",
    "chat_secret_hash",
    "decode",
    "decode_legacy",
    "encode",
    "encode_legacy",
    "keystream",
]

SEPARATOR = "|¶|"
MAX_POINTER_CHARS = 1 << 22  # CLM has no limit; 2 MiB of message is plenty for migration


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
    digest = hashlib.sha256(f"{signed}_{epoch}".encode()).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode("ascii")


def _seed(secret: str, epoch: int, nonce: str) -> bytes:
    return hashlib.sha256(f"{secret}_{epoch}_{nonce}".encode()).digest()


def encode(chat_name: str, username: str, message: str, secret: str, epoch: int) -> str:
    """Write a CLM 2.0.2 pointer exactly as CLM's ``send_message`` would."""
    signed = f"#{chat_name}{SEPARATOR}{username}{SEPARATOR}{message}"
    nonce = _nonce(signed, epoch)
    data = signed.encode("utf-8")
    cipher = _xor(data, keystream(_seed(secret, epoch, nonce), len(data)))
    return json.dumps({"e": epoch, "n": nonce, "d": cipher.hex()}, ensure_ascii=False)


def _load(pointer: str, keys: tuple[str, ...]) -> dict[str, object]:
    if not isinstance(pointer, str) or len(pointer) > MAX_POINTER_CHARS:
        raise ClmFormatError("a CLM pointer is JSON text of reasonable size")
    try:
        obj = json.loads(pointer)
    except (json.JSONDecodeError, RecursionError):
        raise ClmFormatError("a CLM pointer is a JSON object") from None
    if not isinstance(obj, dict) or tuple(sorted(obj)) != tuple(sorted(keys)):
        raise ClmFormatError(f"a CLM pointer has exactly the keys {', '.join(keys)}")
    epoch = obj["e"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise ClmFormatError("'e' is a non-negative integer")
    if not isinstance(obj["d"], str):
        raise ClmFormatError("'d' is a hex string")
    return obj


def _cipher(obj: dict[str, object]) -> bytes:
    try:
        return bytes.fromhex(str(obj["d"]))
    except ValueError:
        raise ClmFormatError("'d' is not hex") from None


def decode(pointer: str, chat_name: str, secret: str) -> ClmMessage:
    """Read a CLM 2.0.2 pointer of chat ``chat_name``.

    Raises :class:`ClmFormatError` for text that is not such a pointer,
    :class:`ClmWrongSecretError` when the plaintext has no CLM structure,
    :class:`ClmWrongChatError` when it names another chat, and
    :class:`ClmTamperedError` when it does not reproduce its own nonce.
    """
    obj = _load(pointer, ("e", "n", "d"))
    nonce, epoch = obj["n"], obj["e"]
    if not isinstance(nonce, str) or len(nonce) != 16:
        raise ClmFormatError("'n' is a 16-character nonce")
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


def encode_legacy(
    chat_id: str, username: str, message: str, master_seed: str, seed_suffix: str, epoch: int
) -> str:
    """Write a legacy (CLM 0.1.0-2.0.1) ``{"c","e","d"}`` pointer."""
    data = f"{username}: {message}".encode()
    seed = f"{master_seed}_{seed_suffix}_{epoch}".encode()
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
    seed = f"{master_seed}_{seed_suffix}_{epoch}".encode()
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
    mac = hmac.digest(b"clm-auth-key", f"{username}:{secret}".encode(), "sha256")
    return base64.b64encode(mac).decode("ascii")


def chat_secret_hash(chat_name: str, secret: str) -> str:
    """CLM 2.0.2's per-chat verifier (unsalted SHA-256), kept only to import chats."""
    return hashlib.sha256(f"{chat_name}:{secret}".encode()).hexdigest()
