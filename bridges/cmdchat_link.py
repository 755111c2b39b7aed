"""One open login to a CMD-CHAT server, read without pause, and the process-wide registry
that lets every bridge of one name share it.

- **Read continuously.** The server writes each broadcast to every member in turn under
  one lock, waiting until each has taken it (managers.py:20-34): a member that stops
  reading stalls the whole room. So every link is read by the process's one reading
  thread (cmdchat_reader.py) as lines come, and keeps what it read in memory (bounded:
  ``history_bytes``), for
  :meth:`Link.since` to hand out and :meth:`Link.post` to find its echo in.
- **One login per name.** The server refuses a second login under a connected name
  ("Username taken"), so within one process the listener's bridge and the posting one
  share one :class:`Link` (:func:`acquire`, :func:`release`), keyed by (host, port,
  username). A closing link shuts its side and waits for the server to close the other,
  which happens only after the server forgot the name, so the next login gets it.
- **Keep the name.** The server forgets a member idle (sending nothing) for an hour
  (models.py:35-37, swept every 5 minutes): a link sends an ignored ``{"type": "noop"}``
  line after ``keepalive`` seconds without sending.
- **Notice a dead connection.** A connection that went away without a word (a laptop
  suspended, Wi-Fi gone) would look idle for ~25 minutes (the next noop, then TCP's
  retransmissions): the socket has TCP keepalive (probes after 60 s of silence, every 15 s,
  4 of them) and a TCP user timeout of 120 s, so such a link fails within about 2 minutes.
- **Bounded.** A login, from connecting to the ``init`` line, has one deadline
  (``timeout``); only texts that are strings are kept (a member may send any JSON as a
  text: the server stores and broadcasts it as it is), counted with their size in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .cmdchat_protocol import Broken, LineReader, LineTooLong, Welcome, encode, login
from .cmdchat_reader import READERS
from .proxy import Proxy

__all__ = ["Entry", "Link", "LinkSettings", "acquire", "release"]

_CLOSE_WAIT = 2.0  # seconds a closing link waits for the server to let its name go
_TAKEN_RETRY = 5.0  # seconds a login retries "Username taken" after this process let the name go
_MAX_MEMBERS = 10_000  # members a link keeps track of
_MAX_NAME = 200  # characters of a member's name kept
_ENTRY_BYTES = 256  # what an entry costs beside its text and name (the object, its id, its time)
_TCP_OPTIONS = (  # (name in socket, value): a silent peer is given up within about 2 minutes
    ("TCP_KEEPIDLE", 60),  # seconds of silence before the first keepalive probe
    ("TCP_KEEPINTVL", 15),  # seconds between probes
    ("TCP_KEEPCNT", 4),  # probes unanswered before the connection fails
    ("TCP_USER_TIMEOUT", 120_000),  # milliseconds sent data (a post, a probe) may stay unacknowledged
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One message as the server broadcast it: its id ("" when it had none), its text
    (a Fernet token, or whatever string the sender put there; None when it was not a
    string), who sent it and when (ISO 8601)."""

    id: str
    text: str | None
    username: str
    timestamp: str


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Where and as whom a link logs in, and its bounds."""

    host: str
    port: int
    username: str
    timeout: float
    line_limit: int  # the longest line read (the init backlog is one line)
    history_bytes: int  # the most message text kept in memory
    keepalive: float  # seconds without sending before a noop line
    proxy: Proxy | None = None  # the SOCKS5 proxy the connection (and the host's lookup) goes through


def _entry(raw: Any) -> Entry:
    if not isinstance(raw, dict):
        return Entry("", None, "", "")
    ident, text, username, stamp = raw.get("id"), raw.get("text"), raw.get("username"), raw.get("timestamp")
    return Entry(
        ident if isinstance(ident, str) and 0 < len(ident) <= 100 and ident.isprintable() else "",
        text if isinstance(text, str) else None,  # anything else is no pointer: not kept
        username[:_MAX_NAME] if isinstance(username, str) else "",
        stamp if isinstance(stamp, str) and len(stamp) <= 64 else "",
    )


def _size(entry: Entry) -> int:
    return _ENTRY_BYTES + sys.getsizeof(entry.username) + (sys.getsizeof(entry.text) if entry.text else 0)


def _keep_alive(sock: socket.socket) -> None:
    """TCP keepalive and a user timeout (where the system has them): see the module's docstring."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in _TCP_OPTIONS:
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


