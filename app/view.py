"""A chat as people read it (issue 21): replies quoted, edits and deletes applied, forgeries,
replays and unknown kinds flagged, gaps counted. Logic only: front-ends present these
objects (the CLI's ``read``, the console), escaping every field a sender controls.

Rules. An edit or delete counts only when signed by the key that signed its target: the
latest edit in display order gives the target its body and an "edited" mark, a delete
takes the body away ("deleted by its sender"); the edit or delete itself is then not a
line of its own. One signed by any other key is a forgery: shown as its own line, flagged,
and the target is left as it was. An edit or delete whose target is not here (not arrived,
purged, or never sent) is shown as its own line too, as is one aimed at a message that
cannot be edited (a delete, an edit, a rotation notice, a kind this version cannot show).
A reply quotes the first line of its target's current body, or says the target is not
here. A kind this version does not know is "a message this version cannot show".

A view of part of a history (``whole=False``: the console's pages, newest first, not yet
reaching the chat's first pointer) says of a target it does not hold that it is on an
older page or not here, and counts gaps only from each stream's lowest number it holds
(app/gaps.py); once the part reaches the chat's first pointer it is the whole view.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .gaps import Gap, number_messages

if TYPE_CHECKING:
    from pointerbridge.core.pointer import Message
    from pointerbridge.home.store import Purged

    from .models import Shown

__all__ = [
    "CANNOT_SHOW",
    "DELETED",
    "NOT_HERE",
    "NOT_LOADED",
    "ChatView",
    "MessageView",
    "build_view",
    "kind_name",
]

CANNOT_SHOW = "a message this version cannot show"
DELETED = "deleted by its sender"
NOT_HERE = "a message not here"
NOT_LOADED = "a message on an older page, or not here"
_EDITABLE = ("text", "reply", "attachment")
_QUOTE_CHARS = 120


@dataclass(frozen=True, slots=True)
class MessageView:
    """One line of a chat as shown.

    ``kind``: text, reply, edit, delete, attachment, rotation or unknown (:func:`kind_name`).
    ``body``: what to show (an edited message's latest text; "" once deleted, or for a kind
    this version cannot show: ``note`` then says so). ``target``: the message id a reply,
    edit or delete names. ``quote``: a reply's quote of its target's first line (None: the
    target is not here, ``note`` says so); ``quote_from``: the name its target was sent
    under (sender-controlled). ``edited``/``deleted``: changed by its sender.
    ``forged``: an edit or delete signed by someone other than its target's sender (the
    target is unchanged). ``replayed``: its number in its sender's stream was used by an
    earlier message (not a new message). ``note``: a sentence for people, or None.
    """

    shown: Shown
    kind: str
    body: str
    target: str | None = None
    quote: str | None = None
    edited: bool = False
    deleted: bool = False
    forged: bool = False
    replayed: bool = False
    note: str | None = None
    quote_from: str | None = None

    @property
    def id(self) -> str:
        """The message id (what ``pbridge edit``, ``delete`` and ``send --reply-to`` take)."""
        return self.shown.message.id

    @property
    def message(self) -> Message:
        """The message as it was opened."""
        return self.shown.message


@dataclass(frozen=True, slots=True)
class ChatView:
    """A chat's lines in display order, and its gaps (per sender stream)."""

    messages: list[MessageView]
    gaps: tuple[Gap, ...]

    def find(self, message_id: str) -> MessageView | None:
        """The line of the message ``message_id`` (a whole id), if shown."""
        return next((m for m in self.messages if m.id == message_id), None)


def kind_name(message: Message) -> str:
    """The kind of a message's content as a word (a pb1 message is a text)."""
    kind = type(message.content).__name__.lower() if message.content is not None else "text"
    return kind if kind in ("text", "reply", "edit", "delete", "attachment", "rotation") else "unknown"


def _first_line(body: str) -> str:
    line = body.split("\n", 1)[0]
    return line if len(line) <= _QUOTE_CHARS else line[: _QUOTE_CHARS - 1] + "…"


def _target(message: Message) -> str | None:
    return getattr(message.content, "target", None)


def _short(message_id: str) -> str:
    return message_id[:8]


def build_view(
    shown: Iterable[Shown], *, keep: Iterable[bool] | None = None, whole: bool = True, purged: Purged | None = None
) -> ChatView:
    """The view of a chat's messages (``shown``: its whole history in display order, trash
    included, so that gaps, edits and deletes see every message that arrived). ``keep``:
    one flag per message, whether its line is wanted (False: the line is left out, a
    message in the trash when reading without it; its edits still count). ``whole=False``:
    ``shown`` is the newest part of the history only (pages that do not reach the chat's
    first pointer): a target outside it is :data:`NOT_LOADED`, and gaps count from each
    stream's lowest number in it. ``purged``: the numbers of the chat's messages deleted
    for good (:meth:`App.purged_numbers`): arrived, not gaps (app/gaps.py)."""
    everything = list(shown)
    wanted = [True] * len(everything) if keep is None else list(keep)
    numbering = number_messages(
        ((s.message, max(s.pointer_ids, default=0)) for s in everything), whole=whole, purged=purged
    )
    absent = NOT_HERE if whole else NOT_LOADED
    by_id = {s.message.id: s for s in everything}
    edits: dict[str, str] = {}  # target id -> its latest body
    deleted: set[str] = set()
    own_line: dict[str, tuple[bool, str]] = {}  # edit/delete id -> (forged, why it is a line)
    for s in everything:
        kind, target = kind_name(s.message), _target(s.message)
        if kind not in ("edit", "delete") or target is None:
            continue
        aimed = by_id.get(target)
        action = "an edit" if kind == "edit" else "a delete"
        if aimed is None:
            own_line[s.message.id] = (False, f"{action} of {absent} (#{_short(target)})")
        elif aimed.message.sender_key != s.message.sender_key:
            name = aimed.message.username
            by = s.message.username
            own_line[s.message.id] = (True, f"FORGED: {action} of {name}'s message #{_short(target)}, signed by {by}")
        elif kind_name(aimed.message) not in _EDITABLE:
            own_line[s.message.id] = (False, f"{action} of a message that cannot be changed (#{_short(target)})")
        elif kind == "delete":
            deleted.add(target)
        elif target not in deleted:
            edits[target] = s.message.body
    lines = []
    for s, keep_line in zip(everything, wanted, strict=True):
        message = s.message
        mid, kind = message.id, kind_name(message)
        replayed = mid in numbering.replayed
        if kind in ("edit", "delete") and mid not in own_line:
            continue  # applied to its target
        if not keep_line:
            continue
        if mid in own_line:
            forged, why = own_line[mid]
            lines.append(
                MessageView(s, kind, message.body, _target(message), forged=forged, replayed=replayed, note=why)
            )
            continue
        target = _target(message)
        quote = quote_from = note = None
        if kind == "reply" and target is not None:
            quoted = by_id.get(target)
            if quoted is None:
                note = f"a reply to {absent}"
            else:
                quote = DELETED if target in deleted else _first_line(edits.get(target, quoted.message.body))
                quote_from = quoted.message.username
        if kind == "unknown":
            note = CANNOT_SHOW
        gone = mid in deleted
        body = "" if gone else edits.get(mid, message.body)
        lines.append(
            MessageView(
                s,
                kind,
                body,
                target,
                quote,
                edited=mid in edits and not gone,
                deleted=gone,
                replayed=replayed,
                note=DELETED if gone else note,
                quote_from=quote_from,
            )
        )
    return ChatView(lines, numbering.gaps)
