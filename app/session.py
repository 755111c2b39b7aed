"""A front-end's session over one home: what is unlocked (RAM only), background polling,
and the events any front-end subscribes to.

The session holds the identity and the chats unlocked this session, decides when a poll
may start (one fetching poll at a time; posts asked for meanwhile wait for it), runs a
poll on a connection of its own (so a front-end can run it in a worker thread), and turns
its outcome into events: :class:`Polled` or :class:`PollFailed`, and one
:class:`NewMessages` per unlocked chat that gained pointers (emitted first, so a
front-end redrawing on :class:`Polled` shows them). Events are delivered by
:meth:`Session.finish_poll` (and :meth:`Session.route_unlocked`), on the thread that
calls it: a front-end calls it on its own UI thread. Carriers that push are listened to
live (:meth:`Session.start_listening`): a listener's :class:`Heard` reaches the front-end's
thread through the hand-over it gives, and :meth:`Session.heard` routes it into the same
stream (:class:`NewMessages`, then the :class:`Heard` itself).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pointerbridge.core.errors import PointerBridgeError

from .errors import PollBusyError
from .listen import Heard, Listener, ListenEvent, ListenFailed, listening_carriers
from .models import PollSummary, UnlockedChat
from .service import App

if TYPE_CHECKING:
    from pointerbridge.core.keys import Identity

__all__ = [
    "ChatGone",
    "Event",
    "Heard",
    "ListenEvent",
    "ListenFailed",
    "NewMessages",
    "PollFailed",
    "PollOutcome",
    "Polled",
    "Session",
]


@dataclass(frozen=True, slots=True)
class Polled:
    """A poll finished: ``fetch`` False when it only posted."""

    summary: PollSummary
    fetch: bool


@dataclass(frozen=True, slots=True)
class PollFailed:
    """A poll did not run or failed as a whole (``busy``: another poll of this home runs)."""

    message: str
    fetch: bool
    busy: bool


@dataclass(frozen=True, slots=True)
class NewMessages:
    """An unlocked chat gained ``pointers`` pointers since the session last looked: those
    with an id above ``after``; ``incoming`` of them came in (the rest this home sent: no
    news to notify of)."""

    chat: UnlockedChat
    pointers: int
    after: int = 0
    incoming: int = 0


@dataclass(frozen=True, slots=True)
class ChatGone:
    """An unlocked chat was deleted or hidden by another process of this home (the CLI):
    the session forgot its keys and routes nothing to it."""

    chat: UnlockedChat


Event = Polled | PollFailed | NewMessages | ChatGone | Heard | ListenFailed


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What :meth:`Session.run_poll` brings back to the front-end's thread."""

    carriers: list[str] | None
    fetch: bool
    summary: PollSummary | None = None
    failure: PollFailed | None = None


