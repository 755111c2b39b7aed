"""Where each message of a chat is shown: at its send time, held to when it arrived.

A pure function over opened messages (no store, no keys): SPEC §9's display order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pointerbridge.core.pointer import Message

__all__ = ["SKEW", "Opened", "display_order"]


# How far a send time may stray from arrival before it is not believed (clocks, carriers'
# delays between members): a message never sorts before one that reached this store more
# than this before it, nor later than this after its own arrival.
SKEW = 3600.0

# A message opened from the store: (first pointer id, message, its pointer ids, trashed,
# first receipt: the earliest received_at of its pointers).
Opened = tuple[int, "Message", tuple[int, ...], bool, float]


def display_order(done: list[Opened], floor: float = float("-inf")) -> tuple[list[int], list[timedelta | None]]:
    """Where each message of ``done`` (in arrival order) is shown, and which are flagged.

    A message is placed at its send time, but never before a message that reached this
    store more than ``SKEW`` before it (a backdated message cannot slip into history read
    before it arrived) nor more than ``SKEW`` after its own first receipt (a message
    from "the future" cannot stay last); ties go by arrival (first pointer id). A message
    whose send time had to be moved is flagged with the time from that send time to its
    arrival. A backlog arriving at once (a first poll, days offline) keeps its send-time
    order unflagged: nothing in it arrived more than ``SKEW`` before the rest.
    ``floor``: where the messages before ``done`` (a page's) hold it, at least.
    One pass in arrival order (~0.5 µs a message, about what sorting by send time costs)."""
    count = len(done)
    positions = [item[1].sent_at.timestamp() for item in done]  # most keep their send time
    received = [item[4] for item in done]
    late: list[timedelta | None] = [None] * count
    behind = 0  # floor: the latest place among messages that arrived > SKEW before this one
    for i in range(count):
        while behind < i and received[behind] < received[i] - SKEW:
            if positions[behind] > floor:
                floor = positions[behind]
            behind += 1
        sent = positions[i]
        if sent < floor:
            positions[i] = floor
        elif sent > received[i] + SKEW:
            positions[i] = received[i] + SKEW
        else:
            continue
        late[i] = datetime.fromtimestamp(received[i], UTC) - done[i][1].sent_at
    # done is in arrival order and the sort is stable: equal places keep arrival order.
    return sorted(range(count), key=positions.__getitem__), late
