"""What a new user of the console met (issue 17, item 18): a cut dialog text, a chat title
that wrapped, a wrong phrase left in its field, a poll key shown twice, a fingerprint to
compare that no chat showed, and marks worded apart from the command line's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from console_helpers import (
    PHRASES,
    SECRET,
    console,
    fill,
    make_home,
    opened,
    polled_chat,
    settle,
    unlock,
    until,
    with_chat,
)
from pointerbridge.app.display import PLAIN_MARKS, TRUST_MARKS, TRUST_MEANINGS
from pointerbridge.app.trust import Trust
from pointerbridge.console.carriers import CarriersScreen
from pointerbridge.console.chat import ChatScreen
from pointerbridge.console.chats import ChatListScreen
from pointerbridge.console.dialogs import Form
from pointerbridge.console.help import HelpScreen
from pointerbridge.home.config import Home
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets._footer import FooterKey


def drive(home: Home, scenario: Callable[[Pilot[None]], Awaitable[None]], size: tuple[int, int]) -> None:
    async def main() -> None:
        async with console(home).run_test(size=size) as pilot:
            await scenario(pilot)

    asyncio.run(main())


def shown_text(widget: Widget) -> str:
    """What a widget shows on screen, its lines joined (words cut at its edge stay cut)."""
    strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return " ".join(" ".join(strip.text.split()) for strip in strips).strip()


@pytest.mark.parametrize("size", [(80, 24), (110, 32)])
def test_the_new_home_dialog_shows_its_whole_text(tmp_path: Path, shared: Path, size: tuple[int, int]) -> None:
    home = make_home(tmp_path, "alice", shared, init=False)

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, Form), "the new-home dialog")
        form = pilot.app.screen
        note = form.query_one(".note", Label)
        assert shown_text(note) == " ".join(str(note.render()).split())
        assert shown_text(note).endswith("nothing can recover it.")
        generated = form.query_one("#g-phrase", Label)
        assert len(shown_text(generated).removeprefix("generated: ").split()) == 12  # every word to write down
        room = form.query_one(".dialog").content_size.width
        for label in form.query(Label):  # each wraps within the dialog: none runs past its edge
            assert label.outer_size.width <= room, (label, label.outer_size, room)
            assert shown_text(label) == " ".join(str(label.render()).split()), label

    drive(home, scenario, size)


def test_a_wrong_master_phrase_is_cleared_from_its_field(tmp_path: Path, shared: Path) -> None:
    home = make_home(tmp_path, "alice", shared)

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, Form), "the unlock dialog")
        await fill(pilot, phrase="not my phrase")
        form = pilot.app.screen
        assert isinstance(form, Form)
        assert "wrong master phrase" in str(form.query_one("#error", Label).render())
        field = form.query_one("#f-phrase", Input)
        assert field.value == "" and field.has_focus
        await fill(pilot, phrase=PHRASES["alice"])
        assert isinstance(pilot.app.screen, ChatListScreen)

    drive(home, scenario, (110, 32))


def test_the_chat_title_is_one_line_and_its_notes_sit_below(tmp_path: Path, shared: Path) -> None:
    home = make_home(tmp_path, "alice", shared)
    long_name = "The family of the old mill by the river, cousins and all"
    with_chat(home, "alice", name=long_name, bodies=("hello",))

    async def scenario(pilot: Pilot[None]) -> None:
        await unlock(pilot, "alice")
        await pilot.press("enter")
        await fill(pilot, secret=SECRET)
        chat = pilot.app.screen
        assert isinstance(chat, ChatScreen)
        await settle(pilot)
        title = chat.query_one("#chat-title", Static)
        assert title.size.height == 1
        full, shown = f"{long_name} · shared", shown_text(title).removesuffix("…")
        assert full.startswith(shown) and len(shown) < len(full)  # cut at the edge, not wrapped
        notes = chat.query_one("#chat-notes", Static)
        chat._refused = 3  # what a page with refused pointers sets; the notes say so, under the title
        chat._update_title()
        await pilot.pause()
        assert title.size.height == 1 and notes.display
        assert "3 pointer(s) failed their checks" in shown_text(notes)

    drive(home, scenario, (60, 24))


def test_the_carriers_footer_shows_poll_now_once_and_both_keys_poll(tmp_path: Path, shared: Path) -> None:
    home = make_home(tmp_path, "alice", shared)

    async def scenario(pilot: Pilot[None]) -> None:
        await unlock(pilot, "alice")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(pilot.app.screen, CarriersScreen), "the carriers screen")
        await pilot.pause()
        shown = [key.description for key in pilot.app.screen.query(FooterKey)]
        assert shown.count("Poll now") == 1, shown
        for key, polls in (("g", 1), ("ctrl+g", 2)):
            await pilot.press(key)
            await until(pilot, lambda polls=polls: pilot.app.polls == polls, f"a poll by {key}")  # type: ignore[misc]

    drive(home, scenario, (110, 32))


def test_f_shows_the_highlighted_senders_fingerprint(tmp_path: Path, shared: Path) -> None:
    home = make_home(tmp_path, "alice", shared)
    bob = make_home(tmp_path, "bob", shared)
    with_chat(bob, "bob", bodies=("hi from bob",))
    with_chat(home, "alice", bodies=("hi from alice",))
    with opened(bob) as app:
        bobs = app.unlock_identity(PHRASES["bob"]).fingerprint

    async def scenario(pilot: Pilot[None]) -> None:
        chat = await polled_chat(pilot, "alice", 2)
        await until(pilot, lambda: len(chat.shown) == 2, "both messages")
        history = chat.query_one(OptionList)
        history.focus()
        history.highlighted = [s.message.username for s in chat.shown].index("bob")
        await pilot.press("f")
        await until(pilot, lambda: any(bobs in str(n.message) for n in pilot.app._notifications), "bob's key")
        note = next(str(n.message) for n in pilot.app._notifications if bobs in str(n.message))
        assert note.startswith(f"bob: key {bobs}\n{TRUST_MEANINGS[Trust.NEW]}.")

    drive(home, scenario, (110, 32))


def test_help_shows_the_marks_in_the_words_a_chat_and_the_command_line_use(tmp_path: Path, shared: Path) -> None:
    home = make_home(tmp_path, "alice", shared)

    async def scenario(pilot: Pilot[None]) -> None:
        await unlock(pilot, "alice")
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help screen")
        text = shown_text(pilot.app.screen.query_one(Static))
        for trust, (mark, _) in TRUST_MARKS.items():
            assert " ".join(mark.split()) in text and TRUST_MEANINGS[trust] in text
            if trust is not Trust.ROTATED:  # the plain output prints a rotation as a line of its own
                assert PLAIN_MARKS[trust].strip(" !") in text  # the command line's words, without its !!
        assert "(old key)" not in text and "OLD key  " not in text

    drive(home, scenario, (110, 40))


def test_a_message_under_a_replaced_key_is_marked_as_loudly_as_a_changed_key() -> None:
    retired, changed = TRUST_MARKS[Trust.RETIRED], TRUST_MARKS[Trust.CHANGED]
    assert retired[1] == changed[1] == "bold white on red"
    assert retired[0].strip().startswith("!!") and retired[0].strip().endswith("!!")
