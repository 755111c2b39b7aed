"""A Telegram Bot API server for tests: real HTTP on 127.0.0.1, spoken to by the real
``telegram.Bot`` through ``base_url``. No public fake fits python-telegram-bot 22, and no
live Telegram is reachable here (see ../shared/recipes/telegram-botapi.md).

It keeps Telegram's rules, so that a bridge cannot pass against a server kinder than the
real one:

- **Visibility.** A bot never gets its own posts. Another bot's message in a group reaches a
  bot only if it has Bot-to-Bot mode on and is an admin with Group Privacy off; without
  admin rights, only ``/cmd@bot`` commands and replies to it. A person's message reaches a
  bot with privacy off or admin rights, else only its commands and replies. Group Privacy
  is the setting the bot had when it was added to the group: a change at @BotFather
  applies once the bot is removed and added again (core.telegram.org/bots/features,
  privacy mode). Service messages (joins, pins, migrations) reach every bot in the chat,
  whatever its settings (core.telegram.org/bots/faq), and a bot gets the service message
  of its own pin (``need_skip_update_message`` in the Bot API server's Client.cpp skips
  outgoing messages except such service messages). A private chat's messages reach its
  bot.
- **Senders that are chats** (``create_message`` in Client.cpp): in a group, a message of
  an anonymous admin has ``from`` GroupAnonymousBot (1087968824, a bot) and the group as
  ``sender_chat``; one sent as a channel, Channel_Bot (136817688, a bot); a linked
  channel's automatic forward, the service account 777000 (not a bot). They are delivered
  as a person's messages: no bot wrote them.
- **Channels are unverified.** Channel posts carry no ``from``; they reach admin bots, and
  that another bot's post reaches one only with Bot-to-Bot mode is this server's guess:
  Telegram documents Bot-to-Bot mode for groups only.
- **Migration.** :meth:`BotApiServer.upgrade` turns a basic group into a supergroup with a
  new id, as Telegram does: a service message with ``migrate_to_chat_id`` in the old group,
  one with ``migrate_from_chat_id`` in the new; posting to the old id answers 400 with
  ``parameters.migrate_to_chat_id``.
- **getUpdates.** Per-bot queues with consecutive update ids, until a week passes without
  a new update: then the next id is chosen at random (Bot API docs, Update.update_id; in
  tdlib's TQueue::push, between 2,000,001 and 10^9), or at ``BotAccount.restart_id`` when a
  test sets it. An update is confirmed by asking with a higher offset; an offset more than
  10 past the queue's tail, or more than 100,000 before its head, reads from the head and
  confirms nothing (TQueue::get refuses it, and ``do_get_updates`` then reads from the
  head); a negative offset keeps the last N and forgets the rest;
  unconfirmed updates expire after 24 hours of the server's clock, which tests move with
  :meth:`BotApiServer.advance`. ``allowed_updates`` persists and is applied when an update
  is created, as ``add_update_impl`` in Client.cpp does: an update of a kind not allowed
  then is never made, and allowing it later does not bring it back (Bot API docs: it
  "doesn't affect updates created before the call"); until a bot first sets it, every kind
  but ``chat_member``, ``message_reaction`` and ``message_reaction_count``. As in
  ``process_get_updates_query`` and ``do_get_updates``: a call with the previous call's
  offset within 3 s of it waits at least 3 s, and within 0.5 s gets at most one update; a
  call that finds updates, or has no timeout, is answered at once and ends nothing; one
  that waits ends an older one still waiting with 409; while a webhook is set, 409.
  ``timeout`` is capped at 50 s (``LONG_POLL_MAX_TIMEOUT``); a waiting call is answered
  1-2 ms after its first update arrives (``long_poll_wakeup``: ``LONG_POLL_WAIT_AFTER``,
  ``LONG_POLL_MAX_DELAY``), so that a burst comes in one answer.
- **Restarts.** :meth:`BotApiServer.stop` cuts every connection, waiting calls included,
  and :meth:`BotApiServer.start` serves again on the same port with the same queues and
  offsets, as Telegram keeps them while a client's connection is down.
- **Chats.** getChat and getChatAdministrators answer a member only ("chat not found"
  otherwise); a channel's administrators, an admin only; other bots among them only with
  ``return_bots``. getChatAdministrators of a basic group upgraded to a supergroup answers
  400 with ``parameters.migrate_to_chat_id``, as a post there does (``check_chat_access``
  in Client.cpp treats reading the member list of an inactive group as writing to it);
  getChat still answers. Nothing tells a bot whether its own Bot-to-Bot mode is on, as on Telegram.
- **Limits.** Text of 1-4096 characters; per bot and chat at most one message a second,
  and in a group at most 20 a minute; over that, 429 with ``parameters.retry_after``.
- **Files** (Bot API docs, sendDocument, getFile, File; ``MAX_DOWNLOAD_FILE_SIZE`` in
  Client.h). sendDocument takes a multipart upload (the part named ``document``) of at most
  50 MB, as api.telegram.org does (its front answers a bigger request 413 "Request Entity
  Too Large"); the message carries ``document`` with ``file_name``, ``mime_type``,
  ``file_size``, ``file_unique_id`` (the same for every bot) and a ``file_id`` of each bot's
  own: "file_id is unique for each individual bot and can't be transferred from one bot to
  another", so each bot's update and answer name the file differently, and getFile with
  another bot's id answers 400 "Bad Request: wrong file_id or the file is temporarily
  unavailable" (a string that names no file: "Bad Request: invalid file_id"). getFile of a
  file over 20 MiB answers 400 "Bad Request: file is too big" (``do_get_file``); else a
  ``file_path`` relative to the bot's folder, served at ``/file/bot<token>/<file_path>`` to
  that bot only.
- **Faults.** :meth:`BotApiServer.fail` makes the next calls of a method answer an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import math
import os
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pointerbridge.home.config import CarrierConfig

UPDATE_TTL = 24 * 3600.0
RESTART_AFTER = 7 * 86400.0  # no new update for this long: the next update id is random
_RESTART_IDS = (2 * 1_000_000 + 1, 1_000_000_000)  # TQueue::push's range for a queue's first id
_WAIT_AFTER = 0.0015  # after a waiting call's first update: Client.h's LONG_POLL_WAIT_AFTER/_MAX_DELAY
_FUTURE, _PAST = 10, 100_000  # TQueue::get refuses an offset this far past the tail or before the head
MAX_TEXT = 4096
MAX_UPLOAD = 50 * 1024 * 1024  # a bot's upload through api.telegram.org
MAX_DOWNLOAD = 20 << 20  # Client.h: MAX_DOWNLOAD_FILE_SIZE
MAX_CAPTION = 1024
# The users Telegram puts into ``from`` when a chat sends (telegram.constants.ChatID; the
# Bot API server reads them from TDLib's options in Client.cpp).
GROUP_ANONYMOUS_BOT = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
SERVICE_NOTIFICATIONS = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
# What a bot gets until it sets allowed_updates (Bot API docs, getUpdates).
_NOT_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}
_RAW_PARAMETERS = {"text", "caption", "url", "secret_token"}  # sent as raw strings, never JSON
_GIFT_KINDS = ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels")
_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
)


@dataclass
class BotAccount:
    """One bot: its token and BotFather settings, and its update queue."""

    id: int
    username: str
    token: str
    bot_to_bot: bool = False
    privacy: bool = True  # Group Privacy, on by default at BotFather
    queue: list[tuple[float, dict[str, Any]]] = field(default_factory=list)  # (created at, update)
    next_update_id: int = 0
    last_update_at: float | None = None  # when the last update was made (server clock)
    restart_id: int | None = None  # where ids restart after a week without updates (None: at random)
    allowed_updates: list[str] | None = None  # None: Telegram's default
    webhook: str = ""
    polls: int = 0  # getUpdates calls that waited so far: a newer one ends an older one still waiting
    waiting: list[Callable[[], None]] = field(default_factory=list)  # wakes the call waiting now, if any
    previous_poll: tuple[int, float] = (0, -math.inf)  # the last getUpdates' offset and start (server clock)
    calls: list[str] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)  # each getUpdates' timeout, as the server took it

    def allows(self, kind: str) -> bool:
        """Whether an update of ``kind`` is made for this bot now (applied at creation)."""
        return kind in self.allowed_updates if self.allowed_updates is not None else kind not in _NOT_BY_DEFAULT

    def user(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": True, "first_name": self.username, "username": self.username}


@dataclass
class Chat:
    """A group, channel or private chat, with its members (user id -> "admin" or "member")."""

    id: int
    type: str
    title: str
    members: dict[int, str] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    sends: dict[int, list[float]] = field(default_factory=dict)  # bot id -> times it posted
    privacy: dict[int, bool] = field(default_factory=dict)  # bot id -> its Group Privacy when it was added
    migrated_to: int | None = None  # a basic group upgraded to a supergroup

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        data["title" if self.type != "private" else "first_name"] = self.title
        return data


class BotApiError(Exception):
    """An error answer: HTTP status, description, optional retry_after."""

    def __init__(
        self, status: int, description: str, retry_after: int | None = None, *, migrate_to: int | None = None
    ) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after
        self.migrate_to = migrate_to


class BotApiServer:
    """The server; ``start`` it, make bots and chats, hand ``base_url`` to ``telegram.Bot``."""

    def __init__(self, *, rate_limits: bool = True) -> None:
        """``rate_limits=False`` only for suites that test something else (the bridge
        contract): the limits are pinned by this server's own tests."""
        self.rate_limits = rate_limits
        self.skew = 0.0  # seconds the server's clock is ahead of the real one
        self.bots: dict[str, BotAccount] = {}
        self.chats: dict[int, Chat] = {}
        self.private: dict[tuple[int, int], Chat] = {}  # (bot id, person id) -> their chat
        self.people: dict[int, str] = {}
        self._faults: dict[str, list[BotApiError]] = {}
        self.refused: list[tuple[str, int]] = []  # (method, status) of every error answered
        self.files: dict[str, bytes] = {}  # file_unique_id -> content
        self.file_ids: dict[str, tuple[int, str]] = {}  # file_id -> (the bot it is of, file_unique_id)
        self.file_paths: dict[str, tuple[int, str]] = {}  # file_path -> (the bot it is of, file_unique_id)
        self._ids = itertools.count(7_000_000_001)
        self._chat_ids = itertools.count(1_000_000_000_001)  # supergroups and channels: -100...
        self._group_ids = itertools.count(4_100_000_001)  # basic groups
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread = threading.Thread()
        self.port = 0

    # -- the world the tests set up -------------------------------------------------------

    def clock(self) -> float:
        """The server's time: real time plus what tests advanced it by."""
        return time.time() + self.skew

    def advance(self, seconds: float) -> None:
        """Move the server's clock forward (24-hour expiry, rate-limit windows)."""
        self.skew += seconds

    def add_bot(self, username: str, *, bot_to_bot: bool = False, privacy: bool = True) -> BotAccount:
        """A new bot with a token of the real shape, ``ID:SECRET``. The secret is new each
        time: the bridge locks polls per token machine-wide, and two test runs on one
        machine must not share a lock."""
        bot_id = next(self._ids)
        token = f"{bot_id}:AA{username}-{bot_id:x}-{secrets.token_hex(8)}"
        with self._lock:
            bot = BotAccount(bot_id, username, token, bot_to_bot, privacy, next_update_id=(bot_id % 9000) * 1000)
            self.bots[token] = bot
        return bot

    def add_person(self, name: str) -> int:
        """A human account; returns its user id."""
        person = next(self._ids)
        self.people[person] = name
        return person

    def add_chat(self, title: str, kind: str = "supergroup", members: dict[int, str] | None = None) -> Chat:
        """A group or channel with the given members (id -> "admin" or "member"); its bots
        keep the Group Privacy they have now."""
        chat_id = -next(self._group_ids if kind == "group" else self._chat_ids)
        chat = Chat(chat_id, kind, title, dict(members or {}))
        chat.privacy = {b.id: b.privacy for b in self.bots.values() if b.id in chat.members}
        with self._lock:
            self.chats[chat.id] = chat
        return chat

    def add_member(self, chat: Chat, user: int, role: str = "member", *, by: int | None = None) -> dict[str, Any]:
        """``by`` (a person) adds ``user`` to ``chat``: the service message every bot in it
        gets, and, for a bot added, its ``my_chat_member`` update. A bot takes its current
        Group Privacy into this chat."""
        with self._lock:
            chat.members[user] = role
            account = self._account(user)
            if account is not None:
                chat.privacy[user] = account.privacy
                status = "administrator" if role == "admin" else "member"
                change = {
                    "chat": chat.as_json(),
                    "from": self._user(by if by is not None else user),
                    "date": int(self.clock()),
                    "old_chat_member": {"status": "left", "user": account.user()},
                    "new_chat_member": {**self._member(chat, user), "status": status},
                }
                self._queue(account, "my_chat_member", change)
            sender = self._user(by if by is not None else user)
            return self._post(chat, sender, {"new_chat_members": [self._user(user)]}, author=by or user, service=True)

    def remove_member(self, chat: Chat, user: int) -> None:
        """``user`` leaves ``chat`` (a bot added again takes its Group Privacy of then)."""
        with self._lock:
            chat.members.pop(user, None)
            chat.privacy.pop(user, None)

    def upgrade(self, group: Chat, by: int) -> Chat:
        """``by`` upgrades the basic group to a supergroup: a new chat id, the same members,
        and the two service messages Telegram sends (Client.cpp: messageChatUpgradeTo,
        messageChatUpgradeFrom)."""
        assert group.type == "group", "only a basic group is upgraded"
        new = Chat(-next(self._chat_ids), "supergroup", group.title, dict(group.members), privacy=dict(group.privacy))
        with self._lock:
            self.chats[new.id] = new
            group.migrated_to = new.id
            self._post(group, self._user(by), {"migrate_to_chat_id": new.id}, author=by, service=True)
            self._post(new, self._user(by), {"migrate_from_chat_id": group.id}, author=by, service=True)
        return new

    def private_chat(self, bot: BotAccount, person: int) -> Chat:
        """The private chat between a person and a bot. Its id is the person's id, as each
        bot sees it, so it is kept per bot."""
        chat = Chat(person, "private", self.people[person], {person: "member", bot.id: "member"})
        with self._lock:
            self.private[(bot.id, person)] = chat
        return chat

    def say(
        self, chat: Chat, person: int, text: str, *, reply_to: int | None = None, forwarded: bool = False
    ) -> dict[str, Any]:
        """A person posts ``text`` in ``chat``; it is delivered as Telegram would."""
        content: dict[str, Any] = {"text": text}
        if forwarded:
            content["forward_origin"] = {
                "type": "hidden_user",
                "date": int(self.clock()) - 60,
                "sender_user_name": "someone",
            }
        with self._lock:
            return self._post(chat, self._user(person), content, author=person, reply_to=reply_to)

    def bot_says(self, chat: Chat, bot: BotAccount, text: str) -> dict[str, Any]:
        """``bot``'s message lands in ``chat`` as its sendMessage would make it, with no
        HTTP call and no rate limit: the moment an update arrives, for latency benchmarks."""
        with self._lock:
            return self._post(chat, bot.user(), {"text": text}, author=bot.id)

    def say_as_chat(
        self, chat: Chat, sender_chat: Chat, text: str, *, automatic_forward: bool = False
    ) -> dict[str, Any]:
        """A message in the group ``chat`` sent on behalf of ``sender_chat``: the group itself
        (an anonymous admin), a channel (a member posting as it), or the linked channel's
        ``automatic_forward`` of its post. ``from`` is then Telegram's stand-in user, as
        ``create_message`` in the Bot API server's Client.cpp sets it."""
        if sender_chat is chat:
            stand_in = GROUP_ANONYMOUS_BOT
        else:
            stand_in = SERVICE_NOTIFICATIONS if automatic_forward else CHANNEL_BOT
        content: dict[str, Any] = {"text": text, "sender_chat": sender_chat.as_json()}
        if automatic_forward:
            content["is_automatic_forward"] = True
            content["forward_origin"] = {
                "type": "channel",
                "date": int(self.clock()),
                "chat": sender_chat.as_json(),
                "message_id": len(sender_chat.messages) + 1,
            }
        with self._lock:
            return self._post(chat, dict(stand_in), content, author=None)

    def fail(
        self, method: str, status: int, description: str = "", *, times: int = 1, retry_after: int | None = None
    ) -> None:
        """The next ``times`` calls of ``method`` (any bot) answer this error."""
        error = BotApiError(status, description or f"injected {status}", retry_after)
        with self._lock:
            self._faults.setdefault(method, []).extend([error] * times)

    # -- running ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """For ``telegram.Bot(token, base_url=...)``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``telegram.Bot(token, base_file_url=...)``."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    def start(self) -> None:
        """Serve from a thread of its own: on a free port, or again on the port of before."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            app = web.Application(client_max_size=MAX_UPLOAD + (1 << 20))  # the multipart's own bytes too
            app.router.add_route("*", "/bot{token}/{method}", self._handle)
            app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._file)
            # Stopping cuts every connection at once, waiting getUpdates calls included.
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.05)  # 0: no bound at all
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()

        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(serve(), self._loop)
        if not ready.wait(10):
            raise RuntimeError("the test Bot API server did not start")

    def stop(self) -> None:
        """Stop serving, cutting every connection; what the bots have queued is kept."""
        if self._loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        # and the calls whose client hung up before: aiohttp lets their handlers run on
        asyncio.run_coroutine_threadsafe(_cancel_the_rest(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = None

    # -- the HTTP side ---------------------------------------------------------------------

    async def _file(self, request: web.Request) -> web.Response:
        """A file's bytes, for the bot whose getFile gave its path."""
        bot = self.bots.get(request.match_info["token"])
        with self._lock:
            owner, unique = self.file_paths.get(request.match_info["path"], (None, ""))
            if bot is None or owner != bot.id:
                return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
            content = self.files[unique]
        return web.Response(body=content, content_type="application/octet-stream")

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if (request.content_length or 0) > MAX_UPLOAD + (1 << 20):  # what api.telegram.org's front refuses
            return web.json_response(
                {"ok": False, "error_code": 413, "description": "Request Entity Too Large"}, status=413
            )
        params = await _parameters(request)
        bot = self.bots.get(token)
        try:
            if bot is None:
                raise BotApiError(401, "Unauthorized")
            bot.calls.append(method)
            with self._lock:
                faults = self._faults.get(method)
                if faults:
                    raise faults.pop(0)
            if method == "getUpdates":
                result = await self._get_updates(bot, params)
            else:
                with self._lock:
                    result = self._call(bot, method, params)
        except BotApiError as error:
            self.refused.append((method, error.status))
            body: dict[str, Any] = {"ok": False, "error_code": error.status, "description": error.description}
            if error.retry_after is not None:
                body["parameters"] = {"retry_after": error.retry_after}
            if error.migrate_to is not None:
                body["parameters"] = {"migrate_to_chat_id": error.migrate_to}
            return web.json_response(body, status=error.status)
        return web.json_response({"ok": True, "result": result})

    def _call(self, bot: BotAccount, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {
                **bot.user(),
                "can_join_groups": True,
                "can_read_all_group_messages": not bot.privacy,
                "supports_inline_queries": False,
            }
        if method == "sendMessage":
            return self._send(bot, params)
        if method == "sendDocument":
            return self._send_document(bot, params)
        if method == "getFile":
            return self._get_file(bot, params)
        if method == "pinChatMessage":
            chat = self._visible_chat(bot, params)
            pinned = next((m for m in chat.messages if m["message_id"] == _int(params.get("message_id"))), None)
            if pinned is None:
                raise BotApiError(400, "Bad Request: message to pin not found")
            self._post(chat, bot.user(), {"pinned_message": pinned}, author=bot.id, service=True)
            return True
        if method == "setWebhook":
            bot.webhook = str(params.get("url", ""))
            return True
        if method == "deleteWebhook":
            bot.webhook = ""
            return True
        if method == "getWebhookInfo":
            return {"url": bot.webhook, "has_custom_certificate": False, "pending_update_count": len(bot.queue)}
        if method == "getChat":
            chat = self._visible_chat(bot, params)
            return {
                **chat.as_json(),
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": dict.fromkeys(_GIFT_KINDS, False),
            }
        if method == "getChatAdministrators":
            chat = self._visible_chat(bot, params)
            if chat.migrated_to is not None:  # Client.cpp, check_chat_access: ReadMembers needs write access
                raise BotApiError(
                    400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to=chat.migrated_to
                )
            if chat.type == "channel" and chat.members.get(bot.id) != "admin":
                raise BotApiError(400, "Bad Request: member list is inaccessible")
            bots = params.get("return_bots") is True  # by default Telegram leaves out every other bot
            return [
                self._member(chat, user)
                for user, role in chat.members.items()
                if role == "admin" and (bots or user == bot.id or not self._is_bot(user))
            ]
        raise BotApiError(404, "Not Found: method not found")

    def _visible_chat(self, bot: BotAccount, params: dict[str, Any]) -> Chat:
        """The chat a bot asks about: Telegram answers only a member (or the private chat's bot)."""
        chat_id = _int(params.get("chat_id"))
        chat = self.private.get((bot.id, chat_id)) or self.chats.get(chat_id)
        if chat is None or bot.id not in chat.members:
            raise BotApiError(400, "Bad Request: chat not found")
        return chat

    def _is_bot(self, user: int) -> bool:
        return self._account(user) is not None

    def _account(self, user: int) -> BotAccount | None:
        return next((b for b in self.bots.values() if b.id == user), None)

    def _user(self, user: int) -> dict[str, Any]:
        account = self._account(user)
        return account.user() if account else {"id": user, "is_bot": False, "first_name": self.people.get(user, "?")}

    def _member(self, chat: Chat, user: int) -> dict[str, Any]:
        who = self._user(user)
        if chat.members[user] != "admin":
            return {"status": "member", "user": who}
        rights = dict.fromkeys(_ADMIN_RIGHTS, False)
        return {
            "status": "administrator",
            "user": who,
            "can_be_edited": False,
            "is_anonymous": False,
            **rights,
            "can_post_messages": chat.type == "channel",
        }

    def _writable_chat(self, bot: BotAccount, params: dict[str, Any]) -> Chat:
        """The chat a bot posts to, as Telegram refuses one it may not post to."""
        chat_id = _int(params.get("chat_id"))
        chat = self.private.get((bot.id, chat_id)) or self.chats.get(chat_id)
        if chat is None:
            raise BotApiError(400, "Bad Request: chat not found")
        if chat.migrated_to is not None:  # as Client.cpp answers a write to an upgraded group
            raise BotApiError(
                400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to=chat.migrated_to
            )
        role = chat.members.get(bot.id)
        if role is None or (chat.type == "channel" and role != "admin"):
            raise BotApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        return chat

    def _send(self, bot: BotAccount, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._writable_chat(bot, params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BotApiError(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > MAX_TEXT:  # Telegram counts UTF-16 code units
            raise BotApiError(400, "Bad Request: message is too long")
        if self.rate_limits:
            self._rate_limit(bot, chat)
        reply_to = params.get("reply_to_message_id")
        reply = _int(reply_to) if reply_to is not None else None
        return self._post(chat, bot.user(), {"text": text}, author=bot.id, reply_to=reply)

    def _send_document(self, bot: BotAccount, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._writable_chat(bot, params)
        upload = params.get("document")
        if not isinstance(upload, web.FileField):
            raise BotApiError(400, "Bad Request: there is no document in the request")
        content = upload.file.read()
        if len(content) > MAX_UPLOAD:
            raise BotApiError(413, "Request Entity Too Large")
        if not content:
            raise BotApiError(400, "Bad Request: file must be non-empty")
        caption = params.get("caption")
        if caption is not None and len(str(caption)) > MAX_CAPTION:
            raise BotApiError(400, "Bad Request: message caption is too long")
        if self.rate_limits:
            self._rate_limit(bot, chat)
        unique = f"AgAD{secrets.token_urlsafe(9)}"
        self.files[unique] = content
        document = {
            "file_name": upload.filename or "document",
            "mime_type": upload.content_type or "application/octet-stream",
            "file_unique_id": unique,
            "file_size": len(content),
        }
        body: dict[str, Any] = {"document": document}
        if caption:
            body["caption"] = str(caption)
        message = self._post(chat, bot.user(), body, author=bot.id)
        return self._as_seen_by(bot, message)

    def _get_file(self, bot: BotAccount, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id") or "")
        if not file_id:
            raise BotApiError(400, "Bad Request: file_id not specified")
        owner, unique = self.file_ids.get(file_id, (None, ""))
        if owner is None:
            raise BotApiError(400, "Bad Request: invalid file_id")
        if owner != bot.id:
            raise BotApiError(400, "Bad Request: wrong file_id or the file is temporarily unavailable")
        size = len(self.files[unique])
        if size > MAX_DOWNLOAD:
            raise BotApiError(400, "Bad Request: file is too big")
        path = next((p for p, held in self.file_paths.items() if held == (bot.id, unique)), None)
        if path is None:
            path = f"documents/file_{len(self.file_paths)}.bin"
            self.file_paths[path] = (bot.id, unique)
        return {"file_id": file_id, "file_unique_id": unique, "file_size": size, "file_path": path}

    def file_id(self, bot: BotAccount, unique: str) -> str:
        """``bot``'s own id for the file ``unique`` (each bot has its own, as on Telegram)."""
        found = next((f for f, held in self.file_ids.items() if held == (bot.id, unique)), None)
        if found is None:
            found = f"BQACAgIAAx{secrets.token_urlsafe(51)}"
            self.file_ids[found] = (bot.id, unique)
        return found

    def _as_seen_by(self, bot: BotAccount, message: dict[str, Any]) -> dict[str, Any]:
        """``message`` as ``bot`` gets it: a document under the bot's own file_id."""
        document = message.get("document")
        if not isinstance(document, dict):
            return message
        return {**message, "document": {**document, "file_id": self.file_id(bot, document["file_unique_id"])}}

    def _rate_limit(self, bot: BotAccount, chat: Chat) -> None:
        now = self.clock()
        sent = [t for t in chat.sends.get(bot.id, []) if t > now - 60]
        chat.sends[bot.id] = sent
        waits = []
        if sent and sent[-1] > now - 1:
            waits.append(sent[-1] + 1 - now)
        if chat.type in ("group", "supergroup") and len(sent) >= 20:
            waits.append(sent[-20] + 60 - now)
        if waits:
            raise BotApiError(429, "Too Many Requests: retry later", retry_after=max(1, math.ceil(max(waits))))
        sent.append(now)

    def _post(
        self,
        chat: Chat,
        sender: dict[str, Any],
        content: dict[str, Any],
        *,
        author: int | None,
        reply_to: int | None = None,
        service: bool = False,
    ) -> dict[str, Any]:
        """Store a message and make each bot's update for it. ``sender`` is what ``from``
        shows; ``author`` who really wrote it (None: a chat), which decides who sees it."""
        message: dict[str, Any] = {
            "message_id": len(chat.messages) + 1,
            "date": int(self.clock()),
            "chat": chat.as_json(),
        }
        if chat.type != "channel":
            message["from"] = sender
        else:  # a channel post names the channel, never a user (Client.cpp, create_message)
            message["sender_chat"] = chat.as_json()
        message.update(content)
        if reply_to is not None:
            replied = next((m for m in chat.messages if m["message_id"] == reply_to), None)
            if replied is not None:
                message["reply_to_message"] = replied
        chat.messages.append(message)
        kind = "channel_post" if chat.type == "channel" else "message"
        for bot in self.bots.values():
            if bot.id in chat.members and self._sees(bot, chat, author, message, service):
                self._queue(bot, kind, message)
        return message

    def _queue(self, bot: BotAccount, kind: str, payload: dict[str, Any]) -> None:
        """Make an update, if its kind is allowed now: Client.cpp's add_update_impl drops
        one that is not, before it takes an update id."""
        if not bot.allows(kind):
            return
        now = self.clock()
        if bot.last_update_at is not None and now - bot.last_update_at >= RESTART_AFTER:
            bot.next_update_id = bot.restart_id if bot.restart_id is not None else random.randint(*_RESTART_IDS)
        bot.last_update_at = now
        bot.queue.append((now, {"update_id": bot.next_update_id, kind: self._as_seen_by(bot, payload)}))
        bot.next_update_id += 1
        self._wake(bot)

    def _wake(self, bot: BotAccount) -> None:
        """Wake the getUpdates call waiting for ``bot``, if any (from whichever thread)."""
        waiting, bot.waiting = bot.waiting, []
        for wake in waiting:
            wake()

    def _sees(self, bot: BotAccount, chat: Chat, author: int | None, message: dict[str, Any], service: bool) -> bool:
        admin = chat.members.get(bot.id) == "admin"
        if chat.type == "channel":
            return admin and author != bot.id and (not self._is_bot(author or 0) or bot.bot_to_bot)
        if service:
            return author != bot.id or "pinned_message" in message  # its own pin too
        if author == bot.id:
            return False  # never its own posts
        if chat.type == "private":
            return True
        text = message.get("text", "")
        addressed = text.startswith("/") and text.split(maxsplit=1)[0].endswith(f"@{bot.username}")
        addressed = addressed or message.get("reply_to_message", {}).get("from", {}).get("id") == bot.id
        privacy = chat.privacy.get(bot.id, bot.privacy)  # as it was when the bot was added
        if author is not None and self._is_bot(author):
            return bot.bot_to_bot and ((admin and not privacy) or addressed)
        return admin or not privacy or addressed

    async def _get_updates(self, bot: BotAccount, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self._lock:
            if bot.webhook:
                raise BotApiError(409, "Conflict: can't use getUpdates method while webhook is active")
            self._allow(bot, params)
            offset = _int(params.get("offset") or 0)
            limit = min(max(_int(params.get("limit") or 100), 1), 100)
            timeout = min(max(float(params.get("timeout") or 0), 0), 50)  # Client.h: LONG_POLL_MAX_TIMEOUT
            bot.timeouts.append(timeout)
            now = self.clock()
            # Client.cpp, process_get_updates_query: the same offset again soon is slowed down
            last_offset, last_start = bot.previous_poll
            if offset == last_offset and timeout < 3 and now < last_start + 3:
                timeout = 3
            if offset == last_offset and now < last_start + 0.5:
                limit = 1
            bot.previous_poll = (offset, now)
            found = self._take(bot, offset, limit)
            if found or not timeout:
                return found  # answered at once: a call waiting elsewhere goes on waiting
            bot.polls += 1  # this one waits: the older one still waiting ends (abort_long_poll)
            mine = bot.polls
            self._wake(bot)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            woken = asyncio.Event()
            with self._lock:
                if bot.polls != mine:
                    raise BotApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that "
                        "only one bot instance is running",
                    )
                found = self._take(bot, offset, limit)
                if found or loop.time() >= deadline:
                    return found
                wake = functools.partial(loop.call_soon_threadsafe, woken.set)
                bot.waiting.append(wake)
            # Woken by an update or a newer call; else a look now and then, as the server's
            # clock may move (advance) and expire what is queued.
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), min(deadline - loop.time(), 0.5))
            finally:  # a call cut off (the server stopped) must not be woken on a closed loop
                with self._lock:
                    if wake in bot.waiting:
                        bot.waiting.remove(wake)
            if woken.is_set():
                await asyncio.sleep(_WAIT_AFTER)  # the rest of a burst, in this answer

    def _allow(self, bot: BotAccount, params: dict[str, Any]) -> None:
        """``allowed_updates`` given: kept for the updates made from now on (an empty list
        means Telegram's default again, as get_allowed_update_types reads it)."""
        wanted = params.get("allowed_updates")
        if isinstance(wanted, list):
            bot.allowed_updates = [str(k) for k in wanted] or None

    def _take(self, bot: BotAccount, offset: int, limit: int) -> list[dict[str, Any]]:
        now = self.clock()
        bot.queue = [(at, u) for at, u in bot.queue if at > now - UPDATE_TTL]  # 24 hours, then gone
        head = bot.queue[0][1]["update_id"] if bot.queue else bot.next_update_id
        if offset < 0:
            bot.queue = bot.queue[offset:]  # the last -offset; all before them are forgotten
        elif head - _PAST <= offset <= bot.next_update_id + _FUTURE:  # else: from the head, confirming nothing
            bot.queue = [(at, u) for at, u in bot.queue if u["update_id"] >= offset]
        return [u for _, u in bot.queue][:limit]


async def _cancel_the_rest() -> None:
    rest = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


async def _parameters(request: web.Request) -> dict[str, Any]:
    """The call's parameters, decoded as python-telegram-bot sends them: strings raw,
    everything else JSON."""
    raw: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            raw.update(await request.json())
        else:
            raw.update((await request.post()).items())  # a file's part as aiohttp's FileField
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _RAW_PARAMETERS or not isinstance(value, str):
            params[key] = value
            continue
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BotApiError(400, f"Bad Request: {value!r} is not a number") from None


_names = itertools.count()


def telegram_group(server: BotApiServer, members: int = 2) -> tuple[list[CarrierConfig], Callable[[str], None]]:
    """A fresh supergroup on ``server`` with ``members`` bots set up as the README says
    (admin, privacy off, Bot-to-Bot mode on), each bot's carrier config (token in an
    environment variable), and a way for a person in the group to post text."""
    person = server.add_person("Pat")
    bots = [
        server.add_bot(f"pb{next(_names)}_{os.getpid()}_bot", bot_to_bot=True, privacy=False) for _ in range(members)
    ]
    group = server.add_chat("pointers", members={person: "member", **{b.id: "admin" for b in bots}})
    configs = []
    for bot in bots:
        variable = f"PBRIDGE_TEST_TELEGRAM_{bot.username.upper()}"
        os.environ[variable] = bot.token
        configs.append(
            CarrierConfig.model_validate(
                {
                    "type": "telegram",
                    "token_env": variable,
                    "chat_id": group.id,
                    "base_url": server.base_url,
                    "base_file_url": server.base_file_url,
                    "post_interval": 0,
                    "max_pointer_chars": 2000,
                }
            )
        )

    def say(text: str) -> None:
        server.say(group, person, text)

    return configs, say
