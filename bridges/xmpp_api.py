"""One XMPP session of the bot's account, over slixmpp: log in (TLS as the settings say,
refused without it except to loopback), join the room, post a message and learn its
archive id from the room's echo, read the room's archive (MAM, XEP-0313) a page at a time
(RSM, XEP-0059), and wake on live group-chat messages. Every failure is the bridge's
typed error: :class:`RetryableError` when it may work later, :class:`ConfigurationError`
when a person must act."""

from __future__ import annotations

import asyncio
import logging
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from .base import ConfigurationError, CredentialRefusedError, RetryableError, printable
from .email_settings import tls_problem
from .proxied import ProxyFailed
from .proxy import parse_proxy
from .xmpp_settings import STANZA_FLOOR_BYTES, XmppSettings

__all__ = ["ArchivePage", "Archived", "Session", "stanza_bytes"]

_MAM = "urn:xmpp:mam:2"
_RSM = "http://jabber.org/protocol/rsm"
_SID = "urn:xmpp:sid:0"
_FORWARD = "urn:xmpp:forward:0"
_DELAY = "urn:xmpp:delay"
_CLIENT = "jabber:client"
_PAGE = 50  # messages per archive page: Prosody's most (max_archive_query_results)
_ENVELOPE = 600  # bytes of a posted message beside its body and the room's JID


def stanza_bytes(pointer: str, room: str) -> int:
    """The size of the message that posts ``pointer`` to ``room``, at most."""
    return len(pointer.encode("utf-8")) + 2 * len(room.encode("utf-8")) + _ENVELOPE


@dataclass(frozen=True, slots=True)
class Archived:
    """One message of the room's archive: its archive id, body, and when it was stored."""

    id: str
    body: str | None
    stamp: str


@dataclass(slots=True)
class ArchivePage:
    """One page of the archive, oldest first, and whether it reached the archive's end."""

    items: list[Archived] = field(default_factory=list)
    complete: bool = True


