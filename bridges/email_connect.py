"""The e-mail carrier's SMTP client and its small helpers: smtplib's client whose socket
comes from the carrier's proxy when one is set (bridges/proxied.py), STARTTLS and
implicit TLS then wrapped by smtplib over the proxied socket with the server's name as
``server_hostname``, as without a proxy. (The IMAP client's proxy is in
``email_blobs.BoundedImap``.)"""

from __future__ import annotations

import imaplib
import smtplib
import socket
import ssl
from collections.abc import Callable
from typing import Any, cast

from .base import printable
from .proxied import open_socket
from .proxy import Proxy

__all__ = ["HIDDEN_NAME", "ProxiedSmtp", "ProxiedSmtpTls", "log_in", "release", "said", "who"]

# What EHLO names this machine as behind a proxy: smtplib's default is this machine's own
# fully qualified name (found by a lookup here), which would tell the server who it is.
HIDDEN_NAME = "[127.0.0.1]"


class ProxiedSmtp(smtplib.SMTP):
    """smtplib's client, connecting through ``proxy`` when one is given (and then naming
    itself :data:`HIDDEN_NAME` in EHLO)."""

    proxy: Proxy | None = None

    def __init__(self, host: str, port: int, *, proxy: Proxy | None, timeout: float) -> None:
        """Connect to ``host``:``port`` (through ``proxy``) and read the greeting."""
        self.proxy = proxy
        super().__init__(host, port, local_hostname=HIDDEN_NAME if proxy else None, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        """smtplib's connection step: through the proxy, never around it, when one is set."""
        if self.proxy is None:
            return cast(socket.socket, super()._get_socket(host, port, timeout))  # type: ignore[misc]  # unstubbed
        return open_socket(self.proxy, host, port, timeout)


class ProxiedSmtpTls(smtplib.SMTP_SSL, ProxiedSmtp):
    """:class:`ProxiedSmtp` over implicit TLS (SMTP_SSL wraps the socket ProxiedSmtp opens)."""

    def __init__(self, host: str, port: int, *, proxy: Proxy | None, timeout: float, context: ssl.SSLContext) -> None:
        """Connect over TLS to ``host``:``port`` (through ``proxy``) and read the greeting."""
        self.proxy = proxy
        super().__init__(host, port, local_hostname=HIDDEN_NAME if proxy else None, timeout=timeout, context=context)


def release(end: Callable[[], Any]) -> None:
    """End a session that may be broken already: then there is nothing left to end, and
    the error says nothing the poll or post that broke it has not said."""
    try:
        end()
    except (imaplib.IMAP4.error, smtplib.SMTPException, OSError, EOFError):
        return


def who(refused: dict[str, Any]) -> str:
    """The refused addresses, for a message."""
    return printable(", ".join(refused), 200)


def said(answer: bytes | str) -> str:
    """A server's answer, for a message."""
    return printable(answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer, 200)


def log_in(client: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH PLAIN where offered (one attempt, so a wrong password is told as such; ``login``
    would try each mechanism in turn, and servers hang up after the second failure)."""
    if "PLAIN" in client.esmtp_features.get("auth", "").upper().split():
        client.user, client.password = username, password
        client.auth("PLAIN", client.auth_plain)
    else:
        client.login(username, password)
