"""What a paste held, as every front-end reports it: no pointers found; pointers damaged
(truncated or altered: never kept); pointers a given chat opens; pointers none of the given
chats opens (another chat's, or a wrong secret); and what was stored, new or known already.

Sorting is pure (no store): :func:`sort_pasted` returns the report and the pointers worth
keeping; :meth:`App.receive` stores those and fills in the counts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pointerbridge.core.errors import (
    ArmorError,
    NotForThisChatError,
    PointerError,
    TamperedError,
    TruncatedError,
)

from .base import _storable

if TYPE_CHECKING:
    from pointerbridge.core.keys import ChatKey

__all__ = ["Received", "sort_pasted"]


@dataclass(frozen=True, slots=True)
class Received:
    """What pasted text held (:meth:`App.receive`).

    ``damaged``: pointer-like text that is not a whole pointer (``truncated`` of them cut
    short) or a pointer carrying a given chat's routing tag that does not open under its
    key (altered): none is stored. ``later``: pointers of a later version (stored: a later
    release opens them). ``opened``: per chat given, how many of its pointers there were.
    ``unsorted``: well-formed pointers none of ``chats`` opens (all of them when no chat
    was given). ``new`` and ``known``: of the pointers kept, how many the store did not
    have yet, and how many it had."""

    chats: tuple[str, ...] = ()
    damaged: int = 0
    truncated: int = 0
    later: int = 0
    opened: dict[str, int] = field(default_factory=dict)
    unsorted: int = 0
    new: int = 0
    known: int = 0

    @property
    def found(self) -> int:
        """Every pointer or pointer-like text found, damaged ones included."""
        return self.damaged + self.later + sum(self.opened.values()) + self.unsorted

    @property
    def usable(self) -> int:
        """Whole pointers found: what a chat (or a later release) may open."""
        return self.found - self.damaged

    def summary(self) -> str:
        """One line saying what happened, for any front-end."""
        if not self.found:
            return "no pointers found in that text"
        parts = [f"stored {self.new} new pointer(s), {self.known} already known"] if self.usable else []
        if self.damaged:
            parts.append(f"{self.damaged} damaged (truncated or altered), not kept")
        if self.later:
            parts.append(f"{self.later} of a later version, kept for a release that reads it")
        parts += [f"{count} for {name!r}" for name, count in self.opened.items() if count]
        if self.unsorted and self.chats:
            names = " or ".join(repr(name) for name in self.chats)
            parts.append(f"{self.unsorted} not for {names} (another chat's, or a wrong secret)")
        elif self.unsorted:  # no key given: only the chat they are for can check them
            parts.append(f"{self.unsorted} for a chat not open now (reading it checks them)")
        return "; ".join(parts)

    def problem(self) -> PointerError | None:
        """The error to end with when nothing usable was found (None: something was):
        no pointers at all; only damaged ones; or, chats given, none of theirs."""
        if not self.found:
            return ArmorError("no pointers found in that text")
        if not self.usable:
            if self.truncated == self.damaged:
                return TruncatedError(f"{self.damaged} damaged pointer(s), truncated: nothing usable, nothing kept")
            return TamperedError(
                f"{self.damaged} damaged pointer(s), truncated or altered: nothing usable, nothing kept"
            )
        if self.chats and not any(self.opened.values()):
            names = " or ".join(repr(name) for name in self.chats)
            if self.damaged > self.truncated:
                return TamperedError(f"no pointer for chat {names} here opens: {self.damaged} damaged, not kept")
            return NotForThisChatError(f"none of these pointers is for chat {names} with that secret")
        return None


def sort_pasted(text: str, chats: Mapping[str, tuple[ChatKey, ...]]) -> tuple[Received, list[tuple[str, bytes]]]:
    """Sort the pointers in ``text`` under the given chats' keys (name -> keys): the
    report (``new`` and ``known`` left at 0) and the (text, payload) pointers to keep."""
    from pointerbridge.core.armor import scan_pointers
    from pointerbridge.core.pointer import belongs_to, envelope, tag_matches
    from pointerbridge.home.store import pointer_version

    scan = scan_pointers(text)
    damaged = scan.rejected_count
    truncated = sum(isinstance(exc, TruncatedError) for exc in scan.rejected)
    if scan.rejected_count > len(scan.rejected) and truncated == len(scan.rejected):
        truncated = damaged  # only the first refusals are kept: all of them were truncations
    later = unsorted = 0
    opened = dict.fromkeys(chats, 0)
    keep: list[tuple[str, bytes]] = []
    storable = _storable(scan.pointers)
    short = len(scan.pointers) - len(storable)  # whole armor, shorter than any pointer could be
    damaged, truncated = damaged + short, truncated + short
    for pointer, payload in storable:
        if not payload:  # a later version: this release cannot tell more
            later += 1
            keep.append((pointer, payload))
            continue
        try:
            envelope(payload)
        except PointerError:  # whole armor, but shorter than any pointer
            damaged += 1
            truncated += 1
            continue
        version = pointer_version(pointer, payload)
        owner = next(
            (name for name, keys in chats.items() if any(belongs_to(k, payload, version=version) for k in keys)), None
        )
        if owner is not None:
            opened[owner] += 1
        elif any(tag_matches(k, payload) for keys in chats.values() for k in keys):
            damaged += 1  # a given chat's tag whose AEAD does not open: altered
            continue
        else:
            unsorted += 1
        keep.append((pointer, payload))
    report = Received(tuple(chats), damaged, truncated, later, opened, unsorted)
    return report, keep
