"""A chat view of part of a history (app/view.py ``whole=False``, app/gaps.py): what the
console builds over the pages it has loaded (issue 21). No false gaps at a page's top, a
target outside the pages said to be on an older page, and once the pages reach the chat's
first pointer, the very view ``read_view`` gives."""

from __future__ import annotations

from pathlib import Path

from console_helpers import PHRASES, make_home, opened, with_chat
from helpers import raw_identity
from pointerbridge.app.display import quote_line, view_body
from pointerbridge.app.models import Shown
from pointerbridge.app.trust import Trust
from pointerbridge.app.view import NOT_HERE, NOT_LOADED, build_view
from pointerbridge.core.content import Content, Delete, Edit, Reply, Text
from pointerbridge.core.keys import ChatKey, Identity
from pointerbridge.core.pointer import Message, unseal
from pointerbridge.core.pointer2 import new_stream, seal_content

CHAT = ChatKey("family", bytes(range(32)))
BOB = raw_identity("bob")
BOB_STREAM = new_stream()


def _shown(content: Content, seq: int, sender: Identity = BOB, stream: bytes = BOB_STREAM) -> Shown:
    (pointer,) = seal_content(CHAT, sender, content, stream=stream, seq=seq)
    message = unseal(CHAT, pointer)
    assert isinstance(message, Message)
    return Shown(message, Trust.PINNED, (seq,), False)


def test_a_page_starting_at_number_150_has_no_gap_and_a_hole_inside_it_is_one() -> None:
    page = [_shown(Text(f"bob {n}"), n) for n in (150, 151, 153)]
    assert build_view(page, whole=False).gaps[0].missing == (152,)
    assert build_view(page, whole=False).gaps[0].count == 1
    (whole,) = build_view(page).gaps  # as a whole history: 1 to 149 and 152 never arrived
    assert whole.count == 150 and whole.missing[:2] == (1, 2)
    assert build_view(page[:2], whole=False).gaps == ()


def test_a_target_outside_the_pages_is_on_an_older_page_not_missing() -> None:
    stream = new_stream()
    older = _shown(Text("on the older page"), 1, stream=stream)
    edit = _shown(Edit(older.message.id, "fixed"), 2, stream=stream)
    reply = _shown(Reply(older.message.id, "answer"), 3, stream=stream)
    delete = _shown(Delete(older.message.id), 4, stream=stream)
    part = build_view([edit, reply, delete], whole=False)
    notes = [line.note or "" for line in part.messages]
    assert [line.kind for line in part.messages] == ["edit", "reply", "delete"]
    assert all(NOT_LOADED in note for note in notes) and not any(NOT_HERE in note for note in notes)
    assert part.messages[1].quote is None and "(a reply to a message on an older page" in view_body(part.messages[1])
    assert part.gaps == ()
    # the same lines read as a whole history: not here (and numbers 1 missing)
    whole = build_view([edit, reply, delete])
    assert all(NOT_HERE in (line.note or "") for line in whole.messages) and whole.gaps[0].count == 1
    # the older page loaded: the edit and delete apply, the reply quotes its target
    loaded = build_view([older, edit, reply, delete], whole=False)
    assert [line.kind for line in loaded.messages] == ["text", "reply"]
    assert loaded.messages[0].deleted and loaded.messages[1].quote == "deleted by its sender"


def test_a_reply_quotes_its_target_on_a_line_of_its_own_with_the_targets_sender() -> None:
    alice, stream = raw_identity("alice"), new_stream()
    asked = _shown(Text("dinner at eight?\nor nine"), 1, sender=alice, stream=stream)
    answer = _shown(Reply(asked.message.id, "eight"), 1)
    line = build_view([asked, answer], whole=False).messages[1]
    assert (line.quote, line.quote_from) == ("dinner at eight?", "alice")
    assert quote_line(line) == "↳ alice: dinner at eight?"
    assert view_body(line, quote=False) == "eight"
    assert view_body(line) == '(reply to "dinner at eight?") eight'  # what the CLI's read prints
    assert quote_line(build_view([asked]).messages[0]) is None


def test_pages_read_to_the_start_give_the_view_read_view_gives(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    home = make_home(tmp_path, "alice", shared)
    chat = with_chat(home, "alice")
    with opened(home) as app:
        me = app.unlock_identity(PHRASES["alice"])
        for n in range(7):
            app.send(chat, me, f"message {n}")
        first = app.read_view(chat)[0].messages
        app.reply(chat, me, first[0].id, "an answer to the first")
        app.edit(chat, me, first[1].id, "message 1, fixed")
        app.delete_for_everyone(chat, me, first[2].id)
        app.edit(chat, me, first[3].id, "edited, then trashed")
        app.set_trashed(chat, [first[3].id], True)  # its edit still counts
        app.send(chat, me, "the newest")
        expected, _ = app.read_view(chat)
        loaded: list[Shown] = []
        before: int | None = None
        views = []
        while True:
            page = app.read_page(chat, before=before, limit=3, include_trash=True)
            loaded = page.messages + loaded
            views.append(build_view(loaded, keep=(not s.trashed for s in loaded), whole=page.older is None))
            if page.older is None:
                break
            before = page.older
    assert len(views) > 3
    assert all(view.gaps == () for view in views)  # no page's top is taken for lost messages
    assert views[-1] == expected
    bodies = [view_body(line) for line in expected.messages]
    assert "message 1, fixed (edited)" in bodies and "(deleted by its sender)" in bodies
    assert not any("edited, then trashed" in body for body in bodies)
