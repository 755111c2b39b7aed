"""``pbridge gateway xmpp``: the chats of a home as contacts in the user's own Jabber client.

pbridge connects to a local XMPP server as an external component (XEP-0114, slixmpp's
``ComponentXMPP``) serving a domain of its own (``pbridge.localhost``). Each chat opened
at start is the contact ``NAME@DOMAIN`` (the chat's name, XEP-0106 escaped, lowercased):
the gateway asks the user to add it (a subscription request, with the chat's name as its
nick), grants the user's own request, and shows it online while the gateway runs. What
the user types to a chat's contact is handed to the hub (:mod:`.hub`), which seals it as
the user's identity and posts it; what the hub gives back is sent as a chat message from
that contact (notes about carriers from the domain itself). Replies, corrections and
retractions go both ways (:mod:`.stanzas`: what the client sent is read there, checked;
what the hub gives is written there).

Only the configured user's bare JID is served: a message from anyone else is answered
with a ``not-allowed`` error and dropped, a subscription request refused, a probe
ignored. Every message sent carries XEP-0334 hints (``no-store``, ``no-permanent-store``:
no archive, no offline store; ``no-copy``: no carbons to the user's other clients, each
available resource gets its own) and XEP-0393's ``unstyled`` (a client must not style a
sender's text). A message goes only to a resource the user has online; while none is,
it waits in the gateway's memory (never on the server's offline store)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pointerbridge.core.errors import InvalidInputError
from slixmpp import ComponentXMPP
from slixmpp.jid import JID, InvalidJID
from slixmpp.types import PresenceTypes
from slixmpp.xmlstream import ET

from .errors import GatewayRefusedError, GatewayUnreachableError
from .hub import Outgoing, Typed
from .settings import GatewaySettings
from .stanzas import FEATURES, PLUGINS, add_references, read_incoming

if TYPE_CHECKING:
    from .hub import Hub

__all__ = ["contact_names", "serve"]

_ESCAPES = {c: f"\\{ord(c):02x}" for c in " \"&'/:<>@\\"}  # XEP-0106
_HELD = 1000  # lines kept for the user while no client of theirs is online (the oldest dropped)
_CONNECT_TIMEOUT = 30.0
_HINTS = ("no-store", "no-permanent-store", "no-copy")


def contact_names(chats: dict[int, str], domain: str) -> dict[str, int]:
    """Each chat's contact, by the local part of its JID: its name XEP-0106 escaped and
    lowercased (``chatID`` for a name no JID can hold). Two chats whose names give one
    contact are refused (``InvalidInputError``): open one of them."""
    contacts: dict[str, int] = {}
    for chat_id, name in chats.items():
        local = "".join(_ESCAPES.get(c, c) for c in name).lower()
        try:
            local = JID(f"{local}@{domain}").node
        except InvalidJID:
            local = f"chat{chat_id}"
        if local in contacts:
            raise InvalidInputError(f"chats {name!r} and another open chat are both contact {local}@{domain}")
        contacts[local] = chat_id
    return contacts


def serve(settings: GatewaySettings, hub: Hub, names: dict[int, str], ready: Callable[[], None]) -> None:
    """Run the gateway until SIGINT or SIGTERM: connect, start ``hub``, call ``ready``,
    serve. A component refused by the server is :class:`GatewayRefusedError`, a server
    out of reach at start :class:`GatewayUnreachableError`; a connection lost later is
    made again (the chats stay unlocked meanwhile)."""
    asyncio.run(_serve(settings, hub, names, ready))


async def _serve(settings: GatewaySettings, hub: Hub, names: dict[int, str], ready: Callable[[], None]) -> None:
    component = _Component(settings, hub, names)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, component.ended.set_result, None)
    try:
        await component.start()
        ready()
        await component.ended
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await component.stop()


class _Component(ComponentXMPP):
    """The external component: the user's stanzas in, the hub's lines out."""

    def __init__(self, settings: GatewaySettings, hub: Hub, names: dict[int, str]) -> None:
        super().__init__(settings.domain, settings.secret, settings.host, settings.port)  # type: ignore[no-untyped-call]
        self.settings, self.hub, self.names = settings, hub, names
        self.use_aiodns = False  # the server is an address: aiodns would leave a thread running for good
        self.user = JID(settings.user).bare
        self.contacts = contact_names(names, settings.domain)
        self.jids = {chat_id: f"{local}@{settings.domain}" for local, chat_id in self.contacts.items()}
        self.online: set[str] = set()  # the user's full JIDs known to be available
        self.held: deque[Outgoing] = deque(maxlen=_HELD)
        self.loop = asyncio.get_running_loop()
        self.ended: asyncio.Future[None] = self.loop.create_future()
        self.started: asyncio.Future[None] = self.loop.create_future()
        self.stopping = False
        for plugin in ("xep_0030", "xep_0172", "xep_0334", *PLUGINS):
            self.register_plugin(plugin)
        self.del_event_handler("presence_probe", self._handle_probe)  # its roster would answer "unsubscribed"
        for event, handler in (
            ("session_start", self._session_start),
            ("stream_error", self._stream_error),
            ("connection_failed", self._connection_failed),
            ("disconnected", self._disconnected),
            ("message", self._message),
            ("presence_probe", self._probe),
            ("presence_subscribe", self._subscribe),
            ("presence_unsubscribe", self._unsubscribe),
            ("presence_available", self._available),
            ("presence_unavailable", self._unavailable),
        ):
            self.add_event_handler(event, handler)

    # connecting ------------------------------------------------------------------------

    async def start(self) -> None:
        where = f"{self.settings.host}:{self.settings.port}"
        self.connect()
        try:
            await asyncio.wait_for(asyncio.shield(self.started), _CONNECT_TIMEOUT)
        except TimeoutError:
            raise GatewayUnreachableError(
                f"no answer from the XMPP server at {where} in {_CONNECT_TIMEOUT:.0f} s"
            ) from None
        self.hub.start(self.deliver)

    async def stop(self) -> None:
        self.stopping = True
        if self.started.done() and self.started.exception() is None:
            for jid in self.jids.values():
                self._presence(jid, "unavailable")
            with contextlib.suppress(Exception):  # the connection may be gone already: nothing to close
                await self.disconnect(wait=2.0)
        self.cancel_connection_attempt()
        await asyncio.to_thread(self.hub.stop)

    def _fail(self, error: Exception) -> None:
        self.cancel_connection_attempt()
        if not self.started.done():
            self.started.set_exception(error)
        elif not self.ended.done():
            self.ended.set_exception(error)

    def _session_start(self, _event: object) -> None:
        if not self.started.done():
            self.started.set_result(None)
        for chat_id, jid in self.jids.items():
            for feature in FEATURES:  # what a client looks up before offering replies, corrections, retractions
                self["xep_0030"].add_feature(feature, jid=jid)
            self._presence(jid, "subscribe", nick=self.names[chat_id])
            self._presence(jid, "probe")
            self._presence(jid, None)

    def _stream_error(self, error: Any) -> None:
        condition = error["condition"] or "refused"
        self._fail(
            GatewayRefusedError(
                f"the XMPP server refused component {self.settings.domain} ({condition}): check the component "
                "secret and that the server serves this domain as a component"
            )
        )

    def _connection_failed(self, reason: object) -> None:
        if not self.started.done():
            where = f"{self.settings.host}:{self.settings.port}"
            self._fail(GatewayUnreachableError(f"cannot connect to the XMPP server at {where}: {reason}"))

    def _disconnected(self, _reason: object) -> None:
        self.online.clear()
        if self.started.done() and not self.stopping and not self.ended.done():
            self.connect()  # slixmpp backs off between failed attempts; the chats stay unlocked

    # the user's stanzas ------------------------------------------------------------------

    def _from_user(self, stanza: Any) -> bool:
        return bool(stanza["from"].bare == self.user)

    def _message(self, msg: Any) -> None:
        if msg["type"] not in ("chat", "normal"):
            return
        if not self._from_user(msg):
            self._error(msg, "not-allowed", "this gateway serves its own user only")
            return
        self._came_online(msg["from"].full)
        chat = self.contacts.get(msg["to"].node)
        body = msg["body"]
        if chat is None:
            if msg["to"].node:
                self._error(msg, "item-not-found", "no chat of this name is open in the gateway")
            elif body.strip():
                self.deliver_now(None, self._overview())
            return
        try:
            sent = read_incoming(msg.xml, body)
        except InvalidInputError as exc:
            self.deliver_now(chat, f"({exc}; nothing was sent)")
            return
        if sent.kind != "text" or body:
            self.hub.typed(Typed(chat, sent.text, sent.kind, sent.target, sent.ids))

    def _overview(self) -> str:
        chats = ", ".join(f"{self.names[chat]!r}: {jid}" for chat, jid in sorted(self.jids.items()))
        return f"(pbridge gateway: the chats open are {chats}; write to one to send to it, /help there)"

    def _error(self, msg: Any, condition: str, text: str) -> None:
        reply = msg.reply(clear=True)
        reply["type"] = "error"
        reply["error"]["type"] = "cancel"
        reply["error"]["condition"] = condition
        reply["error"]["text"] = text
        reply.send()

    def _probe(self, pres: Any) -> None:
        if self._from_user(pres) and pres["to"].bare in self.jids.values():
            self._presence(pres["to"].bare, None)

    def _subscribe(self, pres: Any) -> None:
        to = pres["to"].bare
        if not self._from_user(pres) or to not in self.jids.values():
            self._presence(to, "unsubscribed", to=pres["from"].bare)
            return
        self._presence(to, "subscribed")
        self._presence(to, None)
        self._presence(to, "subscribe", nick=self.names[self.contacts[pres["to"].node]])  # to see the user online

    def _unsubscribe(self, pres: Any) -> None:
        self._presence(pres["to"].bare, "unsubscribed", to=pres["from"].bare)

    def _available(self, pres: Any) -> None:
        if self._from_user(pres):
            self._came_online(pres["from"].full)

    def _unavailable(self, pres: Any) -> None:
        if self._from_user(pres):
            self.online.discard(pres["from"].full)

    def _came_online(self, full: str) -> None:
        if full == self.user or full in self.online:
            return
        self.online.add(full)
        while self.held:
            self._send(self.held.popleft())

    # out to the user -------------------------------------------------------------------

    def deliver(self, out: Outgoing) -> None:
        """The hub's callback (on its thread): send ``out`` on the event loop's thread."""
        self.loop.call_soon_threadsafe(self._send, out)

    def deliver_now(self, chat: int | None, body: str) -> None:
        self._send(Outgoing(chat, body))

    def _send(self, out: Outgoing) -> None:
        if not self.online:
            self.held.append(out)
            return
        sender = self.settings.domain if out.chat is None else self.jids[out.chat]
        for full in sorted(self.online):
            msg = self.make_message(mto=full, mfrom=sender, mbody=out.body, mtype="chat")
            add_references(msg, out, sender, self.user)
            for hint in _HINTS:
                msg.enable(hint)
            msg.append(ET.Element("{urn:xmpp:styling:0}unstyled"))
            msg.send()

    def _presence(
        self, sender: str, kind: PresenceTypes | None, *, to: str | None = None, nick: str | None = None
    ) -> None:
        pres = self.make_presence(pto=to or self.user, pfrom=sender, ptype=kind)
        if nick is not None:
            pres["nick"]["nick"] = nick
        if kind is None:
            pres["status"] = "pbridge chat, open in the gateway"
        pres.send()
