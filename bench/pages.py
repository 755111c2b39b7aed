"""Paged-read benchmark: one page of a long chat, as a console shows it. Usage:

    python bench/pages.py [--count 100000] [--json]

A chat of ``count`` stored pointers (sealed here, stored with ``App.receive``; building it
is not measured; routing them to the chat, once, is reported apart). Then
``App.read_page(limit=200)``: the newest page the first time (full
checks, signatures included, proofs stored), again (from the proofs), and a page from the
middle of the history; each the best of several runs, in milliseconds.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from local_app import cli
from pointerbridge.app.service import App
from pointerbridge.core import Identity
from pointerbridge.core.pointer import _seal
from pointerbridge.home.config import Home

SECRET = "bench chat secret"


def _ms(call: Any, rounds: int = 7) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 2)


def run(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pbridge-bench-") as scratch:
        app = App(Home(Path(scratch), Path(scratch)))
        app.init("bob", "bench phrase", allow_weak=True)
        chat = app.create_chat("bench", SECRET, [], allow_weak=True)
        senders = [Identity(n, hashlib.sha256(n.encode()).digest()) for n in ("alice", "carol")]
        body = "lorem ipsum dolor sit amet " * 8
        start = time.perf_counter()
        for first in range(0, count, 10_000):
            batch = range(first, min(first + 10_000, count))
            texts = [
                _seal(chat.key, senders[i % 2], f"message {i:06d}: {body}", None, os.urandom, 1_790_000_000_000 + i)[0]
                for i in batch
            ]
            app.receive("\n".join(texts))
        build = time.perf_counter() - start
        start = time.perf_counter()
        app.read_page(chat, limit=1)  # routes the received pointers to the chat, once (a poll's work)
        routing = time.perf_counter() - start
        start = time.perf_counter()
        page = app.read_page(chat, limit=200)
        cold = (time.perf_counter() - start) * 1000
        assert len(page.messages) == 200 and page.refused == 0 and page.older is not None
        warm = _ms(lambda: app.read_page(chat, limit=200))
        middle_before = page.older - count // 2
        app.read_page(chat, before=middle_before, limit=200)  # stores its proofs
        middle = _ms(lambda: app.read_page(chat, before=middle_before, limit=200))
        stored = app.store.counts()["pointers"]
        app.close()
    return {
        "count": stored,
        "build_seconds": round(build, 1),
        "routing_all_seconds": round(routing, 2),
        "first_page_cold_ms": round(cold, 2),
        "newest_page_ms": warm,
        "middle_page_ms": middle,
        "target_ms": 100,
    }


if __name__ == "__main__":
    cli(run, 100_000, __doc__)
