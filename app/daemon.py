"""``pbridge daemon``: listen live to every carrier that pushes, and poll every carrier on
its own schedule with APScheduler.

A carrier whose bridge listens (:attr:`Bridge.listens`: a long poll, IMAP IDLE, inotify, a
relay's open connection) is fetched by a :class:`Listener` as things arrive. Each carrier
is also a job (``poll_every`` seconds, or ``poll_cron`` as a crontab line, from
config.toml) that flushes the outbox and polls, in one worker thread so runs never
overlap; for a carrier being listened to, the job only posts. The home's poll lock keeps a
cron-run ``pbridge poll`` from overlapping, and the carrier's fetch lock keeps it from
fetching what a listener fetches. SIGTERM or SIGINT stops both; a poll already running
finishes first (seconds); a listener still waiting on its carrier after 2 s ends with the
process (a batch is stored before its cursor is saved, so nothing is lost).

With ``notify``, pointers that arrive (on a poll, or live) raise a desktop notification
(app/notify.py) that says "new messages" and how many pointers came, nothing else: the
daemon holds no key, so it cannot know a chat, a sender or a word of text. With no
notification service (no D-Bus session bus, as under a system service manager or cron),
it says so once and polls on."""

from __future__ import annotations

import functools
import signal
import threading
import time
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from pointerbridge.bridges.base import ConfigurationError, bridge_class, bridge_types
from pointerbridge.core.errors import PointerBridgeError
from pointerbridge.home.config import ConfigError, Home, load_config

from .errors import NotifyUnavailableError
from .listen import Heard, Listener, ListenEvent, listening_carriers
from .logs import JsonLines, log, log_poll, log_to_stderr, loggable
from .notify import NEEDS_DBUS_FAST, Notifier, count_notice
from .service import App, PollBusyError

__all__ = ["Announcer", "JsonLines", "quiet_loggers", "run_daemon", "setup_logging"]


def setup_logging(*, as_json: bool) -> None:
    """Configure the ``pointerbridge`` logger tree on stderr: human lines, or JSON lines.
    The scheduler's loggers and those every registered bridge names (``quiet_loggers``:
    their libraries' INFO lines can carry URLs, and URLs tokens) log warnings only."""
    noisy, unloaded = quiet_loggers()
    log_to_stderr(as_json=as_json, quiet=noisy)
    for carrier_type, why in unloaded:
        log.warning("the %s bridge cannot be loaded, its libraries' loggers stay as they are: %s", carrier_type, why)


def quiet_loggers() -> tuple[set[str], list[tuple[str, str]]]:
    """The loggers to hold at WARNING: APScheduler's and the union of every registered
    bridge's ``quiet_loggers``; and the bridges that could not be loaded, with why (a
    carrier of theirs fails on its own poll, and says so there)."""
    noisy = {"apscheduler"}
    unloaded = []
    for carrier_type in bridge_types():
        try:
            noisy.update(bridge_class(carrier_type).quiet_loggers)
        except (ConfigurationError, ImportError, AttributeError) as exc:  # a broken plugin
            unloaded.append((carrier_type, loggable(str(exc))))
    return noisy, unloaded


class Announcer:
    """The daemon's desktop notifications: a count of what arrived, nothing else. A failure
    is logged once (and once more when they work again), never raised: polling goes on.
    Called from the scheduler's worker and every listener's thread."""

    def __init__(self, notifier: Notifier) -> None:
        """Announce through ``notifier``."""
        self._notifier = notifier
        self._lock = threading.Lock()
        self._failing = False

    def arrived(self, pointers: int) -> None:
        """``pointers`` pointers arrived: raise a notification saying so (none for 0)."""
        if not pointers:
            return
        try:
            self._notifier.send(count_notice(pointers))
        except NotifyUnavailableError as exc:
            if self._now_failing(True):
                log.warning("desktop notifications are off: %s (polling goes on)", loggable(str(exc)))
            return
        if self._now_failing(False):
            log.info("desktop notifications work again")

    def _now_failing(self, failing: bool) -> bool:
        # whether this changes the state: only a change is logged
        with self._lock:
            changed, self._failing = self._failing != failing, failing
        return changed


