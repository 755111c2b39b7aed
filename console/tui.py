"""The console's Textual application (``ConsoleApp``): screens over one home, driven by the
app's session (app/session.py: the identity and chats unlocked, RAM only; background
polling and its events)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, TypeVar

from pointerbridge.app.display import safe_text
from pointerbridge.app.service import App, PollSummary, UnlockedChat
from pointerbridge.app.session import (
    ChatGone,
    Event,
    Heard,
    ListenEvent,
    ListenFailed,
    NewMessages,
    Polled,
    PollFailed,
    PollOutcome,
    Session,
)
from pointerbridge.core import PointerBridgeError
from rich.text import Text
from textual import work
from textual.app import App as TextualApp
from textual.binding import Binding, BindingType

from .dialogs import Field, Form, weak_ok
from .notices import Notices

if TYPE_CHECKING:
    from pointerbridge.app.base import BridgeFactory
    from pointerbridge.app.service import Home
    from pointerbridge.core.keys import Identity

__all__ = ["ConsoleApp"]

_T = TypeVar("_T")

_CSS = """
.dialog { width: 72; height: auto; max-height: 90%; border: thick $primary; background: $surface; padding: 1 2; }
.dialog.help { width: 100; }
ModalScreen { align: center middle; }
.dialog Label { width: 100%; }
.title { text-style: bold; margin-bottom: 1; }
.note { width: 100%; color: $text-muted; margin-bottom: 1; }
.error { color: $error; }
.buttons { height: auto; margin-top: 1; }
.buttons Button { margin-right: 2; }
#history { height: 1fr; }
#compose-area { dock: bottom; height: auto; }
#chat-title, #chat-notes, #hint, #composing { height: auto; padding: 0 1; color: $text-muted; }
#chat-title { text-wrap: nowrap; text-overflow: ellipsis; text-style: bold; }
"""


class ConsoleApp(TextualApp[None]):
    """Pointer Bridge's interactive console over one home."""

    TITLE = "Pointer Bridge"
    CSS = _CSS
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+g", "poll_now", "Poll now"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        home: Home,
        *,
        poll_every: float | None = None,
        live: bool = True,
        bridge_factory: BridgeFactory | None = None,
        notify: bool = False,
    ) -> None:
        """``poll_every``: seconds between background polls (None: the shortest
        ``poll_every`` of this home's carriers; 0: no background polling). ``live``: listen
        live to the carriers that push, from the unlock on. ``notify``: raise desktop
        notifications of new messages (console/notices.py)."""
        super().__init__()
        self.home = home
        self.service = App(home, bridge_factory)
        self.session = Session(self.service)
        self.session.subscribe(self._on_event)
        self.poll_every = poll_every if poll_every is not None else self.session.poll_every
        self.live = live
        self.last_summary: PollSummary | None = None
        self.polls = 0  # background polls finished (tests wait on it)
        self.heard = 0  # batches received live (tests wait on it)
        self.error_line: str | None = None  # the one line an unexpected error ended the app with
        self.notices = Notices(self) if notify else None

    # the session --------------------------------------------------------------------

    @property
    def identity(self) -> Identity | None:
        """The identity unlocked this session (None: not yet)."""
        return self.session.identity

    @identity.setter
    def identity(self, identity: Identity | None) -> None:
        self.session.identity = identity

    @property
    def unlocked(self) -> dict[int, UnlockedChat]:
        """The chats unlocked this session, by chat id."""
        return self.session.unlocked

    def on_mount(self) -> None:
        self.made_identity = self.service.public_identity() is None
        if self.made_identity:
            from pointerbridge.app.secret_policy import generate_master_phrase

            fields = [
                Field("username", "Your username (the name your chats will see)"),
                Field("phrase", "Master phrase", secret=True, confirm=True, generated=generate_master_phrase()),
                Field(
                    "recovery",
                    "Recovery code: only to regenerate an identity made on another machine "
                    "('none' for one made before codes)",
                    optional=True,
                ),
            ]
            form = Form(
                "Create your identity",
                fields,
                ok="Create",
                note="Your identity is derived from your username, master phrase and a random recovery code; "
                "nothing of it is stored but its public key and the code. Write the master phrase down "
                "and keep it safe: nothing can recover it.",
                run=self._init,
            )
        else:
            form = Form(
                f"Unlock {self.service.username()}",
                [Field("phrase", "Master phrase", secret=True)],
                ok="Unlock",
                run=lambda v: self.service.unlock_identity(v["phrase"]),
            )
        self.push_screen(form, self._start)

    def _init(self, values: dict[str, str]) -> Identity:
        from pointerbridge.core import RecoveryCode

        typed = values["recovery"].strip()
        unsalted = typed.lower() == "none"
        code = RecoveryCode.parse(typed) if typed and not unsalted else None
        return self.service.init(
            values["username"], values["phrase"], recovery=code, unsalted=unsalted, allow_weak=weak_ok(values)
        )

    def _start(self, identity: Identity | None) -> None:
        if identity is None:
            self.exit()
            return
        from .chats import ChatListScreen

        self.identity = identity
        self.push_screen(ChatListScreen())
        code = self.service.recovery_code()
        if self.made_identity and code is not None:
            self.notify(
                f"Your recovery code: {code}. Keep it with your master phrase: on another machine it "
                "regenerates you (also shown in your profile, p).",
                timeout=60,
                markup=False,
            )
        if self.live:
            self.session.start_listening(self._hand_over)
        if self.poll_every:
            self.set_interval(self.poll_every, self.action_poll_now)
            self.action_poll_now()

    def _hand_over(self, event: ListenEvent) -> None:
        # On a listener's thread: the session routes it on this app's thread.
        try:
            self.call_from_thread(self.session.heard, event)
        except RuntimeError:  # the console has closed meanwhile: nobody is left to show it
            self.session.stop_listening()

    def attempt(self, action: Callable[[], _T]) -> _T | None:
        """Run ``action``; an expected failure (a chat deleted from the CLI meanwhile, a
        carrier's configuration) is shown as a notification and gives None. An event
        handler that raised would end the app: Textual stops a widget that raises."""
        try:
            return action()
        except PointerBridgeError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return None

    def remember(self, chat: UnlockedChat) -> UnlockedChat:
        """Keep an unlocked chat for the session; post a waiting key-rotation notice into it."""
        if self.attempt(lambda: self.session.remember(chat)):
            self.post_soon(chat.row.carriers)
        return chat

    def forget(self, chat_id: int) -> None:
        """Drop a chat's key from the session (it was deleted)."""
        self.session.forget(chat_id)

    def refresh_screens(self) -> None:
        """Reload the screen in front if it shows stored data (the others reload as they
        come back to the front: a search or a list hidden behind a chat costs nothing)."""
        self.session.route_unlocked()
        self._refresh_front()

    def _refresh_front(self) -> None:
        # A screen just pushed may not have composed its widgets yet when a poll ends (seen on
        # CI: NoMatches for the chat's OptionList); it loads its data as it is shown anyway.
        screen = self.screen
        refresh = getattr(screen, "refresh_data", None)
        if refresh is not None and getattr(screen, "refresh_on_poll", True) and screen.is_mounted:
            refresh()

    def on_unmount(self) -> None:
        self.session.close()

    # polling: the session decides and runs it (in a worker thread), events come back here --

    def action_poll_now(self) -> None:
        """Post the outbox and fetch from every carrier, in the background."""
        if self.session.start_poll(None, True):  # a timer tick during a slow poll waits for the next tick
            self._poll(None, True)

    def post_soon(self, carriers: list[str]) -> None:
        """Post what waits for these carriers now, in the background (after the running
        poll, if one is running: it may be past its posting already)."""
        if self.session.start_poll(carriers, False):
            self._poll(carriers, False)

    @work(thread=True, group="poll", exclusive=False)
    def _poll(self, carriers: list[str] | None, fetch: bool) -> None:
        self.call_from_thread(self._finished, self.session.run_poll(carriers, fetch))

    def _finished(self, outcome: PollOutcome) -> None:
        waiting = self.session.finish_poll(outcome)  # its events reach _on_event first
        failure, carriers = outcome.failure, outcome.carriers
        if failure is not None and failure.busy and not outcome.fetch and carriers:
            self.set_timer(2.0, lambda: self.post_soon(carriers))  # another process polls (cron): again soon
        if waiting:
            self.post_soon(waiting)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, PollFailed):
            self.sub_title = safe_text(event.message)
        elif isinstance(event, Polled):
            self._polled(event.summary, event.fetch)
        elif isinstance(event, Heard):
            self.heard += 1
            self.sub_title = f"{event.received} new from {event.carrier} {time.strftime('%H:%M:%S')} (live)"
            self._refresh_front()  # the session routed the unlocked chats before this event
        elif isinstance(event, ListenFailed):
            self.sub_title = safe_text(f"{event.carrier}: {event.message}")
        elif isinstance(event, ChatGone):
            name = safe_text(event.chat.row.name)
            self.notify(
                f"chat {name!r} was deleted or hidden elsewhere: its keys are forgotten here", severity="warning"
            )
        elif isinstance(event, NewMessages) and self.notices is not None:
            self.notices.new_messages(event)  # the screens redraw on the Polled or Heard that follows

    def _polled(self, summary: PollSummary, fetch: bool) -> None:
        if fetch:
            self.last_summary = summary
            self.polls += 1
        new, posted = sum(summary.received.values()), sum(summary.posted.values())
        line = f"{'polled' if fetch else 'posted'} {time.strftime('%H:%M:%S')}: {posted} posted"
        if fetch:
            line += f", {new} new"
        if summary.errors:
            line += f"; {len(summary.errors)} carrier(s) failed (Carriers screen)"
        self.sub_title = line
        if fetch:
            self._refresh_front()  # the session routed the unlocked chats before this event
        elif posted:  # a carriers screen shows the poll itself, even when nothing came
            self.refresh_screens()

    def _handle_exception(self, error: Exception) -> None:
        # Textual's own report is a traceback with local variables, which can hold a typed
        # secret or a decrypted message: one line instead, and the exit code the CLI uses.
        if os.environ.get("PBRIDGE_DEBUG") == "1":
            super()._handle_exception(error)
            return
        from pointerbridge.core.errors import EXIT_INTERNAL
        from textual.worker import WorkerFailed

        if isinstance(error, WorkerFailed) and isinstance(error.error, Exception):
            error = error.error  # a background thread's own exception
        if isinstance(error, PointerBridgeError):
            code, line = error.exit_code, f"pbridge: {error}"
        else:
            code, line = EXIT_INTERNAL, f"pbridge: internal error ({type(error).__name__}); PBRIDGE_DEBUG=1 shows more"
        self.error_line = line
        if self._exception is None:  # what run_test re-raises in tests
            self._exception = error
            self._exception_event.set()
        self.exit(return_code=code, message=Text(line))

    def action_help(self) -> None:
        """Show the keys of every screen."""
        from .help import HelpScreen

        self.push_screen(HelpScreen())
