"""A user's Jabber client for the gateway's tests: slixmpp's ``ClientXMPP`` on a thread and
event loop of its own, logged into a local server over plain TCP on 127.0.0.1 (SCRAM, no
TLS), keeping every message and presence it receives for the test to wait on. It sends
as real clients do: an id and origin-id (XEP-0359) on each message, corrections
(XEP-0308), retractions (XEP-0424, with their fallback body and store hint) and replies
(XEP-0461, the quote before the answer marked as a XEP-0428 fallback), by slixmpp's plugins."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from helpers import wait_for


@dataclass(frozen=True)
class Received:
    """A message stanza as the client got it."""

    sender: str  # the bare JID
    kind: str  # chat, error, ...
    body: str
    hints: frozenset[str]  # XEP-0334 hints it carried
    unstyled: bool  # XEP-0393's <unstyled/>
    error: str  # an error's condition ("" for none)
    id: str = ""  # its id attribute
    origin_id: str = ""  # XEP-0359
    replaces: str = ""  # XEP-0308: the id it corrects
    retracts: str = ""  # XEP-0424: the id it retracts
    reply_to: str = ""  # XEP-0461: the id it answers ...
    reply_to_jid: str = ""  # ... and whose that is
    text: str = ""  # the body without a reply's fallback quote (as a XEP-0461 client shows it)


class JabberClient:
    """A logged-in client: :meth:`say` sends, :attr:`messages` and :attr:`presences`
    fill as stanzas arrive; :meth:`close` logs out."""

    def __init__(self, jid: str, password: str, port: int) -> None:
        self.jid = jid
        self.messages: list[Received] = []
        self.presences: list[tuple[str, str]] = []  # (bare sender, type)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(password, port), daemon=True)
        self._thread.start()
        wait_for(self._ready.is_set, f"{jid} logged in")

    def _run(self, password: str, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        from slixmpp import ClientXMPP

        client = ClientXMPP(self.jid, password)
        client.loop = self._loop
        client.use_aiodns = False  # aiodns leaves a thread for good: the worker's later reads would not fork
        client.enable_starttls = False
        client.enable_direct_tls = False
        client.enable_plaintext = True  # 127.0.0.1 only: the test server has no certificate
        client.auto_authorize = True
        client.auto_subscribe = True
        for plugin in ("xep_0334", "xep_0308", "xep_0359", "xep_0424", "xep_0428", "xep_0461"):
            client.register_plugin(plugin)
        client.plugin["feature_mechanisms"].unencrypted_plain = True
        client.add_event_handler("session_start", self._started)
        client.add_event_handler("message", self._message)
        client.add_event_handler("message_error", self._message)
        client.add_event_handler("presence", self._presence)
        self.client = client
        client.connect("127.0.0.1", port)
        self._loop.run_forever()

    async def _started(self, _event: Any) -> None:
        self.client.send_presence()
        await self.client.get_roster()
        self._ready.set()

    def _message(self, msg: Any) -> None:
        hints = frozenset(
            h
            for h in ("no-store", "no-permanent-store", "no-copy", "store")
            if msg.xml.find(f"{{urn:xmpp:hints}}{h}") is not None
        )
        unstyled = msg.xml.find("{urn:xmpp:styling:0}unstyled") is not None
        error = msg["error"]["condition"] if msg["type"] == "error" else ""

        def attribute(tag: str, name: str = "id") -> str:
            element = msg.xml.find(tag)
            return element.get(name, "") if element is not None else ""

        reply = "{urn:xmpp:reply:0}reply"
        self.messages.append(
            Received(
                msg["from"].bare,
                msg["type"],
                msg["body"],
                hints,
                unstyled,
                error or "",
                id=msg["id"],
                origin_id=attribute("{urn:xmpp:sid:0}origin-id"),
                replaces=attribute("{urn:xmpp:message-correct:0}replace"),
                retracts=attribute("{urn:xmpp:message-retract:1}retract"),
                reply_to=attribute(reply),
                reply_to_jid=attribute(reply, "to"),
                text=msg["reply"].strip_fallback_content() if msg.xml.find(reply) is not None else msg["body"],
            )
        )

    def _presence(self, pres: Any) -> None:
        self.presences.append((pres["from"].bare, pres["type"]))

    def say(self, to: str, body: str) -> str:
        """Send a chat message to ``to``; its id (also its origin-id)."""
        return self._send(self.client.make_message(mto=to, mbody=body, mtype="chat"))

    def correct(self, to: str, replaced: str, body: str) -> str:
        """Send ``body`` as a correction (XEP-0308) of the message ``replaced``."""
        return self._send(self.client.plugin["xep_0308"].build_correction(replaced, to, mbody=body))

    def reply(self, to: str, answered: str, body: str, quote: str, nick: str) -> str:
        """Answer the message ``answered`` (XEP-0461), ``quote`` from ``nick`` before it."""
        reply = self.client.plugin["xep_0461"].make_reply(to, answered, quote, nick, mto=to, mbody=body, mtype="chat")
        return self._send(reply)

    def retract(self, to: str, retracted: str) -> None:
        """Retract the message ``retracted`` (XEP-0424), with slixmpp's fallback body."""
        self._loop.call_soon_threadsafe(lambda: self.client.plugin["xep_0424"].send_retraction(to, retracted))

    def retract_fastened(self, to: str, retracted: str) -> None:
        """Retract ``retracted`` in XEP-0424's older form, fastened (XEP-0422), as clients of
        2020-2023 do (slixmpp has no plugin for it)."""
        from slixmpp.xmlstream import ET

        msg = self.client.make_message(mto=to, mbody="retracted", mtype="chat")
        fastened = ET.SubElement(msg.xml, "{urn:xmpp:fasten:0}apply-to", {"id": retracted})
        ET.SubElement(fastened, "{urn:xmpp:message-retract:0}retract")
        self._send(msg)

    def features(self, jid: str) -> set[str]:
        """The features ``jid`` announces (XEP-0030 disco#info), as a client asks before
        offering replies, corrections and retractions."""
        asked = asyncio.run_coroutine_threadsafe(self.client.plugin["xep_0030"].get_info(jid=jid), self._loop)
        return set(asked.result(10)["disco_info"]["features"])

    def _send(self, msg: Any) -> str:
        sent = str(uuid.uuid4())
        msg["id"] = sent
        msg["origin_id"]["id"] = sent
        self._loop.call_soon_threadsafe(msg.send)
        return sent

    def subscribe(self, to: str) -> None:
        """Ask to see ``to``'s presence (add it as a contact)."""
        self._loop.call_soon_threadsafe(lambda: self.client.send_presence_subscription(pto=to))

    def close(self) -> None:
        """Log out and end the client's thread."""

        async def leave() -> None:
            await self.client.disconnect()
            # Its output task, cancelled here: slixmpp's __del__ would cancel it on a closed loop.
            filters, self.client._run_out_filters = self.client._run_out_filters, None
            if filters is not None:
                filters.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await filters
            self._loop.stop()

        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(leave()))
        self._thread.join(10)
        self._loop.close()