def _poll(home: Home, carrier: str, fetch: bool, announcer: Announcer | None = None) -> None:
    try:
        with App(home, create=False) as app:
            summary = app.poll([carrier], fetch=fetch)
    except PollBusyError:
        log.warning("%s: skipped, another poll of this home is running", carrier)
        return
    except PointerBridgeError as exc:
        log.error("%s: %s", carrier, loggable(str(exc)))
        return
    log_poll(carrier, summary, fetch=fetch)
    arrived = fetch and carrier not in summary.errors and carrier not in summary.live
    if announcer is not None and arrived:  # received live: the listener announces it
        announcer.arrived(summary.received.get(carrier, 0))


def _heard(home: Home, announcer: Announcer | None, event: ListenEvent) -> None:
    if isinstance(event, Heard):
        for note in event.notes:
            log.warning("%s: %s", event.carrier, loggable(note))
        if event.received:
            log.info("%s: received %d (live)", event.carrier, event.received)
            if announcer is not None:
                announcer.arrived(event.received)
    elif event.fatal:
        log.error("%s: stopped listening: %s", event.carrier, loggable(event.message))
    elif event.to_fix:
        message, where = loggable(event.message), home.config_path
        log.error("%s: %s (fix it in %s; listening again in %.0f s)", event.carrier, message, where, event.retry_in)
    else:
        log.warning("%s: %s (listening again in %.0f s)", event.carrier, loggable(event.message), event.retry_in)


def _listen(home: Home, announcer: Announcer | None) -> list[Listener]:
    with App(home, create=False) as app:
        carriers = listening_carriers(app)
    listeners = [Listener(home, carrier, functools.partial(_heard, home, announcer)) for carrier in carriers]
    for listener in listeners:
        listener.start()
    if carriers:
        log.info("listening live to %s", ", ".join(carriers))
    return listeners


def _trigger(name: str, poll_every: int, poll_cron: str | None, config_path: str) -> Any:
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if poll_cron is None:
        return IntervalTrigger(seconds=poll_every, timezone=UTC)
    try:
        return CronTrigger.from_crontab(poll_cron, timezone=UTC)
    except ValueError as exc:
        raise ConfigError(f"{config_path}: carriers.{name}.poll_cron: {exc}") from None


def run_daemon(home: Home, *, notify: bool = False) -> None:
    """Run until SIGTERM or SIGINT; with ``notify``, raise a content-free desktop
    notification when pointers arrive."""
    try:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler
    except ImportError:
        raise ConfigError("the daemon needs APScheduler: pip install 'pointerbridge[daemon]'") from None
    App(home, create=False).close()  # a missing or uninitialised home is refused, not made
    config = load_config(home.config_path)
    if not config.carriers:
        raise ConfigError(f"{home.config_path}: no carriers to poll (pbridge carrier add)")
    scheduler = BlockingScheduler(
        timezone=UTC,
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    if notify:
        try:
            import dbus_fast  # noqa: F401  (a missing library is a setup to fix, not a bus to wait for)
        except ImportError:
            raise ConfigError(NEEDS_DBUS_FAST) from None
    announcer = Announcer(Notifier()) if notify else None
    listeners = _listen(home, announcer)
    live = {listener.carrier for listener in listeners}
    for name, carrier in config.carriers.items():
        trigger = _trigger(name, carrier.poll_every, carrier.poll_cron, str(home.config_path))
        # A carrier listened to is only posted to on its schedule: its listener fetches.
        args = [home, name, name not in live, announcer]
        scheduler.add_job(_poll, trigger, args=args, id=name, next_run_time=datetime.now(UTC))

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping (%s)", signal.Signals(signum).name)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("polling %s", ", ".join(config.carriers))
    try:
        scheduler.start()
    finally:
        for listener in listeners:
            listener.stop()  # all at once: each ends after its current wait
        deadline = time.monotonic() + 2.0
        for listener in listeners:
            listener.stop(timeout=max(deadline - time.monotonic(), 0.0))
    log.info("stopped")
