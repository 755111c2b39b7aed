"""The e-mail carrier's push hook: IMAP IDLE (RFC 2177) on the poll's own connection.

Why the standard library again rather than ``imapclient`` (whose ``idle_check`` is the
same select-then-read over imaplib's socket, for one more dependency): IDLE is one tagged
command, a ``+`` continuation, untagged lines until ``DONE``, and a tagged answer;
``imaplib``'s documented ``send``, ``readline`` and ``socket`` carry them. Python 3.11 to
3.13 read through a buffered socket file that is unusable once a read timed out, so a wait
first looks, without blocking, for bytes already buffered (a line that came with the
continuation), then waits on the socket with ``selectors``, and reads only once something
is there; Python 3.14 reads with a buffer of its own that survives a timeout (its
``IMAP4.idle()`` needs that), so there the wait is a read with a timeout (the suite runs
3.11: that branch is not exercised here). Every line is bounded by imaplib (1 MB) and by
the socket's timeout; literals are skipped up to :data:`_LITERAL` bytes, :data:`_LITERALS`
of them; the answers to IDLE and to DONE must come within the carrier's ``timeout``.

- **Nothing missed between the scan and the IDLE.** The scan is the poll's own (SELECT,
  cursor, UIDVALIDITY, windows), and reads only below the UIDNEXT its SELECT reported. A
  mail arriving after that SELECT is told by the server as an untagged ``EXISTS``: during
  the scan's later commands (imaplib keeps those: a second EXISTS after the SELECT's means
  a new mail, so the listen scans again at once), or when the IDLE starts, or while it
  runs. ``EXISTS`` or ``RECENT`` end the wait, and the folder is scanned again; an
  ``EXPUNGE`` or a flag change brings nothing to read and the wait goes on.
- **The 29-minute rule.** One IDLE lasts at most the listen's ``wait`` and never more
  than :data:`_IDLE_MAX` (the app waits ~25 s); the connection and its folder stay open
  between listens, so an idle listener costs one SELECT and one IDLE per wait.
- **No IDLE.** A server that does not offer it (or refuses it) is scanned once per wait:
  a scan, then a sleep; what arrived meanwhile is read by the next listen's scan at once.
- **A dropped connection** (EOF, ``* BYE``, a timeout, a reset) is a retryable error; the
  next listen logs in again and scans from its cursor.
"""

from __future__ import annotations

import imaplib
import io
import itertools
import re
import selectors
import ssl
import sys
import time
from typing import Any

from .base import Bridge, PollResult

__all__ = ["MailboxIdle"]

_IDLE_MAX = 9 * 60.0  # seconds: well within RFC 2177's 29 minutes and NAT timeouts
_LITERAL = 1 << 20  # bytes of a literal in an untagged answer skipped at most
_LITERALS = 16  # literals in one untagged answer skipped at most
_TIMED_READS = sys.version_info >= (3, 14)  # imaplib keeps what a timed-out read got
_NEWS = re.compile(rb"\* \d+ (EXISTS|RECENT)\r?\n?\Z", re.IGNORECASE)
_LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}\r?\n?\Z")
_tags = itertools.count(1)


