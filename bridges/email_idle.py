"""The e-mail carrier's push hook: IMAP IDLE (RFC 2177) on the poll's own connection.

Why the standard library again rather than ``imapclient`` (whose ``idle_check`` is the
same select-then-read over imaplib's socket, for one more dependency): IDLE is one tagged
command, a ``+`` continuation, untagged lines until ``DONE``, and a tagged answer;
``imaplib``'s documented ``send`` and ``socket`` and its ``file`` carry them. imaplib's
``readline`` bounds a line's length (1 MB) but its time only per ``recv`` (the socket's
timeout), so a server sending a byte every few seconds, or keeping the socket full of
untagged lines, would hold a wait for as long as it likes. So during an IDLE every line
is read here, under a deadline looked at before every read: a selector waits for bytes,
and a non-blocking look into imaplib's buffered file (Python 3.11 to 3.13: a file that is
unusable once a read timed out, so no read here ever waits in it) takes only what is there.
A line begun must end by the wait's deadline or within the socket's timeout of its first
byte, whichever is later, in at most 1 MB; literals are skipped under the same rule, up to
:data:`_LITERAL` bytes and :data:`_LITERALS` of them; one IDLE reads at most
:data:`_IDLE_LINES` lines; the answers to IDLE and to DONE must come within the carrier's
``timeout``. Anything else gives the connection up (a retryable error). Python 3.14 reads
with a buffer of its own, which this cannot look into: there a read waits with a timeout
of what is left of the deadline, bounded per ``recv`` only (the suite runs 3.11: that
branch is not exercised here).

- **Nothing missed between the scan and the IDLE.** The scan is the poll's own (SELECT,
  cursor, UIDVALIDITY, windows), and reads only below the UIDNEXT its SELECT reported. A
  mail arriving after that SELECT is told by the server as an untagged ``EXISTS``: during
  the scan's later commands (imaplib keeps those: a second EXISTS after the SELECT's means
  a new mail, so the listen scans again at once), or when the IDLE starts, or while it
  runs. ``EXISTS`` or ``RECENT`` end the wait, and the folder is scanned again; an
  ``EXPUNGE`` or a flag change brings nothing to read and the wait goes on.
- **The 29-minute rule.** One IDLE lasts at most the listen's ``wait`` and never more
  than :data:`_IDLE_MAX` (the app waits 50 s); the connection and its folder stay open
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
_MAX_LINE = 1_000_000  # bytes of a line at most, as imaplib's own readline
# Untagged lines one IDLE reads at most (its answer, the wait, the answer to DONE): a
# mailbox another client empties answers an EXPUNGE a mail, so this is far above what an
# IDLE of a few minutes meets; a server flooding more is given up (and tried again later).
_IDLE_LINES = 20_000
_TIMED_READS = sys.version_info >= (3, 14)  # imaplib keeps what a timed-out read got
_NEWS = re.compile(rb"\* \d+ (EXISTS|RECENT)\r?\n?\Z", re.IGNORECASE)
_LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}\r?\n?\Z")
_tags = itertools.count(1)


class MailboxIdle(Bridge):
    """Mixed into the e-mail bridge: :meth:`listen` over IMAP IDLE, or a scan per wait."""

    listens = True
    listen_wait = 50.0  # one SELECT and one IDLE per wait: half the rounds of 25 s, under proxies' 60 s
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
        lines = itertools.count(1)

        def read(by: float, *, must: bool) -> bytes:
            if next(lines) > _IDLE_LINES:
                raise imaplib.IMAP4.abort(f"the IMAP server sent over {_IDLE_LINES} lines in one IDLE")
            return self._line(imap, by, must=must)

        answer_by = time.monotonic() + self._timeout(imap)
        while not (line := read(answer_by, must=True)).startswith(b"+"):
            if line.startswith(tag + b" "):
                self._capabilities.discard("IDLE")
                return None
            news = news or bool(_NEWS.match(line))
        while not news:
            line = read(deadline, must=False)
            if not line:
                break
            if line.startswith(tag + b" "):  # the server ended the IDLE itself
                return True
            news = bool(_NEWS.match(line))
        imap.send(b"DONE\r\n")
        answer_by = time.monotonic() + self._timeout(imap)
        while not (line := read(answer_by, must=True)).startswith(tag + b" "):
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
            if _read_literal(imap, size, time.monotonic() + self._timeout(imap)) is None:
                raise imaplib.IMAP4.abort("the IMAP server timed out in a literal")
            rest = _read_line(imap, time.monotonic() + self._timeout(imap)) or b""
            if not rest:
                raise imaplib.IMAP4.abort("the IMAP server did not end its answer")
        raise imaplib.IMAP4.abort("the IMAP server sent too many literals in one answer")

    @staticmethod
    def _timeout(imap: imaplib.IMAP4) -> float:
        return imap.socket().gettimeout() or 60.0


def _read_line(imap: imaplib.IMAP4, by: float) -> bytes | None:
    """The server's next line (b"": the connection ended), or None when none of it came
    before ``by``. A line begun must end by ``by`` or within the socket's timeout of its
    first byte, whichever is later, and within :data:`_MAX_LINE` bytes; else the
    connection is given up (``imaplib.IMAP4.abort``)."""
    return _read(imap, by, None)


def _read_literal(imap: imaplib.IMAP4, size: int, by: float) -> bytes | None:
    """A literal's ``size`` bytes, all of them by ``by``; None when none came by then."""
    return _read(imap, by, size) if size else b""


