"""What the app hands its front-ends: unlocked chats, shown messages, pages, poll
summaries and chat overviews. Plain data, no behaviour but a convenience property."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, NamedTuple

from pointerbridge.home.store import ChatRow

if TYPE_CHECKING:
    from pointerbridge.app.trust import Trust
    from pointerbridge.core.keys import ChatKey
    from pointerbridge.core.pointer import Message
    from pointerbridge.core.rotation import RotationNotice

__all__ = ["ChatOverview", "Page", "PollSummary", "Shown", "UnlockedChat"]


@dataclass(frozen=True, slots=True)
class UnlockedChat:
    """A chat whose secret was typed this session: its row and its key (RAM only).

    ``current`` says whether ``key`` is the chat's newest secret (only then can it send);
    ``older`` holds the chat's other secrets unlocked this session, for reading only.
    """

    row: ChatRow
    key: ChatKey
    current: bool = True
    older: tuple[ChatKey, ...] = ()

    @property
    def keys(self) -> tuple[ChatKey, ...]:
        """Every key unlocked for this chat: ``key`` first, then ``older``."""
        return (self.key, *self.older)


class Shown(NamedTuple):
    """A message ready to show, with what the reader should know about its sender.

    ``trust`` is ``"pinned"`` (the sender key seen before, or the one its owner rotated
    to), ``"new"`` (first message under this name: now pinned), ``"rotated"`` (a
    rotation notice, signed by the name's trusted key, that moves the name to the key
    this message is sealed by: ``notice`` holds it), ``"retired"`` (sent with a key its
    owner has since replaced, arriving after the rotation: a device not yet updated, or
    someone holding the old phrase; show it as a warning), ``"conflict"`` (the name is
    frozen: its old key signed two rotations naming different new keys, so its phrase
    leaked; neither side is genuine until the user re-pins after verifying in person,
    :meth:`App.trust_key`) or ``"changed"`` (the name was pinned to another key: someone
    else, or a new identity without a notice; never show this as genuine). A pinned key
    the user verified in person (:meth:`App.mark_verified`) is ``"verified"``, and another
    key under that name while it holds it ``"verified_changed"``, louder than ``"changed"``.

    ``arrived_late`` is set when the send time the sender wrote is not believable beside
    when the message reached this store (SPEC §9): the time from the claimed send time
    to the first receipt (negative: it claims a time more than an hour after it arrived).
    Such a message is shown at its place in arrival order, not at the time it claims.

    ``lookalikes``: the other senders of the chat whose names look like this one's
    (another case, a Cyrillic "а" for a Latin "a": app/names.py); every front-end flags
    such a name loudly (:func:`pointerbridge.app.display.name_warning`).

    ``replaced_verified``: a rotation notice (``"rotated"``) that moved its name off the
    key the user verified in person: every front-end says so on its line, and to verify
    the new key again (:func:`pointerbridge.app.display.rotation_warning`).
    """

    message: Message
    trust: Trust
    pointer_ids: tuple[int, ...]
    trashed: bool
    notice: RotationNotice | None = None
    arrived_late: timedelta | None = None
    lookalikes: tuple[str, ...] = ()
    replaced_verified: bool = False


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a chat's history (:meth:`App.read_page`).

    ``messages`` oldest first; ``refused``: pointers of the page that failed their checks;
    ``older``: pass it as ``before=`` for the previous page (None: this page reaches the
    chat's first pointer); ``unsettled``: some trust marks of the page are provisional (a
    sender with no stored pin yet, or pointers no full :meth:`App.read` has judged: a
    rotation notice among them is only stored by one); ``locked``: pointers of the page
    under a secret of the chat that was not unlocked.
    """

    messages: list[Shown]
    refused: int
    older: int | None
    unsettled: bool
    locked: int = 0


@dataclass(slots=True)
class PollSummary:
    """What one ``poll`` did, per carrier."""

    posted: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)  # new pointers stored
    known: dict[str, int] = field(default_factory=dict)  # pointers found that were stored already
    skipped: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)  # items a carrier could not read
    to_fix: list[str] = field(default_factory=list)  # carriers whose error is their configuration
    live: list[str] = field(default_factory=list)  # not fetched: a live listener has them


class ChatOverview(NamedTuple):
    """A chat at a glance: ``unread`` pointers received since it was last read, and when
    its newest pointer arrived (None: it has none)."""

    row: ChatRow
    unread: int
    last_activity: float | None
