"""The e-mail carrier's settings: who the members are, the two servers and how to reach
them (TLS by default; plaintext only to a loopback address), and what to do with mails read."""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Any, Literal

from pointerbridge.core.limits import MAX_POINTER_CHARS
from pydantic import Field, field_validator, model_validator

from .base import NetworkSettings, printable
from .network_settings import on_this_machine

__all__ = ["EmailSettings", "Security", "tls_problem"]

_PORTS = {"imap": {"tls": 993, "starttls": 143, "none": 143}, "smtp": {"tls": 465, "starttls": 587, "none": 25}}
_ADDRESS = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+")
Security = Literal["tls", "starttls", "none"]


class EmailSettings(NetworkSettings):
    """An e-mail carrier's settings (config.toml), checked before anything connects."""

    credential_fields = ("password_env", "password_file")

    address: str  # this member's own address: the mails' From, never sent to
    to: list[str] = Field(min_length=1)  # every member's address (the sender's own is skipped)
    username: str = Field(min_length=1, pattern=r"^[\x21-\x7e]+$")  # the mailbox login (IMAP LOGIN: ASCII)
    password_env: str | None = None  # the name of an environment variable holding the password
    password_file: Path | None = None  # or a 0600 file holding it
    imap_host: str = Field(min_length=1)
    imap_port: int | None = Field(default=None, ge=1, le=65535)
    imap_security: Security = "tls"
    smtp_host: str = Field(min_length=1)
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: Security = "starttls"
    folder: str = Field(default="INBOX", pattern=r"^[\x20-\x7e]{1,200}$")  # ASCII: no modified UTF-7 here
    after: Literal["keep", "seen", "move"] = "keep"
    move_to: str | None = Field(default=None, pattern=r"^[\x20-\x7e]{1,200}$")
    subject: str = Field(default="Pointer Bridge", max_length=200, pattern=r"^[\x20-\x7e]*$")
    max_pointer_chars: int = Field(default=MAX_POINTER_CHARS, ge=1000, le=MAX_POINTER_CHARS)
    max_mail_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)  # larger: not read
    # The largest blob (an attachment's encrypted file) mailed: base64 makes 18 MB 24.6 MB, under
    # the common 25 MB cap on a mail (0: this carrier keeps no files).
    max_blob_bytes: int = Field(default=18_000_000, ge=0, le=64 * 1024 * 1024)
    tls_ca_file: Path | None = None  # trust this CA too (a server with a certificate of its own)
    post_interval: float = Field(default=0.0, ge=0, le=60)  # seconds between mails, for a strict provider

    @field_validator("to", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return [a.strip() for a in value.split(",") if a.strip()] if isinstance(value, str) else value

    @field_validator("address", "to")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        for address in [value] if isinstance(value, str) else value:
            if not _ADDRESS.fullmatch(address):
                raise ValueError(f"{printable(address, 80)!r} is not a plain address like name@example.org")
        return value

    @model_validator(mode="after")
    def _plaintext_only_here(self) -> EmailSettings:
        for service in ("imap", "smtp"):
            here = on_this_machine(getattr(self, f"{service}_host"), self.proxy)
            if getattr(self, f"{service}_security") == "none" and not here:
                raise ValueError(
                    f"{service}_security = 'none' sends the password in clear: only to 127.0.0.1, and not through a "
                    "proxy on another machine"
                )
        if self.after == "move" and not self.move_to:
            raise ValueError("after = 'move' needs move_to, the folder to move read mails to")
        if self.after == "move" and self.move_to == self.folder:
            raise ValueError("move_to is the folder read: moved mails would be read again")
        if all(a.lower() == self.address.lower() for a in self.to):
            raise ValueError("'to' lists nobody but this member's own address")
        return self

    def tls(self) -> ssl.SSLContext:
        """The system's trusted CAs, and ``tls_ca_file`` where given."""
        context = ssl.create_default_context()
        if self.tls_ca_file is not None:
            context.load_verify_locations(cafile=str(self.tls_ca_file))
        return context

    def port(self, service: str) -> int:
        explicit: int | None = getattr(self, f"{service}_port")
        return explicit or _PORTS[service][getattr(self, f"{service}_security")]


def tls_problem(exc: BaseException) -> str | None:
    """What a TLS failure means for the user, or None for another error: a certificate
    that does not verify, or TLS spoken to a port that does not (a setting to fix)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the certificate does not verify ({exc.verify_message}; a server's own CA: tls_ca_file)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or type(exc).__name__}): check the port and the *_security setting"
    return None
