"""The XEPs beyond plain messages: corrections (XEP-0308), retractions (XEP-0424, and its
older form fastened with XEP-0422), replies (XEP-0461) with their quote marked as a
fallback (XEP-0428), and stable ids (XEP-0359's origin-id).

:func:`read_incoming` reads what the user's client sent, every id and range checked
before it is used (a client's stanza is hostile until then); :func:`add_references` puts
onto a stanza going to the user what a hub's :class:`~.hub.Outgoing` says it corrects,
retracts or answers, with a body readable by a client that knows none of these XEPs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pointerbridge.core.errors import InvalidInputError
from slixmpp.xmlstream import ET

from .ids import checked_id

if TYPE_CHECKING:
    from .hub import Outgoing

__all__ = ["FEATURES", "MAX_BODY", "PLUGINS", "Incoming", "add_references", "read_incoming"]

CORRECT = "urn:xmpp:message-correct:0"
RETRACT = "urn:xmpp:message-retract:1"
_RETRACT_OLD = "urn:xmpp:message-retract:0"  # inside XEP-0422's <apply-to>: what clients of 2020-2023 send
_FASTEN = "urn:xmpp:fasten:0"
REPLY = "urn:xmpp:reply:0"
_FALLBACKS = ("urn:xmpp:fallback:0", "urn:xmpp:feature-fallback:0")  # the latter: XEP-0461's own examples
_SID = "urn:xmpp:sid:0"
FEATURES = (CORRECT, RETRACT, REPLY, "urn:xmpp:fallback:0", _SID)
PLUGINS = ("xep_0308", "xep_0359", "xep_0424", "xep_0428", "xep_0461")
MAX_BODY = 65_536  # characters of a message the gateway seals; Prosody's own stanza limit is larger


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message the user's client sent: ``kind`` text, edit (a correction), delete (a
    retraction) or reply; ``target``: the XMPP id of the message it corrects, retracts or
    answers; ``text``: the body (a reply's quote taken out); ``ids``: this message's own
    XMPP ids (its id, its origin-id), for later corrections of it."""

    kind: str
    text: str
    target: str | None
    ids: tuple[str, ...]


def read_incoming(xml: ET.Element, body: str) -> Incoming:
    """What the message ``xml`` (its body ``body``) asks for. ``InvalidInputError`` for an
    id too long or not printable, a body over :data:`MAX_BODY` characters."""
    if len(body) > MAX_BODY:
        raise InvalidInputError(f"a message of {len(body)} characters is more than the gateway takes ({MAX_BODY})")
    origin = xml.find(f"{{{_SID}}}origin-id")
    own = (checked_id(xml.get("id"), "message"), checked_id(origin.get("id") if origin is not None else None, "origin"))
    ids = tuple(dict.fromkeys(one for one in own if one is not None))
    replace = xml.find(f"{{{CORRECT}}}replace")
    if replace is not None:
        return Incoming("edit", _without_quote(xml, body), _named(replace, "correction"), ids)
    retract = xml.find(f"{{{RETRACT}}}retract")
    if retract is not None:
        return Incoming("delete", "", _named(retract, "retraction"), ids)
    fastened = xml.find(f"{{{_FASTEN}}}apply-to")
    if fastened is not None and fastened.find(f"{{{_RETRACT_OLD}}}retract") is not None:
        return Incoming("delete", "", _named(fastened, "retraction"), ids)
    reply = xml.find(f"{{{REPLY}}}reply")
    if reply is not None:
        return Incoming("reply", _without_quote(xml, body), _named(reply, "reply"), ids)
    return Incoming("text", body, None, ids)


def _named(element: ET.Element, what: str) -> str:
    named = checked_id(element.get("id"), what)
    if named is None:
        raise InvalidInputError(f"the {what} your client sent names no message")
    return named


def _without_quote(xml: ET.Element, body: str) -> str:
    """``body`` without the ranges a reply's fallback marks (the quote a client put
    before the answer); the whole body if a range is not inside it."""
    ranges: list[tuple[int, int]] = []
    for namespace in _FALLBACKS:
        for fallback in xml.findall(f"{{{namespace}}}fallback"):
            if fallback.get("for") != REPLY:
                continue
            marked = fallback.findall(f"{{{namespace}}}body")
            if not marked:
                return ""  # no range: the whole body is the fallback
            for one in marked:
                start, end = _int(one.get("start")), _int(one.get("end"))
                if start is None or end is None or not 0 <= start <= end <= len(body):
                    return body
                ranges.append((start, end))
    for start, end in sorted(set(ranges), reverse=True):
        body = body[:start] + body[end:]
    return body


def _int(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 9:
        return None
    return int(value)


def add_references(msg: Any, out: Outgoing, sender: str, user: str) -> None:
    """Make ``msg`` (from ``sender`` to the user ``user``, its body set) say what ``out``
    does: its own id (and origin-id), the message it corrects or retracts, the one it
    answers with the quote as a fallback before the body."""
    if out.id is not None:
        msg["id"] = out.id
        msg["origin_id"]["id"] = out.id
    if out.replaces is not None:
        msg["replace"]["id"] = out.replaces
    if out.retracts is not None:
        msg["retract"]["id"] = out.retracts
        msg["fallback"]["for"] = RETRACT
        older = ET.SubElement(msg.xml, f"{{{_FASTEN}}}apply-to", {"id": out.retracts})
        ET.SubElement(older, f"{{{_RETRACT_OLD}}}retract")
    if out.reply_to is not None:
        msg["reply"]["id"] = out.reply_to
        msg["reply"]["to"] = user if out.reply_to_user else sender
        if out.quote is not None:
            msg["reply"].add_quoted_fallback(out.quote[1], out.quote[0])
