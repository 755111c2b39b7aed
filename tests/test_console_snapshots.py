"""Snapshots of the console's main screens (SVG, in __snapshots__/; after a deliberate
change of the look, review the report and run pytest with --snapshot-update)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from console_helpers import PHRASES, SECRET, SIZE, chat_salt, console, fill, make_home, opened, unlock, until
from helpers import raw_identity
from pointerbridge.core import Identity
from pointerbridge.core import pointer as _pointer
from pointerbridge.home.config import Home
from textual.pilot import Pilot
from textual.widgets import Input

SENT = 1_767_348_000_000  # 2026-01-02 10:00 UTC: messages show a fixed date, not today's


class _Clock:
    def __init__(self) -> None:
        self.ms = SENT

    def time_ns(self) -> int:
        self.ms += 60_000  # a minute between messages
        return self.ms * 1_000_000


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(_pointer, "time", _Clock())
    monkeypatch.setattr(_pointer, "_last_sent_ms", 0)
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    alice = make_home(tmp_path, "alice", shared)
    impostor = Identity("bob", hashlib.sha256(b"not bob").digest())
    with opened(alice) as app:
        family = app.create_chat("Family", SECRET, ["shared"], salt=chat_salt("Family"))
        app.create_chat("Book club", "another secret 5", [], allow_weak=True)
        me = app.unlock_identity(PHRASES["alice"])
        for sender, body in (
            (me, "Dinner at eight?"),
            (raw_identity("bob"), "Yes! I'll bring bread.\nAnd wine."),
            (impostor, "Send me the house keys"),
            (me, "See you then"),
        ):
            app.send(family, sender, body)
    yield alice
    time.tzset()


Snap = Callable[..., bool]


def _after(*steps: Callable[[Pilot[None]], Any]) -> Callable[[Pilot[None]], Any]:
    async def run_before(pilot: Pilot[None]) -> None:
        await unlock(pilot, "alice")
        for step in steps:
            await step(pilot)
        await _steady(pilot)

    return run_before


async def _steady(pilot: Pilot[None]) -> None:
    """Wait for the screen's focus, and hold its inputs' cursors still: a focused input's
    cursor blinks every 0.5 s, so on a loaded machine the picture was taken in either
    phase (CI once saw it off). Held steady, it is always drawn."""
    await until(pilot, lambda: pilot.app.focused is not None, "a focused widget")
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


async def _open_family(pilot: Pilot[None]) -> None:
    await pilot.press("enter")
    await fill(pilot, secret=SECRET)


def test_chat_list(snap_compare: Snap, home: Home) -> None:
    assert snap_compare(console(home), terminal_size=SIZE, run_before=_after())


def test_chat_with_trust_marks(snap_compare: Snap, home: Home) -> None:
    assert snap_compare(console(home), terminal_size=SIZE, run_before=_after(_open_family))


def test_help(snap_compare: Snap, home: Home) -> None:
    async def help_(pilot: Pilot[None]) -> None:
        await pilot.press("f1")

    assert snap_compare(console(home), terminal_size=SIZE, run_before=_after(help_))


def test_chat_settings(snap_compare: Snap, home: Home) -> None:
    async def settings(pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+s")

    assert snap_compare(console(home), terminal_size=SIZE, run_before=_after(_open_family, settings))


def test_unlock_dialog(snap_compare: Snap, home: Home) -> None:
    assert snap_compare(console(home), terminal_size=SIZE, run_before=_steady)
