"""Trash, restore, purge and clear: acting on messages a front-end was shown."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from pointerbridge.core.errors import InvalidInputError
from pointerbridge.home.store import Purged

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
        named, ids = self._named(chat, message_ids, moving_to=trashed)
        self.store.set_trashed(ids, trashed)
        return Acted(len(named), len(ids))

    def purge(self, chat: UnlockedChat, message_ids: Iterable[str]) -> Acted:
        """Delete messages for good; say how many."""
        named, ids = self._named(chat, message_ids)
        self._purge(chat, ids, named)
        return Acted(len(named), len(ids))

    def _named(
        self, chat: UnlockedChat, message_ids: Iterable[str], moving_to: bool | None = None
    ) -> tuple[list[Shown], list[int]]:
        """The distinct messages named by id or unique prefix (one named twice counts
        once), and their pointers; with ``moving_to``, each must be on the other side of
        the trash (nothing is done otherwise)."""
        shown, _ = self.read(chat, include_trash=True)
        found: list[int] = []
        named: dict[str, Shown] = {}
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
                named[matches[0].message.id] = matches[0]
                found.extend(matches[0].pointer_ids)
        return list(named.values()), found

    def trash_messages(self, chat: UnlockedChat, shown: Iterable[Shown], trashed: bool) -> int:
        """Move messages read from ``chat`` to the trash or back; return how many pointers."""
        ids = self._own_pointers(chat, shown)
        self.store.set_trashed(ids, trashed)
        return len(ids)

    def purge_messages(self, chat: UnlockedChat, shown: Iterable[Shown]) -> int:
        """Delete messages read from ``chat`` for good; return how many pointers."""
        messages = list(shown)
        ids = self._own_pointers(chat, messages)
        self._purge(chat, ids, messages)
        return len(ids)

    def clear_history(self, chat: UnlockedChat) -> tuple[int, int]:
        """Delete every message of the chat for good (the chat stays), but for pointers
        still waiting to be posted (a key-rotation notice among them must reach the
        members); return (pointers deleted, pointers kept to be posted). The history is
        read first (once, whole) for the numbers of its pb2 messages: they stay arrived."""
        # The pointers to delete are listed before the history is read: one that another
        # process routes here meanwhile (a poll) is in neither, so it stays, rather than
        # being deleted without its number noted (a false gap once later numbers come).
        self._route(chat)
        present = self.store.chat_pointer_ids(chat.row.id)
        waiting = self.store.chat_pointer_ids(chat.row.id, waiting=True)
        shown, _ = self.read(chat, include_trash=True)
        gone = present - waiting
        for message in shown:  # one with a part that came meanwhile stays whole
            if not gone.issuperset(message.pointer_ids):
                gone.difference_update(message.pointer_ids)
        ids = sorted(gone)
        self._purge(chat, ids, (s for s in shown if gone.issuperset(s.pointer_ids)))
        return len(ids), len(waiting)

    def purged_numbers(self, chat: UnlockedChat) -> Purged:
        """The numbers of the chat's pb2 messages deleted for good, which count as arrived
        (:func:`~.gaps.number_messages`)."""
        return self.store.purged_numbers(chat.row.id)

    def _purge(self, chat: UnlockedChat, ids: list[int], messages: Iterable[Shown]) -> None:
        """Delete pointers ``ids`` for good, noting the numbers of the pb2 ``messages``
        they are in the chat's record, in the same transaction."""
        numbers = [
            (s.message.sender_key, s.message.stream, s.message.seq)
            for s in messages
            if s.message.stream is not None and s.message.seq is not None
        ]
        self.store.purge(ids, chat_id=chat.row.id, numbers=numbers)

    def clear_refused(self, chat: UnlockedChat) -> int:
        """Delete for good (tombstoned: no carrier brings them back) the unrouted pointers
        that carry one of the chat's unlocked routing tags but do not open under its keys:
        altered copies, or a forgery, that every read counts as failing their checks."""
        self._route(chat)
        ids = sorted(self._doubtful.get(chat.row.id, ()))
        self.store.purge(ids)
        self._doubtful[chat.row.id] = set()
        return len(ids)

    def all_secrets_given(self, chat: UnlockedChat) -> bool:
        """Whether ``chat`` holds every secret the chat has had."""
        return self._all_unlocked(chat)

    def unclaimed(self, chats: Iterable[UnlockedChat]) -> list[int]:
        """The ids of the stored pointers that none of this home's chats claims, once every
        chat, unlocked in ``chats`` with every one of its secrets, has sorted out its own:
        what :meth:`clear_unclaimed` deletes. Refused (InvalidInputError) unless every chat
        of the home is there with all its secrets: a chat or secret missing would have its
        pointers counted as no one's."""
        given = {chat.row.id: chat for chat in chats}
        for row in self.store.chats():
            chat = given.get(row.id)
            if chat is None or not self._all_unlocked(chat):
                raise InvalidInputError(
                    f"chat {row.name!r} is not unlocked with all its secrets: its pointers cannot be told apart"
                )
        for chat in given.values():
            self._route(chat)
        return [row.id for row in self.store.unrouted() if row.direction == "in"]

    def clear_unclaimed(self, ids: Iterable[int]) -> tuple[int, int]:
        """Delete for good, tombstoned, the unclaimed pointers :meth:`unclaimed` listed (any
        that a chat claimed since is kept); return (how many, bytes of text)."""
        wanted = set(ids)
        rows = [row for row in self.store.unrouted() if row.id in wanted]
        self.store.purge(row.id for row in rows)
        self._routed.clear()
        return len(rows), sum(len(row.text) for row in rows)

    def _own_pointers(self, chat: UnlockedChat, shown: Iterable[Shown]) -> list[int]:
        # A front end hands back what it was shown; pointers of another chat are refused.
        ids = [pid for s in shown for pid in s.pointer_ids]
        if not self.store.all_in_chat(chat.row.id, ids):
            raise InvalidInputError(f"those messages are not in chat {chat.row.name!r}")
        return ids
