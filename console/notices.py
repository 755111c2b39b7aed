"""The console's desktop notifications (``pbridge console --notify``): what the session's
:class:`~pointerbridge.app.session.NewMessages` events of one poll or live batch say,
raised on the desktop's notification service (app/notify.py).

The chats set to ``count`` (the default) share one notification: "new messages" and how
many pointers came in (those this home sent are no news), no chat, sender or text. A
chat set to ``names`` or ``text`` (``pbridge chat notify``, or its settings screen here)
gets one of its own, worded by :func:`~pointerbridge.app.notify.chat_notice`; one set
to ``off`` none. A notification
that cannot be raised is said once as a warning on screen (and once when they work
again); the console goes on."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from pointerbridge.app.display import safe_text
from pointerbridge.app.errors import NotifyUnavailableError
from pointerbridge.app.notify import Notice, Notifier, chat_notice, count_notice, said_by_others

if TYPE_CHECKING:
    from pointerbridge.app.session import NewMessages

    from .tui import ConsoleApp

__all__ = ["Notices"]


class Notices:
    """Gathers one batch's :class:`NewMessages` and raises its notifications in a worker."""

    def __init__(self, app: ConsoleApp, notifier: Notifier | None = None) -> None:
        """Notifications for ``app``'s session, through ``notifier`` (None: the session bus's)."""
        self.app = app
        self.notifier = notifier or Notifier()
        self.raised = 0  # notifications the service took (tests wait on it)
        self.failed = 0  # notifications that could not be raised
        self.batches = 0  # batches of new messages looked at (tests wait on it)
        self.warnings = 0  # times the console said notifications are off
        self._pending: dict[int, NewMessages] = {}
        self._failing = False

    def new_messages(self, event: NewMessages) -> None:
        """A chat gained pointers: counted in the notification of this batch, raised once the
        session has emitted all of it (the events of one poll come in one call)."""
        if not self._pending:
            self.app.call_later(self._flush)
        before = self._pending.get(event.chat.row.id)
        if before is not None:  # a second batch before this one was raised: one notification for both
            event = type(event)(
                event.chat, before.pointers + event.pointers, before.after, before.incoming + event.incoming
            )
        self._pending[event.chat.row.id] = event

    def _flush(self) -> None:
        events, self._pending = list(self._pending.values()), {}
        self.batches += 1
        counted = 0
        notices: list[Notice] = []
        for event in events:
            if not event.incoming:
                continue  # only what this home sent: nobody else wrote
            # a chat deleted from the CLI meanwhile is said on screen (attempt) and left out
            show = self.app.attempt(functools.partial(self.app.service.notify_show, event.chat.row.name))
            if show == "count":
                counted += event.incoming  # pointers this home sent are no news
            elif show in ("names", "text"):
                notice = self.app.attempt(functools.partial(self._chat_notice, event, show))
                if notice is not None:
                    notices.append(notice)
        if counted:
            notices.insert(0, count_notice(counted))
        if notices:
            self.app.run_worker(self._raise(notices), group="notify", exclusive=False)

    def _chat_notice(self, event: NewMessages, show: str) -> Notice | None:
        identity = self.app.identity
        page = self.app.service.read_page(event.chat, limit=event.pointers)
        own = identity.public_key if identity is not None else b""
        said = said_by_others(page.messages, event.after, own)
        return chat_notice(show, event.chat.row.name, said, event.incoming)

    async def _raise(self, notices: list[Notice]) -> None:
        for notice in notices:
            try:
                await self.notifier.send_async(notice)
            except NotifyUnavailableError as exc:
                self.failed += 1
                if not self._failing:
                    self._failing = True
                    self.warnings += 1
                    said = safe_text(f"desktop notifications are off: {exc}")  # the bus's words
                    self.app.notify(said, severity="warning", markup=False)
                continue
            self.raised += 1
            if self._failing:
                self._failing = False
                self.app.notify("desktop notifications work again", markup=False)
