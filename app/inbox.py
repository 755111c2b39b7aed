"""Receiving: pasted pointers into the store, and stored pointers routed to the chat whose
unlocked key opens them (routing tag, then AEAD)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from pointerbridge.home.store import Direction

from .models import UnlockedChat
from .poll import Poller
from .received import Received, sort_pasted

if TYPE_CHECKING:
    from pointerbridge.core.keys import ChatKey

__all__ = ["Inbox"]


class Inbox(Poller):
    """Storing pasted pointers and routing stored ones to chats."""

    def receive(self, text: str, chats: Iterable[UnlockedChat] = ()) -> Received:
        """Store the pointers pasted in ``text``, sorted under the keys of ``chats``; say
        what was found (:class:`Received`). Damaged ones (truncated, or with one of these
        chats' routing tags but altered) are not kept."""
        return self._keep(text, {chat.row.name: chat.keys for chat in chats})

    def _keep(self, text: str, keys: dict[str, tuple[ChatKey, ...]]) -> Received:
        report, items = sort_pasted(text, keys)
        new = self.store.add_pointers(items, Direction.IN)
        return replace(report, new=len(new), known=len(items) - len(new))

    def look_at(self, text: str) -> Received:
        """What ``text`` holds, sorted under no key, with nothing stored: whether there is
        anything to ask a secret for."""
        return sort_pasted(text, {})[0]

    def receive_for(self, name: str, secret: str, text: str) -> tuple[Received, UnlockedChat | None, bool]:
        """Receive ``text`` for the chat called ``name``: unlocked with ``secret`` if this
        home has it, else an open chat joined from the pointers if the secret opens one
        (:meth:`join_by_receiving`'s rule; the pointers are kept either way). Return what
        was found, the chat (None: not created, :meth:`Received.problem` says why) and
        whether it was joined now."""
        if self.has_chat(name):
            chat = self.unlock_chat(name, secret)
            return self.receive(text, [chat]), chat, False
        from pointerbridge.core.keys import ChatKey

        key = ChatKey.derive_open(name, secret)
        report = self._keep(text, {name: (key,)})
        if report.problem() is not None:
            return report, None, False
        return report, self._add_chat(key, []), True

    def _route(self, chat: UnlockedChat) -> None:
        """Assign to the chat the unrouted pointers sealed under one of its unlocked keys
        (routing tag, then AEAD: a tag that matches by chance or on purpose must not take
        another chat's pointer); a pointer under a secret not unlocked stays unrouted.
        Those whose tag matches but whose AEAD fails stay unrouted too, and are counted
        as refused by this chat's reads."""
        from pointerbridge.core.pointer import belongs_to, tag_matches

        self._fill_unopened()
        keys = chat.keys
        # What these very keys (the same objects, kept alive here) already looked at stays
        # unrouted for them: a page read must not rescan another chat's pointers each time.
        seen_keys, after = self._routed.get(chat.row.id, ((), 0))
        if len(seen_keys) != len(keys) or any(a is not b for a, b in zip(seen_keys, keys, strict=False)):
            after = 0
        if after == 0:
            self._doubtful[chat.row.id] = set()
        doubtful = self._doubtful.setdefault(chat.row.id, set())
        mine = []
        rows = self.store.unrouted(after)
        for row in rows:
            tagged = [key for key in keys if tag_matches(key, row.payload)]  # one BLAKE2s a key
            if not tagged:
                continue
            if any(belongs_to(key, row.payload, version=row.version) for key in tagged):  # an AEAD open (~3 µs)
                mine.append(row.id)
                doubtful.discard(row.id)
            else:
                doubtful.add(row.id)
        if mine:
            self.store.assign(mine, chat.row.id)
        if rows:
            self._routed[chat.row.id] = (keys, rows[-1].id)
        elif after == 0:
            self._routed[chat.row.id] = (keys, 0)

    def _fill_unopened(self) -> None:
        """Once a session: give the pointers an earlier build kept by their text alone (a
        version it could not read) their payload and version where this build reads them."""
        if self._filled:
            return
        self._filled = True
        from pointerbridge.core.armor import dearmor
        from pointerbridge.core.errors import PointerError

        from .base import MIN_PB1_PAYLOAD, READ_VERSIONS

        filled = []
        for pid, text in self.store.unopened():
            try:
                version, payload = dearmor(text)
            except PointerError:
                continue  # a version this build does not read either: kept as it is
            if version in READ_VERSIONS and len(payload) >= MIN_PB1_PAYLOAD:
                filled.append((pid, payload, version))
        if filled:
            self.store.fill_payloads(filled)

    def route(self, chat: UnlockedChat) -> None:
        """Sort the pointers no chat has claimed yet into ``chat`` where its key opens them."""
        self._route(chat)

    def arrived_after(self, chat: UnlockedChat, after: int) -> tuple[int, int, int]:
        """(how many pointers routed to ``chat`` have an id above ``after``, how many of them
        came in rather than being sent from this home, the highest such id, or ``after``):
        what a front-end counts as new since it last looked."""
        return self.store.arrived_after(chat.row.id, after)
