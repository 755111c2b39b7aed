"""E-mail as carrier: SMTP to send, IMAP to poll one folder of the user's own mailbox.

Why the standard library (``smtplib``, ``imaplib``): the contract is synchronous and a
poll is a handful of commands (LOGIN, SELECT, UID SEARCH, UID FETCH, LOGOUT), which
``imaplib`` sends exactly as written, so the cost of an idle poll is known and counted
(four commands: CAPABILITY, LOGIN, EXAMINE, LOGOUT). ``imapclient`` would parse FETCH answers more kindly but adds a
dependency for that alone; the async libraries would add an event loop to a cron job.
Both libraries speak STARTTLS and implicit TLS with ``ssl.create_default_context()``;
plaintext is refused except to a loopback address (tests, a local relay).

- **Topology.** Every member lists all members' addresses in ``to`` (the same list for
  everyone, so an invite can carry it); a post goes to all of them but the sender's own
  ``address``. One pointer per mail, lines wrapped at 76 characters, a neutral subject
  and an ``X-Pointer-Bridge: 1`` header for filters; the Message-ID is derived from the
  pointer, so it is also the reference a poll reports.
- **Cursor.** ``{"uidvalidity": V, "uid": last UID read, "pending": [UIDs with pointers]}``.
  A changed UIDVALIDITY voids every UID: the whole folder is read again (the store drops
  what it has). UIDNEXT from SELECT answers an idle poll without a search.
- **After reading.** ``after = "seen"`` or ``"move"`` marks or moves mails that carried
  pointers, but only on the poll after the one that read them: by then the app has stored
  their pointers and saved the cursor, so a crash never moves a mail nobody stored.
- **Finding pointers.** Every text part (plain, HTML, attachments, forwarded messages),
  quoted-printable or base64, any charset; HTML is reduced to its text, so a pointer
  quoted in an HTML reply (``&gt; pb1...``) is found.
"""

from __future__ import annotations

import hashlib
import imaplib
import ipaddress
import json
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from email.errors import MessageError
from email.message import EmailMessage, Message
from email.utils import formatdate
from html import unescape
from pathlib import Path
from typing import Any, Literal

from pointerbridge.core.armor import MAX_POINTER_CHARS
from pointerbridge.core.errors import TooLargeError
from pydantic import Field, field_validator, model_validator

from .base import (
    Bridge,
    BridgeError,
    ConfigurationError,
    Finding,
    NetworkSettings,
    PollResult,
    RetryableError,
    extract,
    json_cursor,
    printable,
    read_credential,
)

__all__ = ["EmailBridge"]

HEADER = "X-Pointer-Bridge"
_BATCH = 200  # mails read per poll; the app polls again while there are more
_FETCH_CHUNK = 100  # light mails per UID FETCH; heavier ones one at a time
_LIGHT = 256 * 1024  # bytes: a FETCH of _FETCH_CHUNK light mails stays under 26 MB
_WINDOW = 20_000  # UIDs per UID SEARCH: an answer line stays far below imaplib's 1 MB limit
_PARTS = 500  # MIME parts read per mail, at most
# The email package's own failures on hostile mails (bad headers, deep nesting, odd
# charsets): such a mail is noted and passed over, never the end of the poll.
_UNPARSABLE = (MessageError, ValueError, LookupError, IndexError, TypeError, AttributeError, NameError, RecursionError)
_LOGIN_LATER = ("[UNAVAILABLE]", "[INUSE]", "[SERVERBUG]", "[LIMIT]")  # RFC 5530: try again, change nothing
_LINE = 76
_PORTS = {"imap": {"tls": 993, "starttls": 143, "none": 143}, "smtp": {"tls": 465, "starttls": 587, "none": 25}}
_ADDRESS = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+")
_UID = re.compile(rb"UID (\d+)")
Security = Literal["tls", "starttls", "none"]


class _Settings(NetworkSettings):
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
    def _plaintext_only_here(self) -> _Settings:
        for service in ("imap", "smtp"):
            if getattr(self, f"{service}_security") == "none" and not _loopback(getattr(self, f"{service}_host")):
                raise ValueError(f"{service}_security = 'none' sends the password in clear: only to 127.0.0.1")
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


