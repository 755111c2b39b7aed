"""E-mail as carrier: SMTP to send, IMAP to poll one folder of the user's own mailbox.

Why the standard library (``smtplib``, ``imaplib``): the contract is synchronous and a
poll is a handful of commands (LOGIN, SELECT, UID SEARCH, UID FETCH, LOGOUT), which
``imaplib`` sends exactly as written, so the cost of an idle poll is known and counted
(four commands: CAPABILITY, LOGIN, EXAMINE, LOGOUT). ``imapclient`` would parse FETCH answers more kindly but adds a
dependency for that alone; the async libraries would add an event loop to a cron job.
Both libraries speak STARTTLS and implicit TLS with ``ssl.create_default_context()``;
plaintext is refused except to a loopback address (tests, a local relay). With ``proxy``
set, every connection's socket comes from the proxy (``email_connect.py``, ``BoundedImap``),
the proxy resolving the hosts' names; a proxy that does not answer is "retry later".

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

import imaplib
import json
import smtplib
from email.message import EmailMessage
from typing import Any

from .base import (
    Bridge,
    BridgeError,
    ConfigurationError,
    CredentialRefusedError,
    Finding,
    PollResult,
    RetryableError,
    json_cursor,
    printable,
    read_credential,
)
from .email_blobs import NOT_BLOB, BoundedImap, BoundedImapTls, MailboxBlobs
from .email_connect import ProxiedSmtp, ProxiedSmtpTls, log_in, release, said, who
from .email_format import (
    answer_text,
    build_mail,
    count,
    fetched_bodies,
    first_int,
    password_refused,
    quoted_folder,
    scan_mail,
    search_uids,
    uid_set,
)
from .email_idle import MailboxIdle
from .email_settings import EmailSettings, tls_problem
from .proxied import ProxyFailed
from .proxy import Proxy, parse_proxy

__all__ = ["EmailBridge"]

_BATCH = 200  # mails read per poll; the app polls again while there are more
_FETCH_CHUNK = 100  # light mails per UID FETCH; heavier ones one at a time
_LIGHT = 256 * 1024  # bytes: a FETCH of _FETCH_CHUNK light mails stays under 26 MB
_WINDOW = 20_000  # UIDs per UID SEARCH: an answer line stays far below imaplib's 1 MB limit
_LOGIN_LATER = ("[UNAVAILABLE]", "[INUSE]", "[SERVERBUG]", "[LIMIT]")  # RFC 5530: try again, change nothing


class EmailBridge(MailboxIdle, MailboxBlobs, Bridge):
    """One folder of this member's mailbox (listened to with IDLE), and SMTP to the others."""

    takes_proxy = True
    carrier_type = "email"
    Settings = EmailSettings
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
    def _s(self) -> EmailSettings:
        settings: EmailSettings = self.settings
        return settings

    # -- posting ------------------------------------------------------------------------------

    def post(self, pointer: str) -> str:
        """Mail the pointer to every member but this one; return its Message-ID."""
        recipients = self._recipients()
        mail = build_mail(pointer, self._s.address, self._s.subject, recipients)
        self._send(mail, recipients)
        return str(mail["Message-ID"])

    def _recipients(self) -> list[str]:
        return [a for a in self._s.to if a.lower() != self._s.address.lower()]

    def _send(self, mail: EmailMessage, recipients: list[str]) -> None:
        """Send ``mail`` (a pointer's, a blob's). Some recipients refused for good (5xx), the rest
        taken: sent (resending would repeat it to the others), and the next poll says who; a
        temporary refusal (4xx) of anyone is retried, the others' stores drop the repeat."""
        try:
            refused = self._smtp_client().send_message(mail, self._s.address, recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
            if all(500 <= code < 600 for code, _ in refused.values()):
                raise ConfigurationError(self.name, f"the SMTP server refused all of {who(refused)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop_smtp()
            raise self._smtp_error(exc, "sending") from None
        if any(code < 500 for code, _ in refused.values()):
            raise RetryableError(self.name, f"the SMTP server deferred {who(refused)}")
        self._refused.update({a: said(answer) for a, (_, answer) in refused.items()})

    def _smtp_client(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        s = self._s
        client: smtplib.SMTP | None = None
        try:
            if s.smtp_security == "tls":
                client = ProxiedSmtpTls(
                    s.smtp_host, s.port("smtp"), proxy=self._proxy(), timeout=s.timeout, context=s.tls()
                )
            else:
                client = ProxiedSmtp(s.smtp_host, s.port("smtp"), proxy=self._proxy(), timeout=s.timeout)
                if s.smtp_security == "starttls":
                    client.starttls(context=s.tls())
            client.ehlo_or_helo_if_needed()
            if client.has_extn("auth"):
                log_in(client, s.username, self._secret())
        except (smtplib.SMTPException, OSError) as exc:
            if client is not None:
                release(client.close)
            raise self._smtp_error(exc, "connecting") from None
        except BaseException:
            if client is not None:
                release(client.close)
            raise
        self._smtp = client
        return client

    def _smtp_error(self, exc: Exception, doing: str) -> Exception:
        where = f"SMTP {self._s.smtp_host}:{self._s.port('smtp')}"
        if isinstance(exc, ProxyFailed):
            return RetryableError(self.name, f"{where} unavailable: {exc}")
        if isinstance(exc, smtplib.SMTPAuthenticationError) and 500 <= exc.smtp_code < 600:
            refused = CredentialRefusedError if exc.smtp_code == 535 else ConfigurationError  # 535: wrong credentials
            return refused(self.name, f"{where} refused the login of {self._s.username!r} ({exc.smtp_code})")
        tls = tls_problem(exc)
        if tls is not None:
            return ConfigurationError(self.name, f"{where}: {tls}")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return ConfigurationError(self.name, f"{where} does not offer STARTTLS (set smtp_security)")
        if isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600:
            return ConfigurationError(self.name, f"{where} refused {doing}: {exc.smtp_code} {said(exc.smtp_error)}")
        return RetryableError(self.name, f"{where} unavailable while {doing} ({type(exc).__name__})")

    def _drop_smtp(self) -> None:
        client, self._smtp = self._smtp, None
        if client is not None:
            release(client.close)

    # -- polling ------------------------------------------------------------------------------

    def poll(self, cursor: str | None) -> PollResult:
        """Mails that arrived in the folder since ``cursor``, at most ``_BATCH`` of them."""
        try:
            result = self._poll(self._imap_client(), json_cursor(cursor))
        except (imaplib.IMAP4.error, OSError, EOFError) as exc:
            self._drop_imap()
            raise self._imap_error(exc) from None
        if self._refused:
            result.notes.append(f"the SMTP server refused {who(self._refused)} (the others got the mails)")
            self._refused = {}
        return result

    def _poll(self, imap: imaplib.IMAP4, state: dict[str, Any]) -> PollResult:
        validity, next_uid = self._select(imap, writable=self._s.after != "keep")
        result = PollResult([], "")
        last, pending = count(state.get("uid")), [u for u in state.get("pending", []) if isinstance(u, int)]
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
            return sorted(u for u in search_uids(imap.uid("SEARCH", f"UID {last + 1}:*")) if u > last)
        found: list[int] = []
        for start in range(last + 1, next_uid, _WINDOW):
            end = min(start + _WINDOW - 1, next_uid - 1)
            found += sorted(u for u in search_uids(imap.uid("SEARCH", f"UID {start}:{end}")) if start <= u <= end)
            if len(found) > _BATCH:
                break
        return found

    def _select(self, imap: imaplib.IMAP4, *, writable: bool) -> tuple[int, int | None]:
        typ, data = imap.select(quoted_folder(self._s.folder), readonly=not writable)
        if typ == "OK" and writable and imap.untagged_responses.get("READ-ONLY"):
            raise ConfigurationError(self.name, f"folder {self._s.folder!r} is read-only: after = 'keep' reads it")
        if typ != "OK":
            raise ConfigurationError(self.name, f"no folder {self._s.folder!r} ({printable(answer_text(data), 200)})")
        validity = first_int(imap.response("UIDVALIDITY")[1])
        if validity is None:
            raise RetryableError(self.name, "the IMAP server gave no UIDVALIDITY")
        return validity, first_int(imap.response("UIDNEXT")[1])

    def _read(self, imap: imaplib.IMAP4, uids: list[int], result: PollResult) -> list[int]:
        """Fetch and scan ``uids``: light mails a hundred at a time, heavier ones one by one,
        those over ``max_mail_bytes`` only noted, blob mails passed over. Return the UIDs
        whose mails carried pointers or blobs (marked or moved by the next poll)."""
        if not uids:
            return []
        span = f"UID {uids[0]}:{uids[-1]}"
        wanted = set(search_uids(imap.uid("SEARCH", f"{span} SMALLER {self._s.max_mail_bytes + 1} {NOT_BLOB}")))
        light = set(search_uids(imap.uid("SEARCH", f"{span} SMALLER {_LIGHT}"))) & wanted
        blobs = self._blob_mails(imap, uids) if wanted != set(uids) else []
        for uid in uids:
            if uid not in wanted and uid not in blobs:
                result.items += 1
                result.notes.append(f"mail {uid} is larger than max_mail_bytes: not read")
        small = [u for u in uids if u in light]
        chunks = [small[i : i + _FETCH_CHUNK] for i in range(0, len(small), _FETCH_CHUNK)]
        chunks += [[u] for u in uids if u in wanted and u not in light]
        carried = []
        for chunk in chunks:
            for uid, raw in fetched_bodies(imap.uid("FETCH", uid_set(chunk), "(UID BODY.PEEK[])")):
                if scan_mail(raw, uid, result):
                    carried.append(uid)
        return sorted(carried + blobs)

    def _finish(self, imap: imaplib.IMAP4, uids: list[int]) -> None:
        """Mark or move the mails an earlier poll read (their pointers are stored now).
        Without MOVE: copy, then flag the originals deleted (expunged only with UIDPLUS,
        which expunges just those)."""
        done, target = uid_set(uids), quoted_folder(self._s.move_to or "")
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
                    f"cannot {command.lower()} read mails ({printable(answer_text(data), 200)}): "
                    "check after and move_to",
                )

    def _imap_client(self) -> imaplib.IMAP4:
        if self._imap is not None:
            return self._imap
        s = self._s
        client: imaplib.IMAP4
        if s.imap_security == "tls":
            client = BoundedImapTls(
                s.imap_host, s.port("imap"), ssl_context=s.tls(), timeout=s.timeout, proxy=self._proxy()
            )
        else:
            client = BoundedImap(s.imap_host, s.port("imap"), timeout=s.timeout, proxy=self._proxy())
        try:
            if s.imap_security == "starttls":
                if "STARTTLS" not in client.capabilities:
                    raise ConfigurationError(
                        self.name, f"IMAP {s.imap_host} does not offer STARTTLS (set imap_security)"
                    )
                client.starttls(s.tls())
            client.login(s.username, self._secret())
        except imaplib.IMAP4.error as exc:
            release(client.shutdown)
            if isinstance(exc, imaplib.IMAP4.abort) or any(code in str(exc) for code in _LOGIN_LATER):
                raise RetryableError(
                    self.name, f"IMAP {s.imap_host} cannot log in now: {printable(exc, 200)}"
                ) from None
            refused = CredentialRefusedError if password_refused(exc) else ConfigurationError
            raise refused(self.name, f"IMAP {s.imap_host} refused the login of {s.username!r}") from None
        except BaseException:
            release(client.shutdown)
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
        if isinstance(exc, ProxyFailed):
            return RetryableError(self.name, f"{where} unavailable: {exc}")
        tls = tls_problem(exc)
        if tls is not None:
            return ConfigurationError(self.name, f"{where}: {tls}")
        if isinstance(exc, imaplib.IMAP4.readonly):
            return ConfigurationError(self.name, f"{where}: folder {self._s.folder!r} is read-only")
        if isinstance(exc, imaplib.IMAP4.error) and not isinstance(exc, imaplib.IMAP4.abort):
            return RetryableError(self.name, f"{where} refused a command: {printable(exc, 200)}")
        why = f": {printable(exc, 200)}" if isinstance(exc, imaplib.IMAP4.abort) else ""  # why it was given up
        return RetryableError(self.name, f"{where} unavailable ({type(exc).__name__}{why})")

    def _drop_imap(self) -> None:
        client, self._imap = self._imap, None
        if client is not None:
            release(client.shutdown)

    def _proxy(self) -> Proxy | None:
        return parse_proxy(self._s.proxy) if self._s.proxy else None

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
        """Log in to IMAP (and select the folder) and to SMTP; name what was reached. Only
        failures to be retried (a server or the proxy not answering) are "retry later"."""
        reached = self._reach()
        failed = [found for _, found in reached if isinstance(found, BridgeError)]
        if failed:
            retry = all(isinstance(error, RetryableError) for error in failed)
            raise (RetryableError if retry else ConfigurationError)(self.name, "; ".join(e.detail for e in failed))
        recipients = ", ".join(self._recipients())
        return [f"{check.upper()}: {found}" for check, found in reached] + [f"mails go to {recipients}"]

    def diagnose(self, cursor: str | None) -> list[Finding]:
        """Log in to IMAP and select the folder; connect and log in to SMTP. Sends nothing."""
        return [
            Finding(check, "fail", str(found)) if isinstance(found, BridgeError) else Finding(check, "ok", found)
            for check, found in self._reach()
        ]

    def _reach(self) -> list[tuple[str, str | BridgeError]]:
        """IMAP's and SMTP's login, each what it reached or why not."""
        found: list[tuple[str, str | BridgeError]] = []
        try:
            try:
                validity, _ = self._select(self._imap_client(), writable=False)
            except (imaplib.IMAP4.error, OSError, EOFError) as exc:
                self._drop_imap()
                raise self._imap_error(exc) from None
            where = f"{self._s.username} at {self._s.imap_host}: folder {self._s.folder!r}"
            found.append(("imap", f"{where} (UIDVALIDITY {validity})"))
        except BridgeError as exc:
            found.append(("imap", exc))
        try:
            try:
                self._smtp_client().noop()
            except (smtplib.SMTPException, OSError) as exc:
                self._drop_smtp()
                raise self._smtp_error(exc, "checking") from None
            found.append(("smtp", f"{self._s.smtp_host}:{self._s.port('smtp')} accepts the login"))
        except BridgeError as exc:
            found.append(("smtp", exc))
        return found

    def close(self) -> None:
        """Log out of IMAP and quit SMTP."""
        imap, smtp, self._imap, self._smtp = self._imap, self._smtp, None, None
        if imap is not None:
            release(imap.logout)
        if smtp is not None:
            release(smtp.quit)
