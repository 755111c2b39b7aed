"""Interop through the page's UI, both ways (issue 22): pb2 messages sealed by the Python
core (100 B, 4 KB, and 100 KB split over several pointers) pasted into the page and shown
with their sender and whole body; and replies sealed in the page's reply box, copied with
its Copy buttons, opened by the Python core with the right body and sender."""

from __future__ import annotations

import pytest
from browser import BUILT, open_page
from pointerbridge.core import Identity, unseal
from pointerbridge.core.content import Text
from pointerbridge.core.reassembly import Reassembler
from web_ui import Sender, new_chat, paste_from_clipboard, seal_reply, shown, unlock_chat, unlock_identity

SIZES = [100, 4_000, 100_000]


def _body(size: int) -> str:
    """``size`` UTF-8 bytes of text with line breaks and characters beyond ASCII."""
    line = "Grüße from the café, 日本 and ✓ marks: the quick brown fox jumps over the lazy dog.\n"
    data = (line * (size // len(line.encode()) + 1)).encode()[:size]
    return data.decode(errors="ignore")


def test_python_to_page() -> None:
    chat = new_chat()
    alice = Sender(chat.key(), Identity.derive_unsalted("alice", "alice's phrase, long enough"))
    sealed = {size: alice.seal(Text(_body(size))) for size in SIZES}
    assert [len(sealed[size]) > 1 for size in SIZES] == [False, False, True]  # 100 KB is split
    # Parts out of order, one message's parts between another's: joined all the same.
    pasted = "\n\n".join([*sealed[100_000][::-1], *sealed[100], *sealed[4_000]])
    with open_page(BUILT.as_uri()) as seen:
        unlock_chat(seen.page, chat)
        paste_from_clipboard(seen.page, pasted)  # as Ctrl+V does (the session tests type into the box)
        assert seen.page.input_value("#paste") == pasted
        lines = shown(seen.page)
    assert [line["body"] for line in lines] == [_body(size) for size in SIZES]  # in sent order
    assert {line["name"] for line in lines} == {"alice"}
    # Trust follows the paste's order (the split message came first), not the sent time.
    assert [line["mark"] for line in lines] == ["✓", "✓", "key first seen in this paste"]


@pytest.mark.parametrize("size", SIZES)
def test_page_to_python(size: int) -> None:
    chat = new_chat()
    key = chat.key()
    bob = Identity.derive_unsalted("bob", "bob's own phrase, long enough to pass")
    body = _body(size)
    with open_page(BUILT.as_uri()) as seen:
        unlock_chat(seen.page, chat)
        unlock_identity(seen.page, "bob", "bob's own phrase, long enough to pass")
        copied = seal_reply(seen.page, body)
    assert (len(copied) > 1) == (size == 100_000)
    joiner = Reassembler()
    opened = [joiner.add(unseal(key, pointer)) for pointer in copied]
    message = opened[-1]
    assert message is not None and all(m is None for m in opened[:-1])
    assert message.body == body and message.content == Text(body)
    assert message.username == "bob" and message.sender_key == bob.public_key
    assert message.seq == 1 and message.stream is not None  # the page session's first message
