"""The mail a pointer travels in, finding pointers in any mail, and reading IMAP's answers:
the parts of the e-mail carrier (``email.py``) that are about formats, not connections."""

from __future__ import annotations

import hashlib
import imaplib
import re
import time
from email import message_from_bytes, policy
from email.errors import MessageError
from email.message import EmailMessage, Message
from email.utils import formatdate
from html import unescape
from typing import Any

from pointerbridge.core.errors import TooLargeError

from .base import PollResult, extract

__all__ = [
    "HEADER",
    "answer_text",
    "build_mail",
    "count",
    "fetched_bodies",
    "first_int",
    "password_refused",
    "quoted_folder",
    "scan_mail",
    "search_uids",
    "uid_set",
]

HEADER = "X-Pointer-Bridge"
_PARTS = 500  # MIME parts read per mail, at most
_LINE = 76
_UID = re.compile(rb"UID (\d+)")
# What a hostile mail can make the email package raise while it is taken apart.
_UNPARSABLE = (MessageError, ValueError, LookupError, IndexError, TypeError, AttributeError, NameError, RecursionError)


def build_mail(pointer: str, address: str, subject: str, recipients: list[str]) -> EmailMessage:
    """The mail one pointer travels in, from ``address`` to ``recipients``."""
    mail = EmailMessage(policy=policy.SMTP)
    mail["From"] = address
    mail["To"] = ", ".join(recipients)
    mail["Subject"] = subject
    mail["Date"] = formatdate(time.time(), usegmt=True)
    domain = address.rpartition("@")[2]
    mail["Message-ID"] = f"<pb-{hashlib.sha256(pointer.encode('ascii')).hexdigest()[:32]}@{domain}>"
    mail[HEADER] = "1"
    lines = [pointer[i : i + _LINE] for i in range(0, len(pointer), _LINE)]
    mail.set_content("\n".join(lines) + "\n", charset="us-ascii", cte="7bit")
    return mail


def scan_mail(raw: bytes, uid: int, result: PollResult) -> bool:
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


def quoted_folder(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def uid_set(uids: list[int]) -> str:
    return ",".join(map(str, uids))


def answer_text(data: Any) -> str:
    return b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace") if data else ""


def first_int(data: Any) -> int | None:
    try:
        return int(data[0])
    except (TypeError, ValueError, IndexError):
        return None


def count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def search_uids(answer: tuple[str, list[Any]]) -> list[int]:
    typ, data = answer
    if typ != "OK":
        raise imaplib.IMAP4.error(f"UID SEARCH: {answer_text(data)}")
    return [int(u) for d in data if isinstance(d, bytes) for u in d.split() if u.isdigit()]


def fetched_bodies(answer: tuple[str, list[Any]]) -> list[tuple[int, bytes]]:
    """(uid, raw mail) from a UID FETCH of BODY.PEEK[]; the UID may stand before or after
    the literal, as servers choose."""
    typ, data = answer
    if typ != "OK":
        raise imaplib.IMAP4.error(f"UID FETCH: {answer_text(data)}")
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


def password_refused(exc: imaplib.IMAP4.error) -> bool:
    """Whether a refused IMAP LOGIN refused the password: a NO (imaplib raises it with the
    answer's bytes; a BAD with text) saying ``[AUTHENTICATIONFAILED]`` (RFC 5530), or no
    code at all (older servers). Other codes (``[PRIVACYREQUIRED]``, ``[EXPIRED]``, ...)
    ask for another change than the password."""
    said = exc.args[0] if exc.args and isinstance(exc.args[0], bytes) else b""
    return re.match(rb"\[AUTHENTICATIONFAILED\]|[^[]", said, re.IGNORECASE) is not None
