"""What ``pbridge gateway xmpp`` is given: the server's address (on this machine unless the
user says otherwise: the component stream is not encrypted), the user's bare JID, and the
component secret, by reference only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pointerbridge.bridges.credentials import UnusableReferenceError, read_reference
from pointerbridge.bridges.network_settings import loopback
from pointerbridge.core.errors import InvalidInputError
from slixmpp.jid import JID, InvalidJID

from .errors import ComponentSecretError

__all__ = ["GatewaySettings", "bare_jid", "read_component_secret", "server_address"]


@dataclass(frozen=True)
class GatewaySettings:
    """Where the gateway connects and whom it serves. ``secret``: the component secret
    (given by reference: :func:`read_component_secret`)."""

    host: str
    port: int
    domain: str
    user: str
    secret: str = field(repr=False)


def read_component_secret(env_var: str | None, path: Path | None) -> str:
    """The component secret: the value of ``env_var``, else the stripped text of ``path``,
    a file its owner alone may read. :class:`ComponentSecretError` if it gives none."""
    if env_var is None and path is None:
        raise ComponentSecretError("give the component secret by reference: --secret-file or --secret-env")
    try:
        secret, where = read_reference(env_var, path)
    except UnusableReferenceError as exc:
        raise ComponentSecretError(str(exc)) from None
    if not secret.strip():
        raise ComponentSecretError(f"{where} holds no component secret")
    return secret.strip()


def server_address(server: str, remote_ok: bool) -> tuple[str, int]:
    """``HOST:PORT`` as its host and port; :class:`InvalidInputError` for anything else,
    and for a host not on this machine unless ``remote_ok``: XEP-0114's stream carries
    every message in clear."""
    host, _, port = server.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInputError(f"--server {server!r}: give HOST:PORT")
    if not remote_ok and not loopback(host):
        raise InvalidInputError(
            f"--server {server}: not on this machine, and the component stream is not encrypted: run the XMPP "
            "server here, or pass --remote-server-ok"
        )
    return host, int(port)


def bare_jid(user: str) -> str:
    """``user`` as a bare JID (``user@server``); :class:`InvalidInputError` if it is none."""
    try:
        jid = JID(user)
    except InvalidJID:
        raise InvalidInputError(f"--user {user!r} is not a JID") from None
    if not jid.node or jid.resource:
        raise InvalidInputError(f"--user {user!r}: give your bare JID, user@server")
    return str(jid.bare)
