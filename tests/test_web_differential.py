"""The page against the Python core on a few thousand hostile inputs (tests/web_differential.py
makes them from a seeded RNG): every pointer opened, every text searched and every set of
split parts joined must come out of the page exactly as out of the Python core, the
reference: the same failure (``expect``), or the same message or part, field for field.
Sent in batches through one ``page.evaluate`` each.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from browser import shipped_page
from web_differential import generate

if TYPE_CHECKING:
    from playwright.sync_api import Page

SEED = 22
ROUNDS = 800
BATCH = 500
RUN = """(calls) => calls.map(([name, args]) => {
  const got = window.pointerbridge.hex[name](...args);
  if (got && typeof got === "object" && !Array.isArray(got)) delete got.error;  // the wording is each one's own
  return got;
})"""


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    """The shipped page, open once for the module."""
    with shipped_page() as page:
        yield page


def test_the_page_answers_every_hostile_input_as_the_python_core(page: Page) -> None:
    calls = generate(SEED, ROUNDS)
    started = time.monotonic()
    disagreements: list[tuple[str, list[Any], Any, Any]] = []
    for at in range(0, len(calls), BATCH):
        batch = calls[at : at + BATCH]
        got = page.evaluate(RUN, [[name, args] for name, args, _ in batch])
        disagreements += [(n, a, want, g) for (n, a, want), g in zip(batch, got, strict=True) if g != want]
    elapsed = time.monotonic() - started
    assert not disagreements, f"{len(disagreements)} of {len(calls)} differ; first: {disagreements[0]}"
    # The inputs reach every outcome (else the generator lost its reach, and this test its point).
    seen = Counter(want["outcome"] for name, _, want in calls if name != "find" and isinstance(want, dict))
    expects = {"success", "armor", "noncanonical", "version", "truncated", "oversize", "no_match", "aead"}
    assert expects | {"padding", "malformed", "signature"} <= set(seen), seen
    assert sum(1 for name, _, want in calls if name == "find" and want) > ROUNDS // 2
    assert elapsed < 30, f"the page took {elapsed:.1f} s for {len(calls)} inputs"


def test_a_send_time_in_the_year_9999_is_read_exactly_by_the_page_and_the_core(page: Page) -> None:
    """The last millisecond SPEC §7 allows, read as it is by both (the core read it one
    millisecond early through a float until core/millis.py)."""
    from pointerbridge.core import layout
    from pointerbridge.core.pointer import _seal, unseal
    from web_differential import Inputs, item_json

    gen = Inputs(SEED)
    last = layout.MAX_SENT_AT_MS
    text = _seal(gen.chat, gen.people[0], "the last millisecond", None, gen.bytes, last)[0]
    got = page.evaluate(RUN, [["unseal", [gen.chat.name, gen.chat._key.hex(), text]]])[0]
    assert (got["outcome"], got["message"]["sent_at_ms"]) == ("success", last)
    assert item_json(unseal(gen.chat, text))["message"]["sent_at_ms"] == last
