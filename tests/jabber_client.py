"""A user's Jabber client for the gateway's tests: slixmpp's ``ClientXMPP`` on a thread and
event loop of its own, logged into a local server over plain TCP on 127.0.0.1 (SCRAM, no
TLS), keeping every message and presence it receives for the test to wait on."""

from __future__ import annotations

import asyncio
import contextlib
import threading
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
        client.register_plugin("xep_0334")
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
        self.messages.append(Received(msg["from"].bare, msg["type"], msg["body"], hints, unstyled, error or ""))

    def _presence(self, pres: Any) -> None:
        self.presences.append((pres["from"].bare, pres["type"]))

    def say(self, to: str, body: str) -> None:
        """Send a chat message to ``to``."""
        self._loop.call_soon_threadsafe(lambda: self.client.send_message(mto=to, mbody=body, mtype="chat"))

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
