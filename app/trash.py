"""Trash, restore, purge and clear: acting on messages a front-end was shown."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from pointerbridge.core.errors import InvalidInputError

from .history import History
from .models import Shown, UnlockedChat

__all__ = ["Acted", "Trash"]


class Acted(NamedTuple):
    """How many distinct messages an action named, and how many pointers they are."""

    messages: int
    pointers: int


class Trash(History):
    """Moving shown messages to the trash and back, and deleting them for good."""

    def set_trashed(self, chat: UnlockedChat, message_ids: Iterable[str], trashed: bool) -> Acted:
        """Move messages (by id or unique id prefix) to the trash or back; say how many."""
        messages, ids = self._pointer_ids(chat, message_ids, moving_to=trashed)
        self.store.set_trashed(ids, trashed)
        return Acted(messages, len(ids))

    def purge(self, chat: UnlockedChat, message_ids: Iterable[str]) -> Acted:
        """Delete messages for good; say how many."""
        messages, ids = self._pointer_ids(chat, message_ids)
        self.store.purge(ids)
        return Acted(messages, len(ids))

    def _pointer_ids(
        self, chat: UnlockedChat, message_ids: Iterable[str], moving_to: bool | None = None
    ) -> tuple[int, list[int]]:
        """How many distinct messages are named by id or unique prefix (one named twice
        counts once), and their pointers; with ``moving_to``, each must be on the other
        side of the trash (nothing is done otherwise)."""
        shown, _ = self.read(chat, include_trash=True)
        found: list[int] = []
        named: set[str] = set()
        for wanted in message_ids:
            matches = [s for s in shown if s.message.id.startswith(wanted.lower())]
            if not matches:
                raise InvalidInputError(
                    f"no message of chat {chat.row.name!r} has an id starting {wanted!r} ('pbridge read' shows them)"
                )
            if len(matches) > 1:
                raise InvalidInputError(f"{wanted!r} matches {len(matches)} messages; give more of the id")
            if moving_to is not None and matches[0].trashed == moving_to:
                where = "already in the trash" if moving_to else "not in the trash"
                raise InvalidInputError(f"message {wanted!r} is {where}")
            if matches[0].message.id not in named:
                named.add(matches[0].message.id)
                found.extend(matches[0].pointer_ids)
        return len(named), found

    def trash_messages(self, chat: UnlockedChat, shown: Iterable[Shown], trashed: bool) -> int:
        """Move messages read from ``chat`` to the trash or back; return how many pointers."""
        ids = self._own_pointers(chat, shown)
        self.store.set_trashed(ids, trashed)
        return len(ids)

    def purge_messages(self, chat: UnlockedChat, shown: Iterable[Shown]) -> int:
        """Delete messages read from ``chat`` for good; return how many pointers."""
        ids = self._own_pointers(chat, shown)
        self.store.purge(ids)
        return len(ids)

    def clear_history(self, chat: UnlockedChat) -> tuple[int, int]:
        """Delete every message of the chat for good (the chat stays), but for pointers
        still waiting to be posted (a key-rotation notice among them must reach the
        members); return (pointers deleted, pointers kept to be posted)."""
        waiting = self.store.chat_pointer_ids(chat.row.id, waiting=True)
        ids = [pid for pid in self.store.chat_pointer_ids(chat.row.id) if pid not in waiting]
        self.store.purge(ids)
        return len(ids), len(waiting)

    def _own_pointers(self, chat: UnlockedChat, shown: Iterable[Shown]) -> list[int]:
        # A front end hands back what it was shown; pointers of another chat are refused.
        ids = [pid for s in shown for pid in s.pointer_ids]
        if not self.store.all_in_chat(chat.row.id, ids):
            raise InvalidInputError(f"those messages are not in chat {chat.row.name!r}")
        return ids