@dataclass
class Link:
    """A logged-in connection and what the reading thread has read from it (see the module's docstring)."""

    settings: LinkSettings
    sock: socket.socket
    welcome: Welcome
    token: str = field(default_factory=lambda: secrets.token_hex(8))  # names this link in cursors
    cond: threading.Condition = field(default_factory=threading.Condition)
    first: int = 0  # the sequence number of entries[0] (older ones were dropped to bound memory)
    entries: list[Entry] = field(default_factory=list)
    clears: list[int] = field(default_factory=list)  # sequence numbers at which the room was cleared (in order)
    members: dict[str, str] = field(default_factory=dict)  # user id -> name, as the server tells
    notes: list[str] = field(default_factory=list)  # for the next result, then emptied
    failed: str | None = None  # why the reader stopped: the link is dead
    refs: int = 0
    _kept: int = 0
    _sent_at: float = field(default_factory=time.monotonic)
    _send_lock: threading.Lock = field(default_factory=threading.Lock)
    _closing: bool = False
    _lines: LineReader | None = None

    @classmethod
    def open(cls, settings: LinkSettings, password: bytes) -> Link:
        """Connect, log in and start reading, all within ``timeout`` seconds. Raises what
        :func:`login` raises, or ``OSError`` (``TimeoutError`` once the time is up)."""
        deadline = time.monotonic() + settings.timeout
        if settings.proxy is None:
            sock = socket.create_connection((settings.host, settings.port), timeout=settings.timeout)
        else:
            sock = settings.proxy.connect(settings.host, settings.port, settings.timeout)
        try:
            _keep_alive(sock)
            lines = LineReader(sock, settings.line_limit)
            lines.deadline = deadline
            welcome = login(sock, lines, settings.username, password)
            lines.deadline = None
        except BaseException:
            sock.close()
            raise
        link = cls(settings, sock, welcome)
        for raw in welcome.messages:
            link._add(_entry(raw))
        for user in welcome.users[:_MAX_MEMBERS]:
            if isinstance(user, dict) and isinstance(user.get("user_id"), str):
                link.members[user["user_id"]] = str(user.get("username"))[:_MAX_NAME]
        welcome.messages.clear()  # what the link keeps is in its entries, bounded
        welcome.users.clear()
        sock.settimeout(settings.timeout)  # for sending: the reading thread reads only what is there
        link._lines = lines
        READERS.add(link)
        return link

    @property
    def room(self) -> str:
        """The room as this server process has it: its address and room salt (a restarted
        server has a new salt, and a new room key with it)."""
        s = self.settings
        seed = f"{s.host}\0{s.port}\0".encode() + self.welcome.room_salt
        return hashlib.sha256(b"pointerbridge cmdchat room\0" + seed).hexdigest()[:32]

    @property
    def end(self) -> int:
        """The sequence number the next message will get. Hold :attr:`cond`."""
        return self.first + len(self.entries)

    def since(self, start: int) -> list[Entry]:
        """The messages from sequence number ``start`` on (those still kept). Hold :attr:`cond`."""
        return self.entries[max(start - self.first, 0) :]

    def send(self, message: dict[str, Any]) -> None:
        """Write one line; :class:`Broken` when the connection cannot take it."""
        with self._send_lock:
            try:
                self.sock.sendall(encode(message))
            except OSError as exc:
                raise Broken(f"the connection failed while sending ({type(exc).__name__})") from None
            self._sent_at = time.monotonic()

    def post(self, token: str) -> str:
        """Send a message with this text and wait for the server's echo of it (the only
        confirmation it gives); return the id the server gave it."""
        with self.cond:
            mark = self.end
        self.send({"type": "message", "text": token})
        deadline = time.monotonic() + self.settings.timeout
        with self.cond:
            while True:
                for entry in self.since(mark):
                    if entry.text == token and entry.username == self.settings.username and entry.id:
                        return entry.id
                mark = self.end
                if self.failed is not None:
                    raise Broken(f"{self.failed} before the server confirmed the post")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.cond.wait(left)

    def close(self) -> None:
        """End the login and wait (briefly) until the server has let the name go."""
        self._closing = True
        with contextlib.suppress(OSError):  # already gone
            self.sock.shutdown(socket.SHUT_WR)
        with self.cond:
            self.cond.wait_for(lambda: self.failed is not None, _CLOSE_WAIT)
        READERS.remove(self)
        self.sock.close()

    # -- what the reading thread calls (cmdchat_reader.Readable) ---------------------------

    def received(self, chunk: bytes) -> None:
        """Take bytes read from the connection: every whole line in them is read."""
        lines = self._lines
        assert lines is not None  # set before the link is read
        lines.feed(chunk)
        while True:
            try:
                line = lines.buffered()
            except LineTooLong:
                limit = self.settings.line_limit
                self._note(f"a line from the server longer than max_line_bytes ({limit}) was skipped")
                continue
            if line is None:
                return
            self._take(line)

    def ended(self, reason: str) -> None:
        """The connection ended: the link is dead."""
        with self.cond:
            self.failed = "the link was closed" if self._closing else reason
            self.cond.notify_all()

    def due(self) -> float:
        """When the next keepalive is due (never once closing)."""
        return float("inf") if self._closing else self._sent_at + self.settings.keepalive

    def tick(self) -> None:
        """Send the keepalive: an ignored noop line that keeps the name (module docstring)."""
        if not self._closing:
            self.send({"type": "noop"})

    def _take(self, line: bytes) -> None:
        import json

        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            return  # the server never sends one: nothing to read in it
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        with self.cond:
            if kind == "message":
                self._add(_entry(message.get("data")))
            elif kind == "cleared":
                self.clears.append(self.end)
            elif kind == "user_joined" and isinstance(message.get("user_id"), str):
                if len(self.members) < _MAX_MEMBERS:
                    self.members[message["user_id"]] = str(message.get("username"))[:_MAX_NAME]
            elif kind == "user_left":
                self.members.pop(str(message.get("user_id")), None)
            else:
                return
            self.cond.notify_all()

    def _add(self, entry: Entry) -> None:
        self.entries.append(entry)
        self._kept += _size(entry)
        while self._kept > self.settings.history_bytes and len(self.entries) > 1:
            self._kept -= _size(self.entries.pop(0))
            self.first += 1

    def _note(self, text: str) -> None:
        with self.cond:
            if text not in self.notes:
                self.notes.append(text)


