"""Driving the browser page as a person does (web/src/page/): a chat unlocked, text pasted,
an identity unlocked, a reply sealed and copied; and what the page shows, read back."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pointerbridge.core import ChatKey, Identity, new_chat_salt, new_stream, seal_content

if TYPE_CHECKING:
    from playwright.sync_api import Page

DERIVE_MS = 30_000  # an Argon2id of the spec's cost, on a machine shared with other tests


@dataclass(frozen=True)
class Chat:
    """A salted chat as its members know it (the page is given name, secret and salt)."""

    name: str
    secret: str
    salt: bytes

    def key(self) -> ChatKey:
        return ChatKey.derive(self.name, self.secret, self.salt)

    @property
    def salt_text(self) -> str:
        return base64.urlsafe_b64encode(self.salt).decode().rstrip("=")


def new_chat(name: str = "family") -> Chat:
    return Chat(name, "correct horse battery staple " + os.urandom(4).hex(), new_chat_salt())


class Sender:
    """Someone sealing pb2 messages with the Python core, numbered in a stream of their own."""

    def __init__(self, chat: ChatKey, identity: Identity) -> None:
        self.chat, self.identity, self.stream, self.seq = chat, identity, new_stream(), 0

    def seal(self, content: object) -> list[str]:
        self.seq += 1
        return seal_content(self.chat, self.identity, content, stream=self.stream, seq=self.seq)  # type: ignore[arg-type]


def unlock_chat(page: Page, chat: Chat, card: int = 1) -> None:
    form = page.locator("form.chat").nth(card - 1)
    form.locator("input[name=chat]").fill(chat.name)
    form.locator("input[name=secret]").fill(chat.secret)
    form.locator("input[name=salt]").fill(chat.salt_text)
    form.locator("button[type=submit]").click()
    form.locator(".status.good").wait_for(timeout=DERIVE_MS)


def paste(page: Page, text: str) -> None:
    """Pastes ``text`` and waits for the page to have opened it (its summary changes)."""
    summary = page.locator("#messages .summary")
    before = summary.inner_text()
    page.fill("#paste", text)
    page.wait_for_function("(b) => document.querySelector('#messages .summary').textContent !== b", arg=before)


def paste_from_clipboard(page: Page, text: str) -> None:
    """Pastes ``text`` as a person's Ctrl+V does (a paste event carrying it) and waits for
    the page to have opened it."""
    summary = page.locator("#messages .summary")
    before = summary.inner_text()
    page.focus("#paste")
    page.evaluate(
        """(text) => {
            const data = new DataTransfer();
            data.setData("text/plain", text);
            document.querySelector("#paste").dispatchEvent(
                new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
        }""",
        text,
    )
    page.wait_for_function("(b) => document.querySelector('#messages .summary').textContent !== b", arg=before)


def unlock_identity(page: Page, username: str, phrase: str) -> None:
    form = page.locator("form.identity")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=phrase]").fill(phrase)
    form.locator("button[type=submit]").click()
    form.locator(".status.good").wait_for(timeout=DERIVE_MS)


def seal_reply(page: Page, text: str) -> list[str]:
    """Seals ``text`` in the reply box; the pointers as its Copy buttons copy them."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    box = page.locator("form.reply-box")
    box.locator("#reply").fill(text)
    box.locator("button[type=submit]").click()
    box.locator(".sealed").first.wait_for()
    copied = []
    for sealed in box.locator(".sealed").all():
        sealed.locator("button.copy").click()
        sealed.locator(".status", has_text="Copied").wait_for()  # not "Selected": the clipboard took it
        copied.append(page.evaluate("() => navigator.clipboard.readText()"))
    return copied


def shown(page: Page) -> list[dict[str, str]]:
    """Each message line the page shows: its sender, mark and body text."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#messages article.msg')].map((m) => ({
            chat: m.closest('.chat-view').dataset.chat,
            id: m.dataset.id,
            name: m.querySelector('.name').textContent,
            mark: m.querySelector('.mark').textContent,
            body: m.querySelector('.body').textContent,
            quote: m.querySelector('.quote')?.textContent ?? '',
        }))"""
    )
