"""A carrier's SOCKS5 proxy: ``proxy = "socks5h://127.0.0.1:9050"`` in its settings sends
all of that carrier's traffic through the proxy (Tor's SOCKS port, or any SOCKS5 server),
names included: the proxy resolves the carrier's host names (the ``h``), so neither the
network nor the carrier's server sees this machine's address or its DNS lookups.

Only ``socks5h://HOST:PORT`` is taken. ``socks5://`` would have names looked up here, in
the open, so it is refused with that reason; the proxy's own host must be an IP address
or ``localhost``, because looking up the proxy's name would itself be a lookup outside
it. No user name or password: they would sit in config.toml in the clear (Tor needs none).

Each bridge hands the proxy to its own library (nio's proxy setting, httpx-socks' transport
for PTB's and the probe's httpx clients, slixmpp's socket, smtplib's and imaplib's socket)
with remote name resolution, always within the carrier's ``timeout``: a proxy that takes
the connection and never answers is "retry later" too. :meth:`Proxy.connect` is the
blocking connection through python-socks for the libraries that take a socket.
When a proxy is set a bridge never connects directly: a proxy that does not answer is a
:class:`~pointerbridge.bridges.base.RetryableError` ("retry later"), like a carrier that
does not."""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import RetryableError

__all__ = ["PROXY_PATTERN", "Proxy", "failure", "parse_proxy", "proxy_check", "unreachable"]

# What a plainly valid proxy looks like (bridges/plain_settings.py); parse_proxy decides.
PROXY_PATTERN = r"socks5h://(localhost|[0-9.]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}\Z"
_FORM = re.compile(r"(?P<scheme>[a-z0-9]+)://(?P<host>\[[^\]]*\]|[^:/\[\]]*):(?P<port>[0-9]{1,5})/?\Z", re.ASCII)


@dataclass(frozen=True, slots=True)
class Proxy:
    """A SOCKS5 proxy that resolves names itself: ``host`` (an IP address or ``localhost``)
    and ``port``."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """The proxy as ``socks5h://HOST:PORT`` (an IPv6 host in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"socks5h://{host}:{self.port}"

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A blocking socket to ``host``:``port`` through the proxy, the proxy resolving
        ``host``. Raises ``OSError`` (python-socks' errors are ``OSError`` or
        ``python_socks.ProxyError``, turned into ``OSError`` here) when the proxy does not
        answer or cannot reach the destination."""
        from python_socks import ProxyError, ProxyType
        from python_socks.sync import Proxy as SyncProxy

        proxy = SyncProxy(ProxyType.SOCKS5, self.host, self.port, rdns=True)
        try:
            sock: socket.socket = proxy.connect(host, port, timeout=timeout)
        except ProxyError as exc:
            raise ConnectionRefusedError(f"the proxy {self.url} could not reach {host}:{port} ({exc})") from None
        sock.settimeout(timeout)
        return sock


def parse_proxy(url: str) -> Proxy:
    """``url`` as a :class:`Proxy`; ``ValueError`` saying what is wrong with it."""
    found = _FORM.match(url)
    if found is None:
        raise ValueError(f"{url!r}: give the proxy as socks5h://HOST:PORT (e.g. socks5h://127.0.0.1:9050)")
    scheme, host, port = found["scheme"], found["host"].strip("[]"), int(found["port"])
    if scheme == "socks5":
        raise ValueError(
            f"{url!r}: use socks5h:// so the proxy resolves names (socks5:// would look them up here, in the open)"
        )
    if scheme != "socks5h":
        raise ValueError(f"{url!r}: only a SOCKS5 proxy is supported: socks5h://HOST:PORT")
    if not 0 < port < 65536:
        raise ValueError(f"{url!r}: the port must be 1-65535")
    if host != "localhost":
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:
            raise ValueError(
                f"{url!r}: give the proxy's IP address (or localhost): looking up its name would go around it"
            ) from None
    return Proxy(host, port)


def proxy_check(value: Any) -> str | None:
    """``value`` kept as it is when it is a valid proxy URL, else None (for the plain path)."""
    if type(value) is not str or not re.match(PROXY_PATTERN, value):
        return None
    try:
        parsed = parse_proxy(value)
    except ValueError:
        return None
    return value if parsed.url == value else None


def unreachable(carrier: str, proxy: Proxy, target: str, exc: BaseException) -> RetryableError:
    """:func:`failure` as the carrier's "retry later": nothing was tried directly."""
    from .base import RetryableError

    return RetryableError(carrier, failure(proxy, target, exc))


def failure(proxy: Proxy, target: str, exc: BaseException) -> str:
    """What a connection to ``target`` through ``proxy`` that failed with ``exc`` was: "the
    proxy does not answer" when reaching the proxy itself failed (python-socks' connection
    errors, or a refused connection anywhere in the chain: through the proxy, a refusal by
    ``target`` comes as the proxy's SOCKS answer, never as the socket's own), "did not
    answer in time" (python-socks' timeout), "no answer ... in time" (another bound: the
    proxy or ``target`` silent), else the proxy could not reach ``target``. Never the error's own text:
    an HTTP library's may carry a URL with a token in it."""
    from python_socks import ProxyConnectionError, ProxyTimeoutError

    from .words import printable

    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 20:  # bounded: a chain may loop
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if any(isinstance(one, ProxyTimeoutError) for one in chain):
        return f"the proxy {proxy.url} did not answer in time"
    if any(isinstance(one, TimeoutError) for one in chain):  # the library's own bound: proxy or server silent
        return f"no answer from {target} through the proxy {proxy.url} in time"
    if any(isinstance(one, ProxyConnectionError) or getattr(one, "errno", None) == errno.ECONNREFUSED for one in chain):
        # The system's words for the socket's own error (asyncio's strerror names the address).
        codes = [one.errno for one in chain if isinstance(one, OSError) and one.errno]
        reason = os.strerror(codes[-1]) if codes else "Connection refused"
        return f"the proxy {proxy.url} does not answer ({printable(reason, 100)})"
    return f"the proxy {proxy.url} could not reach {target} ({type(exc).__name__})"
