"""The gateway's app side: the chats unlocked at start, kept in a
:class:`~pointerbridge.app.session.Session`, worked on one thread of their own.

Everything that touches the app runs on the hub's worker thread (the session's "front-end
thread"): what the user typed is sealed there (:meth:`App.send`) and posted at once on a
poll thread, as the console posts (:meth:`Session.start_poll`, :meth:`Session.run_poll`,
:meth:`Session.finish_poll`); carriers that push are listened to live
(:meth:`Session.start_listening`), the others polled every ``poll_every`` seconds. Each
:class:`~pointerbridge.app.session.NewMessages` reads the chat as its view (the CLI's
``read``: replies quoted, edits and deletes applied, gaps counted) and hands every line not
shown yet, worded by :mod:`pointerbridge.app.display`, to ``deliver`` as an
:class:`Outgoing`, on the worker thread. Nothing is written but what the app itself
stores (the pointers, sealed)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pointerbridge.app.display import gap_lines, plain_line, safe_text, view_body
from pointerbridge.app.session import Event, ListenEvent, ListenFailed, NewMessages, Polled, PollFailed, PollOutcome
from pointerbridge.core.errors import PointerBridgeError

if TYPE_CHECKING:
    from pointerbridge.app.models import UnlockedChat
    from pointerbridge.app.session import Session
    from pointerbridge.app.view import ChatView

__all__ = ["HELP", "Hub", "Outgoing"]

HELP = (
    "Type a message to send it to the chat. /history [N]: its last N messages again (20 unless said); "
    "//text sends /text; /help: this."
)
_HISTORY = 20
_RETRY_BUSY = 2.0  # seconds before posting again when another process's poll held the home


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A line for the user: from the chat ``chat`` (a chat id), or from the gateway itself
    (None: a note about a carrier or the gateway)."""

    chat: int | None
    body: str


@dataclass(frozen=True, slots=True)
class _Typed:
    chat: int
    text: str


@dataclass(frozen=True, slots=True)
class _Finished:
    outcome: PollOutcome


_STOP = "stop"
_Work = _Typed | _Finished | ListenEvent | str


