"""An XMPP group chat (MUC, XEP-0045) as carrier, through slixmpp: the bot's own account
posts each pointer as a group-chat message, and reads the room's archive (MAM, XEP-0313),
so a bot that was offline for a week still finds every pointer the server kept.

- **Posting.** One pointer per message, the plain body, with the XEP-0334 hint to store it;
  the bot joins the room under its nick (the JID's local part unless ``nick`` says) and
  takes the room's echo of its message as the server's receipt: the echo carries the
  archive id (XEP-0359 stanza-id), which is the post's reference. A room that gives none
  keeps no archive, and is refused (members could not read what was posted).
- **Size.** ``max_pointer_chars`` (8,000 by default) keeps a message under the 10,000
  bytes RFC 6120 has every server take; a server that says its own limit (XEP-0478) is
  held to it: a post that would exceed it is refused with the limit to set.
- **Cursor.** ``{"room": the room, "after": the last archive id read, "at": its time}``.
  A poll asks the archive for what came after ``after``, 50 messages a page, up to 40 pages
  (then ``more``): it never joins the room, so an idle poll is a login and one query. An
  archive that no longer holds ``after`` (expired, purged) is read from ``at`` instead
  (the store drops what it already has). A first poll begins at the archive's start
  (``start = "history"``) or its end (``"now"``).
- **Push.** :meth:`XmppBridge.listen` joins the room on a session it keeps open and waits
  for a live group-chat message; the message only wakes it: what it returns is read from
  the archive after the cursor, as a poll, so nothing is taken twice, the bot's own posts
  included (they come back once, through the archive, as every member's do).
- **Security.** The password by reference only (``password_env`` or a 0600
  ``password_file``); TLS (STARTTLS or direct) with the system's CAs or ``tls_ca_file``,
  and plaintext only to a loopback address (the settings refuse it anywhere else). With
  ``proxy``, every connection goes through it (``xmpp_proxy.py``) to ``host``, which is then
  required: an SRV lookup of the JID's domain would be DNS outside the proxy.
- **Files.** No blob store: the carrier's default refusal (bridges/blobs.py) names the
  carriers that keep files.
"""

from __future__ import annotations

import json
from typing import Any

from .async_bridge import AsyncBridge
from .base import ConfigurationError, Finding, Limits, PollResult, extract, json_cursor, printable, read_credential
from .findings import told_or_refused
from .xmpp_api import Session, stanza_bytes
from .xmpp_settings import XmppSettings

__all__ = ["XmppBridge"]

_MAX_PAGES = 40  # pages per poll: a longer backlog is read on by the next poll (``more``)
_MAM_FEATURE = "urn:xmpp:mam:2"


