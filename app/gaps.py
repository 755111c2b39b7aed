"""Gaps and replays (issue 21 design §3): what the pb2 numbering of a chat's messages says.

Each sending device numbers its messages in a chat 1, 2, 3... in a stream of its own
(SPEC §11). Per (sender key, stream) a reader knows the numbers it has seen: those missing
below the highest have not arrived (withheld, lost, or still on their way: a carrier that
reorders fills a gap later), and a number seen again under another message id is a replay
(a second message the sender's key signed with a number it had used). A stream's trailing
loss is invisible until its next message. pb1 messages carry no numbers and count for
nothing here. Keyed by the sender key, not the name: after a rotation the new key's streams
start at 1 and the old key's gaps stay reported under the old key.

A part of a history (the console's pages, which do not reach the chat's first pointer)
counts a stream's gaps only from the lowest number it holds: the numbers below it are on
older pages, not missing. Its replays are those within the part (an original on an older
page is not seen).

Messages deleted for good (purged) leave the store, but their numbers do not become gaps:
the chat's sealed record keeps them (home/store/purged.py), and they count as arrived. A
message carrying a purged number that reached the store after the purge is a replay (the
purged message again, under a new id or re-padded under its own): no message ids are kept
for it, which would grow with every purge.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pointerbridge.core.pointer import Message
    from pointerbridge.home.store import Purged

__all__ = ["MAX_LISTED", "Gap", "Numbering", "number_messages"]

MAX_LISTED = 100
"""At most this many missing numbers are listed per stream (the count is exact): a hostile
sender's seq 4,294,967,295 must not make a reader build a list of four billion numbers."""


@dataclass(frozen=True, slots=True)
class Gap:
    """Messages of one sender's stream that have not arrived: ``count`` of them, the first
    ``missing`` numbers (at most :data:`MAX_LISTED`) listed; ``username`` is the name the
    stream's newest message came under (sender-controlled: escape it to show it)."""

    username: str
    sender_key: bytes
    stream: bytes
    missing: tuple[int, ...]
    count: int

    @property
    def fingerprint(self) -> str:
        """The sender key's fingerprint."""
        from pointerbridge.core.keys import fingerprint

        return fingerprint(self.sender_key)


@dataclass(frozen=True, slots=True)
class Numbering:
    """What the numbers of a chat's messages say: the gaps (per stream, in order of each
    stream's first message) and the ids of the messages that replay a number seen before."""

    gaps: tuple[Gap, ...]
    replayed: frozenset[str]


def _missing(covered: Iterable[tuple[int, int]], lowest: int, highest: int) -> tuple[tuple[int, ...], int]:
    """(the first missing numbers from ``lowest`` to ``highest``, how many are missing in
    all), ``covered`` the runs (first, last) of numbers that arrived: counted, not walked
    (a purged run may span millions of numbers)."""
    listed: list[int] = []
    count, number = 0, lowest
    for first, last in sorted(covered):
        first, last = max(first, number), min(last, highest)
        if first > last:
            continue
        count += first - number
        listed.extend(range(number, first)[: MAX_LISTED - len(listed)])
        number = last + 1
    if number <= highest:
        count += highest - number + 1
        listed.extend(range(number, highest + 1)[: MAX_LISTED - len(listed)])
    return tuple(listed), count


def number_messages(
    messages: Iterable[tuple[Message, int]], *, whole: bool = True, purged: Purged | None = None
) -> Numbering:
    """The gaps and replays of ``messages`` (a chat's whole history in display order, trash
    included: a message in the trash arrived; each with the id of its newest pointer). The
    first message to use a number keeps it; a later one with the same number and another
    id is a replay. ``whole=False``: the messages are the newest part of the history only,
    so each stream counts from the lowest number among them, not from 1. ``purged``: the
    numbers of the messages deleted for good (the chat's record, home/store/purged.py):
    they arrived; a message carrying one that reached the store after it was purged is a
    replay."""
    purged = purged or {}
    streams: dict[tuple[bytes, bytes], tuple[str, dict[int, str]]] = {}
    replayed: set[str] = set()
    for message, newest in messages:
        if message.stream is None or message.seq is None:
            continue
        key = (message.sender_key, message.stream)
        _, seqs = streams.get(key, ("", {}))
        first = seqs.setdefault(message.seq, message.id)
        gone = purged.get(key)
        if first != message.id or (gone is not None and gone.replays(message.seq, newest)):
            replayed.add(message.id)
        streams[key] = (message.username, seqs)
    gaps = []
    for (sender_key, stream), (username, seqs) in streams.items():
        covered = [(seq, seq) for seq in seqs]
        gone = purged.get((sender_key, stream))
        if gone is not None:
            covered += [(first, last) for first, last, _ in gone.runs]
            covered += [(1, gone.below)] if gone.below else []
        missing, count = _missing(covered, 1 if whole else min(seqs), max(seqs))
        if count:
            gaps.append(Gap(username, sender_key, stream, missing, count))
    return Numbering(tuple(gaps), frozenset(replayed))