class Hub:
    """The unlocked chats of one gateway run. :meth:`start`, then :meth:`typed` from any
    thread; :meth:`stop` ends it (and closes the session)."""

    def __init__(self, session: Session) -> None:
        """A hub over ``session`` (its identity and chats unlocked)."""
        if session.identity is None:
            raise ValueError("unlock the identity first")
        self.session = session
        self._own_key = session.identity.public_key
        self._deliver: Callable[[Outgoing], None] = lambda _out: None
        self._work: queue.Queue[_Work] = queue.Queue()
        self._shown: dict[int, dict[str, str]] = {}  # chat id -> message id -> the line the user got
        self._gaps: dict[int, set[str]] = {}  # chat id -> the gap lines the user got
        self._troubles: dict[str, str] = {}  # carrier -> the failure last told (told again only if it changes)
        self._thread: threading.Thread | None = None
        self._post_again: tuple[float, list[str]] | None = None
        session.subscribe(self._on_event)

    @property
    def chats(self) -> dict[int, UnlockedChat]:
        """The unlocked chats, by id."""
        return self.session.unlocked

    def start(self, deliver: Callable[[Outgoing], None]) -> None:
        """Take what is stored now as shown (the user is told of what arrives from now on,
        and /history shows the rest), listen live, and start the hub's thread: it posts
        what waits and polls at once, then every ``poll_every`` seconds. ``deliver`` is
        called on the hub's thread with each line for the user."""
        self._deliver = deliver
        for chat in self.chats.values():
            view, _ = self.session.app.read_view(chat)
            self._remember(chat.row.id, view)
        self.session.start_listening(self._work.put)
        self._thread = threading.Thread(target=self._run, name="gateway-hub", daemon=True)
        self._thread.start()

    def typed(self, chat: int, text: str) -> None:
        """What the user typed to chat ``chat`` (any thread): sent, or a command run."""
        self._work.put(_Typed(chat, text))

    def stop(self, wait: float = 5.0) -> None:
        """Stop listening and the hub's thread (up to ``wait`` seconds), forget every key."""
        self.session.stop_listening()
        self._work.put(_STOP)
        if self._thread is not None:
            self._thread.join(wait)
        self.session.close()

    # the hub's thread --------------------------------------------------------------------

    def _run(self) -> None:
        every = self.session.poll_every
        next_poll = time.monotonic()
        while True:
            due = [t for t in (next_poll if every else None, self._retry_at()) if t is not None]
            try:
                work = self._work.get(timeout=max(0.0, min(due) - time.monotonic()) if due else None)
            except queue.Empty:
                work = None
            try:
                if work == _STOP:
                    return
                self._do(work)
                if every and time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + every
                    self._poll(None, fetch=True)
                if self._post_again is not None and time.monotonic() >= self._post_again[0]:
                    carriers, self._post_again = self._post_again[1], None
                    self._poll(carriers, fetch=False)
            except PointerBridgeError as exc:  # the home failed under us (a chat deleted meanwhile): said, and on
                self._note(f"failed: {exc}")

    def _retry_at(self) -> float | None:
        return None if self._post_again is None else self._post_again[0]

    def _do(self, work: _Work | None) -> None:
        if isinstance(work, _Typed):
            self._typed(work)
        elif isinstance(work, _Finished):
            self._finished(work.outcome)
        elif work is not None and not isinstance(work, str):
            self.session.heard(work)  # a listener's event: routed into the chats, then emitted

    def _typed(self, typed: _Typed) -> None:
        chat = self.chats.get(typed.chat)
        if chat is None:
            return
        text = typed.text
        if text.startswith("/") and not text.startswith("//"):
            self._command(chat, text)
            return
        if not text.strip():
            return
        assert self.session.identity is not None
        self.session.app.send(chat, self.session.identity, text.removeprefix("/"))
        self._poll(chat.row.carriers, fetch=False)

    def _command(self, chat: UnlockedChat, text: str) -> None:
        word, _, rest = text.partition(" ")
        if word == "/history":
            count = int(rest) if rest.strip().isdigit() else _HISTORY
            view, _ = self.session.app.read_view(chat)
            lines = [plain_line(line.shown, view_body(line)) for line in view.messages[-count:]] if count else []
            self._deliver(Outgoing(chat.row.id, "\n".join(lines) or "(no messages yet)"))
        elif word == "/help":
            self._deliver(Outgoing(chat.row.id, HELP))
        else:
            self._deliver(Outgoing(chat.row.id, f"({safe_text(word)}: no such command. {HELP})"))

    def _poll(self, carriers: list[str] | None, *, fetch: bool) -> None:
        """Post (and with ``fetch``, fetch) on a poll thread of its own, if the session lets
        one start now; its outcome comes back to this thread."""
        if not self.session.start_poll(carriers, fetch):
            return
        run = self.session.run_poll

        def poll() -> None:
            self._work.put(_Finished(run(carriers, fetch)))

        threading.Thread(target=poll, name="gateway-poll", daemon=True).start()

    def _finished(self, outcome: PollOutcome) -> None:
        waiting = self.session.finish_poll(outcome)  # its events reach _on_event first
        failure = outcome.failure
        if failure is not None and failure.busy and not outcome.fetch and outcome.carriers:
            self._post_again = (time.monotonic() + _RETRY_BUSY, outcome.carriers)  # cron's poll: again soon
        if waiting:
            self._poll(waiting, fetch=False)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, NewMessages):
            self._show(event.chat)
        elif isinstance(event, PollFailed) and not event.busy:
            self._trouble("poll", event.message)
        elif isinstance(event, Polled):
            summary = event.summary
            for name in {*summary.posted, *summary.received} & set(self._troubles) - set(summary.errors):
                self._trouble(name, None)
            if event.fetch:
                self._trouble("poll", None)
            for name, error in summary.errors.items():
                self._trouble(name, f"{name}: {error} (what waits is posted again)")
        elif isinstance(event, ListenFailed):
            self._trouble(event.carrier, f"{event.carrier}: {event.message}")

    def _trouble(self, key: str, message: str | None) -> None:
        """Tell the user of a carrier's failure once, and once when it works again."""
        before = self._troubles.pop(key, None)
        if message is not None:
            self._troubles[key] = message
            if message != before:
                self._note(message)
        elif before is not None:
            self._note(f"{key}: works again")

    def _note(self, text: str) -> None:
        self._deliver(Outgoing(None, f"({safe_text(text)})"))

    def _show(self, chat: UnlockedChat) -> None:
        """Hand the user every line of the chat's view not given yet, or changed since (an
        edit or delete arrived), and every new gap; their own messages are not echoed."""
        view, _ = self.session.app.read_view(chat)
        shown = self._shown.setdefault(chat.row.id, {})
        for line in view.messages:
            said = plain_line(line.shown, view_body(line))
            before = shown.get(line.id)
            shown[line.id] = said
            if said == before or line.shown.message.sender_key == self._own_key:
                continue
            self._deliver(Outgoing(chat.row.id, said if before is None else f"(changed) {said}"))
        told = self._gaps.setdefault(chat.row.id, set())
        for gap in gap_lines(view.gaps):
            if gap not in told:
                told.add(gap)
                self._deliver(Outgoing(chat.row.id, f"({safe_text(gap)})"))

    def _remember(self, chat_id: int, view: ChatView) -> None:
        self._shown[chat_id] = {line.id: plain_line(line.shown, view_body(line)) for line in view.messages}
        self._gaps[chat_id] = set(gap_lines(view.gaps))