class EmailBridge(Bridge):
    """One folder of this member's mailbox, and SMTP to every other member."""

    carrier_type = "email"
    Settings = _Settings
    shareable_settings = ("to", "max_pointer_chars")
    setup_hint = (
        "add your own mailbox first: pbridge carrier add {name} --type email --set address=YOU@EXAMPLE.ORG "
        "--set to={to} --set username=LOGIN --set password_env=VAR --set imap_host=HOST --set smtp_host=HOST"
    )

    def __init__(self, name: str, settings: Any) -> None:
        """Use :meth:`from_config`. Connections open on first use and last until :meth:`close`."""
        super().__init__(name, settings)
        self._smtp: smtplib.SMTP | None = None
        self._imap: imaplib.IMAP4 | None = None
        self._password: str | None = None
        self._refused: dict[str, str] = {}  # address -> the SMTP answer, told by the next poll
        self._capabilities: set[str] = set()

    @classmethod
    def same_place(cls, mine: dict[str, Any], shared: dict[str, Any]) -> bool:
        """The same members' addresses."""

        def members(settings: dict[str, Any]) -> set[str]:
            value = settings.get("to") or []
            return {a.strip().lower() for a in (value.split(",") if isinstance(value, str) else value)}

        return bool(members(mine)) and members(mine) == members(shared)

    @property
    def _s(self) -> _Settings:
        settings: _Settings = self.settings  # type: ignore[assignment]
        return settings

    # -- posting ------------------------------------------------------------------------------

    def post(self, pointer: str) -> str:
        """Mail the pointer to every member but this one; return its Message-ID.

        A server refusing some recipients for good (5xx) while taking the rest counts as
        posted (resending would only repeat it to the others) and the next poll says who;
        a temporary refusal (4xx) of anyone is retried, the others' stores drop the repeat."""
        recipients = [a for a in self._s.to if a.lower() != self._s.address.lower()]
        mail = _mail(pointer, self._s, recipients)
        try:
            refused = self._smtp_client().send_message(mail, self._s.address, recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
            if all(500 <= code < 600 for code, _ in refused.values()):
                raise ConfigurationError(self.name, f"the SMTP server refused all of {_who(refused)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop_smtp()
            raise self._smtp_error(exc, "sending") from None
        if any(code < 500 for code, _ in refused.values()):
            raise RetryableError(self.name, f"the SMTP server deferred {_who(refused)}")
        self._refused.update({a: _said(answer) for a, (_, answer) in refused.items()})
        return str(mail["Message-ID"])

    def _smtp_client(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        s = self._s
        client: smtplib.SMTP | None = None
        try:
            if s.smtp_security == "tls":
                client = smtplib.SMTP_SSL(s.smtp_host, s.port("smtp"), timeout=s.timeout, context=s.tls())
            else:
                client = smtplib.SMTP(s.smtp_host, s.port("smtp"), timeout=s.timeout)
                if s.smtp_security == "starttls":
                    client.starttls(context=s.tls())
            client.ehlo_or_helo_if_needed()
            if client.has_extn("auth"):
                _log_in(client, s.username, self._secret())
        except (smtplib.SMTPException, OSError) as exc:
            if client is not None:
                _release(client.close)
            raise self._smtp_error(exc, "connecting") from None
        except BaseException:
            if client is not None:
                _release(client.close)
            raise
        self._smtp = client
        return client

    def _smtp_error(self, exc: Exception, doing: str) -> Exception:
        where = f"SMTP {self._s.smtp_host}:{self._s.port('smtp')}"
        if isinstance(exc, smtplib.SMTPAuthenticationError) and 500 <= exc.smtp_code < 600:
            return ConfigurationError(self.name, f"{where} refused the login of {self._s.username!r}")
        tls = _tls_problem(exc)
        if tls is not None:
            return ConfigurationError(self.name, f"{where}: {tls}")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return ConfigurationError(self.name, f"{where} does not offer STARTTLS (set smtp_security)")
        if isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600:
            return ConfigurationError(self.name, f"{where} refused {doing}: {exc.smtp_code} {_said(exc.smtp_error)}")
        return RetryableError(self.name, f"{where} unavailable while {doing} ({type(exc).__name__})")

    def _drop_smtp(self) -> None:
        client, self._smtp = self._smtp, None
        if client is not None:
            _release(client.close)

    # -- polling ------------------------------------------------------------------------------

    def poll(self, cursor: str | None) -> PollResult:
        """Mails that arrived in the folder since ``cursor``, at most ``_BATCH`` of them."""
        try:
            result = self._poll(self._imap_client(), json_cursor(cursor))
        except (imaplib.IMAP4.error, OSError, EOFError) as exc:
            self._drop_imap()
            raise self._imap_error(exc) from None
        if self._refused:
            result.notes.append(f"the SMTP server refused {_who(self._refused)} (the others got the mails)")
            self._refused = {}
        return result

    def _poll(self, imap: imaplib.IMAP4, state: dict[str, Any]) -> PollResult:
        validity, next_uid = self._select(imap, writable=self._s.after != "keep")
        result = PollResult([], "")
        last, pending = _count(state.get("uid")), [u for u in state.get("pending", []) if isinstance(u, int)]
        if state.get("uidvalidity") != validity:
            if "uidvalidity" in state:
                result.notes.append("the folder's UIDVALIDITY changed: reading all of it again")
            last, pending = 0, []
        if pending and self._s.after != "keep":
            self._finish(imap, pending)
        new = self._new(imap, last, next_uid) if next_uid is None or next_uid > last + 1 else []
        batch = new[:_BATCH]
        carried = self._read(imap, batch, result)
        result.more = len(new) > len(batch)
        # Past mails removed since (UIDNEXT above the newest left): an idle poll stays a select.
        top = batch[-1] if batch else max(last, (next_uid or 1) - 1)
        state = {"uidvalidity": validity, "uid": top, "pending": carried if self._s.after != "keep" else []}
        result.cursor = json.dumps(state, sort_keys=True)
        return result

    def _new(self, imap: imaplib.IMAP4, last: int, next_uid: int | None) -> list[int]:
        """UIDs above ``last``, oldest first, searched in windows (a folder of 150,000
        mails answers one line too long for imaplib) until one more than a batch is known."""
        if next_uid is None:  # a server that does not say: one search to the end
            return sorted(u for u in _uids(imap.uid("SEARCH", f"UID {last + 1}:*")) if u > last)
        found: list[int] = []
        for start in range(last + 1, next_uid, _WINDOW):
            end = min(start + _WINDOW - 1, next_uid - 1)
            found += sorted(u for u in _uids(imap.uid("SEARCH", f"UID {start}:{end}")) if start <= u <= end)
            if len(found) > _BATCH:
                break
        return found

    def _select(self, imap: imaplib.IMAP4, *, writable: bool) -> tuple[int, int | None]:
        typ, data = imap.select(_quoted(self._s.folder), readonly=not writable)
        if typ == "OK" and writable and imap.untagged_responses.get("READ-ONLY"):
            raise ConfigurationError(self.name, f"folder {self._s.folder!r} is read-only: after = 'keep' reads it")
        if typ != "OK":
            raise ConfigurationError(self.name, f"no folder {self._s.folder!r} ({printable(_text(data), 200)})")
        validity = _first_int(imap.response("UIDVALIDITY")[1])
        if validity is None:
            raise RetryableError(self.name, "the IMAP server gave no UIDVALIDITY")
        return validity, _first_int(imap.response("UIDNEXT")[1])

    def _read(self, imap: imaplib.IMAP4, uids: list[int], result: PollResult) -> list[int]:
        """Fetch and scan ``uids``: light mails a hundred at a time, heavier ones one by one,
        those over ``max_mail_bytes`` only noted. Return the UIDs whose mails carried pointers."""
        if not uids:
            return []
        span = f"UID {uids[0]}:{uids[-1]}"
        wanted = set(_uids(imap.uid("SEARCH", f"{span} SMALLER {self._s.max_mail_bytes + 1}")))
        light = set(_uids(imap.uid("SEARCH", f"{span} SMALLER {_LIGHT}"))) & wanted
        for uid in uids:
            if uid not in wanted:
                result.items += 1
                result.notes.append(f"mail {uid} is larger than max_mail_bytes: not read")
        small = [u for u in uids if u in light]
        chunks = [small[i : i + _FETCH_CHUNK] for i in range(0, len(small), _FETCH_CHUNK)]
        chunks += [[u] for u in uids if u in wanted and u not in light]
        carried = []
        for chunk in chunks:
            for uid, raw in _bodies(imap.uid("FETCH", _set(chunk), "(UID BODY.PEEK[])")):
                if _scan_mail(raw, uid, result):
                    carried.append(uid)
        return sorted(carried)

    def _finish(self, imap: imaplib.IMAP4, uids: list[int]) -> None:
        """Mark or move the mails an earlier poll read (their pointers are stored now).
        Without MOVE: copy, then flag the originals deleted (expunged only with UIDPLUS,
        which expunges just those)."""
        done, target = _set(uids), _quoted(self._s.move_to or "")
        steps: list[tuple[str, ...]]
        if self._s.after == "seen":
            steps = [("STORE", done, "+FLAGS.SILENT", r"(\Seen)")]
        elif "MOVE" in self._capabilities:
            steps = [("MOVE", done, target)]
        else:
            steps = [("COPY", done, target), ("STORE", done, "+FLAGS.SILENT", r"(\Deleted)")]
            steps += [("EXPUNGE", done)] if "UIDPLUS" in self._capabilities else []
        for command, *args in steps:
            typ, data = imap.uid(command, *args)
            if typ != "OK":
                raise ConfigurationError(
                    self.name,
                    f"cannot {command.lower()} read mails ({printable(_text(data), 200)}): check after and move_to",
                )

    def _imap_client(self) -> imaplib.IMAP4:
        if self._imap is not None:
            return self._imap
        s = self._s
        client: imaplib.IMAP4
        if s.imap_security == "tls":
            client = imaplib.IMAP4_SSL(s.imap_host, s.port("imap"), ssl_context=s.tls(), timeout=s.timeout)
        else:
            client = imaplib.IMAP4(s.imap_host, s.port("imap"), timeout=s.timeout)
        try:
            if s.imap_security == "starttls":
                if "STARTTLS" not in client.capabilities:
                    raise ConfigurationError(
                        self.name, f"IMAP {s.imap_host} does not offer STARTTLS (set imap_security)"
                    )
                client.starttls(s.tls())
            client.login(s.username, self._secret())
        except imaplib.IMAP4.error as exc:
            _release(client.shutdown)
            if isinstance(exc, imaplib.IMAP4.abort) or any(code in str(exc) for code in _LOGIN_LATER):
                raise RetryableError(
                    self.name, f"IMAP {s.imap_host} cannot log in now: {printable(exc, 200)}"
                ) from None
            raise ConfigurationError(self.name, f"IMAP {s.imap_host} refused the login of {s.username!r}") from None
        except BaseException:
            _release(client.shutdown)
            raise
        # The login's answer names what the server offers now (MOVE, UIDPLUS): not before.
        offered = [d for d in client.untagged_responses.pop("CAPABILITY", []) if isinstance(d, bytes)]
        self._capabilities = (
            set(offered[-1].decode("ascii", "replace").upper().split()) if offered else set(client.capabilities)
        )
        self._imap = client
        return client

    def _imap_error(self, exc: Exception) -> Exception:
        where = f"IMAP {self._s.imap_host}:{self._s.port('imap')}"
        tls = _tls_problem(exc)
        if tls is not None:
            return ConfigurationError(self.name, f"{where}: {tls}")
        if isinstance(exc, imaplib.IMAP4.readonly):
            return ConfigurationError(self.name, f"{where}: folder {self._s.folder!r} is read-only")
        if isinstance(exc, imaplib.IMAP4.error) and not isinstance(exc, imaplib.IMAP4.abort):
            return RetryableError(self.name, f"{where} refused a command: {printable(exc, 200)}")
        return RetryableError(self.name, f"{where} unavailable ({type(exc).__name__})")

    def _drop_imap(self) -> None:
        client, self._imap = self._imap, None
        if client is not None:
            _release(client.shutdown)

    def _secret(self) -> str:
        if self._password is None:
            password, where = read_credential(self.name, self._s.password_env, self._s.password_file)
            if not password:
                raise ConfigurationError(self.name, f"{where} holds no password")
            if not (password.isascii() and password.isprintable()):  # what IMAP LOGIN and AUTH PLAIN can carry
                raise ConfigurationError(
                    self.name,
                    f"the password in {where} has characters IMAP LOGIN cannot send (non-ASCII or control characters)",
                )
            self._password = password
        return self._password

    def check(self) -> list[str]:
        """Log in to IMAP (and select the folder) and to SMTP; name what was reached."""
        findings = self.diagnose(None)
        failed = [f.detail for f in findings if f.status == "fail"]
        if failed:
            raise ConfigurationError(self.name, "; ".join(failed))
        recipients = ", ".join(a for a in self._s.to if a.lower() != self._s.address.lower())
        return [f"{f.check.upper()}: {f.detail}" for f in findings] + [f"mails go to {recipients}"]

    def diagnose(self, cursor: str | None) -> list[Finding]:
        """Log in to IMAP and select the folder; connect and log in to SMTP. Sends nothing."""
        findings = []
        try:
            try:
                validity, _ = self._select(self._imap_client(), writable=False)
            except (imaplib.IMAP4.error, OSError, EOFError) as exc:
                self._drop_imap()
                raise self._imap_error(exc) from None
            findings.append(
                Finding(
                    "imap",
                    "ok",
                    f"{self._s.username} at {self._s.imap_host}: folder {self._s.folder!r} (UIDVALIDITY {validity})",
                )
            )
        except BridgeError as exc:
            findings.append(Finding("imap", "fail", str(exc)))
        try:
            try:
                self._smtp_client().noop()
            except (smtplib.SMTPException, OSError) as exc:
                self._drop_smtp()
                raise self._smtp_error(exc, "checking") from None
            findings.append(Finding("smtp", "ok", f"{self._s.smtp_host}:{self._s.port('smtp')} accepts the login"))
        except BridgeError as exc:
            findings.append(Finding("smtp", "fail", str(exc)))
        return findings

    def close(self) -> None:
        """Log out of IMAP and quit SMTP."""
        imap, smtp, self._imap, self._smtp = self._imap, self._smtp, None, None
        if imap is not None:
            _release(imap.logout)
        if smtp is not None:
            _release(smtp.quit)


def _release(end: Callable[[], Any]) -> None:
    """End a session that may be broken already: then there is nothing left to end, and
    the error says nothing the poll or post that broke it has not said."""
    try:
        end()
    except (imaplib.IMAP4.error, smtplib.SMTPException, OSError, EOFError):
        return


def _who(refused: dict[str, Any]) -> str:
    return printable(", ".join(refused), 200)


def _said(answer: bytes | str) -> str:
    return printable(answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer, 200)


def _tls_problem(exc: BaseException) -> str | None:
    """What a TLS failure means for the user, or None for another error: a certificate
    that does not verify, or TLS spoken to a port that does not (a setting to fix)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the certificate does not verify ({exc.verify_message}; a server's own CA: tls_ca_file)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or type(exc).__name__}): check the port and the *_security setting"
    return None


def _log_in(client: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH PLAIN where offered (one attempt, so a wrong password is told as such; ``login``
    would try each mechanism in turn, and servers hang up after the second failure)."""
    if "PLAIN" in client.esmtp_features.get("auth", "").upper().split():
        client.user, client.password = username, password
        client.auth("PLAIN", client.auth_plain)
    else:
        client.login(username, password)


# -- the mail ---------------------------------------------------------------------------------


def _mail(pointer: str, s: _Settings, recipients: list[str]) -> EmailMessage:
    mail = EmailMessage(policy=policy.SMTP)
    mail["From"] = s.address
    mail["To"] = ", ".join(recipients)
    mail["Subject"] = s.subject
    mail["Date"] = formatdate(time.time(), usegmt=True)
    domain = s.address.rpartition("@")[2]
    mail["Message-ID"] = f"<pb-{hashlib.sha256(pointer.encode('ascii')).hexdigest()[:32]}@{domain}>"
    mail[HEADER] = "1"
    lines = [pointer[i : i + _LINE] for i in range(0, len(pointer), _LINE)]
    mail.set_content("\n".join(lines) + "\n", charset="us-ascii", cte="7bit")
    return mail


def _scan_mail(raw: bytes, uid: int, result: PollResult) -> bool:
    """Every text part of one mail, as one item of the poll; whether it carried pointers.
    A mail the email package cannot take apart is noted and passed over."""
    before = len(result.pointers)
    try:
        # compat32 parses no header into objects: a hostile Message-ID or address cannot
        # raise from deep inside the header registry.
        mail = message_from_bytes(raw, policy=policy.compat32)
        reference = str(mail.get("Message-ID") or f"uid:{uid}").strip()
        texts = []
        for number, part in enumerate(mail.walk()):
            if number >= _PARTS:
                result.notes.append(f"mail {uid} has more than {_PARTS} parts: the rest were not read")
                break
            if part.get_content_maintype() == "text":
                texts.append(_part_text(part))
        extract("\n".join(texts), reference, result)
    except TooLargeError:
        result.items += 1
        result.notes.append(f"mail {uid} has more text than a poll reads: skipped")
    except _UNPARSABLE as exc:
        del result.pointers[before:]
        result.items += 1
        result.notes.append(f"mail {uid} could not be read ({type(exc).__name__}): skipped")
    return len(result.pointers) > before


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)  # undoes quoted-printable and base64
    if not isinstance(payload, bytes):
        return ""
    try:
        text = payload.decode(part.get_content_charset() or "ascii", "replace")
    except (LookupError, UnicodeError):  # an unknown or broken charset: pointers are ASCII whatever it is
        text = payload.decode("latin-1")
    return _html_text(text) if part.get_content_subtype() == "html" else text


_TAG = re.compile(r"<[^<>]*>")


def _html_text(html: str) -> str:
    """The text of an HTML part in linear time: every tag a line break (pointers ignore
    them), entities undone, so ``&gt; pb1...`` in a quoted reply reads as ``> pb1...``.
    (Python 3.11's HTMLParser is quadratic on unclosed markup: a 400 KB mail took a minute.)"""
    return unescape(_TAG.sub("\n", html))


# -- IMAP answers -----------------------------------------------------------------------------


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _set(uids: list[int]) -> str:
    return ",".join(map(str, uids))


def _text(data: Any) -> str:
    return b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace") if data else ""


def _first_int(data: Any) -> int | None:
    try:
        return int(data[0])
    except (TypeError, ValueError, IndexError):
        return None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _uids(answer: tuple[str, list[Any]]) -> list[int]:
    typ, data = answer
    if typ != "OK":
        raise imaplib.IMAP4.error(f"UID SEARCH: {_text(data)}")
    return [int(u) for d in data if isinstance(d, bytes) for u in d.split() if u.isdigit()]


def _bodies(answer: tuple[str, list[Any]]) -> list[tuple[int, bytes]]:
    """(uid, raw mail) from a UID FETCH of BODY.PEEK[]; the UID may stand before or after
    the literal, as servers choose."""
    typ, data = answer
    if typ != "OK":
        raise imaplib.IMAP4.error(f"UID FETCH: {_text(data)}")
    found: list[tuple[int, bytes]] = []
    for index, item in enumerate(data):
        if not isinstance(item, tuple):
            continue
        head, body = item
        uid = _UID.search(head)
        if uid is None and index + 1 < len(data) and isinstance(data[index + 1], bytes):
            uid = _UID.search(data[index + 1])
        if uid is not None:
            found.append((int(uid.group(1)), body))
    return found
