"""The console, driven by Textual's pilot over real homes sharing a folder."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from console_helpers import (
    PHRASES,
    SECRET,
    SIZE,
    chat_list,
    chat_salt,
    console,
    drive,
    fill,
    keys,
    make_home,
    opened,
    send,
    settle,
    unlock,
    until,
    with_chat,
)
from pointerbridge.app.invite import make_invite, rekey_salt
from pointerbridge.app.service import App
from pointerbridge.console.chat import PAGE, ChatScreen
from pointerbridge.console.chats import ChatListScreen
from pointerbridge.console.dialogs import Confirm, Form
from pointerbridge.console.find import SearchScreen, TrashScreen
from pointerbridge.console.profile import ProfileScreen
from pointerbridge.console.receive import ReceiveScreen
from pointerbridge.console.settings import ChatSettingsScreen, InviteScreen
from pointerbridge.console.tui import ConsoleApp
from pointerbridge.home.config import Home
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Label, OptionList, Static, TextArea


def read(home: Home, user: str, secret: str = SECRET, chat: str = "Family") -> list[tuple[str, str, str]]:
    with opened(home) as app:
        app.poll()
        shown, refused = app.read(app.unlock_chat(chat, secret), include_trash=True)
        assert refused == 0
        return [(s.message.username, s.trust, s.message.body) for s in shown]


STRONG = "alice master phrase 11 on a blue tuesday"


def test_a_first_run_creates_the_identity_and_a_chat_whose_message_reaches_bob(tmp_path: Path, shared: Path) -> None:
    alice = make_home(tmp_path, "alice", shared, init=False)
    bob = make_home(tmp_path, "bob", shared)

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.pause()
        assert isinstance(pilot.app.screen, Form)
        await fill(pilot, username="alice", phrase="one phrase", phrase_again="another phrase")
        assert "differ" in str(pilot.app.screen.query_one("#error", Label).render())
        await fill(pilot, username="alice", phrase=STRONG, phrase_again=STRONG)
        assert isinstance(pilot.app.screen, ChatListScreen), pilot.app.screen.query_one("#error", Label).render()
        assert "No chats yet" in str(pilot.app.screen.query_one("#hint", Static).render())
        await pilot.press("n")
        await fill(pilot, name="Family", secret=SECRET, secret_again=SECRET, carriers="shared")
        assert isinstance(pilot.app.screen, ChatScreen)
        await pilot.press(*keys("dinner at eight"), "enter")
        await settle(pilot)
        assert [s.message.body for s in pilot.app.screen.shown] == ["dinner at eight"]
        await pilot.press("escape")
        table = await chat_list(pilot)
        assert table.row_count == 1 and str(table.get_row_at(0)[0]) == "Family"

    drive(alice, scenario)
    with App(alice) as app:
        app.unlock_identity(STRONG)  # the phrase typed in the console
        invite = make_invite(app.chat_row("Family"), app.config)
    with opened(bob) as app:
        app.join_invite(invite, SECRET, {})  # the console made the chat's salt; its invite carries it
    assert read(bob, "bob") == [("alice", "new", "dinner at eight")]


def test_a_wrong_master_phrase_keeps_the_dialog_open(tmp_path: Path, shared: Path) -> None:
    home = make_home(tmp_path, "alice", shared)

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.pause()
        await fill(pilot, phrase="not my phrase")
        assert isinstance(pilot.app.screen, Form)
        assert "wrong master phrase" in str(pilot.app.screen.query_one("#error", Label).render())
        await fill(pilot, phrase=PHRASES["alice"])
        assert isinstance(pilot.app.screen, ChatListScreen)

    drive(home, scenario)


def test_a_pasted_pointer_of_an_unknown_chat_creates_it(tmp_path: Path, shared: Path) -> None:
    alice = make_home(tmp_path, "alice", shared)
    bob = make_home(tmp_path, "bob", tmp_path / "elsewhere")
    with_chat(alice, "alice", bodies=("hello from alice",), open_chat=True)  # CLM's model: joined by receiving
    pasted = "Alice wrote:\n> " + "\n> ".join(_texts(alice))

    async def scenario(pilot: Pilot[None]) -> None:
        await unlock(pilot, "bob")
        await pilot.press("r")
        screen = pilot.app.screen
        assert isinstance(screen, ReceiveScreen)
        screen.query_one(TextArea).load_text(pasted)
        await pilot.press("ctrl+s")
        result = str(screen.query_one("#result", Label).render())
        assert "stored 1 new pointer(s)" in result and "1 for a chat not open now" in result
        await pilot.click("#new-chat")
        await fill(pilot, name="Family", secret="a wrong secret")
        assert "none of these pointers" in str(pilot.app.screen.query_one("#error", Label).render())
        await fill(pilot, name="Family", secret=SECRET)
        chat = pilot.app.screen
        assert isinstance(chat, ChatScreen)
        assert [(s.message.username, s.message.body) for s in chat.shown] == [("alice", "hello from alice")]

    drive(bob, scenario)


def _texts(home: Home) -> list[str]:
    with sqlite3.connect(home.store_path) as db:
        return [row[0] for row in db.execute("SELECT text FROM pointers ORDER BY id")]


async def _open_family(pilot: Pilot[None], user: str, secret: str = SECRET) -> ChatScreen:
    await unlock(pilot, user)
    await pilot.press("enter")
    await fill(pilot, secret=secret)
    screen = pilot.app.screen
    assert isinstance(screen, ChatScreen)
    return screen


def test_search_trash_restore_and_purge(tmp_path: Path, shared: Path) -> None:
    alice = make_home(tmp_path, "alice", shared)
    with_chat(alice, "alice", bodies=("lunch at noon", "Dinner at eight", "a walk after dinner?"))

    async def scenario(pilot: Pilot[None]) -> None:
        chat = await _open_family(pilot, "alice")
        await pilot.press("ctrl+f")
        assert isinstance(pilot.app.screen, SearchScreen)
        await pilot.press(*keys("DINNER"), "enter")
        await settle(pilot)
        search = pilot.app.screen
        assert [s.message.body for s in search.shown] == ["Dinner at eight", "a walk after dinner?"]
        await pilot.press("up", "t")  # trash "Dinner at eight" from the results
        await settle(pilot)
        assert [s.trashed for s in search.shown] == [True, False]  # the trash is searched too
        await pilot.press("escape")
        assert [s.message.body for s in chat.shown] == ["lunch at noon", "a walk after dinner?"]
        await pilot.press("ctrl+t")
        trash = pilot.app.screen
        assert isinstance(trash, TrashScreen) and [s.message.body for s in trash.shown] == ["Dinner at eight"]
        await pilot.press("r")
        assert trash.shown == []
        await pilot.press("escape")
        assert [s.message.body for s in chat.shown] == ["lunch at noon", "Dinner at eight", "a walk after dinner?"]
        await pilot.press("tab", "up", "up", "t")  # from the composer to the history: trash "lunch at noon"
        await pilot.press("ctrl+t")
        await pilot.press("d")
        assert isinstance(pilot.app.screen, Confirm)
        await pilot.press("n")  # the default is no: nothing deleted
        assert [s.message.body for s in pilot.app.screen.shown] == ["lunch at noon"]
        await pilot.press("d", "y")
        assert pilot.app.screen.shown == []

    drive(alice, scenario)
    assert [body for _, _, body in read(alice, "alice")] == ["Dinner at eight", "a walk after dinner?"]
    with sqlite3.connect(alice.store_path) as db:
        assert db.execute("SELECT count(*) FROM tombstones").fetchone()[0] == 1


def test_history_loads_a_page_at_a_time(tmp_path: Path, shared: Path) -> None:
    alice = make_home(tmp_path, "alice", shared)
    count = 2 * PAGE + 50
    with opened(alice) as app:
        chat = app.create_chat("Family", SECRET, ["shared"], salt=chat_salt("Family"))
        send(app, chat, "alice", [f"message {i:04d}" for i in range(count)])

    async def scenario(pilot: Pilot[None]) -> None:
        chat = await _open_family(pilot, "alice")
        assert [s.message.body for s in chat.shown] == [f"message {i:04d}" for i in range(count - PAGE, count)]
        assert "ctrl+o: older messages" in str(chat.query_one("#chat-notes", Static).render())
        assert "not arrived" not in str(chat.query_one("#chat-notes", Static).render())  # older pages: no gap
        await pilot.press("ctrl+o")
        assert len(chat.shown) == 2 * PAGE
        await pilot.press("ctrl+o")
        assert [s.message.body for s in chat.shown] == [f"message {i:04d}" for i in range(count)]
        assert "older" not in str(chat.query_one("#chat-notes", Static).render())

    drive(alice, scenario)


def test_bobs_message_appears_in_alices_open_chat_after_a_background_poll(tmp_path: Path, shared: Path) -> None:
    alice = make_home(tmp_path, "alice", shared)
    bob = make_home(tmp_path, "bob", shared)
    with_chat(alice, "alice", bodies=("are you there?",))
    with opened(bob) as app:
        chat = app.create_chat("Family", SECRET, ["shared"], salt=chat_salt("Family"))

    async def scenario(pilot: Pilot[None]) -> None:
        screen = await _open_family(pilot, "alice")
        assert [s.message.body for s in screen.shown] == ["are you there?"]
        with opened(bob) as app:
            send(app, chat, "bob", ["yes, here"])
        await until(pilot, lambda: len(screen.shown) == 2, "bob's message on alice's screen")  # typically 0.2 s
        assert [(s.message.username, s.message.body) for s in screen.shown][-1] == ("bob", "yes, here")
        assert pilot.app.polls >= 1 and "polled" in pilot.app.sub_title
        await pilot.press("escape")
        table = await chat_list(pilot)  # the list is mounted and loaded after escape, not at once
        assert str(table.get_row_at(0)[1]) == ""  # read: nothing unread

    drive(alice, scenario, poll_every=0.2)


def test_unread_counts_and_a_locked_chat(tmp_path: Path, shared: Path) -> None:
    alice = make_home(tmp_path, "alice", shared)
    bob = make_home(tmp_path, "bob", shared)
    with_chat(bob, "bob", bodies=("one", "two", "three"))
    with opened(alice) as app:
        chat = app.create_chat("Family", SECRET, ["shared"], salt=chat_salt("Family"))
        app.poll()
        app.read(chat)  # routes bob's pointers into the chat

    async def scenario(pilot: Pilot[None]) -> None:
        await unlock(pilot, "alice")
        row = [str(cell) for cell in pilot.app.screen.query_one(DataTable).get_row_at(0)]
        assert row[0] == "Family (locked)" and row[1] == "3"
        await pilot.press("enter")
        await fill(pilot, secret=SECRET)
        await pilot.press("escape")
        row = [str(cell) for cell in (await chat_list(pilot)).get_row_at(0)]
        assert row[0] == "Family" and row[1] == ""

    drive(alice, scenario)


def test_chat_settings_invite_carriers_rekey_and_delete(tmp_path: Path, shared: Path) -> None:
    alice = make_home(tmp_path, "alice", shared)
    with_chat(alice, "alice", bodies=("before the change",))
    new_secret = "a brand new secret 9 by the old mill"
    new_invite: list[str] = []

    async def scenario(pilot: Pilot[None]) -> None:
        chat = await _open_family(pilot, "alice")
        await pilot.press("ctrl+s")
        assert isinstance(pilot.app.screen, ChatSettingsScreen)
        await pilot.click("#invite")
        invite = pilot.app.screen
        assert isinstance(invite, InviteScreen)
        assert invite.query_one(TextArea).text.startswith("pbinvite1")
        assert SECRET not in invite.query_one(TextArea).text
        assert "█" in str(invite.query_one("#qr", Static).render())
        await pilot.press("escape")
        await pilot.click("#rekey")
        await pilot.pause()
        note = pilot.app.screen.query_one(".note", Label)
        assert "members who have not rekeyed yet see nothing you send" in str(note.render())  # issue 17, item 16
        assert note.size.height > 1  # wrapped to the dialog's width, not cut at its edge
        await fill(pilot, secret=new_secret, secret_again=new_secret)
        assert isinstance(pilot.app.screen, ChatSettingsScreen)
        await pilot.click("#invite")  # the new invite, with the new key's salt, for the other members
        new_invite.append(pilot.app.screen.query_one(TextArea).text)
        await pilot.press("escape")
        await pilot.press("escape")
        await pilot.press(*keys("after the change"), "enter")
        await settle(pilot)
        assert [s.message.body for s in chat.shown] == ["before the change", "after the change"]
        await pilot.press("ctrl+s")
        await pilot.click("#delete")
        await pilot.press("y")
        assert isinstance(pilot.app.screen, ChatListScreen)
        assert pilot.app.screen.query_one(DataTable).row_count == 0

    bob = make_home(tmp_path, "bob", shared)
    with opened(bob) as app:
        old = app.create_chat("Family", SECRET, ["shared"], salt=chat_salt("Family"))
    drive(alice, scenario)
    with opened(bob) as app:
        app.poll()
        assert [s.message.body for s in app.read(old)[0]] == ["before the change"]  # the new one needs the new secret
        newer = app.rekey_chat(app.unlock_chat("Family", SECRET), new_secret, salt=rekey_salt("Family", new_invite[0]))
        assert [s.message.body for s in app.read(newer)[0]] == ["before the change", "after the change"]
    with opened(alice) as app:
        assert app.store.chats() == []


def test_profile_changes_the_master_phrase_and_peers_repin_without_a_warning(tmp_path: Path, shared: Path) -> None:
    alice = make_home(tmp_path, "alice", shared)
    bob = make_home(tmp_path, "bob", shared)
    with_chat(alice, "alice", bodies=("with my first key",))
    with opened(bob) as app:
        app.create_chat("Family", SECRET, ["shared"], salt=chat_salt("Family"))
    assert read(bob, "bob") == [("alice", "new", "with my first key")]
    new_phrase = "alice second phrase 12 on a grey friday"

    async def scenario(pilot: Pilot[None]) -> None:
        await _open_family(pilot, "alice")
        before = pilot.app.identity.fingerprint
        await pilot.press("escape", "p")
        assert isinstance(pilot.app.screen, ProfileScreen)
        assert before in str(pilot.app.screen.query_one("#who", Static).render())
        await pilot.click("#rotate")
        await fill(pilot, current=PHRASES["bob"], new=new_phrase, new_again=new_phrase)
        assert "wrong master phrase" in str(pilot.app.screen.query_one("#error", Label).render())
        await fill(pilot, current=PHRASES["alice"], new=new_phrase, new_again=new_phrase)
        assert pilot.app.identity.fingerprint != before
        assert pilot.app.identity.fingerprint in str(pilot.app.screen.query_one("#who", Static).render())
        await pilot.press("escape", "enter")  # the chat list, the chat again (its secret is still in RAM)
        chat = pilot.app.screen
        assert isinstance(chat, ChatScreen)
        await pilot.press(*keys("with my second key"), "enter")
        await settle(pilot)
        assert [s.trust for s in chat.shown] == ["pinned", "rotated", "pinned"]

    drive(alice, scenario)
    after = [(trust, body) for _, trust, body in read(bob, "bob")][1:]
    assert after == [("rotated", _notice_body(bob)), ("pinned", "with my second key")]


def _notice_body(home: Home) -> str:
    with opened(home) as app:
        shown, _ = app.read(app.unlock_chat("Family", SECRET))
        return next(s.message.body for s in shown if s.trust == "rotated")


def test_an_unexpected_error_ends_the_console_with_one_line_and_no_locals(
    tmp_path: Path, shared: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    home = make_home(tmp_path, "alice", shared)
    with_chat(home, "alice")
    app = console(home)

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await unlock(pilot, "alice")

            def broken() -> None:
                secret_local = "do not print me"  # noqa: F841
                raise RuntimeError("boom")

            pilot.app.screen.refresh_data = broken  # type: ignore[method-assign]
            pilot.app.call_later(pilot.app.refresh_screens)
            await pilot.pause()

    with pytest.raises(RuntimeError):
        asyncio.run(main())
    assert app.return_code == 70
    assert app.error_line == "pbridge: internal error (RuntimeError); PBRIDGE_DEBUG=1 shows more"
    printed = capfd.readouterr()
    assert "do not print me" not in printed.out + printed.err and "Traceback" not in printed.out + printed.err


def test_the_console_needs_a_terminal(tmp_path: Path) -> None:
    from test_cli import run

    result = run("--home", str(tmp_path / "home"), "console")
    assert (result.returncode, result.stdout) == (3, "")
    assert result.stderr == "pbridge: the console needs a terminal; the other commands work from scripts\n"
    bare = run("--home", str(tmp_path / "home"))  # no command and no terminal: a usage error, as before
    assert bare.returncode == 2 and "Missing command" in bare.stderr


def test_names_and_bodies_show_as_text_never_as_markup(tmp_path: Path, shared: Path) -> None:
    alice = make_home(tmp_path, "alice", shared)
    name, body = "[b]Club[/b]", "[reverse]fake ✓[/reverse] [link=http://x]y[/link]"
    with_chat(alice, "alice", name=name, bodies=(body,))

    async def scenario(pilot: Pilot[None]) -> None:
        await unlock(pilot, "alice")
        assert str(pilot.app.screen.query_one(DataTable).get_row_at(0)[0]) == f"{name} (locked)"
        await pilot.press("enter")
        assert name in str(pilot.app.screen.query_one(".title", Label).render())  # the secret dialog's title
        await fill(pilot, secret=SECRET)
        chat = pilot.app.screen
        assert isinstance(chat, ChatScreen)
        assert str(chat.query_one("#chat-title", Static).render()).startswith(f"{name} · shared")
        prompt = chat.query_one("#history", OptionList).get_option_at_index(0).prompt
        assert body in str(prompt)

    drive(alice, scenario)


def test_a_chat_never_read_settles_its_trust_marks_in_the_background(tmp_path: Path, shared: Path) -> None:
    alice = make_home(tmp_path, "alice", shared)
    bob = make_home(tmp_path, "bob", shared)
    with opened(alice) as app:
        chat = app.create_chat("Family", SECRET, ["shared"], salt=chat_salt("Family"))
        send(app, chat, "alice", [f"old {i}" for i in range(PAGE + 50)])
        newer = app.rotate_identity(app.unlock_identity(PHRASES["alice"]), "alice second phrase 12", allow_weak=True)
        app.send(chat, newer, "with my new key")
        app.poll(fetch=False)
    with opened(bob) as app:
        app.create_chat("Family", SECRET, ["shared"], salt=chat_salt("Family"))
        app.poll()  # stored, never read: no pin for alice, nothing judged

    async def scenario(pilot: Pilot[None]) -> None:
        screen = await _open_family(pilot, "bob")
        await settle(pilot)  # the background judge, then the page again
        assert [(s.message.body[:4], s.trust) for s in screen.shown][-2:] == [("alic", "rotated"), ("with", "pinned")]
        assert "checking" not in str(screen.query_one("#chat-notes", Static).render())
        done, total = screen._settled  # what the note said last while it showed: every pointer opened
        assert done == total >= PAGE + 51

    drive(bob, scenario)
    with opened(bob) as app:
        assert set(app.store.pins(app.chat_row("Family").id)) == {"alice", "bob"}


def test_two_messages_with_one_id_do_not_break_the_chat(tmp_path: Path, shared: Path) -> None:
    from pointerbridge.core.armor import dearmor
    from pointerbridge.core.pointer import _seal

    alice = make_home(tmp_path, "alice", shared)
    with opened(alice) as app:
        chat = app.create_chat("Family", SECRET, ["shared"], salt=chat_salt("Family"))
        me = app.unlock_identity(PHRASES["alice"])
        same_nonce = [
            _seal(chat.key, me, body, None, lambda n: b"\x07" * n, 1_790_000_000_000)[0] for body in ("first", "second")
        ]  # a sender chooses its nonce, so its message id too
        app.store.add_pointers([(p, dearmor(p)[1]) for p in same_nonce], "in")

    async def scenario(pilot: Pilot[None]) -> None:
        chat = await _open_family(pilot, "alice")
        assert sorted(s.message.body for s in chat.shown) == ["first", "second"]
        assert len({s.message.id for s in chat.shown}) == 1

    drive(alice, scenario)


def test_hiding_a_chat_in_its_settings_takes_it_off_the_list_until_joined_again(tmp_path: Path, shared: Path) -> None:
    alice = make_home(tmp_path, "alice", shared)
    with_chat(alice, "alice", bodies=("before hiding",))
    with_chat(alice, "alice", name="Other")
    with opened(alice) as app:  # queued, not posted: hiding is refused until it is
        app.send(app.unlock_chat("Family", SECRET), app.unlock_identity(PHRASES["alice"]), "still waiting")

    async def scenario(pilot: Pilot[None]) -> None:
        await _open_family(pilot, "alice")
        await pilot.press("ctrl+s")
        await pilot.click("#hide")  # refused before its invite is shown and y/N asked
        await until(pilot, lambda: any("poll first" in str(n.message) for n in pilot.app._notifications), "refusal")
        assert isinstance(pilot.app.screen, ChatSettingsScreen)
        with opened(alice) as other:  # the CLI, meanwhile: posted
            other.poll(fetch=False)
        # The refusal's toast may lie over the button: clear it, and press the button itself
        # (a click lands on whatever is on top at that spot).
        pilot.app.clear_notifications()
        pilot.app.screen.query_one("#hide", Button).press()
        await until(pilot, lambda: isinstance(pilot.app.screen, Confirm), "the question")
        question = str(pilot.app.screen.query_one(Label).render())
        assert "pbinvite1." in question
        assert "a salted chat's" in question and "junk clear --unclaimed" in question and "trash" in question
        await pilot.press("y")
        table = await chat_list(pilot)
        assert table.row_count == 1 and "Family" not in str(table.get_row_at(0))
        assert any("2 pointer(s) stay as unclaimed" in str(n.message) for n in pilot.app._notifications)

    drive(alice, scenario)
    with opened(alice) as app:
        assert [c.name for c in app.chats()] == ["Other"] and app.unrouted_count() == 2
        back = app.create_chat("Family", SECRET, ["shared"], salt=chat_salt("Family"))  # its invite's salt
        assert [(s.message.username, s.message.body) for s in app.read(back)[0]] == [
            ("alice", "before hiding"),
            ("alice", "still waiting"),
        ]


def test_a_chat_deleted_elsewhere_is_said_not_fatal(tmp_path: Path, shared: Path) -> None:
    alice = make_home(tmp_path, "alice", shared)
    with_chat(alice, "alice")

    async def scenario(pilot: Pilot[None]) -> None:
        await unlock(pilot, "alice")
        with opened(alice) as other:  # the CLI, meanwhile
            other.delete_chat("Family")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(pilot.app.screen, ChatListScreen) and pilot.app.return_code is None
        assert any("no chat named" in str(n.message) for n in pilot.app._notifications)

    drive(alice, scenario)


def test_a_chat_hidden_elsewhere_while_unlocked_here_is_said_and_its_pointers_kept(
    tmp_path: Path, shared: Path
) -> None:
    # Routing a pointer to a chat the CLI had meanwhile hidden failed the store's foreign
    # key: the console stopped with "internal error (IntegrityError)" (found by a review).
    alice, bob = make_home(tmp_path, "alice", shared), make_home(tmp_path, "bob", shared)
    alices = with_chat(alice, "alice")
    with_chat(bob, "bob")

    async def scenario(pilot: Pilot[None]) -> None:
        await _open_family(pilot, "bob")
        await pilot.press("escape")
        with opened(bob) as cli:
            cli.hide_chat("family")
        with opened(alice) as other:
            send(other, alices, "alice", ["to a chat bob hid"])
        app = pilot.app
        assert isinstance(app, ConsoleApp)
        polls = app.polls
        app.action_poll_now()
        await until(pilot, lambda: app.polls > polls, "a poll")
        await until(pilot, lambda: any("hidden elsewhere" in str(n.message) for n in app._notifications), "told")
        assert app.return_code is None and "internal error" not in str(app.sub_title), app.sub_title
        assert app.session.unlocked == {}

    drive(bob, scenario)
    with opened(bob) as cli:
        assert cli.chats() == []
        assert cli.store.unrouted(0)  # Alice's pointer is kept, for the chat's return


def test_clearing_a_history_keeps_what_waits_to_be_posted(tmp_path: Path, shared: Path) -> None:
    alice = make_home(tmp_path, "alice", shared)
    with opened(alice) as app:
        chat = app.create_chat("Family", SECRET, ["shared"], salt=chat_salt("Family"))
        send(app, chat, "alice", ["posted already"])
        newer = app.rotate_identity(app.unlock_identity(PHRASES["alice"]), "alice second phrase 12", allow_weak=True)
        assert app.post_notice(chat, newer)  # queued, not posted yet
        assert app.clear_history(chat) == (1, 1)
        app.poll(fetch=False)
    bob = make_home(tmp_path, "bob", shared)
    with opened(bob) as app:
        app.create_chat("Family", SECRET, ["shared"], salt=chat_salt("Family"))
    assert [trust for _, trust, _ in read(bob, "bob")] == ["new", "rotated"]  # the notice still went out


def test_textuals_logging_switches_are_dropped_before_the_console_starts() -> None:
    from pointerbridge.console import quiet_textual

    env = {
        "TEXTUAL_LOG": "/tmp/x.log",
        "TEXTUAL": "devtools,debug",
        "TEXTUAL_DEBUG": "1",
        "TEXTUAL_DEVTOOLS_PORT": "8081",
        "TEXTUAL_COLOR_SYSTEM": "truecolor",
        "HOME": "/root",
    }
    assert sorted(quiet_textual(env)) == ["TEXTUAL", "TEXTUAL_DEBUG", "TEXTUAL_DEVTOOLS_PORT", "TEXTUAL_LOG"]
    assert env == {"TEXTUAL_COLOR_SYSTEM": "truecolor", "HOME": "/root"}
    kept = {"PBRIDGE_DEBUG": "1", "TEXTUAL_LOG": "/tmp/x.log"}
    assert quiet_textual(kept) == [] and "TEXTUAL_LOG" in kept


def test_reading_only_the_trash_pins_nothing(tmp_path: Path, shared: Path) -> None:
    alice = make_home(tmp_path, "alice", shared)
    bob = make_home(tmp_path, "bob", shared)
    with_chat(alice, "alice", bodies=("first", "second"))
    with opened(bob) as app:
        chat = app.create_chat("Family", SECRET, ["shared"], salt=chat_salt("Family"))
        app.poll()
        app.route(chat)
        first = min(app.store.chat_pointer_ids(chat.row.id))
        app.store.set_trashed([first], True)
        shown, _ = app.read(chat, trash_only=True)
        assert [s.message.body for s in shown] == ["first"]
        assert "alice" not in app.store.pins(chat.row.id)  # the trash alone is not the arrival order
        shown, _ = app.read(chat, include_trash=True)
        assert [s.trust for s in shown] == ["new", "pinned"] and "alice" in app.store.pins(chat.row.id)


def test_carriers_screen_polls_now_and_a_chat_is_joined_from_an_invite(tmp_path: Path, shared: Path) -> None:
    from pointerbridge.app.invite import make_invite
    from pointerbridge.console.carriers import CarriersScreen

    alice = make_home(tmp_path, "alice", shared)
    bob = make_home(tmp_path, "bob", shared)
    with_chat(alice, "alice", bodies=("welcome, bob",))
    with opened(alice) as app:
        invite = make_invite(app.chat_row("Family"), app.config)

    async def scenario(pilot: Pilot[None]) -> None:
        await unlock(pilot, "bob")
        await pilot.press("c")
        screen = pilot.app.screen
        assert isinstance(screen, CarriersScreen)
        assert [str(c) for c in screen.query_one(DataTable).get_row_at(0)][:4] == ["shared", "files", "0", "never"]
        await pilot.press("g")
        await settle(pilot)
        assert pilot.app.polls == 1
        assert str(screen.query_one(DataTable).get_row_at(0)[3]) == "just now"
        await pilot.press("escape", "j")
        await fill(pilot, invite=invite, secret=SECRET, secret_again=SECRET)
        chat = pilot.app.screen
        assert isinstance(chat, ChatScreen) and chat.chat.row.carriers == ["shared"]
        await settle(pilot)
        assert [(s.message.username, s.message.body) for s in chat.shown] == [("alice", "welcome, bob")]

    drive(bob, scenario)


def test_a_poll_ending_while_a_chat_screen_is_still_composing_is_no_crash(tmp_path: Path, shared: Path) -> None:
    # Seen on CI: a background poll ended between push_screen and the chat screen's compose,
    # and redrawing it failed (NoMatches: no OptionList yet), which ended the console.
    alice = make_home(tmp_path, "alice", shared)
    with_chat(alice, "alice", bodies=("are you there?",))

    async def scenario(pilot: Pilot[None]) -> None:
        screen = await _open_family(pilot, "alice")
        chat = screen.chat
        await pilot.press("escape")
        await chat_list(pilot)
        fresh = ChatScreen(chat)
        pilot.app.push_screen(fresh)
        assert not fresh.is_mounted  # the moment the poll's redraw fell into
        pilot.app.refresh_screens()  # what the end of a poll does
        await until(pilot, lambda: fresh.is_mounted and len(fresh.shown) == 1, "the chat shown once composed")
        assert pilot.app.error_line is None

    drive(alice, scenario)


def test_lookalike_names_and_a_tick_in_a_name_are_flagged_in_the_history(tmp_path: Path, shared: Path) -> None:
    import hashlib
    import os
    import time

    from pointerbridge.core import Identity
    from pointerbridge.core.pointer import _seal

    alice = make_home(tmp_path, "alice", shared)
    with_chat(alice, "alice", bodies=("hi, alice here",))
    with opened(alice) as app:
        chat = app.unlock_chat("Family", SECRET)
        for name, body in (("Alice", "it is me, new phone"), ("dave ✓", "verified, honest")):
            sender = Identity(name, hashlib.sha256(name.encode()).digest())
            app.receive("\n".join(_seal(chat.key, sender, body, 2000, os.urandom, int(time.time() * 1000))))

    async def scenario(pilot: Pilot[None]) -> None:
        screen = await _open_family(pilot, "alice")
        await settle(pilot)
        history = screen.query_one("#history", OptionList)
        lines = [str(history.get_option_at_index(i).prompt) for i in range(history.option_count)]
        assert len(lines) == 3, lines
        impostor = next(line for line in lines if "new phone" in line)
        assert (
            " Alice (new key)  NAME LOOKS LIKE ANOTHER SENDER'S ('alice'): this one is spelled 'Alice' : it" in impostor
        )
        own = next(line for line in lines if "alice here" in line)
        assert " alice ✓  NAME LOOKS LIKE ANOTHER SENDER'S ('Alice'): this one is spelled 'alice' : hi" in own
        dave = next(line for line in lines if "honest" in line)
        assert " dave \\u2713 (new key)  NAME HOLDS A TRUST MARK'S GLYPH (\\u2713): it is part of the name" in dave
        assert "✓" not in dave

    drive(alice, scenario)


def test_the_first_run_refuses_a_username_holding_a_tick(tmp_path: Path, shared: Path) -> None:
    home = make_home(tmp_path, "bob", shared, init=False)
    strong = "bob master phrase 11 on a blue tuesday"

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.pause()
        await fill(pilot, username="bob ✓", phrase=strong, phrase_again=strong)
        assert isinstance(pilot.app.screen, Form)
        error = str(pilot.app.screen.query_one("#error", Label).render())
        assert "the username 'bob \\u2713' holds \\u2713 (CHECK MARK), which looks like a trust mark" in error

    drive(home, scenario)
    with opened(home) as app:
        assert app.public_identity() is None
