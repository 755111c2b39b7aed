"""A live session with no home on disk (``pbridge live``): one chat, opened in RAM and
followed as messages land, as CMD-CHAT's client is; when it ends, nothing of it remains.

Its home is a :class:`~pointerbridge.home.memory.MemoryHome`: the carriers of a carrier
file the user keeps (read, never written), a store in this process's memory, in-process
locks. The identity is derived again from the username, the master phrase and the
recovery code (``init`` on another machine showed it; none for an identity of the first
schedule), and the chat from its invite (or, for an open chat, its name) and its secret.

What lands is heard the way the daemon hears it: a :class:`~pointerbridge.app.listen.Listener`
per carrier of the chat that can listen (:attr:`Bridge.listens`), and a poll every
``poll_every`` seconds of the others. A watcher thread, on a store connection of its own,
reads the chat whenever something was stored and hands the messages not shown yet to the
front-end's callback (on that thread). What the user sends is sealed into the outbox and
posted at once, on the caller's thread."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pointerbridge.core.errors import PointerBridgeError

from .errors import PollBusyError, WrongSecretError
from .listen import Heard, Listener, ListenFailed, listening_carriers
from .service import App

if TYPE_CHECKING:
    from pointerbridge.core.keys import Identity, RecoveryCode
    from pointerbridge.home.memory import MemoryHome

    from .base import BridgeFactory
    from .models import PollSummary, Shown, UnlockedChat

__all__ = ["LiveChat"]

_LOOK = "look"  # a watcher's cue: read the chat again (something was sent or stored)
_STOP = "stop"


class LiveChat:
    """One chat followed live in a home in RAM. Use :meth:`open`, :meth:`catch_up`,
    :meth:`start`, :meth:`send`; :meth:`close` (or ``with``) ends it."""

    def __init__(self, home: MemoryHome, bridge_factory: BridgeFactory | None = None) -> None:
        """A session over ``home`` (its carriers given; nothing opened yet)."""
        self.home = home
        self._factory = bridge_factory
        self.app = App(home, bridge_factory)
        self.identity: Identity | None = None
        self.chat: UnlockedChat | None = None
        self._seen: set[str] = set()  # ids of the messages shown so far
        self._cues: queue.Queue[str | ListenFailed] = queue.Queue()
        self._listeners: list[Listener] = []
        self._watcher: threading.Thread | None = None

    @classmethod
    def from_carrier_file(cls, path: Path, bridge_factory: BridgeFactory | None = None) -> LiveChat:
        """A session over a home in RAM of the carriers in the carrier file at ``path``
        (``[carriers.NAME]`` tables, as in config.toml, credentials by reference only):
        a missing file or one that does not validate is a ``ConfigError``, a credential
        written into it a ``PlaintextCredentialError``; nothing is opened then."""
        from pointerbridge.home.memory import MemoryHome

        home = MemoryHome.from_carrier_file(path)
        try:
            return cls(home, bridge_factory)
        except BaseException:
            home.close()
            raise

    def __enter__(self) -> LiveChat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def unlock(self, username: str, master_phrase: str, recovery: RecoveryCode | None) -> Identity:
        """Derive the user's identity again: ``recovery``, the code ``init`` showed; None,
        an identity of the first (unsalted) schedule. Nothing is judged: it exists already."""
        self.identity = self.app.init(username, master_phrase, recovery=recovery, unsalted=recovery is None)
        return self.identity

    def open(self, chat: str, secret: str) -> UnlockedChat:
        """Open the chat: ``chat`` is its invite (its name, salt and carriers; a carrier of
        the carrier file reaching the same place is used for each, its own settings win) or
        an open chat's name, posted to every carrier of the carrier file."""
        from .invite import PREFIX

        if chat.strip().startswith(PREFIX):
            self.chat = self.app.join_invite(chat, secret, {})
        else:
            names = list(self.app.config.carriers)
            self.chat = self.app.create_chat(chat, secret, names, open_chat=True, allow_weak=True)
        return self.chat

    def catch_up(self, *, new: bool = False) -> tuple[list[Shown], PollSummary]:
        """Fetch what the chat's carriers hold and read it: the messages so far, and how
        each carrier did. A secret that opens none of the pointers there is refused as
        wrong (:class:`WrongSecretError`) unless ``new`` (the user starts the chat: what
        is there is other chats')."""
        chat = self._opened()
        summary = self.app.poll(chat.row.carriers)
        shown, _ = self.app.read(chat)
        waiting = self.app.unopened_waiting(chat)
        if not shown and waiting and not new:
            raise WrongSecretError(
                f"wrong secret for chat {chat.row.name!r}: it opens none of the {waiting} pointer(s) on its "
                "carriers (if none of them is this chat's, --new starts it)"
            )
        self._seen.update(s.message.id for s in shown)
        return shown, summary

    def start(self, on_messages: Callable[[list[Shown]], None], on_note: Callable[[str], None]) -> None:
        """Follow the chat: ``on_messages`` gets the messages not shown yet as they land,
        ``on_note`` a carrier's trouble, both on the session's watcher thread."""
        chat = self._opened()
        live = set(listening_carriers(self.app)) & set(chat.row.carriers)
        polled = [name for name in chat.row.carriers if name not in live]
        for name in sorted(live):
            listener = Listener(self.home, name, self._heard, bridge_factory=self._factory)
            self._listeners.append(listener)
            listener.start()
        every = min((self.app.config.carriers[n].poll_every for n in polled), default=None)
        watch = _Watcher(self.app, chat, self._cues, self._seen, polled, every)
        self._watcher = threading.Thread(
            target=watch.run, args=(on_messages, on_note), name="live-watcher", daemon=True
        )
        self._watcher.start()

    def send(self, body: str) -> PollSummary | None:
        """Seal ``body`` into the chat and post it now; the summary says how each carrier
        did (what failed stays in the outbox, posted with the next message or poll); None:
        a poll of this session was running, and it posts it."""
        chat = self._opened()
        assert self.identity is not None
        self.app.send(chat, self.identity, body)
        try:
            summary = self.app.poll(chat.row.carriers, fetch=False)
        except PollBusyError:
            summary = None
        self._cues.put(_LOOK)  # shown as the others see it, with its mark
        return summary

    def close(self, wait: float = 2.0) -> None:
        """End the session: stop listening (waiting up to ``wait`` seconds for each),
        forget every key and drop the store."""
        for listener in self._listeners:
            listener.stop()
        self._cues.put(_STOP)
        deadline = time.monotonic() + wait
        for listener in self._listeners:
            listener.stop(max(0.0, deadline - time.monotonic()))
        if self._watcher is not None:
            self._watcher.join(max(0.0, deadline - time.monotonic()))
        self.chat = self.identity = None
        self.app.close()
        self.home.close()

    def _heard(self, event: Heard | ListenFailed) -> None:
        self._cues.put(_LOOK if isinstance(event, Heard) else event)

    def _opened(self) -> UnlockedChat:
        if self.chat is None:
            raise RuntimeError("open the chat first")
        return self.chat


