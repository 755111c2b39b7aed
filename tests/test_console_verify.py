"""The console's key check in person (issue 24, part 4): ``v`` on a message shows the safety
code its sender's home shows too, and its QR code; "Yes, it matches" marks the key
verified (✔ verified in the history), Enter alone or "No" marks nothing, and "Take back"
undoes it."""

from __future__ import annotations

from pathlib import Path

from console_helpers import PHRASES, SECRET, drive, make_home, opened, polled_chat, until, with_chat
from pointerbridge.app.display import TRUST_MARKS
from pointerbridge.app.trust import Trust
from pointerbridge.console.chat import ChatScreen
from pointerbridge.console.verify import VerifyScreen
from textual.pilot import Pilot
from textual.widgets import Button, OptionList, Static


def _trust_of(chat: ChatScreen, user: str) -> str:
    return next(s.trust for s in chat.shown if s.message.username == user)


def _line_of(chat: ChatScreen, user: str) -> str:
    history = chat.query_one(OptionList)
    index = [s.message.username for s in chat.shown].index(user)
    return str(history.get_option_at_index(index).prompt)


def test_v_shows_the_code_both_homes_compute_and_yes_marks_the_key_verified(tmp_path: Path, shared: Path) -> None:
    home = make_home(tmp_path, "alice", shared)
    bob = make_home(tmp_path, "bob", shared)
    with_chat(bob, "bob", bodies=("hi from bob",))
    with_chat(home, "alice", bodies=("hi from alice",))
    with opened(bob) as app:  # bob reads alice's message: his home's code, to compare with
        app.unlock_identity(PHRASES["bob"])
        app.poll()
        app.read(app.unlock_chat("family", SECRET))
        bobs_code = app.safety_check("family", "alice").code

    async def scenario(pilot: Pilot[None]) -> None:
        chat = await polled_chat(pilot, "alice", 2)
        settled = lambda: len(chat.shown) == 2 and not chat._unsettled  # noqa: E731
        await until(pilot, settled, "both messages, judged")
        history = chat.query_one(OptionList)
        history.focus()
        history.highlighted = [s.message.username for s in chat.shown].index("bob")

        async def open_check() -> VerifyScreen:
            await pilot.press("v")
            await until(pilot, lambda: isinstance(pilot.app.screen, VerifyScreen), "the key check")
            screen = pilot.app.screen
            assert isinstance(screen, VerifyScreen)
            return screen

        check = await open_check()
        code = str(check.query_one("#code", Static).render())
        assert code.split() == bobs_code.split()  # the code bob's own home shows
        assert set("█▀▄") & set(str(check.query_one("#qr", Static).render()))
        await pilot.press("enter")  # the focus is on No: Enter alone marks nothing
        await until(pilot, lambda: pilot.app.screen is chat, "the chat again")
        assert _trust_of(chat, "bob") == "pinned"

        check = await open_check()
        await pilot.click("#match")
        await until(pilot, lambda: _trust_of(chat, "bob") == "verified", "bob's key verified")
        assert TRUST_MARKS[Trust.VERIFIED][0] in _line_of(chat, "bob")
        assert any("verified" in str(n.message) for n in pilot.app._notifications)

        check = await open_check()  # verified already: the way to take it back
        assert not check.query("#match") and check.query_one("#unverify", Button)
        await pilot.click("#unverify")
        await until(pilot, lambda: _trust_of(chat, "bob") == "pinned", "bob's key no longer verified")
        assert TRUST_MARKS[Trust.VERIFIED][0] not in _line_of(chat, "bob")

    drive(home, scenario)
    with opened(home) as app:
        (member,) = [m for m in app.members("family") if m.username == "bob"]
        assert member.trust is Trust.PINNED