class XmppBridge(AsyncBridge):
    """One group chat, reached as one bot account."""

    takes_proxy = True
    carrier_type = "xmpp"
    Settings = XmppSettings
    shareable_settings = ("room", "max_pointer_chars")
    setup_hint = (
        "add your own bot's account first: pbridge carrier add {name} --type xmpp --set jid=BOT@EXAMPLE.ORG "
        "--set room={room} --set password_env=VAR"
    )
    quiet_loggers = ("slixmpp",)
    listens = True  # a joined session hears the room's messages as they come
    listen_wait = 50.0

    def __init__(self, name: str, settings: Any) -> None:
        """Use :meth:`from_config`. The session opens on first use and lasts until :meth:`close`."""
        super().__init__(name, settings)
        self._s: XmppSettings = settings

    @classmethod
    def same_place(cls, mine: dict[str, Any], shared: dict[str, Any]) -> bool:
        """The same room (a room's JID names it on the whole network)."""
        room = str(mine.get("room") or "").lower()
        return bool(room) and room == str(shared.get("room") or "").lower()

    @property
    def limits(self) -> Limits:
        """``max_pointer_chars``, lowered to what the server said it takes when a session
        of this bridge has heard it (XEP-0478)."""
        most = self._s.max_pointer_chars
        said = self._client.max_bytes if self._client is not None else None
        if said is not None:
            most = min(most, max(said - stanza_bytes("", self._s.room), 1000))
        return Limits(max_pointer_chars=most, min_post_interval=self._s.post_interval)

    def post(self, pointer: str) -> str:
        """Send the pointer to the room; return its archive id."""
        reference: str = self._run(lambda session: session.post(pointer))
        return reference

    def poll(self, cursor: str | None) -> PollResult:
        """The archive's messages after ``cursor`` (None: from ``start``)."""
        result: PollResult = self._run(lambda session: self._read(session, cursor))
        return result

    def listen(self, cursor: str | None, wait: float) -> PollResult:
        """:meth:`poll`, except that when the archive has nothing new it waits up to
        ``wait`` seconds, joined to the room, for a live message, then reads the archive again."""
        result: PollResult = self._run(lambda session: self._listen(session, cursor, wait))
        return result

    def check(self) -> list[str]:
        """The password can be read (before any connection), then what doctor checks; a
        failure refuses the carrier."""
        self._password()
        return told_or_refused(self.name, self.diagnose(None))

    def diagnose(self, cursor: str | None) -> list[Finding]:
        """The login (over TLS unless loopback), the room and its archive, and the size limit."""
        findings: list[Finding] = self._run(self._diagnose)
        return findings

    # -- the async part ---------------------------------------------------------------------

    async def _connect(self) -> Session:
        session = Session(self.name, self._s, self._password())
        await session.open()
        return session

    async def _disconnect(self, client: Any) -> None:
        await client.close()

    async def _attempt(self, work: Any) -> Any:
        if self._client is not None and self._client.ended() is not None:
            await self._client.close()  # the stream ended (the server went away): a fresh login
            self._client = None
        try:
            return await super()._attempt(work)
        except BaseException:
            if self._client is not None and self._client.ended() is not None:
                await self._client.close()
                self._client = None
            raise

    def _password(self) -> str:
        password, where = read_credential(self.name, self._s.password_env, self._s.password_file)
        if not password:
            raise ConfigurationError(self.name, f"{where} holds no password")
        return password

    async def _diagnose(self, session: Session) -> list[Finding]:
        s = self._s
        how = {"none": "without TLS (loopback)", "tls": "over direct TLS", "starttls": "over STARTTLS"}[s.security]
        findings = [Finding("login", "ok", f"{s.jid} logged in to {s.server()} {how}")]
        features = await session.features()
        if "http://jabber.org/protocol/muc" not in features:
            findings.append(Finding("room", "fail", f"{s.room} is not a group chat (MUC)"))
        elif _MAM_FEATURE not in features:
            findings.append(
                Finding("room", "fail", f"{s.room} keeps no archive (MAM): turn its archiving on, or pick another room")
            )
        else:
            findings.append(Finding("room", "ok", f"{s.room} exists and keeps an archive (MAM)"))
            if "muc_persistent" not in features:
                findings.append(
                    Finding("room", "warn", f"{s.room} is not persistent: it ends when its last member leaves")
                )
        if session.max_bytes is None:
            findings.append(
                Finding(
                    "size", "ok", f"pointers of {s.max_pointer_chars:,} characters (the server does not say its limit)"
                )
            )
        elif stanza_bytes("x" * s.max_pointer_chars, s.room) > session.max_bytes:
            findings.append(
                Finding(
                    "size",
                    "warn",
                    f"the server takes {session.max_bytes:,} bytes a stanza: pointers are cut to "
                    f"{self.limits.max_pointer_chars:,} characters (set max_pointer_chars to that)",
                )
            )
        else:
            findings.append(Finding("size", "ok", f"the server takes {session.max_bytes:,} bytes a stanza"))
        return findings

    async def _listen(self, session: Session, cursor: str | None, wait: float) -> PollResult:
        await session.join()
        session.news.clear()  # before reading: a message landing while the archive is read wakes the wait
        result = await self._read(session, cursor)
        if result.items or result.more or wait <= 0 or cursor is None:
            return result
        if not await session.wait_for_news(wait):
            return result
        return await self._read(session, result.cursor)

    async def _read(self, session: Session, cursor: str | None) -> PollResult:
        state = json_cursor(cursor)
        if state.get("room") != self._s.room:
            state = {}  # another room now: its archive ids mean nothing here
        result = PollResult([], "")
        after, at = state.get("after"), state.get("at")
        after = after if isinstance(after, str) and after else None
        at = at if isinstance(at, str) and at else None
        if "after" not in state and self._s.start == "now":
            newest = await session.page(last=True)
            if newest.items:
                after, at = newest.items[-1].id, newest.items[-1].stamp
            result.cursor = _cursor(self._s.room, after, at)
            return result
        since = None
        for _ in range(_MAX_PAGES):
            try:
                page = await session.page(after=after, start=since)
            except KeyError:
                if at is None:
                    raise ConfigurationError(self.name, f"{self._s.room}'s archive lost the cursor's message") from None
                result.notes.append(
                    f"{self._s.room}'s archive no longer has the last message read: read again from {printable(at, 40)}"
                )
                after, since = None, at
                continue
            since = None
            for item in page.items:
                if item.body:
                    extract(item.body, item.id, result)
                else:
                    result.items += 1  # a subject change, a chat state: nothing to read
                after, at = item.id, item.stamp or at
            if page.complete:
                break
        else:
            result.more = True
        result.cursor = _cursor(self._s.room, after, at)
        return result


def _cursor(room: str, after: str | None, at: str | None) -> str:
    return json.dumps({"room": room, "after": after, "at": at}, sort_keys=True)
