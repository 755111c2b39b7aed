"""Listening live: one carrier's push hook (:meth:`Bridge.listen`) called over and over in a
thread of its own, each batch stored and its cursor saved as a poll does.

A listener opens its own connection to the home and its own bridge, holds the carrier's
fetch lock for as long as it listens (a poll meanwhile only posts there, and a second
listener waits), and reports what it heard through a callback, on its own thread: a
front-end hands the event to its UI thread (:meth:`Session.heard`). A carrier that fails
is tried again after a pause that doubles up to a minute, with jitter so that many
listeners cut off by one outage do not all come back at once; one whose configuration is
refused (a folder unmounted, a token revoked) is tried again a minute later, its
configuration read again (a refused password or token every 15 minutes: each try is a
failed login, and servers lock accounts for those); only a carrier removed from the
configuration ends its listener. A carrier that answers every wait at once with nothing
(one that ignores a long poll's timeout) is asked again only after the backoff's pause,
never in a busy loop. Nothing here holds a key: the bot listens too.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pointerbridge.bridges.base import BridgeError, ConfigurationError, CredentialRefusedError
from pointerbridge.core.errors import PointerBridgeError
from pointerbridge.home.config import Config, Home

from .base import BridgeFactory
from .service import App

__all__ = ["Backoff", "Heard", "ListenEvent", "ListenFailed", "Listener", "listening_carriers"]

_HELD_RETRY = 1.0  # seconds between tries while someone else holds the carrier
_QUICK = 1.0  # seconds: a round that brought nothing sooner than this (or a tenth of the wait) did not wait
_REFUSED_RETRY = 900.0  # seconds between logins with a credential the carrier refused
_HELD_SAY = 60.0  # seconds of that before a listener says so (again)


@dataclass(frozen=True, slots=True)
class Heard:
    """A listener stored ``received`` new pointers from ``carrier`` (and has ``notes``)."""

    carrier: str
    received: int
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ListenFailed:
    """A listener's carrier failed: tried again in ``retry_in`` seconds (``to_fix``: its
    configuration is refused, a person must fix it; it is read again before each try), or
    never (``fatal``: the carrier is not in the home's configuration any more)."""

    carrier: str
    message: str
    fatal: bool
    retry_in: float = 0.0
    to_fix: bool = False


ListenEvent = Heard | ListenFailed


class Backoff:
    """Pauses between reconnections: doubling from ``first`` up to ``cap`` seconds, each
    drawn uniformly from its upper half ("equal jitter"), reset after a success."""

    def __init__(self, first: float = 1.0, cap: float = 60.0) -> None:
        """Pauses start at ``first`` seconds and never exceed ``cap``."""
        self.first, self.cap, self.failures = first, cap, 0

    def next(self) -> float:
        """The pause before the next try."""
        ceiling = min(self.cap, self.first * 2.0 ** min(self.failures, 64))  # 2**1024 is no float
        self.failures += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """The carrier answered: the next failure starts again from ``first``."""
        self.failures = 0


def listening_carriers(app: App) -> list[str]:
    """The home's carriers whose bridge can listen live (:attr:`Bridge.listens`); one whose
    settings are broken is left to its polls, which say what is wrong."""
    names = []
    for name in app.config.carriers:
        try:
            bridge = app.bridge(name)
        except BridgeError:
            continue
        bridge.close()
        if bridge.listens:
            names.append(name)
    return names


class Listener:
    """One carrier listened to live in a daemon thread, until :meth:`stop`."""

    def __init__(
        self,
        home: Home,
        carrier: str,
        on_event: Callable[[ListenEvent], None],
        *,
        bridge_factory: BridgeFactory | None = None,
        wait: float | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        """Listen to ``carrier`` of ``home``; ``on_event`` is called on the listener's thread.
        ``wait``: seconds per push-hook call (None: the bridge's :attr:`Bridge.listen_wait`)."""
        self.home, self.carrier, self.wait = home, carrier, wait
        self._on_event = on_event
        self._factory = bridge_factory
        self._backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"listen-{carrier}", daemon=True)

    def start(self) -> None:
        """Start listening."""
        self._thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop after the current wait; wait up to ``timeout`` seconds for it (None: not at
        all). Returns whether the thread has ended. A wait cut short by the process ending
        loses nothing: a batch is stored before its cursor is saved."""
        self._stop.set()
        if timeout is not None and self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        """Whether the thread still runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        held_since: float | None = None  # since when someone else holds the carrier
        while not self._stop.is_set():
            try:
                state = self._listen()
            except CredentialRefusedError as exc:  # every try is a failed login: a lockout, a ban
                self._retry_later(str(exc), _REFUSED_RETRY, to_fix=True)
                continue
            except ConfigurationError as exc:  # e.g. a folder unmounted: tried again, slowly
                self._retry_later(str(exc), self._backoff.cap, to_fix=True)
                continue
            except BridgeError as exc:
                self._retry_later(str(exc), getattr(exc, "retry_after", None))
                continue
            except PointerBridgeError as exc:  # the store or the config: it may be fixed meanwhile
                self._retry_later(str(exc), None)
                continue
            except Exception as exc:  # a bug of ours: said (its type only) and tried again, never a dead thread
                if os.environ.get("PBRIDGE_DEBUG") == "1":
                    raise
                self._retry_later(f"internal error ({type(exc).__name__}); PBRIDGE_DEBUG=1 shows more", None)
                continue
            if state == "gone":
                message = "no such carrier in the configuration any more"
                self._on_event(ListenFailed(self.carrier, message, fatal=True))
                return
            if state != "held":
                held_since = None
                continue
            now = time.monotonic()
            held_since = now if held_since is None else held_since
            if now - held_since >= _HELD_SAY:  # quietly while a poll ends; said once a listener keeps it
                message = "another session listens to this carrier live; trying again"
                self._on_event(ListenFailed(self.carrier, message, fatal=False, retry_in=_HELD_RETRY))
                held_since = now
            self._stop.wait(_HELD_RETRY)

    def _listen(self) -> str:
        """Listen until stopped ("stopped") or failed (raised); "held": someone else holds
        the carrier; "gone": it is no longer configured."""
        with App(self.home, self._factory, create=False) as app:
            if self.carrier not in app.config.carriers:
                return "gone"
            with app.listening(self.carrier) as free:
                if not free:
                    return "held"
                clash = app.clashes(only=self.carrier).get(self.carrier)
                if clash is not None:
                    raise ConfigurationError(self.carrier, clash)
                bridge = app.bridge(self.carrier)
                wait = self.wait if self.wait is not None else bridge.listen_wait
                # The rest of config.toml is not this listener's: a daemon's N listeners would
                # each keep all N carriers' tables (N = 200: ~22 MB, bench/idle_push.py).
                app.config = Config({self.carrier: app.config.carriers[self.carrier]})
                try:
                    while not self._stop.is_set():
                        started = time.monotonic()
                        found = app.listen_round(bridge, wait)
                        if found.new or found.notes:
                            self._on_event(Heard(self.carrier, found.new, found.notes))
                        if found.new or time.monotonic() - started >= min(_QUICK, wait / 10):
                            self._backoff.reset()
                        else:  # nothing, at once: a carrier that never holds the wait must not spin us
                            self._stop.wait(self._backoff.next())
                finally:
                    bridge.close()
        return "stopped"

    def _retry_later(self, message: str, retry_after: float | None, *, to_fix: bool = False) -> None:
        pause = max(self._backoff.next(), retry_after or 0.0)
        self._on_event(ListenFailed(self.carrier, message, fatal=False, retry_in=pause, to_fix=to_fix))
        self._stop.wait(pause)
