"""Files dropped on the page (issue 22: "paste any text or drop a file (a mail, an export of
a Telegram chat): every pointer in it is found"): mails as a person's client forwards or
saves a bot's mail (quoted-printable cutting pointers with soft line breaks, base64 hiding
them, an HTML part quoting them as ``&gt; ``), an mbox, Telegram Desktop's JSON and HTML
exports; the page must find in each what the app's own mail reader (``scan_mail``) finds,
and a hostile file (10,000 MIME parts, 60 MB) must be bounded and said, not hang the page.
"""

from __future__ import annotations

import html
import json
import mailbox
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser import BUILT, open_page
from pointerbridge.bridges.base import PollResult
from pointerbridge.bridges.email_format import scan_mail
from pointerbridge.core import Identity
from pointerbridge.core.armor import find_pointers
from pointerbridge.core.content import Text
from web_ui import Chat, Sender, new_chat, shown, unlock_chat

if TYPE_CHECKING:
    from playwright.sync_api import Page

BOT = "Pointer Bridge <bot@example.org>"
FORWARD = "---------- Forwarded message ---------\nFrom: {bot}\nSubject: family\n\n"


class Dropping:
    """The page open with a chat unlocked, files dropped on it one after another."""

    def __init__(self, page: Page, chat: Chat, folder: Path) -> None:
        self.page, self.chat, self.folder = page, chat, folder
        self.alice = Sender(chat.key(), Identity.derive_unsalted("alice", "alice's phrase, long enough"))
        self.dropped = 0

    def seal(self, text: str) -> list[str]:
        return self.alice.seal(Text(text))

    def drop(self, name: str, data: bytes, *, within: float = 60.0) -> float:
        """Chooses the file ``name`` holding ``data``; the seconds until the page said it read it."""
        self.dropped += 1
        path = self.folder / f"{self.dropped}-{name}"
        path.write_bytes(data)
        start = time.monotonic()
        self.page.set_input_files("#file", str(path))
        self.page.locator(".paste .status", has_text=f"Read {path.name}").wait_for(timeout=within * 1000)
        return time.monotonic() - start

    def bodies(self) -> list[str]:
        return [line["body"] for line in shown(self.page)]

    def notes(self) -> str:
        return self.page.inner_text("#paste-notes")


@pytest.fixture(scope="module")
def page_with_chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dropping]:
    chat = new_chat()
    with open_page(BUILT.as_uri()) as seen:
        unlock_chat(seen.page, chat)
        yield Dropping(seen.page, chat, tmp_path_factory.mktemp("dropped"))
        assert seen.console_errors == []  # no CSP violation: postal-mime runs without eval
        assert seen.requests == [BUILT.as_uri()]


