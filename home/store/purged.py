"""The numbers of purged pb2 messages a chat remembers as arrived (issue 21, gaps).

A message deleted for good leaves the store, so its number in its sender's stream (SPEC
§11.5) would read as a message that never arrived. The chat's sealed record keeps, per
(sender key, stream), the numbers purged there: a reader counts them as arrived, and
flags as replayed a message carrying one that reached the store after it was purged
(the purged message again under a new id, or re-padded by a member under its own: never
a new message, and kept no more than that).

Compactly: per stream, runs ``(first, last, at)`` of consecutive numbers, sorted and
merged (a ``clear`` of a whole history is one run per stream and gap), ``at`` the highest
pointer id in the store when the run was noted (a message all of whose pointers are at
or below it was there then: kept, not a replay). Bounded: at most :data:`MAX_RUNS` runs
per stream (beyond that the lowest run folds into ``below``: numbers up to it count as
arrived, gaps among them are no longer reported and a replay of them is no longer
flagged) and :data:`MAX_STREAMS` streams per chat (the streams noted least recently are
forgotten: their purged numbers read as gaps again if the stream goes on). Merging two
adjacent runs keeps the later ``at``: a replay that arrived before a purge of its
neighbour then counts as there at that purge.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "MAX_RUNS",
    "MAX_SEQ",
    "MAX_STREAMS",
    "Number",
    "Purged",
    "PurgedStream",
    "add_stream",
    "note_purged",
    "runs_of",
]

MAX_RUNS = 32
MAX_STREAMS = 64
MAX_SEQ = (1 << 32) - 1
"""The highest number a stream can have (SPEC §11.2: seq is 4 bytes)."""


@dataclass(slots=True)
class PurgedStream:
    """One stream's purged numbers: ``runs`` of (first, last, at), sorted, disjoint and not
    adjacent; every number up to ``below`` counts as arrived too (runs folded in)."""

    runs: list[tuple[int, int, int]] = field(default_factory=list)
    below: int = 0

    def arrived(self, seq: int) -> bool:
        """Whether ``seq`` counts as arrived (purged, or folded into ``below``)."""
        return seq <= self.below or self._run(seq) is not None

    def replays(self, seq: int, newest_pointer: int) -> bool:
        """Whether a message numbered ``seq`` whose newest pointer has id ``newest_pointer``
        came after its number was purged: a replay."""
        run = self._run(seq)
        return run is not None and newest_pointer > run[2]

    def not_covered(self, runs: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """The parts of ``runs`` (first, last) that count as arrived here not yet."""
        left: list[tuple[int, int]] = []
        for first, last in runs:
            start = max(first, self.below + 1)
            for have, upto, _ in self.runs:
                if have > start and start <= last:
                    left.append((start, min(last, have - 1)))
                start = max(start, upto + 1)
            if start <= last:
                left.append((start, last))
        return left

    def _run(self, seq: int) -> tuple[int, int, int] | None:
        # few runs (MAX_RUNS): a scan is as quick as a bisection and reads plainly
        return next((run for run in self.runs if run[0] <= seq <= run[1]), None)

    def add(self, runs: Iterable[tuple[int, int, int]], below: int = 0) -> None:
        """Take ``runs`` (and a ``below``) in: merged with those here, then bounded."""
        merged: list[tuple[int, int, int]] = []
        for first, last, at in sorted([*self.runs, *runs]):
            if merged and first <= merged[-1][1] + 1:
                top = merged[-1]
                merged[-1] = (top[0], max(top[1], last), max(top[2], at))
            else:
                merged.append((first, last, at))
        self.below = max(self.below, below)
        while len(merged) > MAX_RUNS:
            self.below = max(self.below, merged.pop(0)[1])
        self.runs = merged


Number = tuple[bytes, bytes, int]
"""A pb2 message's (sender key, stream, seq)."""

Purged = dict[tuple[bytes, bytes], PurgedStream]
"""A chat's purged numbers per (sender key, stream), the stream noted last at the end."""


def runs_of(seqs: Iterable[int], at: int) -> list[tuple[int, int, int]]:
    """``seqs`` as runs of consecutive numbers, each with ``at``."""
    runs: list[tuple[int, int, int]] = []
    for seq in sorted(set(seqs)):
        if runs and seq == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], seq, at)
        else:
            runs.append((seq, seq, at))
    return runs


def note_purged(purged: Purged, numbers: Iterable[tuple[bytes, bytes, int]], at: int) -> bool:
    """Add ``numbers`` (sender key, stream, seq) purged when ``at`` was the highest pointer
    id stored, keeping the bounds; return whether anything was noted."""
    by_stream: dict[tuple[bytes, bytes], set[int]] = {}
    for key, stream, seq in numbers:
        by_stream.setdefault((key, stream), set()).add(seq)
    for where, seqs in by_stream.items():
        add_stream(purged, where, PurgedStream(runs_of(seqs, at)))
    return bool(by_stream)


def add_stream(purged: Purged, where: tuple[bytes, bytes], taken: PurgedStream) -> None:
    """Merge ``taken`` into the stream ``where`` of ``purged`` (now its newest noted)."""
    kept = purged.pop(where, None) or PurgedStream()
    kept.add(taken.runs, taken.below)
    purged[where] = kept
    while len(purged) > MAX_STREAMS:
        del purged[next(iter(purged))]
