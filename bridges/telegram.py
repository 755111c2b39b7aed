"""A Telegram chat as carrier, through python-telegram-bot's ``Bot`` (no ``Application``):
each user's own bot posts pointers as plain text and reads them with ``getUpdates``: one-shot
in a poll, a long poll when listening live (telegram_listen.py). See
../shared/recipes/telegram-botapi.md for the rules this follows.

- **An idle poll** is one getUpdates asked without python-telegram-bot (telegram_probe.py),
  and, when config.toml's settings are plainly valid, without pydantic: a cron minute costs
  what that request costs. Any other answer is read by python-telegram-bot as its own.
- **Who sees what.** A bot never receives its own posts, and other bots' posts only with
  Bot-to-Bot mode on and admin rights in the group, so every member runs a bot of their
  own. Only messages from the configured chat count (and, once it became a supergroup,
  from the new one), plus anything the people listed in ``private_from`` send (forward,
  paste) to the bot in private. telegram_updates.py reads a batch: which sender is a
  member's bot, and why ``is_bot`` cannot say.
- **Cursor.** ``{"chat": chat id, "bot_id": id, "offset": next update id, "polled_at": time,
  "updates_at": time, "polls": count, "peers_seen_at": time, "migrated_to": id, "taken_at":
  time, "taken": count}``: ``bot_id`` is getMe's answer, kept while the token's ``ID:`` is it
  (another bot's token keeps only ``chat``, ``polled_at`` and ``migrated_to``: update ids
  and offsets are each bot's own);
  ``updates_at`` is when a poll last got an update: after a week without any, Telegram
  restarts update ids at random, and the poll asks without its old offset;
  ``polls`` and ``peers_seen_at`` tell ``pbridge doctor`` whether this bot has ever seen
  another member's bot's post (Telegram does not say whether Bot-to-Bot mode is on), the
  last two when another program last took updates of this bot. Asking with an offset
  confirms, and so deletes, every update below it on Telegram's side. So a poll asks with
  the stored offset, which confirms only what an earlier poll's app has already stored,
  and reads one batch of at most 100; ``more`` tells the app to store it and poll again.
  Update ids are consecutive, so a batch that starts above the offset shows that another
  poller took the rest: the poll says so (Telegram gives that poller, not this one-shot
  poll, the 409).
- **The 24-hour window.** Telegram drops unconfirmed updates after 24 hours. Each poll
  notes a gap approaching that, and one past it (pointers may be lost: see the README's
  catch-up).
- **Pace.** Telegram allows about one message a second per chat and 20 a minute per
  group; ``post_interval`` (3.1 s by default) keeps under both, and the app's outbox
  drains over several runs when there is more.
- **Blobs** (issue 21) are documents in the chat: telegram_blobs.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

from .base import (
    ConfigurationError,
    Finding,
    PollResult,
    RetryableError,
    SettingsModel,
    header_safe,
    json_cursor,
    printable,
    read_credential,
)
from .plain_settings import PlainNetworkSettings, integers, number, path, take_network, text
from .telegram_blobs import TelegramBlobs
from .telegram_doctor import LOST_AFTER, WARN_AFTER, count, diagnose
from .telegram_listen import LongPoll
from .telegram_probe import Answer, api_url, get_updates, parameters, unreachable

__all__ = ["TelegramBridge", "TelegramSettings"]

MAX_TEXT = 4096  # the longest message Telegram takes
_BATCH = 100  # the most getUpdates returns at once
_KINDS = ["message", "channel_post"]
# A week without updates and Telegram restarts their ids at random. A poll sees an update
# up to 24 h after Telegram made it, so the carrier counts the week from a day earlier.
RESTART_AFTER = 7 * 86400.0 - LOST_AFTER


@dataclass(frozen=True, slots=True, kw_only=True)
class TelegramSettings(PlainNetworkSettings):
    """A Telegram carrier's settings, as ``TelegramBridge.Settings`` (telegram_settings.py) makes them."""

    chat_id: int
    token_env: str | None = None
    token_file: Path | None = None
    private_from: list[int] = field(default_factory=list)
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    max_pointer_chars: int = MAX_TEXT
    post_interval: float = 3.1


