"""pb2 in the console (issue 21): what Bob's replies, edits, deletes, files, forgeries, gaps
and replays look like in Alice's chat screen, and Alice replying, editing, deleting for
everyone and saving a file from it; two homes over a files carrier, read back by Bob."""

from __future__ import annotations

from itertools import count
from pathlib import Path

from attachment_helpers import marked_file
from console_helpers import PHRASES, drive, fill, make_home, opened, settle, unlock, until, with_chat
from helpers import raw_identity
from pointerbridge.app.attachments import save_attachment, send_attachment
from pointerbridge.app.display import NAME_WARNING_STYLE
from pointerbridge.app.service import MessageView
from pointerbridge.console.chat import ChatScreen
from pointerbridge.console.dialogs import Confirm, Form
from pointerbridge.console.transfer import Transfer
from pointerbridge.core.content import Attachment, Edit, Text, Unknown
from pointerbridge.core.pointer2 import new_stream, seal_content
from pointerbridge.home.config import Home
from rich.text import Text as RichText
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, ProgressBar, Static

_files = count(1)


def _drop(shared: Path, *pointers: str) -> None:
    """Put pointers in the shared folder as another member's device would."""
    for pointer in pointers:
        (shared / f"{90_000_000_000_000_000_000 + next(_files):020d}-x.pb").write_text(pointer)


def _bob_writes(tmp_path: Path, shared: Path, alice: Home, bob: Home) -> bytes:
    """Bob answers, fixes, takes back and sends a file; a member forges an edit of Alice's
    message; carol's second message is withheld and her third replayed. The file's bytes."""
    with_chat(alice, "alice", bodies=("dinner at eight?",))
    chat = with_chat(bob, "bob")
    photo = marked_file(tmp_path, size=300_000)
    with opened(bob) as app:
        app.poll()
        me = app.unlock_identity(PHRASES["bob"])
        (asked,) = app.read_view(chat)[0].messages
        app.reply(chat, me, asked.id, "yes, eight")
        (typo,) = app.send(chat, me, "a tpyo")
        app.edit(chat, me, app.find_message(chat, app.read_view(chat)[0].messages[-1].id), "no typo")
        app.send(chat, me, "take this back")
        app.delete_for_everyone(chat, me, app.read_view(chat)[0].messages[-1].id)
        send_attachment(app, chat, me, photo, caption="the photo")
        app.poll(fetch=False)
    assert typo
    carol, stream = raw_identity("carol"), new_stream()
    one, three, again, later = (
        seal_content(chat.key, carol, content, stream=stream, seq=seq)[0]
        for content, seq in (
            (Text("carol 1"), 1),
            (Text("carol 3"), 3),
            (Text("carol 3, again"), 3),
            (Unknown(0x7F, b"from a later version"), 4),
        )
    )
    forged = seal_content(chat.key, raw_identity("mallory"), Edit(asked.id, "at midnight"), stream=new_stream(), seq=1)
    _drop(shared, one, three, again, later, *forged)
    with opened(alice) as app:
        app.poll()
    return photo.read_bytes()


def _lines(screen: ChatScreen) -> list[RichText]:
    history = screen.query_one("#history", OptionList)
    prompts = [history.get_option_at_index(i).prompt for i in range(history.option_count)]
    assert all(isinstance(p, RichText) for p in prompts)
    return [p for p in prompts if isinstance(p, RichText)]


def _line(screen: ChatScreen, needle: str) -> RichText:
    (found,) = [line for line in _lines(screen) if needle in line.plain]
    return found


async def _highlight(pilot: Pilot[None], screen: ChatScreen, needle: str) -> MessageView:
    """Highlight the line holding ``needle`` and give the history the focus."""
    (index,) = [i for i, line in enumerate(_lines(screen)) if needle in line.plain]
    history = screen.query_one("#history", OptionList)
    history.focus()
    history.highlighted = index
    await pilot.pause()
    return screen.view.messages[index]


async def _open_family(pilot: Pilot[None]) -> ChatScreen:
    await unlock(pilot, "alice")
    await pilot.press("enter")
    await fill(pilot, secret="tulips in the rain 7 by the old mill")
    screen = pilot.app.screen
    assert isinstance(screen, ChatScreen)
    return screen


def _notified(pilot: Pilot[None], words: str) -> bool:
    return any(words in str(n.message) for n in pilot.app._notifications)