class MailboxIdle(Bridge):
    """Mixed into the e-mail bridge: :meth:`listen` over IMAP IDLE, or a scan per wait."""

    listens = True
    _imap: imaplib.IMAP4 | None  # the e-mail bridge's poll connection
    _capabilities: set[str]

    def _drop_imap(self) -> None:  # the e-mail bridge's
        raise NotImplementedError

    def _imap_error(self, exc: Exception) -> Exception:  # the e-mail bridge's
        raise NotImplementedError

    def listen(self, cursor: str | None, wait: float) -> PollResult:
        """Scan; when the scan read nothing, IDLE up to ``wait`` seconds and scan again
        as soon as the server tells of a new mail (without IDLE: sleep the wait)."""
        result = self.poll(cursor)
        imap = self._imap
        if result.pointers or result.more or result.items or result.notes or imap is None:
            return result
        deadline = time.monotonic() + min(wait, _IDLE_MAX)
        try:
            if len(imap.untagged_responses.get("EXISTS", [])) > 1:  # a mail came during the scan
                return self.poll(result.cursor)
            news = self._idle(imap, deadline) if "IDLE" in self._capabilities else None
        except (imaplib.IMAP4.error, OSError, EOFError) as exc:
            self._drop_imap()
            raise self._imap_error(exc) from None
        if news is None:  # no IDLE here: the next listen scans again
            time.sleep(max(0.0, deadline - time.monotonic()))
            return result
        return self.poll(result.cursor) if news else result

    def _idle(self, imap: imaplib.IMAP4, deadline: float) -> bool | None:
        """IDLE until the folder has news (True) or ``deadline`` passes (False); None when
        the server refuses IDLE (it is then not tried again on this connection)."""
        tag = b"pbidle%d" % next(_tags)  # lower case: never one of imaplib's own tags
        imap.send(tag + b" IDLE\r\n")
        news = False
        answer_by = time.monotonic() + self._timeout(imap)
        while not (line := self._line(imap, answer_by, must=True)).startswith(b"+"):
            if line.startswith(tag + b" "):
                self._capabilities.discard("IDLE")
                return None
            news = news or bool(_NEWS.match(line))
        while not news:
            line = self._line(imap, deadline, must=False)
            if not line:
                break
            if line.startswith(tag + b" "):  # the server ended the IDLE itself
                return True
            news = bool(_NEWS.match(line))
        imap.send(b"DONE\r\n")
        answer_by = time.monotonic() + self._timeout(imap)
        while not (line := self._line(imap, answer_by, must=True)).startswith(tag + b" "):
            news = news or bool(_NEWS.match(line))
        if not line[len(tag) + 1 :].upper().startswith(b"OK"):
            raise imaplib.IMAP4.error(f"IDLE ended with {line[:200]!r}")
        return news

    def _line(self, imap: imaplib.IMAP4, by: float, *, must: bool) -> bytes:
        """The server's next line (a literal at its end skipped), or b"" when ``by``
        passes first and ``must`` is False (else the connection is given up)."""
        line = _read_line(imap, by)
        if line is None:
            if must:
                raise imaplib.IMAP4.abort("the IMAP server did not answer in time")
            return b""
        if not line:
            raise imaplib.IMAP4.abort("the IMAP server closed the connection")
        if line.startswith(b"* BYE"):
            raise imaplib.IMAP4.abort("the IMAP server said BYE")
        rest = line
        for _ in range(_LITERALS):  # an untagged answer with literals: skipped, its first line kept
            literal = _LITERAL_AT_END.search(rest)
            if literal is None:
                return line
            size = int(literal.group(1))
            if size > _LITERAL:
                raise imaplib.IMAP4.abort("the IMAP server sent a literal too long to skip")
            if len(imap.read(size)) < size:
                raise imaplib.IMAP4.abort("the IMAP server closed the connection")
            rest = _read_line(imap, time.monotonic() + self._timeout(imap)) or b""
            if not rest:
                raise imaplib.IMAP4.abort("the IMAP server did not end its answer")
        raise imaplib.IMAP4.abort("the IMAP server sent too many literals in one answer")

    @staticmethod
    def _timeout(imap: imaplib.IMAP4) -> float:
        return imap.socket().gettimeout() or 60.0


def _read_line(imap: imaplib.IMAP4, by: float) -> bytes | None:
    """imaplib's next line (b"": the connection ended), or None when nothing came before
    ``by``. Once bytes are there, the rest of their line must come within the socket's
    timeout, as for any imaplib read."""
    sock = imap.socket()
    timeout = sock.gettimeout()
    if _TIMED_READS:  # pragma: no cover  # Python 3.14: a timed-out read keeps what it got
        sock.settimeout(max(by - time.monotonic(), 0.001))
        try:
            return imap.readline()
        except TimeoutError:
            return None
        finally:
            sock.settimeout(timeout)
    file: Any = imap.file
    if isinstance(file, io.BufferedReader):  # bytes buffered, or there now without waiting
        sock.setblocking(False)
        try:
            there = bool(file.peek(1))
        except (BlockingIOError, ssl.SSLWantReadError):
            there = False  # nothing yet (TLS: half a record, kept by the TLS layer)
        finally:
            sock.settimeout(timeout)
        if there:
            return imap.readline()
    left = by - time.monotonic()
    if left <= 0:
        return None
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        if not selector.select(left):
            return None
    return imap.readline()  # bytes, or the end (b"")
