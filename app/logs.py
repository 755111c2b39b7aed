"""Log lines of a poll, for the daemon and for ``pbridge poll --log-json`` (cron): the same
lines whoever polled, on stderr, human or one JSON object a line.

Light on purpose: the cron poll imports it and must stay quick (no bridge is loaded here).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import PollSummary

__all__ = ["JsonLines", "log", "log_poll", "log_to_stderr", "loggable"]

# The daemon's logger, and so the poll lines' wherever they come from: a log collector's
# rule for the daemon's poll results then matches a cron poll's too.
log = logging.getLogger("pointerbridge.daemon")


class JsonLines(logging.Formatter):
    """One JSON object a line (``time``, ``level``, ``logger``, ``message``), for a log
    collector. Messages are the same escaped one-liners a person sees: no secret, body or
    pointer text is ever logged above DEBUG."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        import json

        fields = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        return json.dumps(fields, ensure_ascii=False)


def log_to_stderr(*, as_json: bool, quiet: Iterable[str] | None) -> None:
    """Log ``pointerbridge``'s INFO lines and up on stderr, human or JSON. ``quiet``: the
    libraries' loggers held at WARNING while the others log INFO (their INFO lines can carry
    URLs, and URLs tokens); None holds every logger outside ``pointerbridge`` at WARNING,
    for a process that loads no bridge just to ask each for its loggers."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonLines() if as_json else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if quiet is None:
        root.setLevel(logging.WARNING)
        logging.getLogger("pointerbridge").setLevel(logging.INFO)
        return
    root.setLevel(logging.INFO)
    for name in sorted(quiet):
        logging.getLogger(name).setLevel(logging.WARNING)


def loggable(text: str) -> str:
    """``text`` as one log line: carriers' texts (file names, server messages) come from
    other people, so no control character may forge another line or drive a terminal."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def log_poll(carrier: str, summary: PollSummary, *, fetch: bool = True) -> None:
    """What one poll of ``carrier`` did: its notes, its error, or its counts (a carrier
    received live, or only posted to, says only what it posted, and only if anything)."""
    for note in summary.notes.get(carrier, []):
        log.warning("%s: %s", carrier, loggable(note))
    if carrier in summary.errors:
        log.error("%s: %s", carrier, loggable(summary.errors[carrier]))
    elif not fetch or carrier in summary.live:  # received live: a listener says what it receives
        if summary.posted.get(carrier, 0):
            log.info("%s: posted %d", carrier, summary.posted[carrier])
    else:
        log.info(
            "%s: posted %d, received %d, skipped %d",
            carrier,
            summary.posted.get(carrier, 0),
            summary.received.get(carrier, 0),
            summary.skipped.get(carrier, 0),
        )
