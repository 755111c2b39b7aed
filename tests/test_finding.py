"""Finding pointers in junk (issue 17, item 10): every shape of junk keeps its counts, and
the work per character is bounded (counted, not timed)."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pointerbridge.core import armor as armor_module
from pointerbridge.core.armor import armor, find_pointers, scan_pointers
from pointerbridge.core.errors import (
    ArmorError,
    NonCanonicalError,
    PointerError,
    TooLargeError,
    TruncatedError,
)

_N = 70_000


def _repeat(unit: str) -> str:
    return (unit * (_N // len(unit) + 1))[:_N]


def _base62_with_pb1() -> str:
    rnd = random.Random(17)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return "".join(rnd.choice(alphabet) if rnd.random() > 0.05 else " pb1" for _ in range(_N))[:_N]


# (text, refused, kinds of the first refusals), counts as the scanner before issue 17's
# item 10 rework found them (a window per candidate, an error object per refusal).
SHAPES: dict[str, tuple[str, int, set[type[PointerError]]]] = {
    "pb1 ": (_repeat("pb1 "), 1, {TruncatedError}),
    "pb1.": (_repeat("pb1."), 17500, {TruncatedError}),
    "pb1 1.": (_repeat("pb1 1."), 11667, {TruncatedError}),
    "pb18zz ": (_repeat("pb18zz "), 10000, {TooLargeError}),
    "pb1000 ": (_repeat("pb1000 "), 10000, {ArmorError}),
    "pb1 8zz ": (_repeat("pb1 8zz "), 8750, {TooLargeError}),
    "pb18WW.": (_repeat("pb18WW."), 10000, {TruncatedError}),
    "pb1001.": (_repeat("pb1001."), 10000, {TruncatedError}),
    "pb1001zz.": (_repeat("pb1001zz."), 7778, {NonCanonicalError}),
    "pb10Az ": (_repeat("pb10Az "), 208, {NonCanonicalError, TruncatedError}),
    "run tails": (("pb1 8WW " * 6000 + ".")[:_N], 6000, {TruncatedError}),
    "base62 and pb1": (_base62_with_pb1(), 22, {NonCanonicalError, TooLargeError, TruncatedError}),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_of_junk_keeps_its_counts(shape: str) -> None:
    text, refused, kinds = SHAPES[shape]
    scan = scan_pointers(text)
    assert scan.pointers == []
    assert scan.rejected_count == refused
    assert len(scan.rejected) == min(refused, 100)
    assert {type(e) for e in scan.rejected} == kinds


class _Counted:
    """A compiled pattern that counts the matches it hands to Python."""

    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        self.pattern, self.matches = pattern, 0

    def finditer(self, *args: Any) -> Iterator[re.Match[bytes]]:
        for match in self.pattern.finditer(*args):
            self.matches += 1
            yield match


@pytest.mark.parametrize("shape", [s for s in SHAPES if s != "run tails"])
def test_junk_costs_no_python_step_per_candidate(shape: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 17, item 10: past the first 100 refusals, Python looks only at candidates that
    # can be complete; the regex engine counts the rest. Junk of 70,000 characters reaches
    # Python a bounded number of times (the 100 kept refusals, and a candidate per 84
    # characters at most), where it took a window and an error object per candidate.
    from pointerbridge.core import finding

    counted = _Counted(finding._MAYBE_COMPLETE)
    monkeypatch.setattr(finding, "_MAYBE_COMPLETE", counted)
    judged = 0
    judge = finding.Finder._judge

    def counting_judge(self: finding.Finder, start: int) -> tuple[int, PointerError | None]:
        nonlocal judged
        judged += 1
        return judge(self, start)

    monkeypatch.setattr(finding.Finder, "_judge", counting_judge)
    text = SHAPES[shape][0]
    assert scan_pointers(text).rejected_count == SHAPES[shape][1]
    assert judged <= 100 + len(text) // 84, f"{judged} candidates judged in {len(text)} characters"
    assert counted.matches <= len(text) // 84, f"{counted.matches} candidates looked at in {len(text)}"


def test_refusals_past_the_first_100_build_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[type] = []
    for kind in (TruncatedError, TooLargeError, ArmorError, NonCanonicalError):
        original = kind.__init__

        def counting(self: PointerError, *args: object, _original=original) -> None:  # type: ignore[no-untyped-def]
            built.append(type(self))
            _original(self, *args)

        monkeypatch.setattr(kind, "__init__", counting)
    scan = scan_pointers(SHAPES["pb1."][0] + SHAPES["pb18zz "][0] + SHAPES["pb1001zz."][0])
    assert scan.rejected_count == 17500 + 10000 + 7778
    assert len(built) == 100


def test_counting_past_100_refusals_finds_what_a_stream_does() -> None:
    # After 100 refusals the rest is counted, not streamed: pointers glued, spaced, inside
    # junk of every kind, and in a complete refused candidate, are found as the stream finds them.
    rnd = random.Random(5)
    pointers = [armor(1, os.urandom(n)) for n in (1, 2, 31, 61, 62, 300)]
    later = ["pb2" + p[3:] for p in pointers]
    junk = ["pb1.", "pb18zz ", "pb1000 ", "pb1001zz.", "pb1 1.", "pb10Az ", " x ", "pb1002 pb1."]
    for _ in range(40):
        parts = [rnd.choice(junk) for _ in range(rnd.randrange(200))]
        parts += [rnd.choice(pointers + later) + rnd.choice(["", " ", "."]) for _ in range(rnd.randrange(8))]
        rnd.shuffle(parts)
        text = "pb1." * 100 + "".join(parts)
        streamed = list(armor_module.scan(text))
        scan = scan_pointers(text)
        assert scan.pointers == [x for x in streamed if isinstance(x, str)] == find_pointers(text)
        assert scan.rejected_count == sum(not isinstance(x, str) for x in streamed)
