"""The page after "Forget all secrets", and a sender's rotation notice naming someone else
(web/src/page/reply.ts, session.ts, render.ts): nothing opened with a forgotten key, nor
the reply's quote of it or the draft, stays anywhere on the page; a notice is said to be
its sender's, never the person it names."""

from __future__ import annotations

import os

from browser import shipped_page
from pointerbridge.core import Identity, content
from pointerbridge.core.rotation import make_notice, notice_bytes
from web_ui import Sender, new_chat, paste, shown, unlock_chat, unlock_identity

PAGE_TEXT = """() => document.body.innerText + '\\n' + [...document.querySelectorAll('input, textarea, select')]
    .map((f) => f.value).join('\\n')"""


def test_forgetting_leaves_nothing_opened_quoted_or_drafted_on_the_page() -> None:
    chat = new_chat()
    bob = Sender(chat.key(), Identity("bob", os.urandom(32)))
    mallory = Sender(chat.key(), Identity("mallory", os.urandom(32)))
    alice_old, alice_new = Identity("alice", os.urandom(32)), Identity("alice", os.urandom(32))
    notice = content.Rotation(notice_bytes(make_notice(alice_old, alice_new)))
    pointers = bob.seal(content.Text("meet at the old mill at nine")) + mallory.seal(notice)
    phrase = "my own phrase " + os.urandom(4).hex()
    with shipped_page() as page:
        unlock_chat(page, chat)
        paste(page, "\n".join(pointers))
        lines = {line["name"]: line for line in shown(page)}
        rotation = lines["mallory"]["body"]
        assert rotation.startswith("-- mallory says they changed key (the notice names alice, not its sender")
        unlock_identity(page, "carol", phrase)
        page.locator("article.msg", has_text="old mill").locator("button.reply-to").click()
        page.fill("#reply", "my draft about the mill")
        before = page.evaluate(PAGE_TEXT)
        assert "old mill at nine" in before and "my draft" in before and chat.secret in before and phrase in before
        page.click("#forget")
        page.locator("#messages .status", has_text="Unlock a chat").wait_for()
        after = page.evaluate(PAGE_TEXT)
        for secret in ("old mill", "my draft", chat.secret, phrase, "the notice names"):
            assert secret not in after, secret


def test_no_secret_sits_in_a_password_field_a_browser_would_offer_to_save() -> None:
    # A password field in a form is what browsers and password managers save (on disk): the
    # chat secret and the master phrase are text fields masked by CSS, marked for managers.
    with shipped_page() as page:
        assert page.evaluate("document.querySelectorAll('input[type=password]').length") == 0
        for name in ("secret", "phrase"):
            field = page.locator(f"input[name={name}]").first
            assert field.get_attribute("type") == "text" and field.get_attribute("autocomplete") == "off"
            assert field.get_attribute("data-1p-ignore") == "true" and field.get_attribute("data-lpignore") == "true"
            assert field.evaluate("(f) => getComputedStyle(f).webkitTextSecurity") == "disc"  # shown as dots


def test_a_body_of_stacked_marks_cannot_paint_over_the_line_above() -> None:
    chat = new_chat()
    mallory = Sender(chat.key(), Identity("mallory", os.urandom(32)))
    with shipped_page() as page:
        unlock_chat(page, chat)
        paste(page, "\n".join(mallory.seal(content.Text("a" + "\u0301" * 300))))
        message = page.locator("article.msg").first
        style = message.evaluate("(m) => [getComputedStyle(m).overflow, getComputedStyle(m).contain]")
        assert style[0] == "hidden" and "paint" in style[1]
        body = message.locator(".body").evaluate("(b) => getComputedStyle(b).overflow")
        assert body == "hidden"
