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
posted at once, on the caller's thread.

A carrier whose bridge logs in with a password that the carrier file gives no place for
(neither ``..._env`` nor ``..._file``: the CMD-CHAT carrier's ``wants_password``) gets it
from the front-end (:meth:`LiveChat.wanting_passwords`, :meth:`LiveChat.log_in`): it lives
in this session's memory only, handed to each of its bridges as they are built
(``use_password``), and is never written, logged, put in argv or in a child's environment.
The hook is duck-typed (:class:`_TakesPassword`): a bridge that has none is never asked."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pointerbridge.bridges.base import Bridge, RetryableError
from pointerbridge.core.errors import InvalidInputError, PointerBridgeError

from .base import default_bridge
from .carriers import bridge_call
from .errors import PollBusyError, WrongSecretError
from .listen import Heard, Listener, ListenFailed, listening_carriers
from .service import App

if TYPE_CHECKING:
    from pointerbridge.core.keys import Identity, RecoveryCode
    from pointerbridge.home.config import CarrierConfig
    from pointerbridge.home.memory import MemoryHome

    from .base import BridgeFactory
    from .models import PollSummary, Shown, UnlockedChat

__all__ = ["LiveChat"]

_LOOK = "look"  # a watcher's cue: read the chat again (something was sent or stored)
_POST = "post"  # a watcher's cue: post what waits (the user's post found a poll running)
_STOP = "stop"
_RETRY = 10.0  # seconds before what a carrier did not take is posted again


@runtime_checkable
class _TakesPassword(Protocol):
    """A bridge that can be handed its password in memory (bridges/cmdchat.py's)."""

    @property
    def wants_password(self) -> bool:
        """Whether its settings name no password, so it must be handed one."""

    def use_password(self, password: str) -> None:
        """Take the password (kept in memory only)."""


class LiveChat:
    """One chat followed live in a home in RAM. Use :meth:`open`, :meth:`catch_up`,
    :meth:`start`, :meth:`send`; :meth:`close` (or ``with``) ends it."""

    def __init__(self, home: MemoryHome, bridge_factory: BridgeFactory | None = None) -> None:
        """A session over ``home`` (its carriers given; nothing opened yet)."""
        self.home = home
        self._factory = bridge_factory or default_bridge
        self._passwords: dict[str, str] = {}  # by carrier: what the user gave, in RAM only
        self._logins: list[Bridge] = []  # held until close (a login shared by this session's bridges)
        self.app = App(home, self._bridge)
        self.identity: Identity | None = None
        self.chat: UnlockedChat | None = None
        self._seen: set[str] = set()  # ids of the messages shown so far
        self._cues: queue.Queue[str | ListenFailed] = queue.Queue()
        self._listeners: list[Listener] = []
        self._watcher: threading.Thread | None = None
        self._closed = False

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

    def wanting_passwords(self) -> list[str]:
        """The opened chat's carriers whose bridge must be handed a password (the carrier
        file names none): ask the user for each, then :meth:`log_in`."""
        wanting = []
        for name in self._opened().row.carriers:
            bridge = self.app.bridge(name)
            try:
                if isinstance(bridge, _TakesPassword) and bridge.wants_password:
                    wanting.append(name)
            finally:
                bridge.close()
        return wanting

    def log_in(self, passwords: Mapping[str, str]) -> None:
        """Hand each carrier its password (``passwords``, by carrier; kept in this
        session's memory only), then log every carrier of the chat that logs in with a
        password in once (its bridge's check), before anything is read: a refused password
        is the bridge's :class:`~pointerbridge.bridges.base.CredentialRefusedError`, another
        refusal its ``ConfigurationError``; a carrier out of reach is left to
        :meth:`catch_up`, which reports it. The logins last until :meth:`close`, shared by
        the session's polls, posts and listeners (one login for the whole session)."""
        wanting = set(self.wanting_passwords())
        stray = sorted(set(passwords) - wanting)
        if stray:
            raise InvalidInputError(
                f"carrier {stray[0]!r} is given a password, but its bridge takes none here (it is not one of the "
                "chat's carriers, or its carrier file names its password)"
            )
        self._passwords.update(passwords)
        for name in self._opened().row.carriers:
            bridge = self.app.bridge(name)
            if not isinstance(bridge, _TakesPassword):
                bridge.close()
                continue
            self._logins.append(bridge)
            try:
                bridge_call(name, bridge.check)  # the bridge's check logs in
            except RetryableError:
                continue  # out of reach for now: catch_up and the listener say so and try again

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
            listener = Listener(self.home, name, self._heard, bridge_factory=self._bridge)
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
        if summary is None or summary.errors:  # a poll of the watcher's runs, or a carrier refused
            self._cues.put(_POST)  # the watcher posts it (again, every _RETRY s while refused)
        self._cues.put(_LOOK)  # shown as the others see it, with its mark
        return summary

    def unsent(self) -> int:
        """How many posts of the chat wait for a carrier to take them."""
        chat = self._opened()
        return sum(self.app.store.waiting(name) for name in chat.row.carriers)

    def close(self, wait: float = 2.0) -> int:
        """End the session: post what still waits once more, stop listening (waiting up to
        ``wait`` seconds for each), forget every key and drop the store. Returns how many
        posts no carrier took: they are gone with the store (the front-end says so). A
        second call does nothing."""
        if self._closed:
            return 0
        self._closed = True
        try:
            for listener in self._listeners:
                listener.stop()
            self._cues.put(_STOP)
            deadline = time.monotonic() + wait
            for listener in self._listeners:
                listener.stop(max(0.0, deadline - time.monotonic()))
            if self._watcher is not None:
                self._watcher.join(max(0.0, deadline - time.monotonic()))
            return self._last_post()
        finally:
            for bridge in self._logins:
                bridge.close()
            self._passwords.clear()
            self.chat = self.identity = None
            self.app.close()
            self.home.close()

    def _last_post(self) -> int:
        """Post what still waits, once more (the watcher has stopped); how many posts are left."""
        if self.chat is None or not self.unsent():
            return 0
        with contextlib.suppress(PollBusyError):  # a watcher's poll still running after ``wait``: counted
            self.app.poll(self.chat.row.carriers, fetch=False)
        return self.unsent()

    def _bridge(self, name: str, config: CarrierConfig) -> Bridge:
        """The App's and the listeners' bridge factory: the carrier's bridge, handed the
        password the user gave for it, if any."""
        bridge = self._factory(name, config)
        password = self._passwords.get(name)
        if password is not None and isinstance(bridge, _TakesPassword):
            bridge.use_password(password)
        return bridge

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
        self._repost_at: float | None = None  # when to post again what a carrier did not take

    def _post(self, app: App, on_note: Callable[[str], None]) -> None:
        """Post what waits for the chat's carriers (every one: nothing else posts to those
        that listen); what a carrier refuses is tried again ``_RETRY`` seconds later."""
        carriers = self._chat.row.carriers
        try:
            summary = app.poll(carriers, fetch=False)
        except PollBusyError:
            summary = None  # the user's own post runs: it posts everything that waits
        except PointerBridgeError as exc:
            on_note(f"posting failed: {exc}")
            summary = None
        for name, error in (summary.errors if summary else {}).items():
            on_note(f"{name}: {error} (kept: posted again in {_RETRY:.0f} s)")
        waiting = any(app.store.waiting(name) for name in carriers)
        self._repost_at = time.monotonic() + _RETRY if waiting else None

    def run(self, on_messages: Callable[[list[Shown]], None], on_note: Callable[[str], None]) -> None:
        with self._app.sibling() as app:  # its connection is made on this thread, as SQLite wants
            next_poll = time.monotonic() + (self._every or 0)
            while True:
                due = [t for t in (None if self._every is None else next_poll, self._repost_at) if t is not None]
                wait = max(0.0, min(due) - time.monotonic()) if due else None
                try:
                    cue = self._cues.get(timeout=wait)
                except queue.Empty:
                    cue = _LOOK
                    if self._every is not None and time.monotonic() >= next_poll:
                        next_poll = time.monotonic() + self._every
                        self._poll(app, on_note)
                    if self._repost_at is not None and time.monotonic() >= self._repost_at:
                        cue = _POST
                if cue == _STOP:
                    return
                if cue == _POST:
                    self._post(app, on_note)
                    continue
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