class Session:
    """One front-end's session: unlocked identity and chats, polling state, events."""

    def __init__(self, app: App) -> None:
        """A session over ``app`` (the front-end's own connection to the home)."""
        self.app = app
        self.identity: Identity | None = None
        self.unlocked: dict[int, UnlockedChat] = {}
        self._listeners: list[Callable[[Event], None]] = []
        self._polling = False
        self._post_after: set[str] = set()
        self._newest: dict[int, int] = {}  # chat id -> its newest pointer id the session has seen
        self._listeners_live: list[Listener] = []

    @property
    def poll_every(self) -> float:
        """Seconds between background polls: the shortest ``poll_every`` of the home's
        carriers (0: no carriers, no background polling)."""
        return min((c.poll_every for c in self.app.carriers.values()), default=0)

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``listener`` with every event from now on; return what unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)

    def remember(self, chat: UnlockedChat) -> bool:
        """Keep an unlocked chat for the session and queue its waiting key-rotation notice;
        return whether a notice was queued (the front-end then posts it: :meth:`start_poll`)."""
        self.unlocked[chat.row.id] = chat
        if chat.row.id not in self._newest:  # what is stored for it already is not news
            self.app.route(chat)
            self._newest[chat.row.id] = self.app.arrived_after(chat, 0)[2]
        return self.identity is not None and self.app.post_notice(chat, self.identity)

    def forget(self, chat_id: int) -> None:
        """Drop a chat's keys from the session (it was deleted)."""
        self.unlocked.pop(chat_id, None)
        self._newest.pop(chat_id, None)

    def start_poll(self, carriers: list[str] | None, fetch: bool) -> bool:
        """Whether a poll may start now. A fetching poll runs alone (a second one asked for
        meanwhile is dropped: the running one fetches); a post-only poll asked for while one
        runs waits for it (:meth:`finish_poll` hands its carriers back)."""
        if fetch:
            if self._polling:
                return False
            self._polling = True
            return True
        if not carriers:
            return False
        if self._polling:
            self._post_after.update(carriers)
            return False
        return True

    def run_poll(self, carriers: list[str] | None, fetch: bool) -> PollOutcome:
        """Run one poll on a connection of its own (safe in a worker thread); an expected
        failure is part of the outcome, never raised."""
        app = self.app
        try:
            with App(app.home, app._bridge_factory) as bot:
                # The console polls on a timer: a home with no carriers yet is not an error there.
                summary = bot.poll(list(bot.config.carriers) if carriers is None else carriers, fetch=fetch)
        except PollBusyError:
            busy = PollFailed("another poll of this home is running; it posts and fetches", fetch, busy=True)
            return PollOutcome(carriers, fetch, failure=busy)
        except PointerBridgeError as exc:
            return PollOutcome(carriers, fetch, failure=PollFailed(f"poll failed: {exc}", fetch, busy=False))
        return PollOutcome(carriers, fetch, summary=summary)

    def finish_poll(self, outcome: PollOutcome) -> list[str]:
        """On the front-end's thread: end the poll, emit its events, and return the carriers
        whose posts were asked for while it ran (post them next)."""
        waiting: list[str] = []
        if outcome.fetch:
            self._polling = False
            waiting, self._post_after = sorted(self._post_after), set()
        if outcome.failure is not None:
            self._emit(outcome.failure)
            return waiting
        assert outcome.summary is not None
        if outcome.fetch:
            self.route_unlocked()  # first: a front-end redrawing on Polled shows what it brought
        self._emit(Polled(outcome.summary, outcome.fetch))
        return waiting

    def route_unlocked(self) -> None:
        """Sort stored pointers into the unlocked chats, and emit :class:`NewMessages` for
        each chat that gained pointers (:class:`ChatGone` for one no longer in the home)."""
        here = self.app.store.chat_ids()
        for chat in list(self.unlocked.values()):
            if chat.row.id not in here:  # routing to it would fail the store's foreign key
                self.forget(chat.row.id)
                self._emit(ChatGone(chat))
                continue
            self.app.route(chat)
            after = self._newest.get(chat.row.id, 0)
            count, incoming, self._newest[chat.row.id] = self.app.arrived_after(chat, after)
            if count:
                self._emit(NewMessages(chat, count, after, incoming))

    def start_listening(self, hand_over: Callable[[ListenEvent], None]) -> list[str]:
        """Listen live to every carrier that pushes (each in a thread of its own); return
        their names. ``hand_over`` is called on a listener's thread with each of its events:
        the front-end passes the event to :meth:`heard` on its own thread."""
        if self._listeners_live:
            return [listener.carrier for listener in self._listeners_live]
        app = self.app
        for carrier in listening_carriers(app):
            listener = Listener(app.home, carrier, hand_over, bridge_factory=app._bridge_factory)
            listener.start()
            self._listeners_live.append(listener)
        return [listener.carrier for listener in self._listeners_live]

    def heard(self, event: ListenEvent) -> None:
        """On the front-end's thread: a listener's event. What it stored is routed into the
        unlocked chats first (:class:`NewMessages`), then the event itself is emitted."""
        if isinstance(event, Heard) and event.received:
            self.route_unlocked()
        self._emit(event)

    def stop_listening(self, timeout: float | None = None) -> None:
        """Stop every listener (each ends after its current wait; ``timeout``: how long to
        wait for them, None: not at all)."""
        listeners, self._listeners_live = self._listeners_live, []
        for listener in listeners:
            listener.stop()
        for listener in listeners:
            listener.stop(timeout)

    def close(self) -> None:
        """Stop listening, forget everything unlocked and close the app."""
        self.stop_listening()
        self.unlocked.clear()
        self.identity = None
        self._listeners.clear()
        self.app.close()
