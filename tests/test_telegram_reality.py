"""The Telegram carrier where Telegram behaves as its Bot API server's sources say, not as a
kind test server would (issue 17, item 20): senders that are chats, service messages, a
group upgraded to a supergroup, Group Privacy as of joining, channels, and another
program polling the same bot."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import telegram
from helpers import raw_chat, raw_identity
from pointerbridge.bridges.base import Bridge, PollResult, RetryableError, bridge_class
from pointerbridge.core import seal
from servers.telegram import BotAccount, BotApiServer, Chat

ROOT = Path(__file__).resolve().parent.parent


def _bridge(server: BotApiServer, bot: BotAccount, chat_id: int, **changes: Any) -> Bridge:
    variable = f"PBRIDGE_TEST_TG_REAL_{bot.id}"
    os.environ[variable] = bot.token
    settings = {"token_env": variable, "chat_id": chat_id, "base_url": server.base_url, "post_interval": 0}
    return bridge_class("telegram").from_config("tg", {**settings, **changes})


def _poll(server: BotApiServer, bot: BotAccount, chat_id: int, cursor: str | None) -> PollResult:
    server.advance(5)  # a cron run later: the real server slows the same offset asked again within 3 s
    bridge = _bridge(server, bot, chat_id)
    try:
        return bridge.poll(cursor)
    finally:
        bridge.close()


def _findings(server: BotApiServer, bot: BotAccount, chat_id: int, cursor: str | None) -> dict[str, tuple[str, str]]:
    bridge = _bridge(server, bot, chat_id)
    try:
        return {f.check: (f.status, f.detail) for f in bridge.diagnose(cursor)}
    finally:
        bridge.close()


def _post(server: BotApiServer, bot: BotAccount, chat_id: int, text: str) -> None:
    async def send() -> None:
        async with telegram.Bot(bot.token, base_url=server.base_url) as api:
            await api.send_message(chat_id, text)

    asyncio.run(send())
    server.advance(2)  # one message a second per chat


def _pointer(body: str) -> str:
    return seal(raw_chat("real"), raw_identity("alice"), body)[0]


def test_anonymous_admins_channels_and_service_posts_are_no_members_bot(bot_api: BotApiServer) -> None:
    """``from`` of an anonymous admin's message is GroupAnonymousBot, of one sent as a
    channel Channel_Bot (both bots), of a linked channel's forward 777000: none of them is
    a member's bot, so none is a catch-up request or evidence of Bot-to-Bot mode. Nor is
    a bot that is no admin of the group, nor a member bot's pin (a service message every
    bot gets), nor this bot's own pin."""
    reader = bot_api.add_bot("strict_reader_bot", bot_to_bot=True, privacy=False)
    member = bot_api.add_bot("member_poster_bot", bot_to_bot=True, privacy=False)
    stranger = bot_api.add_bot("stranger_bot", bot_to_bot=True, privacy=False)
    person = bot_api.add_person("Ann")
    group = bot_api.add_chat(
        "circle", members={person: "admin", reader.id: "admin", member.id: "admin", stranger.id: "member"}
    )
    channel = bot_api.add_chat("linked", kind="channel", members={person: "admin"})
    request = f"pbcatchup1 {int(time.time()) - 3600}"
    bot_api.say_as_chat(group, group, request)  # an anonymous admin
    bot_api.say_as_chat(group, channel, request)  # a member posting as a channel
    bot_api.say_as_chat(group, channel, request, automatic_forward=True)  # the linked channel's forward
    _post(bot_api, stranger, group.id, request)  # a bot, but no member's: not an admin here
    cursor = None
    for _ in range(3):
        result = _poll(bot_api, reader, group.id, cursor)
        assert result.repost_since == [] and result.pointers == []
        cursor = result.cursor
    assert "peers_seen_at" not in json.loads(cursor)
    bot_to_bot = _findings(bot_api, reader, group.id, cursor)["bot-to-bot"]
    assert bot_to_bot[0] == "warn" and "@member_poster_bot" in bot_to_bot[1]  # not "ok": nothing proves it

    deaf = bot_api.add_bot("deaf_reader_bot", privacy=False)  # Bot-to-Bot mode off: sees no bot's post
    bot_api.add_member(group, deaf.id, "admin", by=person)  # the join: a service message
    _post(bot_api, member, group.id, "a post to pin")
    _pin(bot_api, member, group)  # service messages reach every bot: the deaf one gets both pins
    _pin(bot_api, deaf, group)
    deaf_poll = _poll(bot_api, deaf, group.id, None)
    assert deaf_poll.pointers == [] and "peers_seen_at" not in json.loads(deaf_poll.cursor)

    _post(bot_api, member, group.id, request)  # the member's bot itself: a request, answered
    answered = _poll(bot_api, reader, group.id, cursor)
    assert len(answered.repost_since) == 1 and "peers_seen_at" in json.loads(answered.cursor)


