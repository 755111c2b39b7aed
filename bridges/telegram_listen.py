"""The Telegram carrier's push hook: getUpdates as a long poll (its ``timeout``), which is
Telegram's own push to a bot without a public address of its own (a webhook needs one).

Each listen is the carrier's poll (telegram.py), with the one difference that the probe's
getUpdates waits up to ``wait`` seconds for an update, so every rule of the poll holds:

- **Stored before confirmed.** A call asks with the offset the last call's cursor holds,
  and the app stores a batch before it saves that cursor, so an update is confirmed (and
  deleted on Telegram's side) by the call after the one that brought it, never before it
  is stored. A connection cut mid-wait confirmed nothing new: the next call asks again
  from the same offset, and Telegram, which keeps a bot's updates for 24 hours, answers.
- **One consumer per bot.** The poll's machine-wide lock on the bot is held while the call
  waits, and the app's fetch lock on the carrier for as long as the listener listens;
  another program waiting on the same bot ends this call with 409, which is the poll's
  configuration error (Telegram ends the older of two waiting calls; one with no
  ``timeout`` ends nothing, and the poll notes the updates it took, as always).
- **The 24-hour window, the token-change reset, the bot's id.** The poll's plan decides
  them before asking. A call that must ask through python-telegram-bot from the start
  (the bot's id not yet known, a gap past 24 h and its catch-up request) does not wait:
  it is a plain poll, and the next call waits.
- **An idle wait costs what the probe costs**: one request over httpx without
  python-telegram-bot, on a connection kept open between calls (one TLS handshake per
  listener, not one per wait). An answer with updates, or an error, is
  read by python-telegram-bot as the poll reads the probe's answer (telegram_request.py).
- **How long.** ``wait`` is rounded down to whole seconds (Telegram's ``timeout`` is an
  integer) and capped at 50 s, the most Telegram waits (``LONG_POLL_MAX_TIMEOUT`` in the
  Bot API server's Client.h); the answer's own bound (telegram_probe.py) is the request
  timeout on top of the wait. Telegram answers a waiting call 1-2 ms after its first
  update arrives (``LONG_POLL_WAIT_AFTER``), so a burst comes as one batch.
"""

from __future__ import annotations

from typing import Any

from .base import Bridge, PollResult
from .telegram_probe import new_client

__all__ = ["MAX_WAIT", "LongPoll"]

MAX_WAIT = 50  # seconds: the longest getUpdates timeout Telegram takes


class LongPoll(Bridge):
    """Mixed into the Telegram bridge: :meth:`listen` as a long poll, :meth:`close` ends its connection."""

    listens = True
    listen_wait = 50.0  # one open request (or connection) per wait: half the rounds of 25 s
    _http: Any = None  # the httpx.Client the long polls share, opened on the first listen
    _s: Any  # the bridge's TelegramSettings

    def listen(self, cursor: str | None, wait: float) -> PollResult:
        """A poll whose getUpdates waits up to ``wait`` seconds (at most 50) for an update."""
        if self._http is None:
            self._http = new_client(self._s.proxy_server())
        return self._updates(cursor, min(max(int(wait), 0), MAX_WAIT), self._http)

    def _updates(self, cursor: str | None, wait: int, client: Any) -> PollResult:  # the Telegram bridge's
        raise NotImplementedError

    def close(self) -> None:
        """Close the long polls' connection, then what the bridge holds."""
        http, self._http = self._http, None
        try:
            if http is not None:
                http.close()
        finally:
            super().close()
