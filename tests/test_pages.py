"""Paged reads: the last N pointers of a chat, opened and judged without a full read."""

from __future__ import annotations

import os

import pytest
from helpers import raw_identity
from pointerbridge.app.service import App, Page, Shown, UnlockedChat
from pointerbridge.core import Identity, InvalidInputError
from pointerbridge.core.pointer import _seal
from pointerbridge.home.config import Home

SECRET = "paged chat secret"


def _all_pages(app: App, chat: UnlockedChat, limit: int, **flags: bool) -> tuple[list[Shown], list[Page]]:
    pages: list[Page] = []
    before = None
    while True:
        page = app.read_page(chat, before=before, limit=limit, **flags)
        pages.append(page)
        if page.older is None:
            break
        assert page.older < (before or 1 << 62)
        before = page.older
    return [s for page in reversed(pages) for s in page.messages], pages


@pytest.fixture(scope="module")
def chat_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[App, UnlockedChat]:
    app = App(Home.resolve(tmp_path_factory.mktemp("pages") / "bob"))
    app.init("bob", "bob phrase", allow_weak=True)
    chat = app.create_chat("Family", SECRET, [], allow_weak=True)
    alice, carol = raw_identity("alice"), raw_identity("carol")
    mallory = Identity("carol", b"\x0b" * 32)  # carol's name, another key: flagged
    texts: list[str] = []
    at = 1_790_000_000_000
    for i in range(4800):
        at += 1
        if i % 400 == 17:  # a split message whose parts arrive with other messages between them
            parts = _seal(chat.key, alice, f"long {i} " + "x" * 4000, 2000, os.urandom, at)
            assert len(parts) >= 3
            for n, part in enumerate(parts):
                texts.append(part)
                if n < len(parts) - 1:
                    at += 1
                    texts.extend(_seal(chat.key, carol, f"between {i}.{n}", None, os.urandom, at))
            continue
        sender = mallory if i == 3000 else (alice, carol)[i % 2]
        texts.extend(_seal(chat.key, sender, f"message {i}", None, os.urandom, at))
    app.receive("\n".join(texts))
    return app, chat


def test_pages_cover_the_history_once_in_order_and_settle_after_a_full_read(
    chat_app: tuple[App, UnlockedChat],
) -> None:
    app, chat = chat_app
    first = app.read_page(chat, limit=200)
    assert first.unsettled and first.older is not None and len(first.messages) >= 190
    assert app.store.pins(chat.row.id).keys() == {"bob"}  # a page in the middle pinned nobody
    paged, pages = _all_pages(app, chat, 200)
    assert all(p.unsettled for p in pages[:-1]) and not pages[-1].unsettled  # the first pointer's page pins
    assert [s.trust for s in pages[-1].messages[:2]] == ["new", "new"]
    assert app.store.pins(chat.row.id).keys() == {"bob", "alice", "carol"}
    full, refused = app.read(chat)
    assert refused == 0 and sum(p.refused for p in pages) == 0
    assert [s.message.id for s in paged] == [s.message.id for s in full]
    assert sum(s.message.body.startswith("long") for s in paged) == 12  # split messages: each whole, once
    again, pages = _all_pages(app, chat, 200)
    assert not any(p.unsettled for p in pages)
    assert [(s.message.id, s.trust, s.pointer_ids) for s in again] == [
        (s.message.id, s.trust, s.pointer_ids) for s in full
    ]
    assert {s.trust for s in again} == {"pinned", "changed"}
    assert [s.message.body for s in again if s.trust == "changed"] == ["message 3000"]
    last_split = next(s for s in reversed(full) if s.message.body.startswith("long"))
    newest = max(i for s in full for i in s.pointer_ids)
    edge = newest - last_split.pointer_ids[1] + 1  # the first page's edge falls inside that message
    odd, pages = _all_pages(app, chat, edge)
    assert last_split.message.id in [s.message.id for s in pages[0].messages]
    assert pages[0].older is not None and pages[0].older <= last_split.pointer_ids[0]  # reached down for it
    assert [s.message.id for s in odd] == [s.message.id for s in full]


def test_pages_respect_the_trash(chat_app: tuple[App, UnlockedChat]) -> None:
    app, chat = chat_app
    full, _ = app.read(chat)
    gone = [s.message.id for s in full[10:15]]
    app.set_trashed(chat, gone, True)
    try:
        kept, _ = _all_pages(app, chat, 500)
        assert len(kept) == len(full) - 5 and not set(gone) & {s.message.id for s in kept}
        trash, pages = _all_pages(app, chat, 500, trash_only=True)
        assert [s.message.id for s in trash] == gone and len(pages) == 1
        everything, _ = _all_pages(app, chat, 500, include_trash=True)
        assert [s.message.id for s in everything] == [s.message.id for s in full]
        assert [s.trashed for s in everything[10:15]] == [True] * 5
    finally:
        app.set_trashed(chat, gone, False)


def test_a_page_is_new_pointers_unsettled_and_checks_its_limit(chat_app: tuple[App, UnlockedChat]) -> None:
    app, chat = chat_app
    app.read(chat)
    assert not app.read_page(chat, limit=50).unsettled
    app.receive("\n".join(_seal(chat.key, raw_identity("alice"), "a late one", None, os.urandom, 1_800_000_000_000)))
    page = app.read_page(chat, limit=50)
    assert page.messages[-1].message.body == "a late one" and page.unsettled  # no full read judged it yet
    with pytest.raises(InvalidInputError):
        app.read_page(chat, limit=0)


def test_pointers_of_a_chat_not_unlocked_are_scanned_once(chat_app: tuple[App, UnlockedChat]) -> None:
    from helpers import raw_chat

    app, chat = chat_app
    other = raw_chat("elsewhere")
    dave = raw_identity("dave")
    app.receive(
        "\n".join(_seal(other, dave, f"not ours {i}", None, os.urandom, 1_800_000_000_000 + i)[0] for i in range(50))
    )
    calls: list[int] = []
    unrouted = app.store.unrouted

    def counted(after: int = 0) -> list[object]:
        rows = unrouted(after)
        calls.append(len(rows))
        return rows  # type: ignore[return-value]

    app.store.unrouted = counted  # type: ignore[method-assign]
    try:
        app.read_page(chat, limit=10)
        app.read_page(chat, limit=10)
        assert calls[-1] == 0  # the second page looked at nothing already looked at
        app.receive("\n".join(_seal(chat.key, raw_identity("alice"), "fresh", None, os.urandom, 1_900_000_000_000)))
        assert app.read_page(chat, limit=10).messages[-1].message.body == "fresh" and calls[-1] == 1
    finally:
        del app.store.unrouted
    assert app.store.counts()["unrouted"] == 50