def test_bobs_pb2_messages_show_right_and_alice_answers_edits_deletes_and_saves(tmp_path: Path, shared: Path) -> None:
    alice, bob = make_home(tmp_path, "alice", shared), make_home(tmp_path, "bob", shared)
    photo = _bob_writes(tmp_path, shared, alice, bob)
    saved_in, elsewhere = tmp_path / "saved", tmp_path / "elsewhere"
    saved_in.mkdir()
    elsewhere.mkdir()

    async def scenario(pilot: Pilot[None]) -> None:
        screen = await _open_family(pilot)
        await settle(pilot)
        reply = _line(screen, "yes, eight")
        assert reply.plain.startswith("\u00a0" * 6 + "↳ alice: dinner at eight?\n")  # the quote on a line of its own
        assert " bob " in reply.plain.split("\n")[1]
        assert "no typo (edited)" in _line(screen, "no typo").plain
        assert "(deleted by its sender)" in _line(screen, "deleted by its sender").plain
        assert not any("take this back" in line.plain or "tpyo" in line.plain for line in _lines(screen))
        assert "[file: holiday photo.jpg, 300.0 KB, image/jpeg] the photo" in _line(screen, "[file:").plain
        forged = _line(screen, "FORGED")
        assert (
            "[FORGED: an edit of alice's message #" in forged.plain and "signed by mallory] at midnight" in forged.plain
        )
        assert any(span.style == NAME_WARNING_STYLE for span in forged.spans)  # loud, as a changed key
        assert _line(screen, "alice ✓: dinner at eight?").plain.endswith("eight?")  # unchanged by the forgery
        assert "[replayed: not a new message]" in _line(screen, "carol 3, again").plain
        assert "(a message this version cannot show)" in _line(screen, "cannot show").plain
        notes = str(screen.query_one("#chat-notes", Static).render())
        assert "1 message from carol has not arrived" in notes

        # someone else's message cannot be edited or deleted: refused at once, nothing sent
        await _highlight(pilot, screen, "no typo")
        await pilot.press("e")
        await until(pilot, lambda: _notified(pilot, "you can only edit your own messages"), "the refusal")
        assert screen.composing is None and screen.query_one("#composer", Input).value == ""
        await pilot.press("d")
        await until(pilot, lambda: _notified(pilot, "you can only delete your own messages"), "the refusal")
        assert not isinstance(pilot.app.screen, Confirm)

        # a reply, cancelled with escape, then sent
        bobs = await _highlight(pilot, screen, "no typo")
        await pilot.press("r")
        assert screen.composing == ("reply", bobs)
        assert "replying to bob: no typo" in str(screen.query_one("#composing", Static).render())
        await pilot.press("escape")
        assert screen.composing is None and pilot.app.screen is screen  # still in the chat
        await _highlight(pilot, screen, "no typo")
        await pilot.press("r", *"glad", "enter")
        await until(pilot, lambda: any("↳ bob: no typo" in line.plain for line in _lines(screen)), "alice's reply")
        assert _line(screen, "↳ bob: no typo").plain.endswith(" glad")

        # her own message edited: the composer holds its text
        await _highlight(pilot, screen, "alice ✓: dinner at eight?")
        await pilot.press("e")
        composer = screen.query_one("#composer", Input)
        assert composer.value == "dinner at eight?" and composer.has_focus
        composer.value = "dinner at nine?"
        await pilot.press("enter")
        await until(pilot, lambda: any("dinner at nine? (edited)" in line.plain for line in _lines(screen)), "edit")
        assert "↳ alice: dinner at nine?\n" in _line(screen, "yes, eight").plain  # bob's quote follows

        # a message of hers deleted for everyone, after a yes
        composer.focus()
        await pilot.press(*"oops", "enter")
        await until(pilot, lambda: any("oops" in line.plain for line in _lines(screen)), "oops sent")
        await _highlight(pilot, screen, "oops")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, Confirm), "the question")
        await pilot.press("y")
        await until(pilot, lambda: not any("oops" in line.plain for line in _lines(screen)), "oops deleted")

        # the file saved, byte for byte; saved again there: asked, and kept on "no"
        await _highlight(pilot, screen, "[file:")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(pilot.app.screen, Form), "where to save it")
        await fill(pilot, dest=str(saved_in))
        transfer = screen.query_one(Transfer)
        await until(pilot, lambda: transfer.saved is not None, "the file saved")
        assert transfer.saved == saved_in / "holiday photo.jpg" and transfer.saved.read_bytes() == photo
        bar = transfer.query_one(ProgressBar)
        assert bar.total is not None and bar.total > len(photo) and bar.progress == bar.total  # fetched, decrypted
        assert _notified(pilot, f"saved as {saved_in / 'holiday photo.jpg'}")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(pilot.app.screen, Form), "where to save it")
        await fill(pilot, dest=str(saved_in))
        await until(pilot, lambda: isinstance(pilot.app.screen, Confirm), "replace it?")
        await pilot.press("n")
        await settle(pilot)
        assert not transfer.busy and list(saved_in.iterdir()) == [saved_in / "holiday photo.jpg"]
        # the blob altered on the carrier: one line, nothing written
        (blob,) = (shared / "blobs").glob("blob-*.pbb")
        altered = bytearray(blob.read_bytes())
        altered[100] ^= 1
        blob.write_bytes(bytes(altered))
        await pilot.press("s")
        await until(pilot, lambda: isinstance(pilot.app.screen, Form), "where to save it")
        await fill(pilot, dest=str(elsewhere))
        await until(pilot, lambda: _notified(pilot, "SHA-256 is not the one its reference names"), "the refusal")
        assert not transfer.busy and list(elsewhere.iterdir()) == []
        # a message that holds no file
        await _highlight(pilot, screen, "carol 1")
        await pilot.press("s")
        await until(pilot, lambda: _notified(pilot, "this message holds no file"), "no file")
        await settle(pilot)

    drive(alice, scenario)
    with opened(alice) as app:
        app.poll()  # whatever the console left queued
    with opened(bob) as app:
        app.poll()
        view, _ = app.read_view(app.unlock_chat("Family", "tulips in the rain 7 by the old mill"))
    by_body = {line.body: line for line in view.messages}
    glad = by_body["glad"]
    assert (glad.kind, glad.quote, glad.message.username) == ("reply", "no typo", "alice")
    edited = by_body["dinner at nine?"]
    assert edited.edited and edited.message.username == "alice"
    assert by_body["yes, eight"].quote == "dinner at nine?"
    assert any(line.deleted and line.message.username == "alice" for line in view.messages)
    assert "oops" not in by_body


