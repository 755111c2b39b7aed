"""How the Telegram carrier reads one batch of updates: which messages count, which one is
another member's bot's post (doctor's evidence of Bot-to-Bot mode, and the only sender a
catch-up request is taken from), a group's upgrade to a supergroup, and updates that
another program polling the same bot took first.

- **Who is a member's bot.** In a group, a message an anonymous admin sends, or a member
  sends as a channel, arrives with ``from`` set to a stand-in Telegram user:
  GroupAnonymousBot or Channel_Bot (both bots), or 777000 for a linked channel's automatic
  forward (``create_message`` in tdlib/telegram-bot-api's Client.cpp; the ids are
  python-telegram-bot's ``telegram.constants.ChatID``). So ``is_bot`` says nothing: a post
  counts as a member's bot's only when its sender is one of the group's admin bots
  (getChatAdministrators with ``return_bots``; the README asks every member to make their
  bot an admin), it has no ``sender_chat``, and it is not a service message (joins and pins
  reach every bot whatever its settings, and a bot gets its own pins).
- **Channels.** A channel post has no ``from``: a catch-up request is never taken from one,
  and a post there that carries a pointer is taken as the evidence that another member's
  bot posted (Telegram documents Bot-to-Bot mode for groups only: unverified).
- **Migration.** A basic group upgraded to a supergroup gets a new id: Telegram sends
  ``migrate_to_chat_id`` in the old group and ``migrate_from_chat_id`` in the new one
  (Client.cpp, messageChatUpgradeTo/From). Seeing either, the poll keeps the new id in its
  cursor and reads both chats, and says to set ``chat_id`` to the new one.
- **Errors listing the admins** never fail every poll: see ``_member_bots``.
- **Blobs.** A document with no caption or text from a bot (or in a channel) is a member's
  blob (telegram_blobs.py): its ids for this bot are kept in the cursor, and it is counted
  as an item looked at, not as foreign junk.
"""

from __future__ import annotations

from typing import Any

from pointerbridge.core.armor import find_pointers

from .base import PollResult, extract, printable
from .telegram_blobs import remember_blob

__all__ = ["CATCH_UP_PREFIX", "CATCH_UP_REACH", "SERVICE_SENDERS", "describe_taken", "read", "taken_before"]

CATCH_UP_PREFIX = "pbcatchup1"  # "pbcatchup1 SINCE": post again what you posted since SINCE (unix seconds)
CATCH_UP_REACH = 30 * 86400.0  # the furthest back a request may reach
# GroupAnonymousBot, Channel_Bot, and Telegram's service notifications account: telegram.constants.ChatID
SERVICE_SENDERS = frozenset({1087968824, 136817688, 777000})


async def read(
    bot_id: int, bot: Any, updates: Any, chat_id: int, private_from: list[int], state: dict[str, Any], now: float
) -> PollResult:
    """What one batch holds for the bot ``bot_id``: pointers, catch-up requests of members' bots, and the evidence
    (``peers_seen_at``) and migration (``migrated_to``) it leaves in ``state``."""
    result = PollResult([], "")
    members: dict[int, frozenset[int]] = {}  # chat id -> its admin bots, asked once per poll
    for update in updates:
        message = update.message or update.channel_post
        if message is None:
            continue
        _learn_migration(message, chat_id, state)
        ours = message.chat.id in (chat_id, state.get("migrated_to"))
        sender = message.from_user.id if message.from_user else None
        if not ours and not (message.chat.type == "private" and sender in private_from):
            continue
        if ours and _blob_post(message):
            remember_blob(state, message.document.file_unique_id, message.document.file_id)
            result.items += 1
            continue
        text = "\n".join(t for t in (message.text, message.caption) if t)
        posting = _posting_bot(message, bot_id) if ours else None
        if posting is not None:
            if message.chat.id not in members:
                members[message.chat.id] = await _member_bots(bot, message.chat.id, result.notes)
            if posting in members[message.chat.id]:
                state["peers_seen_at"] = now  # Bot-to-Bot mode works: doctor's evidence
                request = _catch_up_request(message, text, now)
                if request is not None:
                    result.repost_since.append(request)
                    continue
        elif ours and message.chat.type == "channel" and message.from_user is None and find_pointers(text):
            state["peers_seen_at"] = now  # a channel names no sender (see the module's docstring)
        extract(text, f"{message.chat.id}/{message.message_id}", result)
    new = state.get("migrated_to")
    if isinstance(new, int):
        result.notes.append(
            f"chat {chat_id} became the supergroup {new}: set chat_id = {new} for this carrier "
            "(this poll read both; posts to the old id fail)"
        )
    return result