def _mail(subject: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Carol <carol@example.net>", "dave@example.net", subject
    return mail


def _forwarded(pointers: list[str], cte: str) -> bytes:
    """A bot's mail forwarded inline, each pointer quoted on one line (longer than a mail
    line may be: the client's encoder cuts it)."""
    mail = _mail("Fwd: family")
    quoted = "\n".join("> " + pointer for pointer in pointers)
    mail.set_content("Look at these:\n\n" + FORWARD.format(bot=BOT) + quoted + "\n", charset="utf-8", cte=cte)
    return bytes(mail)


def _scan_mail(raw: bytes) -> list[str]:
    """What the app's own mail reader finds in ``raw``."""
    result = PollResult(pointers=[], cursor="")
    scan_mail(raw, 1, result)
    return [received.text for received in result.pointers]


@pytest.mark.parametrize("cte", ["quoted-printable", "base64"])
def test_a_forwarded_mail_is_decoded(page_with_chat: Dropping, cte: str) -> None:
    texts = [f"first, sent as {cte}", f"second, sent as {cte}"]
    pointers = [p for text in texts for p in page_with_chat.seal(text)]
    raw = _forwarded(pointers, cte)
    assert find_pointers(raw.decode("ascii")) == []  # the raw mail hides every pointer
    assert _scan_mail(raw) == pointers  # the app finds them: so must the page
    page_with_chat.drop("forwarded.eml", raw)
    assert page_with_chat.bodies() == texts
    assert "Read as a mail: 1 MIME part(s) decoded." in page_with_chat.notes()


def test_an_html_reply_quoting_pointers_as_entities(page_with_chat: Dropping) -> None:
    pointer = page_with_chat.seal("quoted in HTML")[0]
    mail = _mail("Re: family")
    mail.set_content("The pointer is in the HTML part only.\n", charset="utf-8", cte="quoted-printable")
    # A client's reply in HTML: the quoted mail wrapped at 76 characters, each line "&gt; ".
    lines = [pointer[i : i + 76] for i in range(0, len(pointer), 76)]
    quote = "<br>\n".join("&gt; " + html.escape(line) for line in lines)
    page = f"<html><body><p>See below</p><blockquote>{quote}</blockquote></body></html>\n"
    mail.add_alternative(page, subtype="html", cte="quoted-printable")
    raw = bytes(mail)
    assert find_pointers(raw.decode("ascii")) == []
    assert _scan_mail(raw) == [pointer]
    page_with_chat.drop("reply.eml", raw)
    assert page_with_chat.bodies() == ["quoted in HTML"]
    assert "2 MIME part(s)" in page_with_chat.notes()


def test_a_split_100_kb_message_across_a_quoted_printable_mail(page_with_chat: Dropping) -> None:
    body = "A long letter, line after line.\n" * 3_200  # 102,400 bytes
    parts = page_with_chat.seal(body)
    assert len(parts) > 1
    raw = _forwarded(parts[::-1], "quoted-printable")  # parts in any order
    assert find_pointers(raw.decode("ascii")) == []
    page_with_chat.drop("long.eml", raw)
    assert page_with_chat.bodies() == [body]
    assert "split message" not in page_with_chat.page.inner_text("#messages")  # none left incomplete


def test_an_mbox_of_mails(page_with_chat: Dropping) -> None:
    texts = ["in the first mail", "in the second mail", "in the third mail"]
    box = mailbox.mbox(page_with_chat.folder / "saved.mbox")
    for text, cte in zip(texts, ["quoted-printable", "base64", "quoted-printable"], strict=True):
        box.add(_forwarded(page_with_chat.seal(text), cte))
    box.flush()
    raw = (page_with_chat.folder / "saved.mbox").read_bytes()
    assert find_pointers(raw.decode("ascii")) == []
    page_with_chat.drop("saved.mbox", raw)
    assert page_with_chat.bodies() == texts
    assert "3 MIME part(s) decoded" in page_with_chat.notes()


def _telegram_message(number: int, text: str | list[object]) -> dict[str, object]:
    plain = text if isinstance(text, str) else "".join(t if isinstance(t, str) else str(t["text"]) for t in text)  # type: ignore[index]
    return {
        "id": number,
        "type": "message",
        "date": f"2024-05-0{number}T20:00:00",
        "date_unixtime": str(1714593600 + number * 86400),
        "from": "Pointer Bridge",
        "from_id": "user6123456789",
        "text": text,
        "text_entities": [{"type": "plain", "text": plain}],
    }


def test_a_telegram_json_export(page_with_chat: Dropping) -> None:
    one, two, three = (page_with_chat.seal(t)[0] for t in ["plain text", "after bold", "long one"])
    messages = [
        _telegram_message(1, f"From the group:\n{one}"),  # raw JSON: "...group:\npb2..." glues n and p
        _telegram_message(2, ["see ", {"type": "bold", "text": "this"}, f":\n{two}"]),  # text as entities
        _telegram_message(3, three),
    ]
    export = {"name": "Family", "type": "private_group", "id": 4000000001, "messages": messages}
    raw = json.dumps(export, ensure_ascii=False, indent=1).encode()  # as Telegram Desktop writes it
    assert one not in find_pointers(raw.decode())  # the raw text alone misses it
    page_with_chat.drop("result.json", raw)
    assert page_with_chat.bodies() == ["plain text", "after bold", "long one"]


def test_a_telegram_html_export(page_with_chat: Dropping) -> None:
    one, two = (page_with_chat.seal(t)[0] for t in ["from the html export", "quoted in it"])
    messages = "".join(
        f'<div class="message default clearfix" id="message{n}"><div class="body">'
        f'<div class="pull_right date details" title="0{n}.05.2024 20:00:00">20:00</div>'
        f'<div class="from_name">Pointer Bridge </div><div class="text">{text}</div></div></div>\n'
        for n, text in [(1, f"Hi all,<br>{one}"), (2, f"Carol wrote:<br>&gt; {two[:50]}<br>&gt; {two[50:]}")]
    )
    page = (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8"/>\n<title>Exported Data</title>\n</head>\n'
        f'<body>\n<div class="page_wrap"><div class="history">\n{messages}</div></div>\n</body>\n</html>\n'
    )
    page_with_chat.drop("messages.html", page.encode())
    assert page_with_chat.bodies() == ["from the html export", "quoted in it"]


def test_a_mail_of_10000_parts_is_bounded_and_said(page_with_chat: Dropping) -> None:
    first, last = page_with_chat.seal("in the first part")[0], page_with_chat.seal("in part 10,000")[0]
    mail = _mail("many parts")
    mail.set_content(f"{first}\n", cte="base64")
    mail.make_mixed()
    for number in range(2, 10_001):
        text = f"{last}\n" if number == 10_000 else f"part {number}\n"
        mail.add_attachment(text, subtype="plain", cte="base64", filename=f"{number}.txt")
    seconds = page_with_chat.drop("hostile.eml", bytes(mail))
    assert page_with_chat.bodies() == ["in the first part"]  # part 10,000 was never decoded
    assert "has more than 500 parts: the first 500 were read" in page_with_chat.notes()
    assert seconds < 10  # all 10,000 given to postal-mime: 12 s (its time grows as their square)


def test_a_60_mb_file_is_searched_to_its_end(page_with_chat: Dropping) -> None:
    pointers = [page_with_chat.seal(t)[0] for t in ["at the start", "in the middle", "at the end"]]
    filler = ("chat log line " * 5 + "\n").encode()
    block = filler * (20 * 1024 * 1024 // len(filler))
    data = b"\n".join([pointers[0].encode(), block, pointers[1].encode(), block, block, pointers[2].encode()])
    assert len(data) > 60_000_000
    page_with_chat.drop("huge.txt", data, within=120)
    assert page_with_chat.bodies() == ["at the start", "in the middle", "at the end"]
    assert "too long to show in the box" in page_with_chat.page.inner_text(".paste")
    assert page_with_chat.page.input_value("#paste") == ""


def test_a_file_over_64_mb_is_not_read(page_with_chat: Dropping) -> None:
    path = page_with_chat.folder / "too-big.txt"
    path.write_bytes(b"x" * (64 * 1024 * 1024 + 1))
    page_with_chat.page.set_input_files("#file", str(path))
    page_with_chat.page.locator(".paste .status", has_text="too-big.txt is larger than 64 MB: not read.").wait_for()
