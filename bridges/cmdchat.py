"""A CMD-CHAT room as carrier (github:emilycodestar/cmd-chat): this bot logs into the relay
as CMD-CHAT's own client does (cmdchat_protocol.py) and posts each pointer as a chat
message, encrypted under the room key, so a person in the room with CMD-CHAT's client
sees the pointer text; it reads the ``init`` backlog and the live messages, and takes
what decrypts under the room key (anything else is a foreign member's or garbage).

- **Names.** The server refuses a login under a connected name, so every bot (each home,
  each machine) needs a ``username`` of its own, distinct from every person's and every
  other bot's in the room. Within one process the listener and the poster share one
  login (cmdchat_link.py). A post from another process while a daemon holds the name is
  refused "Username taken": that post is retried later (the daemon posts it meanwhile).
- **Cursor.** ``{"room": the server's room (address and room salt), "link": the login
  that read, "seq": messages read on it, "clears": clears seen on it, "last": the last
  message id read, "empty": whether the server's backlog was empty as read (nothing yet,
  or cleared since the last message), "at": when}``.
  On the same login, what came after ``seq``; on a new login to the same room, what
  comes after ``last`` in the backlog, or all of it when it was ``empty``. The server keeps its backlog in RAM only: a
  restart (a new room salt) or a member's ``clear`` loses it, and what a member posted
  while this bot was away is then gone from the server. A cursor whose room changed, or
  whose ``last`` is not in the backlog (or unknown), asks the other members' bots to post
  again what they posted since (ten minutes before) this bot last read, with the catch-up
  request the Telegram carrier uses (``pbcatchup1 SINCE``); their next poll queues it again.
- **Push.** :meth:`CmdChatBridge.listen` waits on the open login: the server pushes every
  message to every member as it arrives.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pointerbridge.core.limits import MAX_POINTER_CHARS as _LONGEST

from .base import (
    Bridge,
    BridgeError,
    ConfigurationError,
    CredentialRefusedError,
    Finding,
    PollResult,
    RetryableError,
    SettingsModel,
    extract,
    json_cursor,
    read_credential,
)
from .cmdchat_link import Entry, Link, LinkSettings, acquire, release
from .cmdchat_protocol import SERVER_LINE_LIMIT, Broken, LineTooLong, NotCmdChat, Refused, broadcast_bytes
from .plain_settings import PlainNetworkSettings, number, path, proxy_url, take, text
from .proxy import unreachable

__all__ = ["CmdChatBridge", "CmdChatSettings"]

USERNAME = r"^[^\s\x00-\x1f\x7f]([^\x00-\x1f\x7f]{0,62}[^\s\x00-\x1f\x7f])?$"  # 1-64, no control, no edge space
DEFAULT_POINTER_CHARS = 32_768  # its line to the other members: ~44 KB of the 64 KiB they read
MAX_POINTER_CHARS = min(40_000, _LONGEST)  # ~54 KB
DEFAULT_LINE_BYTES = 4 * 1024 * 1024  # the init backlog is one line; parsed, a hostile one costs up to ~25x
MAX_LINE_BYTES = 256 * 1024 * 1024
_CATCH_UP_MARGIN = 600.0  # seconds before the last read that a catch-up request reaches back (clocks differ)
assert broadcast_bytes(MAX_POINTER_CHARS, "x" * 64) < SERVER_LINE_LIMIT * 0.85


@dataclass(frozen=True, slots=True, kw_only=True)
class CmdChatSettings(PlainNetworkSettings):
    """A CMD-CHAT carrier's settings, as ``CmdChatBridge.Settings`` (cmdchat_settings.py) makes them."""

    host: str
    port: int
    username: str
    password_env: str | None = None
    password_file: Path | None = None
    max_pointer_chars: int = DEFAULT_POINTER_CHARS
    max_line_bytes: int = DEFAULT_LINE_BYTES
    keepalive: float = 600.0
    post_interval: float = 0.0


_PLAIN = {
    "timeout": number(float, 0, 300, above=True),
    "max_retry_wait": number(float, 0, 120),
    "proxy": proxy_url,
    "host": text(r"[^\s/]{1,253}$", min_length=1),
    "port": number(int, 1, 65535),
    "username": text(USERNAME),
    "password_env": text(),
    "password_file": path,
    "max_pointer_chars": number(int, 1000, MAX_POINTER_CHARS),
    "max_line_bytes": number(int, 256 * 1024, MAX_LINE_BYTES),
    "keepalive": number(float, 1, 1500),
    "post_interval": number(float, 0, 60),
}

