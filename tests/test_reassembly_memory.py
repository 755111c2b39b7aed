"""The Reassembler's bound on incomplete messages holds for the memory they really take
(issue 17, item 11): measured with tracemalloc while 1-byte parts are fed up to the bound."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from pointerbridge.core import Part, Reassembler, TooLargeError

_BOUND = 2 * 1024 * 1024
_SLACK = 64 * 1024  # tracemalloc's own frames and the test's loop
_KEY = bytes(range(32))


def _fresh(text: str) -> str:
    return "".join(list(text))  # a string object of its own, as unsealing gives each part


def _part(message_id: str, index: int, count: int) -> Part:
    # Every field a new object, as unseal builds them from each pointer's bytes.
    return Part(
        _fresh("general"),
        _fresh("alice-with-a-long-name"),
        _KEY[:16] + _KEY[16:],
        datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        _fresh(message_id),
        index,
        count,
        bytes([index & 0xFF]),
    )


def _one_part_each(n: int) -> Part:
    return _part(f"{n:032x}", 0, 2)  # many messages, each waiting for its second part


def _one_message(n: int) -> Part:
    return _part("ab" * 16, n, 0xFFFF)  # one message of the most parts there can be


@pytest.mark.parametrize("make", [_one_part_each, _one_message], ids=["many-messages", "one-message"])
def test_memory_of_incomplete_messages_stays_within_the_bound(make: Callable[[int], Part]) -> None:
    tracemalloc.start()
    try:
        joiner = Reassembler(max_pending_bytes=_BOUND)
        before = tracemalloc.get_traced_memory()[0]
        fed = 0
        with pytest.raises(TooLargeError):
            while fed < 0xFFFF:
                joiner.add(make(fed))
                fed += 1
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert joiner.pending >= 1
    assert held <= _BOUND + _SLACK, f"{fed} parts hold {held} bytes, over the bound of {_BOUND}"
    # and the bound is not so cautious that it refuses far below it
    assert held >= _BOUND // 3, f"{fed} parts hold only {held} bytes when the bound of {_BOUND} refused more"