_PLAIN = {
    "chat_id": number(int, -(2**63), 2**63 - 1),
    "token_env": text(),
    "token_file": path,
    "private_from": integers,
    "base_url": text(r"https?://"),
    "base_file_url": text(r"https?://"),
    "max_pointer_chars": number(int, 500, MAX_TEXT),
    "post_interval": number(float, 0, 60),
}


class _Plan(NamedTuple):
    """A poll's start: the cursor's state, the clock, the gap since the last poll, the offset to ask with."""

    state: dict[str, Any]
    now: float
    last: float | None
    gap: float
    offset: int | None
    wait: int = 0  # seconds getUpdates waits for an update (a long poll)


class TelegramBridge(LongPoll, TelegramBlobs):
    """One Telegram chat, reached as this user's own bot."""

    takes_proxy = True
    carrier_type = "telegram"
    Settings = SettingsModel("pointerbridge.bridges.telegram_settings", "TelegramSettingsModel")
    shareable_settings = ("chat_id", "max_pointer_chars")
    setup_hint = (
        "add your own bot to the group first (admin, privacy off, Bot-to-Bot mode on): "
        "pbridge carrier add {name} --type telegram --set chat_id={chat_id} --set token_env=VAR"
    )
    quiet_loggers = ("httpx",)  # httpx logs each request's URL at INFO, and the URL holds the bot token

    @classmethod
    def same_place(cls, mine: dict[str, Any], shared: dict[str, Any]) -> bool:
        """The same chat id."""
        return mine.get("chat_id") is not None and str(mine.get("chat_id")) == str(shared.get("chat_id"))

    def __init__(self, name: str, settings: Any) -> None:
        """Use :meth:`from_config`. The token is read on first use."""
        plain = settings if isinstance(settings, TelegramSettings) else TelegramSettings(**settings.model_dump())
        super().__init__(name, plain)
        self._s: TelegramSettings = plain
        self._read_token: str | None = None
        self._requests: tuple[Any, ...] = ()

    @classmethod
    def plain_settings(cls, settings: dict[str, Any]) -> TelegramSettings | None:
        """The settings without pydantic when they are plainly valid (an idle poll's case)."""
        return take_network(TelegramSettings, settings, _PLAIN, ("token_env", "token_file"))

    def post(self, pointer: str) -> str:
        """Send the pointer as a plain-text message; return ``chat_id/message_id``."""
        result: str = self._run(lambda bot: self._post(bot, pointer))
        return result

    def poll(self, cursor: str | None) -> PollResult:
        """One batch of updates from the stored offset (``more`` when there may be more).

        A poll first asks without python-telegram-bot (telegram_probe.py), and an idle one
        ends with that answer; one that needs more than getUpdates from the start (the bot's
        id, a catch-up request after a gap past 24 h) asks through it."""
        return self._updates(cursor, 0, None)

    def _updates(self, cursor: str | None, wait: int, client: Any) -> PollResult:
        """The poll; the probe's a long poll of ``wait`` s over ``client`` (telegram_listen.py)."""
        with self._poll_lock():
            plan = self._plan(cursor)
            held: list[Answer] = []  # the probe's answer, for the first attempt only: a retry asks afresh
            if plan.gap <= LOST_AFTER and self._knows_bot(plan.state):
                plan = plan._replace(wait=wait)
                url = api_url(self._s.base_url, self._token(), "getUpdates")
                asked = parameters(plan.offset, _BATCH, _KINDS, wait)
                proxy = self._s.proxy_server()
                held.append(get_updates(self.name, url, asked, self._s.timeout, wait=wait, client=client, proxy=proxy))
                if held[0].idle:
                    return self._closed(plan, PollResult([], ""), [])
            result: PollResult = self._run(lambda bot: self._poll(bot, plan, held))
        return result

    def check(self) -> list[str]:
        """getMe: the token works; name the bot and the steps only the user can take."""
        me: dict[str, Any] = self._run(lambda bot: bot.get_me()).to_dict()  # getMe: the token works
        name = printable(me.get("username"), 64)
        lines = [f"bot @{name} (id {me.get('id')})"]
        if self._s.chat_id < 0:
            lines += [
                f"in the group or channel {self._s.chat_id}, which no API can do for you:",
                f"  - add @{name} and make it an admin (it needs no rights beyond posting)",
                f"  - @BotFather: /setprivacy -> @{name} -> Disable (then remove and re-add the bot)",
                f"  - @BotFather: Bot Settings -> @{name} -> Bot-to-Bot Communication -> On",
                "  - every member does the same with their own bot: bots never see their own posts",
            ]
        return lines

    def diagnose(self, cursor: str | None) -> list[Finding]:
        """The token, the bot's place in the chat (admin, privacy, a webhook), whether it
        has seen other bots' posts, and the 24-hour window. Never calls getUpdates."""
        findings: list[Finding] = self._run(
            lambda bot: diagnose(bot, self._s.chat_id, json_cursor(cursor), self._mapped)
        )
        return findings

    # -- the async part ---------------------------------------------------------------------

    def claim(self) -> str:
        """The bot account: two carriers polling one bot would confirm, and so delete, each
        other's updates."""
        return f"telegram bot {self._token().partition(':')[0]}"

    def _token(self) -> str:
        if self._read_token is None:  # once per run: the lock, the claim and the client all need it
            token, where = read_credential(self.name, self._s.token_env, self._s.token_file)
            head, _, tail = token.partition(":")
            if not (head.isdigit() and tail and header_safe(token)):
                raise ConfigurationError(self.name, f"{where} does not hold a bot token (ID:SECRET from @BotFather)")
            self._read_token = token
        return self._read_token

    @contextlib.contextmanager
    def _poll_lock(self) -> Iterator[None]:
        """One getUpdates at a time per bot on this machine (Telegram answers a second one
        with 409, and confirming offsets from two pollers loses updates)."""
        digest = hashlib.sha256(self._token().encode()).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / f"pointerbridge-telegram-{os.getuid()}-{digest}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RetryableError(self.name, "another poll of this bot is running") from None
            yield
        finally:
            os.close(fd)

    async def _attempt(self, work: Any) -> Any:
        import asyncio

        import telegram

        waited = 0.0
        while True:
            try:
                return await super()._attempt(work)
            except telegram.error.RetryAfter as exc:
                wait = _seconds(exc)
                if waited + wait > self._s.max_retry_wait:
                    raise RetryableError(self.name, f"rate limited for {wait:.0f} s", retry_after=wait) from None
                waited += wait
                await asyncio.sleep(wait)
            except telegram.error.TelegramError as exc:
                raise self._mapped(exc) from None

    async def _connect(self) -> Any:
        import telegram

        from .telegram_request import PrefetchedRequest, new_request

        # httpx logs every request's URL at INFO, and the URL holds the bot token.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        # The Bot's one record above DEBUG is "Error while parsing updates! Received data
        # was %r": the whole batch, other people's messages in the group included, into a
        # cron log. The poll reports that failure itself (a RetryableError).
        logging.getLogger("telegram.Bot").setLevel(logging.CRITICAL + 1)
        # PTB 22 warns, from inside RetryAfter itself, that retry_after becomes a timedelta;
        # _seconds reads either, so the warning would only reach a cron log as noise.
        warnings.filterwarnings("ignore", message=r".*`retry_after` will be of type", category=UserWarning)
        s = self._s
        request = new_request(s.timeout, s.proxy_server())
        polling = PrefetchedRequest(s.timeout, s.proxy_server())
        bot = telegram.Bot(
            self._token(),
            base_url=s.base_url,
            base_file_url=s.base_file_url,
            request=request,
            get_updates_request=polling,
        )
        # Not bot.initialize(): its getMe would cost every cron run a round trip. A poll
        # learns the bot's id once (_poll); check and diagnose ask getMe themselves, and a
        # refused token fails the first call as it would have failed getMe.
        self._requests = (request, polling)
        return bot

    async def _disconnect(self, client: Any) -> None:
        await client.shutdown()
        for request in self._requests:
            await request.shutdown()

    def _mapped(self, exc: Exception) -> Exception:
        from telegram import error

        # Never str(exc) for these: PTB puts the token into InvalidToken's message, and a
        # network error's text can carry the URL, which holds the token.
        if isinstance(exc, error.InvalidToken):
            return ConfigurationError(self.name, "Telegram refused the bot token (check it with @BotFather)")
        if isinstance(exc, error.Conflict):
            return ConfigurationError(
                self.name,
                "another program polls this bot, or it has a webhook "
                f"(409: {printable(exc.message, 200)}); one bot per home",
            )
        if isinstance(exc, error.ChatMigrated):
            return ConfigurationError(
                self.name,
                f"chat {self._s.chat_id} became the supergroup {exc.new_chat_id}: set chat_id = {exc.new_chat_id}",
            )
        if isinstance(exc, error.Forbidden):
            return ConfigurationError(self.name, f"chat {self._s.chat_id}: {printable(exc.message, 200)}")
        if isinstance(exc, error.BadRequest):
            if "chat not found" in exc.message.lower():
                return ConfigurationError(self.name, f"chat {self._s.chat_id} not found (is the bot in it?)")
            return RetryableError(self.name, f"Telegram refused a request: {printable(exc.message, 200)}")
        if isinstance(exc, error.NetworkError):  # TimedOut included
            return unreachable(self.name, self._s.proxy_server(), exc, type(exc).__name__)
        return RetryableError(self.name, f"Telegram error ({type(exc).__name__})")

    async def _post(self, bot: Any, pointer: str) -> str:
        from telegram import LinkPreviewOptions

        message = await bot.send_message(self._s.chat_id, pointer, link_preview_options=LinkPreviewOptions(True))
        return f"{message.chat.id}/{message.message_id}"

    def _plan(self, cursor: str | None) -> _Plan:
        state = json_cursor(cursor)
        if state.get("chat") != self._s.chat_id:  # another chat now: what was seen says nothing of it
            kept = ("offset", "polled_at", "updates_at", "bot_id")
            state = {"chat": self._s.chat_id, **{k: v for k, v in state.items() if k in kept}}
        if isinstance(state.get("bot_id"), int) and not self._knows_bot(state):  # another bot's token now:
            # its offset would confirm (delete) this bot's updates below it; what it saw is its own
            state = {k: v for k, v in state.items() if k in ("chat", "polled_at", "migrated_to")}
        now = time.time()
        last = state.get("polled_at")
        last = float(last) if isinstance(last, int | float) else None
        gap = now - last if last is not None else 0.0
        if not isinstance(state.get("updates_at"), int | float):  # a cursor from before it was kept
            state["updates_at"] = last if last is not None else now
        offset = state.get("offset")
        if gap > LOST_AFTER or now - state["updates_at"] > RESTART_AFTER or not isinstance(offset, int):
            # Without an offset Telegram answers from the oldest update it holds and confirms
            # nothing; none of them is one a poll stored already, as each case is past the
            # 24 h Telegram keeps an update that no offset confirmed.
            # - After a gap past 24 h, everything the old offset would confirm has expired.
            # - After a week without updates, Telegram restarts the ids at random (Bot API
            #   docs, Update.update_id), so the old offset says nothing of the new ones: far
            #   above it they would look taken by another poller (a false gap); just below it
            #   (within 10 of the queue's tail: tdlib's TQueue::get) they would be confirmed
            #   away unread. This one poll then cannot see another poller's gap.
            offset = None
        return _Plan(state, now, last, gap, offset)

    def _knows_bot(self, state: dict[str, Any]) -> bool:
        """Whether the cursor holds the id of the bot the token names (its ``ID:``)."""
        return isinstance(state.get("bot_id"), int) and str(state["bot_id"]) == self._token().partition(":")[0]

    async def _poll(self, bot: Any, plan: _Plan, held: list[Answer]) -> PollResult:
        plan = plan._replace(state=dict(plan.state))  # a retried attempt starts from the cursor again
        state, now, offset = plan.state, plan.now, plan.offset
        if held:
            self._requests[1].hold(held.pop())  # the probe asked this very getUpdates: read its answer
        try:  # python-telegram-bot parses whatever it is given: a wrong shape escapes as whatever it hit
            updates = await bot.get_updates(offset=offset, limit=_BATCH, timeout=plan.wait, allowed_updates=_KINDS)
        except (TypeError, KeyError, AttributeError, ValueError, RecursionError):
            updates = None
        if updates is None or any(type(update.update_id) is not int for update in updates):
            raise RetryableError(self.name, "Telegram answered getUpdates with no batch of updates")
        if not self._knows_bot(state):  # getMe once: kept while the token names the same bot
            state["bot_id"] = (await bot.get_me()).id
        from .telegram_updates import describe_taken, read, taken_before

        result = await read(state["bot_id"], bot, updates, self._s.chat_id, self._s.private_from, state, now)
        taken = taken_before(updates, offset)
        if taken:
            state["taken_at"], state["taken"] = now, count(state.get("taken")) + taken
            result.notes.append(describe_taken(taken))
        if plan.gap > LOST_AFTER:
            assert plan.last is not None
            result.notes.append(await self._ask_for_catch_up(bot, plan.last, now))
        return self._closed(plan, result, updates)

    def _closed(self, plan: _Plan, result: PollResult, updates: Any) -> PollResult:
        """``result`` with the gap's note and the cursor after reading ``updates``."""
        state, now = plan.state, plan.now
        if WARN_AFTER < plan.gap <= LOST_AFTER:
            result.notes.append(
                f"{plan.gap / 3600:.0f} h since the last poll: after 24 h Telegram drops what is unread "
                "(a later poll will ask the others to post it again)"
            )
        if updates:
            state["offset"] = updates[-1].update_id + 1
            state["updates_at"] = now
        state["polled_at"] = now
        state["polls"] = count(state.get("polls")) + 1
        result.more = len(updates) >= _BATCH
        result.cursor = json.dumps(state, sort_keys=True)
        return result

    async def _ask_for_catch_up(self, bot: Any, last: float, now: float) -> str:
        """Telegram has dropped what arrived while this bot was away: ask the other members'
        bots to post again what they posted since (an hour before) then. A failed request
        is a note, not a failed poll: the batch read now must still be stored."""
        from telegram import LinkPreviewOptions
        from telegram.error import TelegramError

        from .telegram_updates import CATCH_UP_PREFIX, CATCH_UP_REACH

        since = int(max(last - 3600, now - CATCH_UP_REACH + 3600))
        hours = f"{(now - last) / 3600:.0f} h since the last poll, longer than Telegram keeps updates"
        try:
            await bot.send_message(
                self._s.chat_id, f"{CATCH_UP_PREFIX} {since}", link_preview_options=LinkPreviewOptions(True)
            )
        except TelegramError as exc:
            return f"{hours}; asking the others to post it again failed: {self._mapped(exc)}"
        return f"{hours}: asked the other members' bots to post again what they posted since then"


def _seconds(exc: Any) -> float:
    value = exc.retry_after
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return min(max(seconds, 0.05), 86_400.0)