def _pin(server: BotApiServer, bot: BotAccount, chat: Chat) -> None:
    """``bot`` pins the chat's last message."""

    async def pin() -> None:
        async with telegram.Bot(bot.token, base_url=server.base_url) as api:
            await api.pin_chat_message(chat.id, chat.messages[-1]["message_id"])

    asyncio.run(pin())


def test_a_group_upgraded_to_a_supergroup_is_read_under_its_new_id(bot_api: BotApiServer) -> None:
    """The upgrade's service messages (migrate_to_chat_id in the old group,
    migrate_from_chat_id in the new) move the reading to the new id; before, every message
    there was dropped, and confirmed away."""
    reader = bot_api.add_bot("migrating_reader_bot", bot_to_bot=True, privacy=False)
    poster = bot_api.add_bot("migrating_poster_bot", bot_to_bot=True, privacy=False)
    person = bot_api.add_person("Mia")
    group = bot_api.add_chat("small", kind="group", members={person: "admin", reader.id: "admin", poster.id: "admin"})
    before = _pointer("before")
    bot_api.say(group, person, before)
    first = _poll(bot_api, reader, group.id, None)
    assert [p.text for p in first.pointers] == [before] and first.notes == []
    supergroup = bot_api.upgrade(group, by=person)
    assert supergroup.id != group.id
    by_person, by_bot = _pointer("by a person"), _pointer("by a member's bot")
    bot_api.say(supergroup, person, by_person)
    _post(bot_api, poster, supergroup.id, by_bot)
    after = _poll(bot_api, reader, group.id, first.cursor)
    assert [p.text for p in after.pointers] == [by_person, by_bot]
    assert after.notes == [
        f"chat {group.id} became the supergroup {supergroup.id}: set chat_id = {supergroup.id} for this "
        "carrier (this poll read both; posts to the old id fail)"
    ]
    later = _pointer("later")  # no service message in this batch: the cursor remembers the new id
    bot_api.say(supergroup, person, later)
    assert [p.text for p in _poll(bot_api, reader, group.id, after.cursor).pointers] == [later]
    assert "peers_seen_at" in json.loads(after.cursor)
    status, detail = _findings(bot_api, reader, group.id, after.cursor)["chat"]
    assert status == "fail" and f"set chat_id = {supergroup.id}" in detail
    moved = _poll(bot_api, reader, supergroup.id, after.cursor)  # the user set the new id
    assert moved.notes == [] and "chat" not in _findings(bot_api, reader, supergroup.id, moved.cursor)


def test_a_privacy_change_applies_only_once_the_bot_is_added_again(bot_api: BotApiServer) -> None:
    """A group keeps the Group Privacy a bot had when it was added: doctor says that a
    BotFather change needs the bot removed and added again, not that privacy is off here."""
    late = bot_api.add_bot("late_privacy_bot", bot_to_bot=True)  # added with privacy on
    talker = bot_api.add_bot("privacy_talker_bot", bot_to_bot=True, privacy=False)
    person = bot_api.add_person("Pia")
    group = bot_api.add_chat("p", members={person: "admin", late.id: "admin", talker.id: "admin"})
    late.privacy = False  # @BotFather /setprivacy -> Disable, without re-adding the bot
    cursor = None
    for i in range(3):
        _post(bot_api, talker, group.id, _pointer(f"unseen {i}"))
        result = _poll(bot_api, late, group.id, cursor)
        assert result.pointers == []  # the group still applies privacy on
        cursor = result.cursor
    found = _findings(bot_api, late, group.id, cursor)
    status, detail = found["privacy"]
    assert status == "ok" and "Group Privacy is off at @BotFather for @late_privacy_bot" in detail
    assert "remove @late_privacy_bot from the group and add it again" in detail
    status, detail = found["bot-to-bot"]
    assert status == "warn" and "remove @late_privacy_bot from the group and add it again" in detail

    bot_api.remove_member(group, late.id)
    bot_api.add_member(group, late.id, "admin", by=person)  # re-added: privacy off applies now
    seen = _pointer("seen")
    _post(bot_api, talker, group.id, seen)
    result = _poll(bot_api, late, group.id, cursor)
    assert [p.text for p in result.pointers] == [seen]
    assert "privacy" not in _findings(bot_api, late, group.id, result.cursor)

    late.privacy = True  # on again at BotFather: this group still applies off until a re-add
    status, detail = _findings(bot_api, late, group.id, result.cursor)["privacy"]
    assert status == "warn" and "this group still applies the setting" in detail


