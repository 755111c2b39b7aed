"""The page's core on input made to hang or exhaust it: pointers glued end to end in one
long run (the finder searched the rest of the run again for each: quadratic), text whose
UTF-16 length passes the finder's limit while its characters (Python's count) do not, and
the memory incomplete split messages really take against what the Reassembler charges."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from browser import shipped_page
from pointerbridge.core.armor import MAX_INPUT_CHARS, find_pointers

if TYPE_CHECKING:
    from playwright.sync_api import Page

FIND = """([unit, count, tail]) => { const text = unit.repeat(count) + tail; const started = performance.now();
  let found; try { found = window.pointerbridge.findPointers(text); } catch (e) { found = e.expect; }
  return { ms: performance.now() - started, found: Array.isArray(found) ? found.length : found,
           last: Array.isArray(found) ? found[found.length - 1] ?? null : null }; }"""


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    """The shipped page, open once for the module."""
    with shipped_page() as page:
        yield page


def test_pointers_glued_in_one_long_run_are_found_in_linear_time(page: Page) -> None:
    """500,000 one-byte pointers end to end (4 MB, one run): ~0.4 s; ~16 s before, when the
    finder searched for the run's end again per pointer (4 s for half as many; the limit,
    11 million characters, took minutes)."""
    unit, count = "pb100100", 500_000
    got = page.evaluate(FIND, [unit, count, ""])
    assert (got["found"], got["last"]) == (len(find_pointers(unit * count)), unit)
    assert got["ms"] < 3000, got


def test_the_finders_limit_counts_characters_as_python_does(page: Page) -> None:
    """Astral characters are two UTF-16 units and one Python character: a text of them
    past the limit in units but within it in characters is searched, as the CLI does."""
    unit, pointer = "\U0001f600", "pb100100"
    count = 64 * MAX_INPUT_CHARS - 100
    assert len(unit.encode("utf-16-le")) // 2 * count > 64 * MAX_INPUT_CHARS
    want = find_pointers(unit * count + " " + pointer)
    got = page.evaluate(FIND, [unit, count, " " + pointer])
    assert (got["found"], got["last"]) == (len(want), pointer) == (1, pointer)
    over = page.evaluate(FIND, [unit, 64 * MAX_INPUT_CHARS + 1, ""])
    assert over["found"] == "oversize"


def test_incomplete_messages_take_no_more_memory_than_they_are_charged(page: Page) -> None:
    """50,000 one-byte first parts of messages that never complete (what a member can send
    to fill a reader): what they hold in the page (V8's heap, the embedder's, and the byte
    arrays' stores, measured over CDP after a collection) against the Reassembler's charge."""
    cdp = page.context.new_cdp_session(page)
    make = """(n) => { const pb = window.pointerbridge; const joiner = new pb.Reassembler(1 << 30);
      window.heldForTheTest = joiner; const random = (k) => crypto.getRandomValues(new Uint8Array(k));
      for (let i = 0; i < n; i++) joiner.add({ version: 2, chat: "family chat", username: "alice",
        senderKey: random(32), sentAtMs: 1, messageId: pb.toHex(random(16)), index: 0, count: 2,
        chunk: random(1), stream: random(8), seq: 1 });
      return { waiting: joiner.waiting, charged: joiner.heldBytes }; }"""

    def held() -> int:
        cdp.send("HeapProfiler.collectGarbage")
        usage = cdp.send("Runtime.getHeapUsage")
        return int(usage["usedSize"] + usage["embedderHeapUsedSize"] + usage["backingStorageSize"])

    before, n = held(), 50_000
    started = time.monotonic()
    got = page.evaluate(make, n)
    assert got["waiting"] == n
    grown = held() - before
    assert grown <= got["charged"], (grown / n, got["charged"] / n)
    assert time.monotonic() - started < 20
    page.evaluate("() => { window.heldForTheTest = null; }")