def test_alice_sends_a_file_from_the_console_and_bob_saves_it(tmp_path: Path, shared: Path) -> None:
    alice, bob = make_home(tmp_path, "alice", shared), make_home(tmp_path, "bob", shared)
    with_chat(alice, "alice")
    chat = with_chat(bob, "bob")
    photo = marked_file(tmp_path, "plan.pdf", size=200_000)

    async def scenario(pilot: Pilot[None]) -> None:
        screen = await _open_family(pilot)
        screen.query_one("#history", OptionList).focus()
        await pilot.press("a")
        await until(pilot, lambda: isinstance(pilot.app.screen, Form), "which file")
        await fill(pilot, path=str(photo), caption="the plan")
        transfer = screen.query_one(Transfer)
        await until(pilot, lambda: transfer.sent == 1, "the file sent")
        bar = transfer.query_one(ProgressBar)
        assert bar.total == 2 * photo.stat().st_size and bar.progress == bar.total  # encrypted, then put on one carrier
        await until(pilot, lambda: any("[file: plan.pdf" in line.plain for line in _lines(screen)), "its line")
        assert "[file: plan.pdf, 200.0 KB, application/pdf] the plan" in _line(screen, "[file:").plain
        # a file that is not there: one line, nothing sent
        await pilot.press("a")
        await until(pilot, lambda: isinstance(pilot.app.screen, Form), "which file")
        await fill(pilot, path=str(tmp_path / "no such file"))
        await until(pilot, lambda: _notified(pilot, "No such file"), "the failure")
        await settle(pilot)
        assert transfer.sent == 1 and not transfer.busy
        await settle(pilot)

    drive(alice, scenario)
    with opened(alice) as app:
        app.poll()
    with opened(bob) as app:
        app.poll()
        (line,) = app.read_view(chat)[0].messages
        assert (line.kind, line.body, line.message.username) == ("attachment", "the plan", "alice")
        content = app.find_message(chat, line.id).message.content
        assert isinstance(content, Attachment)
        saved = save_attachment(app, chat, content, tmp_path / "bob-got.pdf")
    assert saved.read_bytes() == photo.read_bytes()
