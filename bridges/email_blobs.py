"""Where an e-mail carrier keeps blobs (issue 21): a mail of its own per blob, to the
members a pointer mail goes to, with the same Subject and ``X-Pointer-Bridge`` header; its
one part is the blob, base64, as an attachment named ``pointerbridge.pbb``. The locator is
its Message-ID, ``<pbb-<32 random hex>@<sender's domain>>`` (a pointer mail's begins
``<pb-``): a member's bridge finds it with ``UID SEARCH HEADER Message-ID`` in the folder
it reads (and in ``move_to`` when read mails are moved there).

- **The poll passes blob mails over** without fetching them: its search asks for mails
  whose Message-ID does not hold ``<pbb-`` (:data:`NOT_BLOB`), so a blob mail is neither
  read, counted as foreign, nor noted as too large; like a pointer mail it is marked seen or
  moved by the poll after (``after``). A stranger's mail with such a Message-ID is passed
  over the same way: it carries no pointer a poll would miss that the stranger could not
  simply have left unsent.
- **A fetch is bounded in memory and size.** The mail's size (RFC822.SIZE) must fit
  ``max_bytes`` once base64-encoded plus headers; the body is then read in partial
  FETCHes of 2 MiB and decoded as it comes, and imaplib's client is refused any literal
  larger than asked for before it reads it (:class:`BoundedImap`), so a server sending
  more than it was asked is never held in memory. Every command of a fetch (SELECT, the
  SEARCH, each FETCH) is bounded: literals of 1 MiB at most unless asked for more, and all
  it answers (lines and literals, until its tagged answer) within twice its literal bound
  and 64 KiB; and the whole fetch within the carrier's ``timeout`` plus a second per
  16 KiB of the blob: under it every receive is given only what is left of that time, so
  a server dripping untagged lines, or trickling a literal or a line a byte at a time,
  neither holds a fetch past it nor fills memory. (A poll reads mails of up to
  ``max_mail_bytes``, bounded by its ``SMALLER`` search, through the same client, which
  is therefore unbounded outside a fetch.)
- **Size limits.** ``max_blob_bytes`` (18 MB by default: base64 makes it 24.6 MB, under
  the common 25 MB cap on a mail); a server that declares a smaller ``SIZE`` refuses the
  blob before anything is sent. Mails stay in the mailbox as long as its owner keeps
  them: deleting one makes its blob unfetchable from this carrier.
"""

from __future__ import annotations

import binascii
import contextlib
import imaplib
import io
import re
import secrets
import smtplib
import socket
import ssl
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, cast

from .base import Bridge, ConfigurationError, printable
from .blob_io import BlobNotFoundError, BlobTooLargeError, write_blob
from .email_format import HEADER, quoted_folder, search_uids
from .email_settings import EmailSettings
from .proxied import open_socket
from .proxy import Proxy

__all__ = ["NOT_BLOB", "BoundedImap", "BoundedImapTls", "LiteralRefused", "MailboxBlobs", "encoded_size", "fitting"]

NOT_BLOB = 'NOT HEADER Message-ID "<pbb-"'  # a poll's search: mails that are not blob mails
_BLOB = 'HEADER Message-ID "<pbb-"'
# The domain: printable ASCII but for <>"\@ (anything else imaplib cannot send: never found)
_LOCATOR = re.compile(r"<pbb-[0-9a-f]{32}@[\x21\x23-\x3b\x3d\x3f\x41-\x5b\x5d-\x7e]{1,255}>")
_CHUNK = 2 << 20  # encoded bytes per partial FETCH: a fetch holds about 4.6 times this at once
_HEADERS = 64 * 1024  # bytes of headers a blob mail may have (servers add Received:, DKIM, ...)
_CANDIDATES = 5  # mails a search finds that are looked at (a hostile one may share the id)
_SIZE = re.compile(rb"RFC822\.SIZE (\d{1,20})")
_LITERAL = 1 << 20  # bytes of a literal a fetch's command may answer unless it asks for more
_SLACK = 64 * 1024  # bytes of lines an answer may hold beyond twice its literal bound
_BYTES_PER_SECOND = 16 * 1024  # the slowest pace a blob fetch is given, past the timeout
_MAX_LINE = 1_000_000  # imaplib's bound on a line (its _MAXLINE)
_PIECE = 256 * 1024  # bytes of a literal asked of one receive under a deadline
_NO_TIMEOUT = 60.0  # seconds to get through a proxy when the client was given no timeout