def _read(imap: imaplib.IMAP4, by: float, size: int | None) -> bytes | None:
    """A line (``size`` None) or ``size`` bytes, read under ``by``: the deadline is looked
    at before every read, and each read takes only what is there (a selector, then a
    non-blocking look into imaplib's own buffered file), so neither a flood nor a trickle
    holds it past the deadline."""
    sock = imap.socket()
    timeout = sock.gettimeout()
    file: Any = imap.file
    if _TIMED_READS or not isinstance(file, io.BufferedReader):  # pragma: no cover  # Python 3.14
        sock.settimeout(max(by - time.monotonic(), 0.001))
        try:
            return imap.readline() if size is None else imap.read(size)
        except TimeoutError:
            return None
        finally:
            sock.settimeout(timeout)
    got = bytearray()
    ready = False  # the selector said the socket is readable
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        while True:
            left = by - time.monotonic()
            if left <= 0:
                if got:
                    raise imaplib.IMAP4.abort("the IMAP server timed out mid-line")
                return None
            chunk = _there(file, sock, timeout)
            if chunk is None or (not chunk and not ready):  # nothing yet (TLS: half a record)
                ready = bool(selector.select(left))
                continue
            if not chunk:  # readable, yet nothing to read: the end
                if got or size:
                    raise imaplib.IMAP4.abort("the IMAP server closed the connection mid-line")
                return b""
            if not got and size is None:  # the line began: the rest within a timeout of it
                by = max(by, time.monotonic() + (timeout or 60.0))
            ready = False
            end = chunk.find(b"\n") + 1 if size is None else size - len(got)
            got += file.read(min(end, len(chunk)) if end > 0 else len(chunk))
            if size is None and len(got) > _MAX_LINE:
                raise imaplib.IMAP4.abort(f"the IMAP server sent a line longer than {_MAX_LINE} bytes")
            if (size is None and got.endswith(b"\n")) or len(got) == size:
                return bytes(got)


def _there(file: io.BufferedReader, sock: Any, timeout: float | None) -> bytes | None:
    """The bytes imaplib's file holds or one recv gets now without waiting (b"": none, or
    the end), None when TLS has half a record (kept by the TLS layer)."""
    sock.setblocking(False)
    try:
        return file.peek(1)
    except (BlockingIOError, ssl.SSLWantReadError):
        return None
    finally:
        sock.settimeout(timeout)
