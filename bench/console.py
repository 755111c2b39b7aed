"""Console benchmark: a chat of 100,000 messages opened in the Textual console. Usage:

    python bench/console.py [--count 100000] [--json]

The home is built directly in the store (sealing is not what is measured). Then, in a
headless console driven by Textual's pilot (the same code a terminal runs):

1. unlock: the master phrase typed, until the chat list shows (one Argon2id, the chat
   list's unread and last-activity query over every pointer);
2. first screen: the chat secret typed, until the newest page of history shows (one
   Argon2id, then one page: routing, opening and judging ``PAGE`` pointers);
3. older page: ctrl+o, until the page before shows;
4. the same first page through ``App.read_page`` alone, first read (signatures verified)
   and re-read (proofs cached), without the UI;
5. ``App.settle`` over the whole chat (what the console runs in the background for a
   chat no full read has judged).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pointerbridge.app.service import App
from pointerbridge.console.chat import PAGE, ChatScreen
from pointerbridge.console.chats import ChatListScreen
from pointerbridge.console.tui import ConsoleApp
from pointerbridge.core import Identity
from pointerbridge.core.armor import dearmor
from pointerbridge.core.pointer import _seal
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from textual.widgets import Input

PHRASE = "bench master phrase"
SECRET = "bench chat secret"


def _build(root: Path, count: int) -> Home:
    home = Home(root / "alice", root / "alice")
    home.create()
    shared = root / "shared"
    shared.mkdir()
    save_config(
        home.config_path,
        Config(carriers={"shared": CarrierConfig.model_validate({"type": "files", "path": str(shared)})}),
    )
    with App(home) as app:
        me = app.init("alice", PHRASE, allow_weak=True)
        bob = Identity("bob", os.urandom(32))
        chat = app.create_chat("Family", SECRET, ["shared"], allow_weak=True)
        start_ms = 1_790_000_000_000
        batch: list[tuple[str, bytes]] = []
        for i in range(count):
            sender = me if i % 2 else bob
            (pointer,) = _seal(
                chat.key, sender, f"message {i:06d}: " + "lorem ipsum dolor " * 8, None, os.urandom, start_ms + i
            )
            batch.append((pointer, dearmor(pointer)[1]))
            if len(batch) == 10_000:
                app.store.add_pointers(batch, "in", carrier="shared")
                batch = []
        if batch:
            app.store.add_pointers(batch, "in", carrier="shared")
        app.settle(chat)  # routed, read and judged once: an earlier session did
    return home


async def _timed(pilot: Any, key: str, done: Any, seconds: float = 60.0) -> float:
    """Seconds from pressing ``key`` until ``done()`` (the press itself included: the
    pilot returns once the app has handled it)."""
    started = time.perf_counter()
    await pilot.press(key)
    while not done():
        await pilot.pause(0.001)
        if time.perf_counter() - started > seconds:
            raise TimeoutError("the console did not get there")
    return time.perf_counter() - started


async def _console(home: Home) -> dict[str, float]:
    app = ConsoleApp(home, poll_every=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.screen.query_one("#f-phrase", Input).value = PHRASE
        unlock = await _timed(pilot, "enter", lambda: isinstance(app.screen, ChatListScreen))
        await pilot.press("enter")
        await pilot.pause()
        app.screen.query_one("#f-secret", Input).value = SECRET
        first = await _timed(pilot, "enter", lambda: isinstance(app.screen, ChatScreen) and len(app.screen.shown) > 0)
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        older = await _timed(pilot, "ctrl+o", lambda: len(screen.shown) >= 2 * PAGE)
        return {"unlock_to_chat_list_s": unlock, "secret_to_first_screen_s": first, "older_page_s": older}


def _settle(home: Home) -> dict[str, float]:
    """After _read_page, no proof is cached: the first settle verifies every signature
    (a chat received but never read); the second is a chat read before, judged anew."""
    out = {}
    with App(home) as app:
        app.unlock_identity(PHRASE)  # as the console does first: the reader's proofs need it
        chat = app.unlock_chat("Family", SECRET)
        for figure in ("settle_unread_chat_s", "settle_read_chat_s"):
            with app.store._editing(chat.row.id) as record:  # as if no full read had judged the chat
                record.judged = 0
            started = time.perf_counter()
            app.settle(chat)
            out[figure] = time.perf_counter() - started
    return out


def _read_page(home: Home) -> dict[str, float]:
    with App(home) as app:
        app.unlock_identity(PHRASE)  # as the console does first: the reader's proofs need it
        chat = app.unlock_chat("Family", SECRET)
        with app.store.transaction() as db:  # forget the proofs: a first read verifies every signature
            db.execute("UPDATE pointers SET verified = NULL")
        started = time.perf_counter()
        app.read_page(chat, limit=PAGE)
        first = time.perf_counter() - started
        started = time.perf_counter()
        app.read_page(chat, limit=PAGE)
        return {"read_page_first_ms": 1000 * first, "read_page_again_ms": 1000 * (time.perf_counter() - started)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        home = _build(Path(folder), args.count)
        result: dict[str, Any] = {"messages": args.count, "page": PAGE, "build_s": time.perf_counter() - started}
        result.update(asyncio.run(_console(home)))
        result.update(_read_page(home))
        result.update(_settle(home))
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return
    for key, value in result.items():
        print(f"{key:28} {value:.3f}" if isinstance(value, float) else f"{key:28} {value}")


if __name__ == "__main__":
    main()
