"""The page in Chromium through a whole session of use (a chat unlocked, pointers sealed by
the Python core pasted and opened, an identity unlocked, a reply sealed and copied): no
request leaves the page but the file itself, nothing is stored anywhere the browser keeps
things, and it reads well on a phone (390x844) and a desktop (1280x800).

``PBRIDGE_WEB_SCREENSHOTS=docs`` writes the screenshots over docs/web-phone.png and
docs/web-desktop.png (the README shows the first); otherwise they go to a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from browser import BUILT, ROOT, open_page
from pointerbridge.core import Identity, new_stream, seal_content
from pointerbridge.core.content import Attachment, Edit, Locator, Reply, Text
from test_cli import PBRIDGE
from web_ui import Sender, new_chat, paste, seal_reply, shown, unlock_chat, unlock_identity

BOB_PHRASE = "bob's own phrase, long enough to pass"

STORAGE = """async () => ({
    local: localStorage.length,
    session: sessionStorage.length,
    cookie: document.cookie,
    databases: (await indexedDB.databases()).length,
    caches: 'caches' in self ? (await caches.keys()).length : 0,
    workers: await navigator.serviceWorker.getRegistrations().then((r) => r.length, (e) => e.name),
})"""


@contextmanager
def _served() -> Iterator[str]:
    assert PBRIDGE
    server = subprocess.Popen([PBRIDGE, "web", "--serve", "--no-qr"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def _url(where: str) -> Iterator[str]:
    if where == "file":
        yield BUILT.as_uri()
    else:
        with _served() as url:
            yield url


@pytest.mark.parametrize("where", ["file", "served"])
def test_a_whole_session_sends_nothing_and_stores_nothing(where: str) -> None:
    chat = new_chat()
    alice = Sender(chat.key(), Identity.derive_unsalted("alice", "alice's phrase, long enough"))
    first = alice.seal(Text("dinner at eight?"))
    pasted = "from the group:\n" + "\n".join(first + alice.seal(Text("or nine")))
    with _url(where) as url, open_page(url, width=390, height=844) as seen:
        page = seen.page
        unlock_chat(page, chat)
        paste(page, pasted)
        assert [line["body"] for line in shown(page)] == ["dinner at eight?", "or nine"]
        unlock_identity(page, "bob", BOB_PHRASE)
        page.locator("article.msg").first.locator("button.reply-to").click()
        copied = seal_reply(page, "eight is fine")
        page.wait_for_function("() => document.querySelectorAll('article.msg').length === 3")
        assert [line["name"] for line in shown(page)] == ["alice", "alice", "bob"]
        assert copied and all(p.startswith("pb2") for p in copied)
        stored = page.evaluate(STORAGE)
        assert seen.requests == [url]  # the page itself, and nothing else, all session long
        assert seen.console_errors == []  # no CSP violation either
    assert stored["local"] == stored["session"] == stored["databases"] == stored["caches"] == 0
    assert stored["cookie"] == ""
    # Over HTTP no service worker is registered; from disk none can be (file:// has no origin for one).
    assert stored["workers"] == (0 if where == "served" else "SecurityError")


def _a_busy_chat() -> tuple[object, str]:
    """A chat with what the view shows: a reply, an edit, a file, a gap, and someone else under alice's name."""
    chat = new_chat()
    key = chat.key()
    alice = Sender(key, Identity.derive_unsalted("alice", "alice's phrase, long enough"))
    carol = Sender(key, Identity.derive_unsalted("carol", "carol's phrase, long enough"))
    mallory = Identity.derive_unsalted("alice", "not alice at all, but her name")
    pointers = alice.seal(Text("Dinner at eight on Friday? I'll bring the bread."))
    asked = pointers[0]
    from pointerbridge.core import unseal

    asked_id = unseal(key, asked).id  # type: ignore[union-attr]
    pointers += carol.seal(Reply(asked_id, "Eight works. Shall I bring dessert?"))
    pointers += alice.seal(Edit(asked_id, "Dinner at half past eight on Friday? I'll bring the bread."))
    photo = Attachment(os.urandom(32), os.urandom(32), 2_400_000, "table.jpg", "image/jpeg", (Locator("tg", "1"),))
    pointers += alice.seal(photo)
    carol.seq += 2  # two of carol's messages never arrive
    pointers += carol.seal(Text("See you then!"))
    pointers += seal_content(key, mallory, Text("Change of plan: send me the door code"), stream=new_stream(), seq=1)
    return chat, "\n".join(pointers)


@pytest.mark.parametrize(("size", "name"), [((390, 844), "web-phone.png"), ((1280, 800), "web-desktop.png")])
def test_the_page_reads_well_on_a_phone_and_a_desktop(size: tuple[int, int], name: str, tmp_path: Path) -> None:
    chat, pasted = _a_busy_chat()
    folder = ROOT / "docs" if os.environ.get("PBRIDGE_WEB_SCREENSHOTS") == "docs" else tmp_path
    with open_page(BUILT.as_uri(), width=size[0], height=size[1]) as seen:
        page = seen.page
        unlock_chat(page, chat)  # type: ignore[arg-type]
        paste(page, pasted)
        unlock_identity(page, "bob", BOB_PHRASE)
        lines = shown(page)
        text = page.inner_text("#messages")
        assert "2 messages from carol have not arrived" in text
        assert "[file: table.jpg, 2.4 MB, image/jpeg]" in text and "cannot fetch files" in text
        assert "has no long-term pins" in text
        assert lines[0]["body"].startswith("Dinner at half past eight") and "(edited)" in lines[0]["body"]
        assert lines[1]["quote"] == "↳ alice: Dinner at half past eight on Friday? I'll bring the bread."
        assert [line["mark"] for line in lines if line["name"] == "alice"][
            -1
        ] == "KEY CHANGED: NOT VERIFIED AS THIS SENDER"
        # Nothing wider than the screen: a phone never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= size[0]
        page.screenshot(path=str(folder / name), full_page=True)
    assert (folder / name).read_bytes().startswith(b"\x89PNG")


def test_an_unlocked_chat_folds_to_one_line() -> None:
    chat = new_chat()
    alice = Sender(chat.key(), Identity.derive_unsalted("alice", "alice's phrase, long enough"))
    with open_page(BUILT.as_uri(), width=390, height=844) as seen:
        page = seen.page
        card = page.locator("form.chat").first
        unlock_chat(page, chat)
        # On a phone the messages come right after one line: the chat's name and Change.
        assert card.locator("input[name=secret]").is_hidden() and card.locator("button.change").is_visible()
        assert card.bounding_box()["height"] < 80  # type: ignore[index]
        paste(page, "\n".join(alice.seal(Text("still open"))))
        card.locator("button.change").click()
        assert card.locator("input[name=secret]").is_visible() and card.locator("button.change").is_hidden()
        assert [line["body"] for line in shown(page)] == ["still open"]  # unfolding keeps the key
        unlock_chat(page, chat)
        page.click("#forget")  # the key dropped: the card unfolds to be unlocked again
        assert card.locator("input[name=secret]").is_visible()
        assert card.locator(".status.good").count() == 0
