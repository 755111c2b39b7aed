"""Sockets through a carrier's SOCKS5 proxy for the libraries that take one (smtplib and
imaplib through :func:`open_socket`, slixmpp through :func:`open_socket_async`), the
proxy resolving the server's name (python-socks with ``rdns``): no lookup of it here.

Every failure to get through is one :class:`ProxyFailed`, whose message names the proxy
and says whether it did not answer at all or could not reach the server; the bridges
make it a :class:`~pointerbridge.bridges.base.RetryableError` ("retry later"). Nothing
here ever connects around the proxy."""

from __future__ import annotations

import asyncio
import socket

from .proxy import Proxy, failure

__all__ = ["ProxyFailed", "open_socket", "open_socket_async"]


class ProxyFailed(ConnectionError):
    """No connection through the proxy: it did not answer, or could not reach the server.
    The message names the proxy."""


def open_socket(proxy: Proxy | None, host: str, port: int, timeout: float) -> socket.socket:
    """A blocking socket to ``host``:``port``: through ``proxy`` when there is one (the
    proxy resolving ``host``), else direct."""
    if proxy is None:
        return socket.create_connection((host, port), timeout)
    from python_socks import ProxyError

    try:
        return proxy.connect(host, port, timeout)
    except (ProxyError, OSError) as exc:  # python-socks' other errors are OSErrors
        raise _failed(proxy, host, port, exc) from None


async def open_socket_async(proxy: Proxy, host: str, port: int, timeout: float) -> socket.socket:
    """A non-blocking socket to ``host``:``port`` through ``proxy`` (which resolves
    ``host``), for ``loop.create_connection(sock=...)``."""
    from python_socks import ProxyError, ProxyType
    from python_socks.async_.asyncio import Proxy as AsyncProxy

    through = AsyncProxy(ProxyType.SOCKS5, proxy.host, proxy.port, rdns=True, loop=asyncio.get_running_loop())
    try:
        return await through.connect(host, port, timeout=timeout)
    except (ProxyError, OSError) as exc:  # python-socks' other errors are OSErrors
        raise _failed(proxy, host, port, exc) from None


def _failed(proxy: Proxy, host: str, port: int, exc: BaseException) -> ProxyFailed:
    return ProxyFailed(failure(proxy, f"{host}:{port}", exc))