def test_in_a_channel_no_catch_up_request_is_ever_taken_and_the_readme_says_channels_are_unverified(
    bot_api: BotApiServer,
) -> None:
    """A channel post has no ``from``: no request there can be told from a member's bot's."""
    reader = bot_api.add_bot("channel_strict_bot", bot_to_bot=True, privacy=False)
    poster = bot_api.add_bot("channel_asker_bot", bot_to_bot=True, privacy=False)
    channel = bot_api.add_chat("news", kind="channel", members={reader.id: "admin", poster.id: "admin"})
    _post(bot_api, poster, channel.id, f"pbcatchup1 {int(time.time()) - 3600}")
    assert _poll(bot_api, reader, channel.id, None).repost_since == []
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "Channels are unverified" in readme and "a catch-up request can never be taken in a channel" in readme


def test_another_program_polling_the_bot_is_reported(bot_api: BotApiServer) -> None:
    """Telegram serves a one-shot getUpdates even while another program polls the same bot
    (that program, not this one, may get the 409), so updates it confirms are gone without
    an error: the gap in update ids tells, and the poll and doctor say so."""
    bot = bot_api.add_bot("shared_token_bot", bot_to_bot=True, privacy=False)
    person = bot_api.add_person("Ola")
    group = bot_api.add_chat("g", members={person: "admin", bot.id: "admin"})
    bot_api.say(group, person, "hello")  # the poll's offset comes from an update it has read
    cursor = _poll(bot_api, bot, group.id, None).cursor
    for i in range(2):
        bot_api.say(group, person, _pointer(f"taken {i}"))

    async def other_program() -> None:  # e.g. a second home with the same token, on another machine
        async with telegram.Bot(bot.token, base_url=bot_api.base_url) as api:
            updates = await api.get_updates(timeout=0)
            await api.get_updates(offset=updates[-1].update_id + 1, timeout=0)  # confirms both

    bot_api.advance(5)
    asyncio.run(other_program())
    kept = _pointer("kept")
    bot_api.say(group, person, kept)
    result = _poll(bot_api, bot, group.id, cursor)
    assert [p.text for p in result.pointers] == [kept]
    assert len(result.notes) == 1 and result.notes[0].startswith("2 update(s) sent to this bot since the last poll")
    assert "another program polls this bot" in result.notes[0]
    status, detail = _findings(bot_api, bot, group.id, result.cursor)["other poller"]
    assert status == "fail" and "2 update(s) taken" in detail
    assert _poll(bot_api, bot, group.id, result.cursor).notes == []  # no gap now: nothing new to say


@pytest.mark.parametrize("restart", [+5000, -3], ids=["above the old offset", "just below it"])
def test_a_quiet_week_restarts_update_ids_with_no_false_gap_and_no_lost_update(
    bot_api: BotApiServer, restart: int
) -> None:
    """After a week without updates Telegram picks the next update id at random (Bot API
    docs, Update.update_id). A chat polled often but quiet kept its old offset: ids far
    above it were reported as taken by another program (and doctor failed for a day); ids
    just below it were confirmed away unread (tdlib's TQueue::get forgets ids below an
    offset within 10 of the queue's tail). The poll now asks without the old offset."""
    bot = bot_api.add_bot(f"quiet_week_{restart + 10}_bot", bot_to_bot=True, privacy=False)
    person = bot_api.add_person("Quinn")
    group = bot_api.add_chat("quiet", members={person: "admin", bot.id: "admin"})
    bot_api.say(group, person, "hello")
    state = json.loads(_poll(bot_api, bot, group.id, None).cursor)
    now = time.time()  # then a quiet week, the bot polling every hour: the last poll an hour ago
    cursor = json.dumps({**state, "updates_at": now - 8 * 86400, "polled_at": now - 3600})
    bot_api.advance(8 * 86400)
    bot.restart_id = state["offset"] + restart
    sent = [_pointer(f"after a quiet week {i}") for i in range(4)]
    for pointer in sent:
        bot_api.say(group, person, pointer)
    result = _poll(bot_api, bot, group.id, cursor)
    assert [p.text for p in result.pointers] == sent and result.notes == []
    assert json.loads(result.cursor)["offset"] == state["offset"] + restart + 4
    assert "other poller" not in _findings(bot_api, bot, group.id, result.cursor)
    later = _pointer("the next day")
    bot_api.say(group, person, later)
    again = _poll(bot_api, bot, group.id, result.cursor)  # the new offset now: consecutive again
    assert [p.text for p in again.pointers] == [later] and again.notes == []