_Key = tuple[str, int, str]
_LINKS: dict[_Key, Link] = {}
_LET_GO: dict[_Key, float] = {}  # when this process last closed a login of that name
_OPENING: dict[_Key, threading.Lock] = {}  # one login at a time per name; other names go on meanwhile
_REGISTRY = threading.Lock()  # over the three dicts, never held while a login runs


def acquire(settings: LinkSettings, password: Callable[[], bytes]) -> Link:
    """The live link for (host, port, username) in this process, opened if there is none;
    :func:`release` it when done. A login refused as "Username taken" shortly after this
    process let the name go is tried again for a few seconds: the server forgets a name
    only once it has read the end of the old connection. A login in progress holds up only
    the callers that want the same name."""
    key = (settings.host, settings.port, settings.username)
    with _REGISTRY:
        opening = _OPENING.setdefault(key, threading.Lock())
    with opening:
        with _REGISTRY:
            link = _LINKS.get(key)
            if link is not None and link.failed is None:
                link.refs += 1
                return link
            if link is not None:
                _drop(key, link)
        link = _open(key, settings, password)
        with _REGISTRY:
            _LINKS[key] = link
            link.refs += 1
            return link


def _open(key: _Key, settings: LinkSettings, password: Callable[[], bytes]) -> Link:
    from .cmdchat_protocol import Refused

    while True:
        try:
            return Link.open(settings, password())
        except Refused as exc:
            with _REGISTRY:
                recent = time.monotonic() - _LET_GO.get(key, -1e9) < _TAKEN_RETRY
            if exc.text != "Username taken" or not recent:
                raise
            time.sleep(0.05)


def release(link: Link) -> None:
    """Give back a link from :func:`acquire`; the last one out closes it."""
    s = link.settings
    key = (s.host, s.port, s.username)
    with _REGISTRY:
        link.refs -= 1
        if link.refs > 0:
            return
        if _LINKS.get(key) is link:
            del _LINKS[key]
        _LET_GO[key] = time.monotonic()
    link.close()


def _drop(key: _Key, link: Link) -> None:
    """Forget a dead link still held by bridges (each releases it in its own time), its
    connection ended now so that the server lets the name go."""
    del _LINKS[key]
    with contextlib.suppress(OSError):  # already gone
        link.sock.shutdown(socket.SHUT_RDWR)
    _LET_GO[key] = time.monotonic()
