"""Polling: one run over the carriers (post the outbox, then fetch), under a lock, with
cursors saved only after what they cover is stored, and each run's outcome recorded."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from pointerbridge.bridges.base import Bridge, BridgeError, ConfigurationError, PollResult
from pointerbridge.home.config import ConfigError
from pointerbridge.home.store import Direction

from .base import MIN_PB1_PAYLOAD, _storable
from .carriers import bridge_call
from .errors import PollBusyError
from .identity import Identities
from .models import PollSummary

__all__ = ["Poller"]


_STORE_BATCH = 1000  # pointers per transaction while storing a poll


_MAX_ROUNDS = 100  # polls of one carrier in one run while it says there is more


class _Fetched(NamedTuple):
    new: int
    known: int
    skipped: int
    notes: list[str]
    failed: BridgeError | None  # a later round failed: what earlier rounds stored is counted all the same


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


class Poller(Identities):
    """Running polls and reporting how carriers did."""

    @contextmanager
    def _poll_lock(self) -> Iterator[None]:
        with self.home.hold("poll") as held:
            if not held:
                raise PollBusyError("another poll of this home is running")
            yield

    def poll(
        self,
        carriers: Iterable[str] | None = None,
        *,
        fetch: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> PollSummary:
        """One run: post the outbox, then poll each carrier and store what it brings.

        ``carriers``: None polls every configured one, and a home with none is a
        :class:`ConfigError` (a cron poll of it would otherwise do nothing, silently).
        ``fetch=False`` only posts. A carrier's failure is recorded in the summary and the
        run goes on with the next carrier: what was not posted stays in the outbox.
        """
        summary = PollSummary()
        with self._poll_lock():
            if carriers is None and not self.config.carriers:
                raise ConfigError(f"{self.home.config_path}: no carriers to poll (pbridge carrier add)")
            clashes = self.clashes()
            for name in list(carriers) if carriers is not None else list(self.config.carriers):
                try:
                    if name in clashes:
                        raise ConfigurationError(name, clashes[name])
                    bridge = self.bridge(name)
                    try:
                        unposted: BridgeError | None = None
                        try:
                            summary.posted[name] = self._flush(bridge)
                        except BridgeError as exc:
                            # Reading must not wait on posting: a carrier that drops what
                            # is not read in time (Telegram, 24 hours) would lose it.
                            unposted = exc
                        if fetch:
                            self._fetch_into(summary, bridge, progress)
                        if unposted is not None:
                            raise unposted
                    finally:
                        bridge.close()
                except ConfigurationError as exc:
                    summary.errors[name] = f"{exc} (fix it in {self.home.config_path})"
                    summary.to_fix.append(name)
                except BridgeError as exc:
                    summary.errors[name] = str(exc)
                self.store.record_run(name, summary.errors.get(name))  # for `pbridge status`
        return summary

    def _fetch_into(self, summary: PollSummary, bridge: Bridge, progress: Callable[[int, int], None] | None) -> None:
        name = bridge.name
        with self.listening(name) as free:
            if not free:  # a live listener fetches it as things arrive: this run only posts there
                summary.live.append(name)
                return
            found = self._fetch(bridge, progress)
        summary.received[name], summary.known[name] = found.new, found.known
        summary.skipped[name] = found.skipped
        if found.notes:
            summary.notes[name] = found.notes
        if found.failed is not None:
            raise found.failed

    @contextmanager
    def listening(self, carrier: str) -> Iterator[bool]:
        """Hold ``carrier``'s fetch lock while the block runs; yields False, holding
        nothing, when someone else holds it. A live listener (:mod:`app.listen`, in this
        process or another) holds it for as long as it listens: a second consumer would
        take its updates (Telegram) or its login (CMD-CHAT); a poll holds it while it
        fetches."""
        with self.home.hold(f"listen-{carrier}") as free:
            yield free

    def listen_round(self, bridge: Bridge, wait: float) -> _Fetched:
        """One call of the bridge's push hook (waiting up to ``wait`` seconds), stored and
        its cursor saved like a poll's, then polls while the carrier says there is more.
        The caller holds :meth:`listening`; errors are the bridge's, raised."""

        def first(cursor: str | None) -> PollResult:
            self.store.rest()  # no SQLite connection held while the carrier is waited on
            return bridge.listen(cursor, wait=wait)

        found = self._fetch(bridge, None, first)
        if found.failed is not None:
            raise found.failed
        return found

    def _fetch(
        self,
        bridge: Bridge,
        progress: Callable[[int, int], None] | None,
        first: Callable[[str | None], PollResult] | None = None,
    ) -> _Fetched:
        new = known = skipped = 0
        notes: list[str] = []
        for round_ in range(_MAX_ROUNDS):  # a carrier that hands out batches says when there is more
            call = first if first is not None and not round_ else bridge.poll
            try:
                result = bridge_call(bridge.name, functools.partial(call, self.store.cursor(bridge.name)))
            except BridgeError as exc:
                if not round_:
                    raise
                return _Fetched(new, known, skipped, notes, exc)
            skipped += result.skipped_foreign + result.skipped_malformed
            found = result.pointers
            kept = stored = 0
            for start in range(0, len(found), _STORE_BATCH):
                items = _storable(item.text for item in found[start : start + _STORE_BATCH])
                kept += len(items)  # too short to open, in this version or a later one: skipped
                stored += len(self.store.add_pointers(items, Direction.IN, carrier=bridge.name))
                if progress:
                    progress(min(start + _STORE_BATCH, len(found)), len(found))
            for since, until in result.repost_since:  # queued before the cursor moves past the request
                count = self.store.repost_since(bridge.name, since, until)
                notes.append(
                    f"a member asked for what was posted from {_when(since)} to {_when(until)}: "
                    f"{count} pointer(s) queued"
                )
            self.store.save_cursor(bridge.name, result.cursor)  # only after the pointers are stored
            new, known, skipped = new + stored, known + kept - stored, skipped + len(found) - kept
            notes += result.notes
            if not result.more:
                break
        return _Fetched(new, known, skipped, notes, None)

    def status(self) -> dict[str, Any]:
        """What a monitoring system scrapes: the store's counts (``junk``: unrouted pointers
        no chat can ever open in this build, see :meth:`clear_junk`) and, per carrier, what
        waits to be posted and how its last runs went (Unix times; None: never)."""
        from pointerbridge.bridges.base import bridge_types

        runs = self.store.runs()
        known = bridge_types()
        carriers = {}
        for name, config in self.config.carriers.items():
            ok_at, error, error_at = runs.get(name, (None, None, None))
            carriers[name] = {
                "type": config.type,
                # What no poll of it can get past (poll and doctor say the same, louder).
                "problem": None if config.type in known else f"unknown carrier type (known: {', '.join(known)})",
                "waiting": self.store.waiting(name),
                "last_poll": self.store.polled_at(name),
                "last_ok": ok_at,
                "last_error": error,
                "last_error_at": error_at,
            }
        junk, junk_bytes = self.store.junk(MIN_PB1_PAYLOAD)
        extra = {"unrouted_bytes": self.store.unrouted_bytes(), "junk": junk, "junk_bytes": junk_bytes}
        return {**self.store.counts(), **extra, "carriers": carriers}

    def clear_junk(self) -> tuple[int, int]:
        """Delete the unrouted pointers no chat can ever open in this build (a later
        version's, or too short: what ``status`` counts as junk); return (how many, bytes)."""
        return self.store.delete_junk(MIN_PB1_PAYLOAD)