def test_a_members_bot_post_in_an_upgraded_groups_old_id_is_read(bot_api: BotApiServer) -> None:
    """getChatAdministrators of an upgraded basic group's old id answers 400 with
    migrate_to_chat_id (Client.cpp, check_chat_access): a member's bot's post there,
    read after the upgrade, failed every poll until Telegram dropped the batch. The new
    supergroup's admins are asked instead: the pointer is stored, the request taken."""
    reader = bot_api.add_bot("old_id_reader_bot", bot_to_bot=True, privacy=False)
    poster = bot_api.add_bot("old_id_poster_bot", bot_to_bot=True, privacy=False)
    person = bot_api.add_person("Olga")
    group = bot_api.add_chat("basic", kind="group", members={person: "admin", reader.id: "admin", poster.id: "admin"})
    pointer, since = _pointer("before the upgrade"), int(time.time()) - 3600
    _post(bot_api, poster, group.id, pointer)
    _post(bot_api, poster, group.id, f"pbcatchup1 {since}")
    supergroup = bot_api.upgrade(group, by=person)
    result = _poll(bot_api, reader, group.id, None)
    assert [p.text for p in result.pointers] == [pointer]
    assert [s for s, _ in result.repost_since] == [since]
    assert len(result.notes) == 1 and f"set chat_id = {supergroup.id}" in result.notes[0]
    assert "peers_seen_at" in json.loads(result.cursor)
    assert _poll(bot_api, reader, group.id, result.cursor).pointers == []  # confirmed


@pytest.mark.parametrize(
    ("status", "description", "retry_after"),
    [(400, "Bad Request: chat not found", None), (502, "Bad Gateway", None), (429, "Too Many Requests", 60)],
)
def test_an_admin_list_refused_never_blocks_the_poll_and_a_passing_error_loses_nothing(
    bot_api: BotApiServer, status: int, description: str, retry_after: int | None
) -> None:
    """A refusal that will not pass (400, 403): the chat's bots are no known members in
    this batch, said in a note; their pointers are stored and the offset confirmed, and a
    catch-up request from them is not taken. A 429 past the run's budget or a network
    error fails the poll without confirming: the next one reads the batch again."""
    reader = bot_api.add_bot(f"admin_list_{status}_bot", bot_to_bot=True, privacy=False)
    poster = bot_api.add_bot(f"admin_list_poster_{status}_bot", bot_to_bot=True, privacy=False)
    person = bot_api.add_person("Ada")
    group = bot_api.add_chat("g", members={person: "admin", reader.id: "admin", poster.id: "admin"})
    pointer, since = _pointer("while the list fails"), int(time.time()) - 3600
    _post(bot_api, poster, group.id, pointer)
    _post(bot_api, poster, group.id, f"pbcatchup1 {since}")
    bot_api.fail("getChatAdministrators", status, description, retry_after=retry_after)
    if status == 400:
        result = _poll(bot_api, reader, group.id, None)
        assert [p.text for p in result.pointers] == [pointer] and result.repost_since == []
        assert len(result.notes) == 1 and "would not list its admins (Chat not found)" in result.notes[0]
        assert _poll(bot_api, reader, group.id, result.cursor).pointers == []  # confirmed
        return
    with pytest.raises(RetryableError):
        _poll(bot_api, reader, group.id, None)
    result = _poll(bot_api, reader, group.id, None)  # nothing was confirmed: all read again
    assert [p.text for p in result.pointers] == [pointer] and result.notes == []
    assert [s for s, _ in result.repost_since] == [since]