REVEALS = (
    "no TLS: the relay, and anyone on the path, sees every line; only the message texts are encrypted",
    "the server and every member see each poster's IP address, username, the time and size of each post",
    "any member can clear the room's backlog (this bot then asks the others to post again)",
    "the server keeps every message in RAM without a bound, and forgets them all when it restarts",
    "the room key changes at every server restart (derived from the password and a new room salt)",
    "CMD-CHAT's own client cannot join once the backlog passes 64 KiB (its reader's limit)",
)


class CmdChatBridge(Bridge):
    """One CMD-CHAT room, reached as this bot's own username."""

    takes_proxy = True
    carrier_type = "cmdchat"
    Settings = SettingsModel("pointerbridge.bridges.cmdchat_settings", "CmdChatSettingsModel")
    shareable_settings = ("host", "port", "max_pointer_chars")
    setup_hint = (
        "pick a username of your own for your bot (no one in the room may use it): pbridge carrier add "
        "{name} --type cmdchat --set host={host} --set port={port} --set username=NAME --set password_env=VAR"
    )
    listens = True

    def __init__(self, name: str, settings: Any) -> None:
        """Use :meth:`from_config`. Nothing connects before the first call that needs it."""
        plain = settings if isinstance(settings, CmdChatSettings) else CmdChatSettings(**settings.model_dump())
        super().__init__(name, plain)
        self._s: CmdChatSettings = plain
        self._given: str | None = None
        self._held: Link | None = None

    @classmethod
    def plain_settings(cls, settings: dict[str, Any]) -> CmdChatSettings | None:
        """The settings without pydantic when they are plainly valid."""
        plain = take(CmdChatSettings, settings, _PLAIN)
        return None if plain is None or (plain.password_env and plain.password_file) else plain

    @classmethod
    def same_place(cls, mine: dict[str, Any], shared: dict[str, Any]) -> bool:
        """The same server (host and port)."""
        here = (mine.get("host"), str(mine.get("port")))  # `carrier add --set port=N` keeps a string
        return bool(here[0]) and here == (shared.get("host"), str(shared.get("port")))

    def use_password(self, password: str) -> None:
        """Hand the room password over in memory (a front-end's prompt): used instead of
        ``password_env``/``password_file``, never written anywhere."""
        self._given = password

    @property
    def wants_password(self) -> bool:
        """Whether the room password must be handed over (:meth:`use_password`): the
        settings name none (neither ``password_env`` nor ``password_file``)."""
        return self._given is None and self._s.password_env is None and self._s.password_file is None

    def claim(self) -> str:
        """The name in the room: two carriers logging in under one would refuse each other."""
        return f"cmdchat {self._s.username} at {self._s.host}:{self._s.port}"

    def post(self, pointer: str) -> str:
        """Send the pointer as an encrypted chat message; return the id the server gave it."""
        link = self._link(posting=True)
        token = link.welcome.fernet.encrypt(pointer.encode()).decode()
        try:
            return link.post(token)
        except Broken as exc:
            raise RetryableError(self.name, f"{exc} (it is posted again; readers keep one copy)") from None
        except TimeoutError:
            raise RetryableError(self.name, f"no echo of the post within {self._s.timeout:g} s") from None

    def poll(self, cursor: str | None) -> PollResult:
        """What the room holds after ``cursor`` (see the module's docstring)."""
        return self.listen(cursor, 0.0)

    def listen(self, cursor: str | None, wait: float) -> PollResult:
        """As :meth:`poll`, waiting up to ``wait`` seconds on the open login for a message."""
        state = json_cursor(cursor)
        held = self._held
        if held is not None and held.failed is not None and state.get("link") == held.token:
            with held.cond:
                pending = held.end > _count(state.get("seq"))
            if not pending:
                self._let_go()
        link = self._held if self._held is not None and state.get("link") == self._held.token else self._link()
        now = time.time()
        with link.cond:
            start, lost = _start(link, state)
        asked = self._ask_catch_up(link, state, now, lost) if lost and state.get("room") else None
        deadline = time.monotonic() + wait
        cleared = _count(state.get("clears")) if state.get("link") == link.token else 0
        with link.cond:  # after the request's echo: a new login then starts after it, not before
            while link.end <= start and len(link.clears) <= cleared and link.failed is None:
                if (left := deadline - time.monotonic()) <= 0:
                    break
                link.cond.wait(left)
            entries, failed, clears, end = link.since(start), link.failed, len(link.clears), link.end
            empty = end == 0 or (clears > 0 and link.clears[-1] == end)  # the server's backlog, as read
            notes, link.notes = link.notes, []
        if failed is not None and not entries and not lost:
            self._let_go()
            raise RetryableError(self.name, f"{failed} ({self._where})")
        result = PollResult([], "", notes=notes)
        for entry in entries:
            self._read(entry, link, result, now)
        if clears > cleared:
            result.notes.append("a member cleared the room's backlog on the server (nothing was lost here)")
        if asked:
            result.notes.append(asked)
        last = next((e.id for e in reversed(entries) if e.id), None) or (None if lost else state.get("last"))
        kept = {"room": link.room, "link": link.token, "seq": end, "last": None if empty else last, "at": now}
        kept |= {"clears": clears, "empty": empty}
        result.cursor = json.dumps(kept)
        return result

    def check(self) -> list[str]:
        """Log in once: the password works and the name is free; say what the carrier reveals."""
        link = self._link()
        with link.cond:
            backlog, members = len(link.entries), sorted(set(link.members.values()))
        return [
            f"logged in to {self._where} as {self._s.username!r}: {backlog} message(s) in the backlog, "
            f"{len(members)} member(s) connected",
            "every other member, person or bot, needs a username of their own",
            *(f"note: {line}" for line in REVEALS),
        ]

    def diagnose(self, cursor: str | None) -> list[Finding]:
        """The login, the backlog's size against CMD-CHAT's client, and what the carrier reveals."""
        findings = [Finding("reveals", "warn", line) for line in REVEALS]
        try:
            link = self._link()
        except ConfigurationError as exc:
            if "connected already" in exc.detail:
                return [Finding("login", "warn", exc.detail), *findings]
            raise
        with link.cond:
            size = sum(len(e.text) for e in link.entries if isinstance(e.text, str))
            room = link.room
        state = json_cursor(cursor)
        findings.insert(0, Finding("login", "ok", f"logged in to {self._where} as {self._s.username!r}"))
        if state.get("room") not in (None, room):
            findings.insert(1, Finding("restart", "warn", "the server restarted since the last read (the next asks)"))
        if size > SERVER_LINE_LIMIT - 1024:
            findings.insert(
                1, Finding("backlog", "warn", f"{size} bytes in the backlog: CMD-CHAT's client cannot join")
            )
        else:
            findings.insert(1, Finding("backlog", "ok", f"about {size} bytes in the room's backlog"))
        return findings

    def close(self) -> None:
        """End this bridge's share of the login (the last one out logs out)."""
        self._let_go()

    # -- the rest ---------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return f"{self._s.host}:{self._s.port}"

    def _password(self) -> bytes:
        if self._given is not None:
            return self._given.encode()
        s = self._s
        if s.password_env is None and s.password_file is None:
            raise ConfigurationError(self.name, "no room password: set password_env or password_file")
        password, where = read_credential(self.name, s.password_env, s.password_file)
        if not password:
            raise ConfigurationError(self.name, f"{where} holds no room password")
        return password.encode()

    def _link(self, posting: bool = False) -> Link:
        held = self._held
        if held is not None and held.failed is None:
            return held
        self._let_go()
        s = self._s
        settings = LinkSettings(
            s.host, s.port, s.username, s.timeout, s.max_line_bytes, s.max_line_bytes, s.keepalive, s.proxy_server()
        )
        try:
            self._held = acquire(settings, self._password)
        except ImportError:
            raise ConfigurationError(self.name, "needs the srp library: pip install 'pointerbridge[cmdchat]'") from None
        except (Refused, Broken, OSError) as exc:
            raise self._mapped(exc, posting) from None
        return self._held

    def _let_go(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            release(held)

    def _mapped(self, exc: Exception, posting: bool) -> BridgeError:
        s, where = self._s, self._where
        if isinstance(exc, Refused):
            if exc.text == "Username taken" and posting:
                return RetryableError(
                    self.name,
                    f"the name {s.username!r} is connected already on {where} (this bot's daemon? it posts "
                    "the pointer itself); the pointer stays in the outbox",
                )
            if exc.text == "Username taken":
                return ConfigurationError(
                    self.name,
                    f"{where} has {s.username!r} connected already: another client (maybe this bot, in another "
                    "process or on another machine) uses that name; stop it, or give each bot a username of its own",
                )
            if exc.text == "Authentication failed":
                return CredentialRefusedError(self.name, f"{where} refused the room password: give the right one")
            if exc.text == "Invalid session":  # the server lost the login half-way (restarted)
                return RetryableError(self.name, f"{where} lost the login half-way ({exc.text})")
            return ConfigurationError(
                self.name, f"{where} refused the login ({exc.text!r}): is it a CMD-CHAT server (cmd-chat 18a1aab)?"
            )
        if isinstance(exc, LineTooLong):  # only a person can act: raise it, or clear the room
            return ConfigurationError(
                self.name,
                f"the room's backlog on {where} is one line longer than max_line_bytes "
                f"({s.max_line_bytes}): raise max_line_bytes",
            )
        if isinstance(exc, NotCmdChat):
            return ConfigurationError(
                self.name, f"{where} does not answer as a CMD-CHAT server ({exc}): check host and port"
            )
        if isinstance(exc, Broken):
            return RetryableError(self.name, f"{where}: {exc}")
        proxy = s.proxy_server()
        if proxy is not None and isinstance(exc, OSError) and not _waited(exc):
            return unreachable(self.name, proxy, where, exc)
        if isinstance(exc, TimeoutError):
            return RetryableError(self.name, f"{where} did not answer within {s.timeout:g} s")
        if isinstance(exc, ConnectionRefusedError):
            return RetryableError(self.name, f"{where} refused the connection (is the CMD-CHAT server running?)")
        assert isinstance(exc, OSError)
        return RetryableError(self.name, f"cannot reach {where}: {exc.strerror or type(exc).__name__}")

    def _read(self, entry: Entry, link: Link, result: PollResult, now: float) -> None:
        from cryptography.fernet import InvalidToken

        from .telegram_updates import CATCH_UP_PREFIX

        token = entry.text
        try:
            if not (isinstance(token, str) and token and entry.id):
                raise InvalidToken
            plain = link.welcome.fernet.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError):  # another key (an older server's), or not a token: a stranger's
            result.items += 1
            result.skipped_foreign += 1
            return
        if plain.startswith(CATCH_UP_PREFIX + " "):
            result.items += 1
            request = _catch_up_request(plain, entry.timestamp, now)
            if request is not None and entry.username != self._s.username:
                result.repost_since.append(request)
            return
        extract(plain, entry.id, result)

    def _ask_catch_up(self, link: Link, state: dict[str, Any], now: float, why: str) -> str:
        from .telegram_updates import CATCH_UP_PREFIX, CATCH_UP_REACH

        last = state.get("at")
        last = float(last) if isinstance(last, int | float) and last <= now else now
        since = int(max(last - _CATCH_UP_MARGIN, now - CATCH_UP_REACH + 3600))
        request = link.welcome.fernet.encrypt(f"{CATCH_UP_PREFIX} {since}".encode()).decode()
        try:
            link.post(request)
        except (Broken, TimeoutError) as exc:
            return f"{why}; asking the others to post again what they posted since then failed: {exc or 'no echo'}"
        return f"{why}: asked the other members' bots to post again what they posted since then"


