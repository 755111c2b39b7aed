"""CMD-CHAT's wire protocol as its own client speaks it (github:emilycodestar/cmd-chat,
18a1aab): newline-delimited JSON over plain TCP, an SRP-6a login with the ``srp`` library
(RFC 5054 padding, SHA-256, the 2048-bit group, the one identity ``b"chat"`` for everyone),
and a room key derived from the room password and the server's ``room_salt`` with
HKDF-SHA256 (info ``b"cmd-chat-room-key"``), used as a Fernet key for every message text.

Why own code over the socket rather than CMD-CHAT's client: the client is an interactive
``rich`` screen over asyncio, not a library; the protocol is five JSON lines and this
module is those lines and nothing else. ``srp`` is the library CMD-CHAT's server uses, so
the SRP arithmetic is the same code on both ends.

Everything read here comes from a server nobody vouches for: lines are bounded
(:class:`LineReader`), JSON is checked for the shapes used, and a server's error text is
only ever shown :func:`printable` and cut short.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

from .words import printable

__all__ = [
    "IDENTITY",
    "ROOM_KEY_INFO",
    "SERVER_LINE_LIMIT",
    "Broken",
    "LineReader",
    "LineTooLong",
    "NotCmdChat",
    "Refused",
    "Welcome",
    "broadcast_bytes",
    "encode",
    "login",
    "room_fernet",
]

IDENTITY = b"chat"  # the SRP identity every CMD-CHAT client uses (client.py:71, srp_auth.py:24)
ROOM_KEY_INFO = b"cmd-chat-room-key"  # HKDF's info for the room key (client.py:91-97)
SERVER_LINE_LIMIT = 64 * 1024  # asyncio's default StreamReader limit, on the server and in its client
_ENVELOPE = 400  # a broadcast's fields beside the text and the username: id, timestamp, IP, keys


class Refused(Exception):
    """The server answered ``{"error": TEXT}`` (and then closes the connection)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class Broken(Exception):
    """The server's answer does not follow the protocol (or the connection ended)."""


class LineTooLong(Broken):
    """A line longer than the reader's limit."""


class NotCmdChat(Broken):
    """An answer to the login in a shape CMD-CHAT's server never sends (not JSON, fields
    missing, an SRP proof that fails): whatever listens there is not the room's server."""


def encode(message: dict[str, Any]) -> bytes:
    """One protocol line: ``json.dumps`` with its defaults (as CMD-CHAT writes them) and a newline."""
    return (json.dumps(message) + "\n").encode()


