"""Replies, edits and deletes for everyone, and reading a chat as its view (app/view.py).

Every message goes out through :meth:`Outbox.send_content`; this module finds the message
an id (or unique prefix, as ``read`` shows it) names and refuses, before anything is
sealed, what every reader would refuse or flag: an id that is no message of the chat, an
edit or delete of a message this identity did not sign, or of one that cannot change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pointerbridge.core.errors import InvalidInputError

from .errors import MessageNotFoundError, NotChangeableError, NotYourMessageError
from .trash import Trash
from .view import ChatView, MessageView, build_view

if TYPE_CHECKING:
    from pointerbridge.core.keys import Identity

    from .models import UnlockedChat

__all__ = ["Composing"]


class Composing(Trash):
    """Reading a chat as people see it, and answering, changing or taking back messages."""

    def read_view(
        self,
        chat: UnlockedChat,
        *,
        include_trash: bool = False,
        trash_only: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[ChatView, int]:
        """The chat as people read it (:func:`~.view.build_view`: edits and deletes applied,
        replies quoted, forgeries and replays flagged, gaps counted) and how many pointers
        were refused. The whole history is opened, trash included (a message in the trash
        arrived: it is no gap, and its edits count); ``include_trash``/``trash_only`` say
        which lines are kept, as in :meth:`read`. Costs what :meth:`read` costs, plus one
        pass over the messages."""
        shown, refused = self.read(chat, include_trash=True, progress=progress)
        keep = (s.trashed if trash_only else include_trash or not s.trashed for s in shown)
        return build_view(shown, keep=keep, purged=self.purged_numbers(chat)), refused

    def find_message(self, chat: UnlockedChat, wanted: str | MessageView, view: ChatView | None = None) -> MessageView:
        """The shown message of ``chat`` whose id is or starts with ``wanted`` (the trash
        included; a :class:`MessageView` found before is taken as it is).
        :class:`MessageNotFoundError` if none, ``InvalidInputError`` if several."""
        if isinstance(wanted, MessageView):
            return wanted
        if view is None:
            view, _ = self.read_view(chat, include_trash=True)
        prefix = wanted.strip().lower().lstrip("#")
        if not prefix:
            raise InvalidInputError("a message id is needed ('pbridge read' shows them after #)")
        matches = [m for m in view.messages if m.id.startswith(prefix)]
        if not matches:
            raise MessageNotFoundError(
                f"no message of chat {chat.row.name!r} has an id starting {wanted!r} ('pbridge read' shows them)"
            )
        if len(matches) > 1:
            raise InvalidInputError(f"{wanted!r} matches {len(matches)} messages; give more of the id")
        return matches[0]

    def reply(self, chat: UnlockedChat, sender: Identity, target: str | MessageView, text: str) -> list[int]:
        """Send ``text`` as a reply to the message ``target`` (an id or unique prefix)."""
        from pointerbridge.core.content import Reply

        aimed = self.find_message(chat, target)
        return self.send_content(chat, sender, Reply(aimed.id, text))

    def edit(self, chat: UnlockedChat, sender: Identity, target: str | MessageView, text: str) -> list[int]:
        """Send ``text`` as the new body of ``sender``'s own message ``target``."""
        from pointerbridge.core.content import Edit

        aimed = self.check_own(chat, sender, target, "edit")
        return self.send_content(chat, sender, Edit(aimed.id, text))

    def delete_for_everyone(self, chat: UnlockedChat, sender: Identity, target: str | MessageView) -> list[int]:
        """Send a delete of ``sender``'s own message ``target``: every reader shows it as
        deleted by its sender. The local copy stays until trashed or purged here."""
        from pointerbridge.core.content import Delete

        aimed = self.check_own(chat, sender, target, "delete")
        return self.send_content(chat, sender, Delete(aimed.id))

    def check_own(self, chat: UnlockedChat, sender: Identity, target: str | MessageView, action: str) -> MessageView:
        """The message ``target`` names, if ``sender`` signed it and it can still change
        (``action``: the word for the refusal, "edit" or "delete"); else
        :class:`NotYourMessageError` or :class:`NotChangeableError`, before anything is sent."""
        import hmac

        aimed = self.find_message(chat, target)
        if not hmac.compare_digest(aimed.message.sender_key, sender.public_key):
            whose = aimed.message.username
            mine = whose == sender.username
            raise NotYourMessageError(
                f"message {aimed.id[:8]} was sent under "
                + ("an earlier key of yours: a rotated identity cannot " if mine else f"{whose!r}'s key: you can only ")
                + f"{action} your own messages"
            )
        if aimed.deleted or aimed.forged or aimed.kind not in ("text", "reply", "attachment"):
            why = "it was deleted" if aimed.deleted else f"it is a {aimed.kind} message"
            raise NotChangeableError(f"message {aimed.id[:8]} cannot be changed: {why}")
        return aimed
