"""What ``pbridge doctor`` says of a Telegram carrier: the token, a webhook in the way, the
bot's place in its group or channel (admin, privacy as the group applies it, other
members' bots seen), a group the poll saw upgraded to a supergroup, how much of Telegram's
24-hour window the last poll left, and another program that took this bot's updates."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .base import Finding, elapsed, printable

__all__ = ["LOST_AFTER", "WARN_AFTER", "count", "diagnose"]

WARN_AFTER = 20 * 3600.0  # a poll gap past this is noted: Telegram keeps updates 24 hours
LOST_AFTER = 24 * 3600.0
_POLLS_TO_TELL = 3  # polls without another bot's post before doctor suspects Bot-to-Bot mode is off
_ADMIN = ("administrator", "creator")
_READD = (  # a group applies the Group Privacy a bot had when it was added
    "if it was turned off after @{name} joined this group, the group still applies it: "
    "remove @{name} from the group and add it again (as an admin)"
)


async def diagnose(
    bot: Any, chat_id: int, state: dict[str, Any], mapped: Callable[[Exception], Exception]
) -> list[Finding]:
    """The token, a webhook, the bot's place in its group or channel, and the 24-hour window."""
    from telegram.error import TelegramError

    me = await bot.get_me()  # the token works
    name = printable(me.username, 64)
    findings = [Finding("token", "ok", f"accepted: bot @{name} (id {me.id})")]
    webhook = await bot.get_webhook_info()
    if webhook.url:
        findings.append(
            Finding(
                "webhook",
                "fail",
                "a webhook is set, so getUpdates cannot work: delete it (deleteWebhook) or give this home another bot",
            )
        )
    if chat_id < 0:
        try:
            findings += await _place(bot, me, name, chat_id, state)
        except TelegramError as exc:
            findings.append(Finding("chat", "fail", str(mapped(exc))))
    moved = state.get("migrated_to")
    if isinstance(moved, int) and state.get("chat") == chat_id:  # the poll saw the upgrade's notice
        findings.append(Finding("chat", "fail", f"chat {chat_id} became the supergroup {moved}: set chat_id = {moved}"))
    return [*findings, _window(state, time.time()), *_taken(state, time.time())]


async def _place(bot: Any, me: Any, name: str, chat_id: int, state: dict[str, Any]) -> list[Finding]:
    """The bot in its group or channel: admin, privacy off, other members' bots seen."""
    chat = await bot.get_chat(chat_id)
    title = f"{printable(chat.type, 20)} {printable(chat.title, 64)!r}"
    admins = await bot.get_chat_administrators(chat_id, return_bots=True)  # others' bots too
    if not any(a.user.id == me.id and a.status in _ADMIN for a in admins):
        return [
            Finding(
                "admin",
                "fail",
                f"@{name} is not an admin of the {title}: it sees no other bot's posts "
                "(make it an admin; it needs no rights beyond posting)",
            )
        ]
    findings = [Finding("admin", "ok", f"@{name} is an admin of the {title}")]
    if chat.type != "channel":  # privacy is a group's question
        findings += _privacy(name, me.can_read_all_group_messages, state)
    peers = [f"@{printable(a.user.username, 64)}" for a in admins if a.user.is_bot and a.user.id != me.id]
    return [*findings, _peers(name, peers, state, time.time(), group=chat.type != "channel")]


def _privacy(name: str, off_at_botfather: bool, state: dict[str, Any]) -> list[Finding]:
    """Group Privacy as the group applies it. getMe tells the BotFather setting, but a group
    keeps the one the bot had when it was added (core.telegram.org/bots/features#privacy-mode: a
    change takes effect once the bot is removed from the group and added again); another
    member's bot's post seen here shows that the group applies privacy off."""
    seen = isinstance(state.get("peers_seen_at"), int | float)
    if off_at_botfather and seen:
        return []
    if off_at_botfather:
        return [Finding("privacy", "ok", f"Group Privacy is off at @BotFather for @{name}; {_READD.format(name=name)}")]
    if seen:
        return [
            Finding(
                "privacy",
                "warn",
                f"Group Privacy is on at @BotFather for @{name}, but this group still applies the setting "
                f"@{name} had when it was added (it sees other bots' posts): re-adding @{name} would turn "
                "privacy on here; @BotFather /setprivacy -> Disable first",
            )
        ]
    return [
        Finding(
            "privacy",
            "fail",
            f"Group Privacy is on for @{name}: @BotFather /setprivacy -> "
            "Disable, then remove the bot from the group and add it again",
        )
    ]


def count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _peers(name: str, peers: list[str], state: dict[str, Any], now: float, *, group: bool) -> Finding:
    """Bot-to-Bot mode, judged from what the bot has seen: Telegram tells no bot whether it
    is on, and without it the other members' bots' posts never arrive."""
    seen, polls = state.get("peers_seen_at"), count(state.get("polls"))
    if isinstance(seen, int | float):
        return Finding("bot-to-bot", "ok", f"@{name} saw another bot's post {elapsed(max(now - seen, 0))} ago")
    if not peers:
        return Finding(
            "bot-to-bot",
            "warn",
            "no other member's bot is an admin here yet: no pointer can reach "
            f"@{name} until each member adds their own bot as an admin",
        )
    others = ", ".join(peers[:5]) + (f" and {len(peers) - 5} more" if len(peers) > 5 else "")
    if polls < _POLLS_TO_TELL:
        return Finding(
            "bot-to-bot", "ok", f"{polls} poll(s) so far: too early to tell whether @{name} sees the posts of {others}"
        )
    return Finding(
        "bot-to-bot",
        "warn",
        f"@{name} has seen no post of {others} in {polls} polls. If they have "
        f"posted, Bot-to-Bot Communication mode is off for @{name} (Telegram "
        "does not tell a bot): @BotFather -> Bot Settings -> "
        f"@{name} -> Bot-to-Bot Communication -> On"
        + (f"; or, for Group Privacy, {_READD.format(name=name)}" if group else ""),
    )


def _window(state: dict[str, Any], now: float) -> Finding:
    """Telegram keeps a bot's unread updates 24 hours: how much of that the last poll left."""
    last = state.get("polled_at")
    if not isinstance(last, int | float):
        return Finding("24-hour window", "ok", "not polled yet")
    gap = max(now - last, 0.0)
    if gap > LOST_AFTER:
        return Finding(
            "24-hour window",
            "fail",
            f"last poll {elapsed(gap)} ago: Telegram has dropped what arrived "
            "before the last 24 h (the next poll asks the others to post it "
            "again)",
        )
    if gap > WARN_AFTER:
        return Finding(
            "24-hour window",
            "warn",
            f"last poll {elapsed(gap)} ago: Telegram drops unread updates after "
            "24 h; poll now (is cron or the daemon running?)",
        )
    return Finding("24-hour window", "ok", f"last poll {elapsed(gap)} ago")


def _taken(state: dict[str, Any], now: float) -> list[Finding]:
    """Another program polling this bot takes updates this home never sees (the poll finds
    the gap in update ids): a failure for a day after the last time, then a warning."""
    at = state.get("taken_at")
    if not isinstance(at, int | float):
        return []
    ago = max(now - at, 0.0)
    detail = (
        f"another program polls this bot: {count(state.get('taken'))} update(s) taken from it, the last "
        f"{elapsed(ago)} ago, are lost to this home; give each program a bot of its own"
    )
    return [Finding("other poller", "fail" if ago < LOST_AFTER else "warn", detail)]
