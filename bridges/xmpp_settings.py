"""The XMPP carrier's settings: the bot's account, the group chat (MUC) it posts in, how
to reach the server (TLS by default: STARTTLS on 5222 or direct TLS on 5223; plaintext
only to a loopback address), and the longest pointer one message carries."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from pointerbridge.core.limits import MAX_POINTER_CHARS
from pydantic import Field, model_validator

from .network_settings import NetworkSettings, on_this_machine

__all__ = ["DEFAULT_POINTER_CHARS", "STANZA_FLOOR_BYTES", "Security", "XmppSettings"]

# RFC 6120 section 13.12 has every server take stanzas of at least 10,000 bytes; many
# take more (Prosody 256 KiB, ejabberd 64 KiB) but few say so (XEP-0478, Prosody 13).
# A pointer is ASCII, one byte a character; the rest of the message (the room's JID
# twice over, ids, the hint) stays under 2,000 bytes for any room name a person picks.
STANZA_FLOOR_BYTES = 10_000
DEFAULT_POINTER_CHARS = 8_000
_BARE_JID = r"^[^@/\s\"'<>&]{1,1023}@[^@/\s\"'<>&]{1,1023}$"
Security = Literal["starttls", "tls", "none"]


class XmppSettings(NetworkSettings):
    """An XMPP carrier's settings (config.toml), checked before anything connects."""

    credential_fields = ("password_env", "password_file")

    jid: str = Field(pattern=_BARE_JID)  # the bot's own account, bot@example.org
    password_env: str | None = None  # the name of an environment variable holding the password
    password_file: Path | None = None  # or a 0600 file holding it
    room: str = Field(pattern=_BARE_JID)  # the group chat, room@conference.example.org
    nick: str | None = Field(default=None, pattern=r"^[^\s\x00-\x1f\x7f]([^\x00-\x1f\x7f]{0,62}[^\s\x00-\x1f\x7f])?$")
    host: str | None = Field(default=None, min_length=1, pattern=r"^[\x21-\x7e]+$")  # none: the JID's domain (SRV)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Security = "starttls"
    tls_ca_file: Path | None = None  # trust this CA too (a server with a certificate of its own)
    start: Literal["history", "now"] = "history"  # where a first poll (no cursor) begins
    max_pointer_chars: int = Field(default=DEFAULT_POINTER_CHARS, ge=1000, le=MAX_POINTER_CHARS)
    post_interval: float = Field(default=0.0, ge=0, le=60)  # seconds between posts, for a strict server

    @model_validator(mode="after")
    def _plaintext_only_here(self) -> XmppSettings:
        if self.security == "none" and not on_this_machine(self.server(), self.proxy):
            raise ValueError(
                f"security = 'none' sends the password and the pointers in clear: only to 127.0.0.1, and not "
                f"through a proxy on another machine (the server here is {self.server()}; use starttls or tls)"
            )
        if self.proxy is not None and self.host is None:
            raise ValueError(
                "a proxy needs host (the server's name: the JID's domain, or what its SRV record names): "
                "finding the server by an SRV lookup would ask DNS outside the proxy"
            )
        return self

    @property
    def domain(self) -> str:
        """The account's server, the domain part of the JID."""
        return self.jid.partition("@")[2]

    @property
    def nickname(self) -> str:
        """The bot's name in the room: ``nick``, else the account's local part."""
        return self.nick or self.jid.partition("@")[0]

    def server(self) -> str:
        """Where to connect: ``host``, else the JID's domain."""
        return self.host or self.domain

    def tls(self) -> ssl.SSLContext:
        """The system's trusted CAs, and ``tls_ca_file`` where given."""
        context = ssl.create_default_context()
        if self.tls_ca_file is not None:
            context.load_verify_locations(cafile=str(self.tls_ca_file))
        return context
