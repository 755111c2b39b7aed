"""slixmpp's client with every connection through the carrier's SOCKS5 proxy (slixmpp has
no proxy support of its own: it opens its connections with ``loop.create_connection``).

The one step slixmpp takes to open a connection, ``_attempt_connection(host, port, tls,
server_hostname)``, is replaced by the same step over a socket from python-socks' asyncio
client (the proxy resolving ``host``): ``loop.create_connection(sock=...)``, with direct
TLS wrapped over it for the JID's domain as slixmpp does, and STARTTLS later over the
same transport. The SRV lookup is never made (it is DNS outside the proxy): the settings
refuse a proxy without ``host``, and :meth:`ProxiedClient.get_dns_records` answers
nothing, so even a client told to look would connect to the JID's domain through the
proxy. A proxy that does not answer is slixmpp's ``connection_failed`` event, with a
:class:`~pointerbridge.bridges.proxied.ProxyFailed` naming the proxy."""

from __future__ import annotations

from typing import Any

import slixmpp

from .proxied import ProxyFailed, open_socket_async
from .proxy import Proxy

__all__ = ["ProxiedClient"]


class ProxiedClient(slixmpp.ClientXMPP):
    """slixmpp's client connecting only through ``proxy``, ``timeout`` seconds to get through."""

    def __init__(self, jid: str, password: str, proxy: Proxy, timeout: float) -> None:
        """As ``slixmpp.ClientXMPP``; nothing connects until ``connect``."""
        super().__init__(jid, password)
        self.proxy, self.proxy_timeout = proxy, timeout
        self.use_aiodns = False

    async def get_dns_records(self, domain: str, port: int | None = None) -> list[Any]:
        """No SRV lookup (it would go around the proxy): slixmpp then tries the domain itself."""
        return []

    async def _attempt_connection(self, host: str, port: int, tls: bool, server_hostname: str | None) -> bool:
        """slixmpp's connection step over a socket from the proxy; False (and the
        ``connection_failed`` event) when there is no getting through."""
        self.event_when_connected = "connected"
        self._connect_loop_wait += 1
        if self._current_connection_attempt is None:
            return False
        try:
            sock = await open_socket_async(self.proxy, host, port, self.proxy_timeout)
        except ProxyFailed as exc:
            self.event("connection_failed", exc)
            return False
        try:
            await self.loop.create_connection(
                lambda: self, sock=sock, ssl=self.get_ssl_context() if tls else None, server_hostname=server_hostname
            )
        except OSError as exc:  # a TLS failure included (ssl.SSLError)
            sock.close()
            self.event("connection_failed", exc)
            return False
        self._connect_loop_wait = 0
        return True