class LiteralRefused(Exception):  # not an error class of the app: get_blob turns it into one
    """A server sent a literal larger than the bound set, or an answer longer than its
    budget: nothing more of it was read (the connection is then unusable: the bridge
    drops it). ``args[0]``: the bytes it would have taken."""


class BoundedImap(imaplib.IMAP4):
    """imaplib's client, refusing a literal over :attr:`literal_limit` (when set) before
    reading it (imaplib reads a literal whole into memory, whatever its size), more than
    :attr:`budget` bytes read (lines and literals, when set), and any read once past
    :attr:`deadline` (a ``time.monotonic()``, when set: ``TimeoutError``)."""

    literal_limit: int | None = None
    budget: int | None = None
    deadline: float | None = None
    _spent = 0
    _timeout: float | None = None  # the socket's own timeout while a deadline shortens it
    proxy: Proxy | None = None

    def __init__(self, *args: Any, proxy: Proxy | None = None, **kwargs: Any) -> None:
        """imaplib's constructor (which connects), through ``proxy`` when one is given."""
        self.proxy = proxy
        super().__init__(*args, **kwargs)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        """imaplib's connection step: through the proxy, never around it, when one is set
        (implicit TLS then wrapped over the proxied socket, for the server's name)."""
        if self.proxy is None:
            return cast(socket.socket, super()._create_socket(timeout))  # type: ignore[misc]  # imaplib's, unstubbed
        sock = open_socket(self.proxy, self.host, self.port, timeout or _NO_TIMEOUT)
        if isinstance(self, imaplib.IMAP4_SSL):
            context: ssl.SSLContext = self.ssl_context
            return context.wrap_socket(sock, server_hostname=self.host)
        return sock

    def _spend(self, size: int) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimeoutError("the IMAP server took too long over the blob")
        if self.budget is not None:
            if self._spent + size > self.budget:
                raise LiteralRefused(self._spent + size)
            self._spent += size

    def bound(self, literal_limit: int | None, budget: int | None) -> None:
        """Bound what the next command's answer may hold (None: unbounded); the budget
        starts afresh."""
        self.literal_limit, self.budget, self._spent = literal_limit, budget, 0

    def read(self, size: int) -> bytes:
        """Read a literal of ``size`` bytes, if it is within the bounds."""
        if self.literal_limit is not None and size > self.literal_limit:
            raise LiteralRefused(size)
        self._spend(size)
        if not self._timed():
            return super().read(size)
        pieces, left = [], size
        while left:  # one receive at a time, each given only what is left of the deadline
            self._arm()
            piece = self._buffered().read1(min(left, _PIECE))
            if not piece:
                break  # the server hung up: a short literal, as imaplib's own read gives
            pieces.append(piece)
            left -= len(piece)
        return b"".join(pieces)

    def readline(self) -> bytes:
        """Read a line (imaplib's bound: 1 MB), counted in the budget."""
        self._spend(0)
        line = self._timed_line() if self._timed() else super().readline()
        self._spend(len(line))
        return line

    def _timed_line(self) -> bytes:
        """A line read one receive at a time within the deadline (a line trickled a byte
        per receive would otherwise take up to 1 MB of timeouts)."""
        line = bytearray()
        while len(line) <= _MAX_LINE:
            self._arm()
            ahead = self._buffered().peek(1)[: _MAX_LINE + 1 - len(line)]  # at most one receive
            if not ahead:
                break
            end = ahead.find(b"\n")
            line += self._buffered().read(len(ahead) if end < 0 else end + 1)  # all of it buffered already
            if end >= 0:
                break
        if len(line) > _MAX_LINE:
            raise self.error(f"got more than {_MAX_LINE} bytes")
        return bytes(line)

    def _timed(self) -> bool:
        """Whether reads go one receive at a time under the deadline: where imaplib reads
        through a buffered file (up to Python 3.13); elsewhere each receive is given what
        is left of it, and the deadline is looked at before each read."""
        if self.deadline is None:
            return False
        if isinstance(self.file, io.BufferedReader):
            return True
        self._arm()  # pragma: no cover  # Python 3.14's imaplib reads the socket itself
        return False  # pragma: no cover

    def _buffered(self) -> io.BufferedReader:
        return cast(io.BufferedReader, self.file)  # what _timed found it to be

    def _arm(self) -> None:
        """The socket's next receive given at most what is left of the deadline."""
        assert self.deadline is not None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the IMAP server took too long over the blob")
        self.sock.settimeout(left if self._timeout is None else min(left, self._timeout))

    def until(self, deadline: float | None) -> None:
        """Give every read up to ``deadline`` (a ``time.monotonic()``; None: no deadline,
        the socket's own timeout again)."""
        if deadline is not None and self.deadline is None:
            self._timeout = self.sock.gettimeout()
        elif deadline is None and self.deadline is not None:
            with contextlib.suppress(OSError):  # a connection dropped after a failure is closed
                self.sock.settimeout(self._timeout)
        self.deadline = deadline