def _waited(exc: OSError) -> bool:
    """Whether ``exc`` is the server's silence past the timeout, not the proxy's."""
    from python_socks import ProxyTimeoutError

    return isinstance(exc, TimeoutError) and not isinstance(exc, ProxyTimeoutError)


def _count(value: Any) -> int:
    return value if type(value) is int and value >= 0 else 0


def _start(link: Link, state: dict[str, Any]) -> tuple[int, str]:
    """Where reading starts on ``link`` for a cursor, and why something may be lost ("": nothing).
    Hold the link's condition."""
    if not state.get("room"):
        return link.first, ""  # a first read: the whole backlog
    if state["room"] != link.room:
        return link.first, "the CMD-CHAT server restarted since this bot last read it (its backlog is gone)"
    if state.get("link") == link.token:
        seq = _count(state.get("seq"))
        if seq >= link.first:
            return seq, ""
        return link.first, "more arrived than this bot keeps in memory (max_line_bytes) before it was stored"
    if state.get("empty") is True:  # the backlog was empty when last read: all it holds now is new
        return link.first, ""
    last = state.get("last")
    for offset, entry in enumerate(link.entries):
        if last and entry.id == last:
            return link.first + offset + 1, ""
    return link.first, "the room's backlog no longer holds what this bot read last (cleared, or the server restarted)"


def _catch_up_request(plain: str, stamp: str, now: float) -> tuple[float, float] | None:
    from .telegram_updates import CATCH_UP_REACH

    since = plain.partition(" ")[2].strip()
    if not since.isdigit() or len(since) > 12:
        return None
    try:
        until = min(datetime.fromisoformat(stamp).timestamp(), now)
    except (ValueError, OverflowError, OSError):
        until = now
    value = float(since)
    return (value, until) if now - CATCH_UP_REACH <= value <= until else None