def broadcast_bytes(pointer_chars: int, username: str) -> int:
    """The most bytes of the line that carries a post of ``pointer_chars`` ASCII characters
    to the other members (their reader's limit is :data:`SERVER_LINE_LIMIT`): the Fernet
    token of the text (version, time, IV, the padded ciphertext, the HMAC, in base64) in
    ``{"type": "message", "data": {...}}`` with the sender's id, time, IP and name."""
    token = 4 * -(-(1 + 8 + 16 + (pointer_chars // 16 + 1) * 16 + 32) // 3)
    return token + len(json.dumps(username)) + _ENVELOPE


def room_fernet(password: bytes, room_salt: bytes) -> Any:
    """The room's Fernet, exactly as CMD-CHAT's client makes it (client.py:91-98)."""
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=room_salt, info=ROOM_KEY_INFO).derive(password)
    return Fernet(base64.urlsafe_b64encode(key))


class LineReader:
    """Lines from a socket, each at most ``limit`` bytes: a longer one raises
    :class:`LineTooLong` once its excess is read (the next call starts after it), so a
    server can never make this side hold more than ``limit`` plus one read."""

    def __init__(self, sock: socket.socket, limit: int) -> None:
        """Read ``sock`` with lines of at most ``limit`` bytes."""
        self._sock, self._limit = sock, limit
        self.deadline: float | None = None  # a time.monotonic() after which reading raises TimeoutError
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer known to hold no newline
        self._skipping = False  # inside a line that was too long: drop up to its newline

    def readline(self) -> bytes:
        """The next line without its newline; :class:`Broken` at the end of the stream.
        A socket timeout propagates with the partial line kept for the next call."""
        while (line := self.buffered()) is None:
            self.arm()
            chunk = self._sock.recv(256 * 1024)
            if not chunk:
                raise Broken("the server closed the connection")
            self.feed(chunk)
        return line

    def feed(self, chunk: bytes) -> None:
        """Add bytes read from the socket elsewhere (a reader over many sockets)."""
        self._buffer += chunk

    def buffered(self) -> bytes | None:
        """The next whole line already read, None when there is none yet (a longer line
        than the limit raises :class:`LineTooLong` once its newline came)."""
        end = self._buffer.find(b"\n", self._scanned)
        if end >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            self._scanned = 0
            if self._skipping or end > self._limit:
                self._skipping = False
                raise LineTooLong(f"a line longer than {self._limit} bytes")
            return line
        if self._skipping:
            self._buffer.clear()
        elif len(self._buffer) > self._limit:
            self._buffer.clear()
            self._skipping = True
        self._scanned = len(self._buffer)
        return None

    def arm(self) -> None:
        """Bound the socket's next call by :attr:`deadline` (``TimeoutError`` once it passed)."""
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self._sock.settimeout(left)

    def json(self) -> dict[str, Any]:
        """The next line as a JSON object (:class:`NotCmdChat` when it is not one)."""
        line = self.readline()
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            raise NotCmdChat("the server sent a line that is not JSON") from None
        if not isinstance(value, dict):
            raise NotCmdChat("the server sent a JSON line that is not an object")
        return value


@dataclass(frozen=True, slots=True)
class Welcome:
    """What a login brings: the room's salt (the room key's, new at every server start),
    its Fernet, and the ``init`` line's backlog and members (the link empties ``messages``
    once it has taken them)."""

    room_salt: bytes
    fernet: Any
    messages: list[Any]
    users: list[Any]


def _b64(answer: dict[str, Any], key: str) -> bytes:
    value = answer.get(key)
    if not isinstance(value, str) or len(value) > 4096:
        raise NotCmdChat(f"the server's answer has no {key!r}")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise NotCmdChat(f"the server's {key!r} is not base64") from None


def _answer(lines: LineReader) -> dict[str, Any]:
    answer = lines.json()
    if "error" in answer:
        raise Refused(printable(answer["error"], 200))
    return answer


def _send(sock: socket.socket, lines: LineReader, message: dict[str, Any]) -> None:
    lines.arm()
    sock.sendall(encode(message))


def login(sock: socket.socket, lines: LineReader, username: str, password: bytes) -> Welcome:
    """CMD-CHAT's login on a connected socket, message by message as its client does it
    (client.py:69-124), then the ``init`` line, all by ``lines.deadline``. Raises
    :class:`Refused` with the server's error, :class:`NotCmdChat` on an answer of another
    shape, :class:`Broken` on the end of the connection, ``OSError`` (``TimeoutError``)
    from the socket."""
    import srp

    srp.rfc5054_enable()  # both ends pad as RFC 5054 says (srp_auth.py:7, client.py:14)
    user = srp.User(IDENTITY, password, hash_alg=srp.SHA256, ng_type=srp.NG_2048)
    _, a_public = user.start_authentication()
    _send(sock, lines, {"cmd": "srp_init", "username": username, "A": base64.b64encode(a_public).decode()})
    challenge = _answer(lines)
    user_id = challenge.get("user_id")
    if not isinstance(user_id, str) or len(user_id) > 200:
        raise NotCmdChat("the server's challenge has no user_id")
    b_public, salt, room_salt = _b64(challenge, "B"), _b64(challenge, "salt"), _b64(challenge, "room_salt")
    fernet = room_fernet(password, room_salt)
    proof = user.process_challenge(salt, b_public)
    if proof is None:
        raise NotCmdChat("the server's SRP challenge is not valid")
    _send(sock, lines, {"cmd": "srp_verify", "user_id": user_id, "M": base64.b64encode(proof).decode()})
    verified = _answer(lines)
    user.verify_session(_b64(verified, "H_AMK"))
    if not user.authenticated():  # the server does not know the password: not the room's server
        raise NotCmdChat("the server could not prove it knows the room password (SRP H_AMK)")
    init = lines.json()
    messages, users = init.get("messages"), init.get("users")
    if init.get("type") != "init" or not isinstance(messages, list) or not isinstance(users, list):
        raise NotCmdChat("the server sent no init line after the login")
    return Welcome(room_salt, fernet, messages, users)