class Session:
    """A logged-in slixmpp client for one bridge; :meth:`close` ends it."""

    def __init__(self, carrier: str, settings: XmppSettings, password: str) -> None:
        """Nothing connects until :meth:`open`."""
        self.carrier, self.s, self._password = carrier, settings, password
        self.client: Any = None
        self.joined = False
        self.news = asyncio.Event()  # set by every live group-chat message from the room
        self.max_bytes: int | None = None  # the server's stanza limit, when it says (XEP-0478)
        self._gone: asyncio.Future[str] | None = None  # why the stream ended, once it has

    async def open(self) -> None:
        """Connect and log in, or raise why not."""
        import slixmpp

        logging.getLogger("slixmpp").setLevel(logging.CRITICAL)  # it logs failures this module reports
        s = self.s
        resource = s.jid + "/pbridge-" + uuid.uuid4().hex[:8]
        client: slixmpp.ClientXMPP
        if s.proxy is not None:  # every connection through it, named by host (no SRV lookup)
            from .xmpp_proxy import ProxiedClient

            client = ProxiedClient(resource, self._password, parse_proxy(s.proxy), s.timeout)
        else:
            client = slixmpp.ClientXMPP(resource, self._password)
        client.enable_starttls = s.security == "starttls"
        client.enable_direct_tls = s.security == "tls"
        client.enable_plaintext = s.security == "none"
        client.ssl_context = s.tls()
        client.whitespace_keepalive = False  # a listener's wait is bounded; a post's life is short
        # aiodns (pycares) leaves a thread running for good once a lookup ends, and a process
        # with a thread no longer forks its readers (app/opening.py): the system's resolver
        # for a named host; aiodns only for the SRV lookup of a domain without one.
        client.use_aiodns = s.host is None and s.proxy is None
        if s.security == "none":  # allowed only to loopback (the settings refuse it elsewhere)
            client.plugin["feature_mechanisms"].unencrypted_scram = True
        for plugin in ("xep_0045", "xep_0059", "xep_0313", "xep_0334", "xep_0359"):
            client.register_plugin(plugin)
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[str] = loop.create_future()
        self._gone = loop.create_future()

        def settle(outcome: str) -> None:
            if not ready.done():
                ready.set_result(outcome)

        def ended(reason: str) -> None:
            settle(reason)
            if self._gone is not None and not self._gone.done():
                self._gone.set_result(reason)

        client.add_event_handler("session_start", lambda _e: settle(""))
        client.add_event_handler("failed_all_auth", lambda _e: settle("auth"))
        client.add_event_handler("connection_failed", lambda e: ended(_reason(e)))
        client.add_event_handler("ssl_invalid_chain", lambda e: ended(_reason(e)))  # STARTTLS's handshake
        client.add_event_handler("stream_error", lambda e: ended("stream error: " + str(e["condition"])))
        # A STARTTLS handshake that fails says why only after the stream has ended: a moment's
        # grace lets that reason (a certificate to fix) win over "closed".
        closed = "the server closed the connection"
        client.add_event_handler("disconnected", lambda _e: loop.call_later(0.2, ended, closed))
        client.add_event_handler("groupchat_message", self._live)
        self.client = client
        port = s.port or (5223 if s.security == "tls" else 5222)
        client.connect(s.server(), port) if s.host or s.security == "none" else client.connect()
        try:
            outcome = await asyncio.wait_for(ready, s.timeout)
        except TimeoutError:  # a silent proxy's own timeout (as long) may not have fired yet: named here
            outcome = f"no answer within {s.timeout:.0f} s" + (f" through the proxy {s.proxy}" if s.proxy else "")
        if outcome == "auth":
            await self.close()
            raise CredentialRefusedError(self.carrier, f"{s.server()} refused the password for {s.jid}")
        if outcome:
            error = self._unreachable(outcome)
            await self.close()
            raise error
        transport = client.transport
        if s.security != "none" and (transport is None or transport.get_extra_info("ssl_object") is None):
            await self.close()  # unreachable with slixmpp's own checks; kept as the promise
            raise ConfigurationError(self.carrier, f"{s.server()} did not speak TLS")
        limits = getattr(client, "limits", None)
        self.max_bytes = getattr(limits, "max_bytes", None)

    def _unreachable(self, outcome: str) -> RetryableError | ConfigurationError:
        s = self.s
        if "SSL" in outcome or "certificate" in outcome or "TLS" in outcome:
            return ConfigurationError(self.carrier, f"{s.server()}: {outcome}")
        if outcome.startswith("stream error: see-other-host") or outcome.startswith("stream error: host-unknown"):
            return ConfigurationError(self.carrier, f"{s.server()} does not serve {s.domain} ({outcome})")
        return RetryableError(self.carrier, f"{s.server()} unreachable ({printable(outcome, 200)})")

    def _live(self, message: Any) -> None:
        if message["from"].bare == self.s.room and message["body"]:
            self.news.set()

    def ended(self) -> str | None:
        """Why the stream ended, or None while it lasts."""
        return self._gone.result() if self._gone is not None and self._gone.done() else None

    async def join(self) -> None:
        """Enter the room under the bot's nick (no history: the archive is read instead)."""
        if self.joined:
            return
        from slixmpp.exceptions import PresenceError

        try:
            await self.client.plugin["xep_0045"].join_muc_wait(
                self.s.room, self.s.nickname, maxstanzas=0, timeout=self.s.timeout
            )
        except PresenceError as exc:
            raise ConfigurationError(
                self.carrier, f"joining {self.s.room} as {self.s.nickname!r}: refused ({exc.condition})"
            ) from None
        except TimeoutError:
            raise self._lost(f"joining {self.s.room}: no answer") from None
        self.joined = True

    async def post(self, body: str) -> str:
        """Send ``body`` to the room (with the hint to archive it); return its archive id,
        read from the room's echo of it."""
        if self.max_bytes is not None and stanza_bytes(body, self.s.room) > self.max_bytes:
            raise ConfigurationError(
                self.carrier, f"the server takes stanzas of {self.max_bytes:,} bytes at most: lower max_pointer_chars"
            )
        await self.join()
        client = self.client
        message = client.make_message(mto=self.s.room, mbody=body, mtype="groupchat")
        message["id"] = "pb-" + uuid.uuid4().hex
        message.enable("store")  # XEP-0334: the archive is how the other members read it
        echo: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def mine(stanza: Any) -> None:
            if stanza["id"] == message["id"] and stanza["from"].bare == self.s.room and not echo.done():
                echo.set_result(stanza)

        client.add_event_handler("message", mine)
        try:
            message.send()
            reflected = await self._await(echo, "posting")
        finally:
            client.del_event_handler("message", mine)
        if reflected["type"] == "error":
            condition = reflected["error"]["condition"]
            raise ConfigurationError(self.carrier, f"posting to {self.s.room}: refused ({printable(condition, 80)})")
        for tag in reflected.xml.findall(f"{{{_SID}}}stanza-id"):
            if tag.get("by") == self.s.room and tag.get("id"):
                return str(tag.get("id"))
        raise ConfigurationError(self.carrier, f"{self.s.room} keeps no archive (MAM): members could not read posts")

    async def page(self, *, after: str | None = None, last: bool = False, start: str | None = None) -> ArchivePage:
        """The archive's messages after the archive id ``after`` (None: from its start, or
        from the time ``start``), oldest first; ``last``: only the newest one."""
        from slixmpp.exceptions import IqError, IqTimeout

        iq = self.client.make_iq_set(ito=self.s.room)
        queryid = uuid.uuid4().hex
        query = ET.SubElement(iq.xml, f"{{{_MAM}}}query", {"queryid": queryid})
        if start is not None:
            form = ET.SubElement(query, "{jabber:x:data}x", {"type": "submit"})
            for var, value in (("FORM_TYPE", _MAM), ("start", start)):
                field_ = ET.SubElement(form, "{jabber:x:data}field", {"var": var})
                ET.SubElement(field_, "{jabber:x:data}value").text = value
        rsm = ET.SubElement(query, f"{{{_RSM}}}set")
        ET.SubElement(rsm, f"{{{_RSM}}}max").text = "1" if last else str(_PAGE)
        if last:
            ET.SubElement(rsm, f"{{{_RSM}}}before")
        elif after is not None:
            ET.SubElement(rsm, f"{{{_RSM}}}after").text = after
        found: list[Archived] = []

        def result(message: Any) -> None:
            tag = message.xml.find(f"{{{_MAM}}}result")
            if tag is None or tag.get("queryid") != queryid or message["from"].bare not in ("", self.s.room):
                return
            found.append(_archived(tag))

        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath

        name = "pbridge-mam-" + queryid
        self.client.register_handler(Callback(name, MatchXPath(f"{{{_CLIENT}}}message/{{{_MAM}}}result"), result))
        try:
            answer = await self._await(asyncio.ensure_future(iq.send(timeout=None)), "reading the archive")
        except IqError as exc:
            condition = str(exc.iq["error"]["condition"])
            if condition == "item-not-found" and after is not None:
                raise KeyError(after) from None  # the archive no longer has it: the caller reads by time
            raise self._refused(condition, exc.iq["error"]["text"]) from None
        except IqTimeout:
            raise self._lost("reading the archive: no answer") from None
        finally:
            self.client.remove_handler(name)
        fin = answer.xml.find(f"{{{_MAM}}}fin")
        complete = fin is None or fin.get("complete") in ("true", "1")
        return ArchivePage(found, complete or not found)

    async def features(self) -> set[str]:
        """The room's service-discovery features (it exists, it is archived)."""
        from slixmpp.exceptions import IqError, IqTimeout

        try:
            asking = asyncio.ensure_future(self.client.plugin["xep_0030"].get_info(jid=self.s.room, timeout=None))
            info = await self._await(asking, "asking the room what it is")
        except IqError as exc:
            raise self._refused(str(exc.iq["error"]["condition"]), exc.iq["error"]["text"]) from None
        except IqTimeout:
            raise self._lost("asking the room what it is: no answer") from None
        return set(info["disco_info"]["features"])

    async def wait_for_news(self, seconds: float) -> bool:
        """Whether a live message came (or had come since :attr:`news` was cleared) within ``seconds``."""
        gone = self._gone
        waiting: asyncio.Future[Any] = asyncio.ensure_future(self.news.wait())
        watched: list[asyncio.Future[Any]] = [waiting, *([gone] if gone else [])]
        done, _ = await asyncio.wait(watched, timeout=seconds, return_when="FIRST_COMPLETED")
        waiting.cancel()
        if gone is not None and gone.done():
            raise self._lost("listening")
        return bool(done)

    def _refused(self, condition: str, text: Any) -> ConfigurationError | RetryableError:
        said = f"{printable(condition, 80)}{': ' + printable(text, 200) if text else ''}"
        if condition in ("item-not-found", "remote-server-not-found"):
            return ConfigurationError(self.carrier, f"room {self.s.room} not found ({said})")
        if condition in ("forbidden", "not-authorized", "registration-required", "not-allowed"):
            return ConfigurationError(self.carrier, f"{self.s.room} refused {self.s.jid} ({said})")
        if condition == "feature-not-implemented" or condition == "service-unavailable":
            return ConfigurationError(self.carrier, f"{self.s.room} keeps no archive (MAM) this bot can read ({said})")
        return RetryableError(self.carrier, f"{self.s.room}: {said}")

    def _lost(self, what: str) -> RetryableError:
        why = self.ended()
        return RetryableError(self.carrier, f"{what}: {why}" if why else what)

    async def _await(self, future: asyncio.Future[Any], what: str) -> Any:
        gone = self._gone
        done, _ = await asyncio.wait(
            [future, *([gone] if gone else [])], timeout=self.s.timeout, return_when="FIRST_COMPLETED"
        )
        if future in done:
            return future.result()
        future.cancel()
        why = self.ended() or ""
        if "policy-violation" in why:
            raise ConfigurationError(
                self.carrier, f"{what}: the server refused the stanza's size: lower max_pointer_chars"
            )
        raise self._lost(f"{what}: no answer")

    async def close(self) -> None:
        """End the stream (a polite close, bounded), or drop the connection; then end
        every task slixmpp left on this loop, so the loop closes clean."""
        client, self.client, self.joined = self.client, None, False
        if client is None:
            return
        client.cancel_connection_attempt()
        if client.is_connected():
            try:
                await asyncio.wait_for(client.disconnect(wait=1.0), 3.0)
            except TimeoutError:
                client.abort()
        else:
            client.abort()
        client._run_out_filters = None  # its __del__ would cancel it on the closed loop
        here = asyncio.current_task()
        left = [task for task in asyncio.all_tasks() if task is not here]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)


def _archived(tag: ET.Element) -> Archived:
    forwarded = tag.find(f"{{{_FORWARD}}}forwarded")
    inner = forwarded.find(f"{{{_CLIENT}}}message") if forwarded is not None else None
    delay = forwarded.find(f"{{{_DELAY}}}delay") if forwarded is not None else None
    body = inner.find(f"{{{_CLIENT}}}body") if inner is not None else None
    return Archived(
        tag.get("id") or "",
        body.text if body is not None else None,
        (delay.get("stamp") if delay is not None else None) or "",
    )


def _reason(event: Any) -> str:
    if isinstance(event, ProxyFailed):
        return str(event)  # names the proxy already
    problem = tls_problem(event) if isinstance(event, BaseException) else None
    return problem or (f"{type(event).__name__}: {event}" if isinstance(event, BaseException) else str(event))


assert STANZA_FLOOR_BYTES >= 8_000 + _ENVELOPE + 2 * 700  # the default pointer, a long room name