def taken_before(updates: Any, offset: Any) -> int:
    """How many updates the batch is missing before its first: ids are consecutive, and
    asking with ``offset`` confirmed only those below it, so a first id above it means
    someone else confirmed the rest (another program polling this bot: Telegram answers
    whichever asks, and a one-shot poll never gets the 409 a waiting one gets)."""
    if not isinstance(offset, int) or not updates:
        return 0
    return max(int(updates[0].update_id) - offset, 0)


def _learn_migration(message: Any, chat_id: int, state: dict[str, Any]) -> None:
    to, since = message.migrate_to_chat_id, message.migrate_from_chat_id
    if message.chat.id == chat_id and isinstance(to, int):
        state["migrated_to"] = to
    elif since == chat_id:
        state["migrated_to"] = message.chat.id


def _blob_post(message: Any) -> bool:
    """Whether ``message`` is a member's blob: a document alone, posted by a bot or in a channel."""
    sender = message.from_user
    if message.document is None or message.caption or message.text:
        return False
    return sender is None or bool(sender.is_bot)


def _posting_bot(message: Any, me: int) -> int | None:
    """The id of the bot that wrote ``message`` as itself: not a chat's stand-in, not this
    bot, not a forward and not a service message."""
    sender = message.from_user
    if sender is None or not sender.is_bot or sender.id in SERVICE_SENDERS or sender.id == me:
        return None
    if message.sender_chat is not None or message.forward_origin is not None:
        return None
    return int(sender.id) if (message.text or message.caption) else None


async def _member_bots(bot: Any, chat_id: int, notes: list[str], *, moved: bool = False) -> frozenset[int]:
    """The group's admin bots other than this one: the members' bots.

    What Telegram refuses here must not fail every poll until the batch expires:
    - An upgraded basic group's old id answers 400 with ``migrate_to_chat_id``
      (``check_chat_access`` in Client.cpp); the upgrade keeps its members, so the new
      supergroup's admin bots are asked instead.
    - Another refusal (400, 403: the chat gone, the bot removed) will not pass: the chat's
      bots count as no member's in this batch, with a note. Their pointers are stored as
      anyone's and the offset confirmed; a catch-up request from them is not taken (better
      lost than one taken from a stranger), and doctor's evidence waits for a later post.
    - A 429 or a network error passes: it propagates, and the whole poll fails and is tried
      again (after the wait, within the run's budget, else next run), confirming nothing.
      Telegram keeps the batch 24 h, and a member's catch-up request is still taken when it
      is read again; past 24 h the failed polls left a gap, and the next poll asks for a
      catch-up as after any absence."""
    from telegram.error import BadRequest, ChatMigrated, NetworkError, RetryAfter, TelegramError

    try:
        admins = await bot.get_chat_administrators(chat_id, return_bots=True)
    except TelegramError as exc:
        if isinstance(exc, ChatMigrated) and not moved:  # one step: a supergroup never moves again
            return await _member_bots(bot, exc.new_chat_id, notes, moved=True)
        if isinstance(exc, RetryAfter) or (isinstance(exc, NetworkError) and not isinstance(exc, BadRequest)):
            raise
        notes.append(
            f"chat {chat_id}: Telegram would not list its admins ({printable(exc.message, 200)}), so no bot's "
            "post there counts as a member's in this poll: its pointers are stored, but a catch-up request "
            "posted there is not answered"
        )
        return frozenset()
    return frozenset(a.user.id for a in admins if a.user.is_bot and a.user.id not in SERVICE_SENDERS)


def _catch_up_request(message: Any, text: str, now: float) -> tuple[float, float] | None:
    """(since, until) if a member's bot's ``message`` is a catch-up request reaching back at
    most ``CATCH_UP_REACH``. ``until`` is when it was posted, so a request never re-queues
    what came after it."""
    prefix, _, since = text.strip().partition(" ")
    if prefix != CATCH_UP_PREFIX or not since.isdigit() or len(since) > 12:
        return None
    value, until = float(since), message.date.timestamp()
    return (value, until) if now - CATCH_UP_REACH <= value <= until else None


def describe_taken(taken: int) -> str:
    """The poll's note when updates were taken by another poller."""
    return (
        f"{taken} update(s) sent to this bot since the last poll were taken before it "
        "could read them: another program polls this bot (a second pbridge home, or any other "
        "client with its token), and what they held is lost here. Give each a bot of its own"
    )