class BoundedImapTls(BoundedImap, imaplib.IMAP4_SSL):
    """:class:`BoundedImap` over implicit TLS."""


def encoded_size(size: int) -> int:
    """Bytes of ``size`` bytes base64-encoded in lines of 76 characters and CRLF."""
    chars = (size + 2) // 3 * 4
    return chars + 2 * -(-chars // 76)


def fitting(declared: int) -> int:
    """The largest blob whose mail fits a server's declared ``SIZE`` (0: no limit)."""
    if declared <= 0:
        return 2**63
    size = max(0, (declared - _HEADERS) * 3 * 76 // (4 * 78))
    while size and encoded_size(size) + _HEADERS > declared:
        size -= 1
    return size


class MailboxBlobs(Bridge):
    """Mixed into the e-mail bridge: ``put_blob`` and ``get_blob``, a mail per blob."""

    def __init__(self, name: str, settings: Any) -> None:
        """The blob limit from the settings (``max_blob_bytes``; 0: no blobs)."""
        super().__init__(name, settings)
        self.blob_limit = settings.max_blob_bytes or None

    @property
    def _s(self) -> EmailSettings:  # the e-mail bridge's
        raise NotImplementedError

    def _recipients(self) -> list[str]:  # the e-mail bridge's
        raise NotImplementedError

    def _send(self, mail: EmailMessage, recipients: list[str]) -> None:  # the e-mail bridge's
        raise NotImplementedError

    def _imap_client(self) -> imaplib.IMAP4:  # the e-mail bridge's
        raise NotImplementedError

    def _smtp_client(self) -> smtplib.SMTP:  # the e-mail bridge's
        raise NotImplementedError

    def _drop_imap(self) -> None:  # the e-mail bridge's
        raise NotImplementedError

    def _imap_error(self, exc: Exception) -> Exception:  # the e-mail bridge's
        raise NotImplementedError

    # -- putting ------------------------------------------------------------------------------

    def put_blob(self, source: Path, size: int) -> str:
        """Mail the blob file ``source`` to every member but this one; return the mail's Message-ID."""
        limit = self.blob_limit
        if limit is None:
            raise ConfigurationError(self.name, "this e-mail carrier keeps no files (max_blob_bytes = 0)")
        if size > limit:
            raise BlobTooLargeError(self.name, f"{size} bytes is over this carrier's max_blob_bytes ({limit})")
        declared = str(self._smtp_client().esmtp_features.get("size", ""))
        if declared.isdigit() and fitting(int(declared)) < size:
            raise BlobTooLargeError(
                self.name,
                f"the SMTP server takes mails of at most {declared} bytes: a blob of {size} bytes does not fit "
                f"in one (set max_blob_bytes to {fitting(int(declared))} or less)",
            )
        with open(source, "rb") as blob:
            data = blob.read(limit + 1)
        if len(data) > limit:
            raise BlobTooLargeError(self.name, f"the file grew over this carrier's max_blob_bytes ({limit})")
        recipients = self._recipients()
        mail = _blob_mail(data, self._s.address, self._s.subject, recipients)
        del data
        self._send(mail, recipients)
        return str(mail["Message-ID"])

    def _blob_mails(self, imap: imaplib.IMAP4, uids: list[int]) -> list[int]:
        """The blob mails among ``uids`` (ascending): a poll passes them over."""
        found = search_uids(imap.uid("SEARCH", f"UID {uids[0]}:{uids[-1]} {_BLOB}"))
        return [u for u in found if u in set(uids)]

    # -- fetching -----------------------------------------------------------------------------

    def get_blob(self, locator: str, dest: Path, max_bytes: int) -> None:
        """Fetch the blob of the mail whose Message-ID is ``locator`` into ``dest``."""
        if not _LOCATOR.fullmatch(locator):
            raise BlobNotFoundError(self.name, f"{printable(locator, 80)!r} is not the Message-ID of a blob mail")
        encoded = encoded_size(max_bytes) + 1024  # and a few blank lines
        with self._talking():
            imap = self._imap_client()
        if not isinstance(imap, BoundedImap):
            raise TypeError("the e-mail bridge's IMAP client must be a BoundedImap")
        imap.until(time.monotonic() + self._s.timeout + max_bytes / _BYTES_PER_SECOND)
        try:
            with self._talking():
                found = self._find(imap, locator)
            if found is None:
                raise BlobNotFoundError(self.name, f"no mail {locator} in {' or '.join(self._folders())}")
            uid, size = found
            if size > encoded + _HEADERS:
                raise BlobTooLargeError(
                    self.name, f"the mail {locator} has {size} bytes, over {max_bytes} bytes' worth"
                )
            write_blob(self.name, dest, self._decoded(imap, uid, encoded, locator), max_bytes)
        finally:
            imap.until(None)

    def _folders(self) -> list[str]:
        s = self._s
        return [s.folder, *([s.move_to] if s.after == "move" and s.move_to else [])]

    def _find(self, imap: imaplib.IMAP4, locator: str) -> tuple[int, int] | None:
        """(UID, size) of the mail whose Message-ID is ``locator``, selected; None: none."""
        for folder in self._folders():
            with _bounded(imap, _LITERAL):
                typ, _ = imap.select(quoted_folder(folder), readonly=True)
            if typ != "OK" and folder == self._s.folder:
                raise ConfigurationError(self.name, f"no folder {folder!r}")
            if typ != "OK":
                continue  # move_to not made yet: nothing was moved there
            with _bounded(imap, _LITERAL):
                uids = search_uids(imap.uid("SEARCH", f'HEADER Message-ID "{locator}"'))
            for uid in uids[:_CANDIDATES]:  # the header search matches parts: the whole id must be it
                with _bounded(imap, _HEADERS):
                    typ, data = imap.uid("FETCH", str(uid), "(RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
                header, size = _header_and_size(typ, data)
                said = message_from_bytes(header, policy=policy.compat32).get("Message-ID", "")
                if size is not None and str(said).strip() == locator:
                    return uid, size
        return None

    def _decoded(self, imap: imaplib.IMAP4, uid: int, encoded: int, locator: str) -> Iterator[bytes]:
        """The mail's body, base64-decoded, read in partial FETCHes of at most ``_CHUNK``."""
        offset, carry = 0, b""
        while True:
            with self._talking(), _bounded(imap, _CHUNK):
                typ, data = imap.uid("FETCH", str(uid), f"(BODY.PEEK[TEXT]<{offset}.{_CHUNK}>)")
                piece = _literal(typ, data)
            offset += len(piece)
            if offset > encoded:
                raise BlobTooLargeError(self.name, f"the mail {locator} holds more than the blob expected")
            clean = carry + piece.translate(None, b" \t\r\n")
            cut = len(clean) - len(clean) % 4
            carry = clean[cut:]
            try:
                yield binascii.a2b_base64(clean[:cut], strict_mode=True)
            except binascii.Error:
                raise BlobNotFoundError(self.name, f"the mail {locator} holds no blob (not base64)") from None
            if len(piece) < _CHUNK:
                break
        if carry:
            raise BlobNotFoundError(self.name, f"the mail {locator} holds no blob (cut base64)")

    @contextlib.contextmanager
    def _talking(self) -> Iterator[None]:
        """IMAP failures as the carrier's errors; the connection dropped after any."""
        try:
            yield
        except LiteralRefused as exc:
            self._drop_imap()
            raise BlobTooLargeError(self.name, f"the IMAP server sent {exc.args[0]} bytes, more than asked") from None
        except (imaplib.IMAP4.error, OSError, EOFError) as exc:
            self._drop_imap()
            raise self._imap_error(exc) from None


@contextlib.contextmanager
def _bounded(imap: imaplib.IMAP4, limit: int) -> Iterator[None]:
    """One command's answer: literals of ``limit`` bytes at most, and all of it within
    twice that and :data:`_SLACK`."""
    if not isinstance(imap, BoundedImap):
        raise TypeError("the e-mail bridge's IMAP client must be a BoundedImap")
    imap.bound(limit, 2 * limit + _SLACK)
    try:
        yield
    finally:
        imap.bound(None, None)


def _blob_mail(data: bytes, address: str, subject: str, recipients: list[str]) -> EmailMessage:
    """The mail one blob travels in: as a pointer's, but for its one part and Message-ID."""
    mail = EmailMessage(policy=policy.SMTP)
    mail["From"] = address
    mail["To"] = ", ".join(recipients)
    mail["Subject"] = subject
    mail["Date"] = formatdate(time.time(), usegmt=True)
    mail["Message-ID"] = f"<pbb-{secrets.token_hex(16)}@{address.rpartition('@')[2]}>"
    mail[HEADER] = "1"
    mail.set_content(data, "application", "octet-stream", cte="base64", filename="pointerbridge.pbb")
    return mail


def _answer(typ: str, data: list[Any], what: str) -> list[Any]:
    if typ != "OK":
        said = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise imaplib.IMAP4.error(f"UID FETCH {what}: {said}")
    return data


def _header_and_size(typ: str, data: list[Any]) -> tuple[bytes, int | None]:
    """The fetched header lines and RFC822.SIZE (before or after the literal, as servers choose)."""
    header, size = b"", None
    for item in _answer(typ, data, "RFC822.SIZE"):
        head = item[0] if isinstance(item, tuple) else item
        if isinstance(item, tuple) and isinstance(item[1], bytes):
            header = item[1]
        found = _SIZE.search(head) if isinstance(head, bytes) else None
        size = int(found.group(1)) if found else size
    return header, size


def _literal(typ: str, data: list[Any]) -> bytes:
    """The body's bytes a partial FETCH answered (none past the end: an empty string)."""
    for item in _answer(typ, data, "BODY[TEXT]"):
        if isinstance(item, tuple) and b"BODY[TEXT]" in item[0] and isinstance(item[1], bytes):
            return item[1]
    return b""