class _Watcher:
    """The watcher thread's work: on each cue, read the chat on a connection of its own and
    hand on what was not shown; poll the carriers that cannot listen every ``every`` seconds."""

    def __init__(
        self,
        app: App,
        chat: UnlockedChat,
        cues: queue.Queue[str | ListenFailed],
        seen: set[str],
        polled: list[str],
        every: float | None,
    ) -> None:
        self._app, self._chat, self._cues, self._seen = app, chat, cues, seen
        self._polled, self._every = polled, every

    def run(self, on_messages: Callable[[list[Shown]], None], on_note: Callable[[str], None]) -> None:
        with self._app.sibling() as app:  # its connection is made on this thread, as SQLite wants
            next_poll = time.monotonic() + (self._every or 0)
            while True:
                wait = None if self._every is None else max(0.0, next_poll - time.monotonic())
                try:
                    cue = self._cues.get(timeout=wait)
                except queue.Empty:
                    cue = _LOOK
                    next_poll = time.monotonic() + (self._every or 0)
                    self._poll(app, on_note)
                if cue == _STOP:
                    return
                if isinstance(cue, ListenFailed):
                    on_note(
                        f"{cue.carrier}: {cue.message}" + ("" if cue.fatal else f" (again in {cue.retry_in:.0f} s)")
                    )
                    continue
                self._show(app, on_messages, on_note)

    def _poll(self, app: App, on_note: Callable[[str], None]) -> None:
        try:
            summary = app.poll(self._polled)
        except PollBusyError:
            return  # the user's post is running: the next round fetches
        except PointerBridgeError as exc:
            on_note(f"poll failed: {exc}")
            return
        for name, error in summary.errors.items():
            on_note(f"{name}: {error}")

    def _show(self, app: App, on_messages: Callable[[list[Shown]], None], on_note: Callable[[str], None]) -> None:
        try:
            shown, _ = app.read(self._chat)
        except PointerBridgeError as exc:
            on_note(f"cannot read the chat: {exc}")
            return
        fresh = [s for s in shown if s.message.id not in self._seen]
        self._seen.update(s.message.id for s in fresh)
        if fresh:
            on_messages(fresh)
