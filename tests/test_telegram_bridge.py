"""The Telegram carrier's own promises, beyond the contract suite, against the test Bot API
server with Telegram's rate limits on."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import raw_chat, raw_identity
from pointerbridge.app.service import App
from pointerbridge.bridges.base import Bridge, ConfigurationError, RetryableError, bridge_class
from pointerbridge.core import seal
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from servers.telegram import BotAccount, BotApiServer, Chat
from test_cli import initialised_home, run


def _settings(server: BotApiServer, bot: BotAccount, chat: Chat, **changes: Any) -> dict[str, Any]:
    variable = f"PBRIDGE_TEST_TG_{bot.id}"
    os.environ[variable] = bot.token
    return {
        "token_env": variable,
        "chat_id": chat.id,
        "base_url": server.base_url,
        "base_file_url": server.base_file_url,
        **changes,
    }


def _bridge(server: BotApiServer, bot: BotAccount, chat: Chat, **changes: Any) -> Bridge:
    return bridge_class("telegram").from_config("tg", _settings(server, bot, chat, **changes))


def _group(server: BotApiServer, *bots: BotAccount) -> tuple[Chat, int]:
    person = server.add_person("Pat")
    return server.add_chat("circle", members={person: "member", **{b.id: "admin" for b in bots}}), person


def test_a_poll_takes_batches_until_the_queue_is_empty(bot_api: BotApiServer, tmp_path: Path) -> None:
    bot = bot_api.add_bot("reader_bot", bot_to_bot=True, privacy=False)
    group, person = _group(bot_api, bot)
    pointers = [p for i in range(250) for p in seal(raw_chat("batches"), raw_identity("alice"), f"m{i}")]
    for pointer in pointers:
        bot_api.say(group, person, pointer)
    home = Home(tmp_path, tmp_path)
    home.create()
    save_config(
        home.config_path,
        Config(carriers={"tg": CarrierConfig.model_validate({"type": "telegram", **_settings(bot_api, bot, group)})}),
    )
    with App(home) as app:
        assert app.poll().received == {"tg": 250}  # three getUpdates of at most 100, each stored first
        assert app.poll().received == {"tg": 0}
        stored = [text for (text,) in app.store._db.execute("SELECT text FROM pointers ORDER BY id")]
    assert stored == pointers
    assert bot.calls.count("getUpdates") == 3 + 1  # 100, 100, 50; the next run's confirms the last 50


def test_only_the_configured_chat_and_the_owners_private_messages_count(bot_api: BotApiServer) -> None:
    bot = bot_api.add_bot("picky_bot", bot_to_bot=True, privacy=False)
    group, person = _group(bot_api, bot)
    other, _ = _group(bot_api, bot)
    stranger = bot_api.add_person("Stranger")
    one, two, three, four = (seal(raw_chat("c"), raw_identity("a"), f"m{i}")[0] for i in range(4))
    bot_api.say(group, person, f"here: {one}")
    bot_api.say(other, person, two)  # another group the bot is in
    bot_api.say(bot_api.private_chat(bot, person), person, three, forwarded=True)  # the owner forwards
    bot_api.say(bot_api.private_chat(bot, stranger), stranger, four)
    bridge = _bridge(bot_api, bot, group, private_from=[person])
    try:
        assert [r.text for r in bridge.poll(None).pointers] == [one, three]
    finally:
        bridge.close()


def test_a_bot_without_bot_to_bot_mode_sees_no_other_bot(bot_api: BotApiServer) -> None:
    alice = bot_api.add_bot("alice_bot", bot_to_bot=True, privacy=False)
    deaf = bot_api.add_bot("deaf_bot", privacy=False)
    group, _ = _group(bot_api, alice, deaf)
    sender, reader = _bridge(bot_api, alice, group), _bridge(bot_api, deaf, group)
    try:
        sender.post(seal(raw_chat("c"), raw_identity("a"), "hello")[0])
        assert reader.poll(None).pointers == []
    finally:
        sender.close()
        reader.close()


def test_rate_limits_are_honoured_within_a_bound(bot_api: BotApiServer) -> None:
    bot = bot_api.add_bot("paced_bot")
    group, _ = _group(bot_api, bot)
    patient, hasty = _bridge(bot_api, bot, group), _bridge(bot_api, bot, group, max_retry_wait=0)
    pointers = [seal(raw_chat("c"), raw_identity("a"), f"m{i}")[0] for i in range(3)]
    try:
        patient.post(pointers[0])
        started = time.monotonic()
        patient.post(pointers[1])  # within a second of the first: 429 retry_after 1, waited out
        assert 0.9 < time.monotonic() - started < 5
        with pytest.raises(RetryableError, match="rate limited") as refused:
            hasty.post(pointers[2])
        assert refused.value.retry_after == 1
    finally:
        patient.close()
        hasty.close()
    assert len(group.messages) == 2


def test_conflicts_and_bad_tokens_are_configuration_errors_that_never_show_the_token(
    bot_api: BotApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    bot = bot_api.add_bot("conflict_bot")
    group, _ = _group(bot_api, bot)
    bridge = _bridge(bot_api, bot, group)
    bot_api.fail("getUpdates", 409, "Conflict: terminated by other getUpdates request")
    with pytest.raises(ConfigurationError, match="another program polls this bot"):
        bridge.poll(None)
    wrong = bridge_class("telegram").from_config("tg", _settings(bot_api, bot, group, token_env="PBRIDGE_TEST_TG_BAD"))
    os.environ["PBRIDGE_TEST_TG_BAD"] = "12345:not-a-real-token"
    with pytest.raises(ConfigurationError, match="refused the bot token") as refused:
        wrong.poll(None)
    assert "not-a-real-token" not in str(refused.value) and bot.token not in capsys.readouterr().err
    bot_api.fail("sendMessage", 502, "Bad Gateway")
    with pytest.raises(RetryableError, match=r"unreachable|error"):
        bridge.post(seal(raw_chat("c"), raw_identity("a"), "x")[0])
    bridge.close()
    wrong.close()


def test_a_second_poll_of_one_bot_on_this_machine_waits_its_turn(bot_api: BotApiServer) -> None:
    bot = bot_api.add_bot("locked_bot")
    group, _ = _group(bot_api, bot)
    digest = hashlib.sha256(bot.token.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"pointerbridge-telegram-{os.getuid()}-{digest}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another poll holds it
        with pytest.raises(RetryableError, match="another poll of this bot"):
            _bridge(bot_api, bot, group).poll(None)
        assert "getUpdates" not in bot.calls
    finally:
        os.close(fd)


@pytest.mark.parametrize(("hours", "note"), [(1, None), (21, "after 24 h"), (25, "asked the other members")])
def test_a_gap_near_or_past_telegrams_24_hours_is_noted(bot_api: BotApiServer, hours: int, note: str | None) -> None:
    bot = bot_api.add_bot("gap_bot")
    group, _ = _group(bot_api, bot)
    bridge = _bridge(bot_api, bot, group)
    cursor = json.dumps({"offset": None, "polled_at": time.time() - hours * 3600})
    notes = bridge.poll(cursor).notes
    bridge.close()
    assert (note is None and notes == []) or (note is not None and len(notes) == 1 and note in notes[0])


def test_carrier_add_checks_the_token_and_says_what_only_the_user_can_do(bot_api: BotApiServer, tmp_path: Path) -> None:
    bot = bot_api.add_bot("added_bot")
    group, _ = _group(bot_api, bot)
    initialised_home(tmp_path, carrier=False)  # only init makes a home (issue 17, item 2)
    env = {"PBRIDGE_TEST_TG_ADD": bot.token}
    args = [
        "--home",
        str(tmp_path),
        "carrier",
        "add",
        "tg",
        "--type",
        "telegram",
        "--set",
        f"chat_id={group.id}",
        "--set",
        "token_env=PBRIDGE_TEST_TG_ADD",
        "--set",
        f"base_url={bot_api.base_url}",
    ]
    added = run(*args, env=env)
    assert added.returncode == 0, added
    assert "bot @added_bot" in added.stdout and "Bot-to-Bot" in added.stdout and "admin" in added.stdout
    assert bot.token not in added.stdout + added.stderr
    wrong = [a.replace("PBRIDGE_TEST_TG_ADD", "PBRIDGE_TEST_TG_WRONG") for a in args[5:]]
    refused = run(
        *args[:4], "tg2", *wrong, env={"PBRIDGE_TEST_TG_ADD": bot.token, "PBRIDGE_TEST_TG_WRONG": "999:wrong"}
    )
    assert refused.returncode == 24 and "refused the bot token" in refused.stderr and "999:wrong" not in refused.stderr
    assert "tg2" not in (tmp_path / "config.toml").read_text()


def test_a_member_offline_past_24_hours_gets_the_pointers_posted_again(tmp_path: Path) -> None:
    server = BotApiServer(rate_limits=False)  # pacing is another test's subject
    server.start()
    try:
        alice_bot = server.add_bot("alice_cu_bot", bot_to_bot=True, privacy=False)
        bob_bot = server.add_bot("bob_cu_bot", bot_to_bot=True, privacy=False)
        group, person = _group(server, alice_bot, bob_bot)
        apps = {}
        for user, bot in (("alice", alice_bot), ("bob", bob_bot)):
            home = Home(tmp_path / user, tmp_path / user)
            home.create()
            settings = _settings(server, bot, group, post_interval=0)
            carrier = CarrierConfig.model_validate({"type": "telegram", **settings})
            save_config(home.config_path, Config(carriers={"tg": carrier}))
            apps[user] = App(home)
        alice, bob = apps["alice"], apps["bob"]
        me = alice.init("alice", "alice phrase", allow_weak=True)
        bob.init("bob", "bob phrase", allow_weak=True)
        chat_a = alice.create_chat("club", "club secret", ["tg"], allow_weak=True)
        chat_b = bob.create_chat("club", "club secret", ["tg"], salt=chat_a.key.salt, allow_weak=True)  # the invite
        assert bob.poll().errors == {}  # Bob's bot has polled once; then it is away
        for body in ("one", "two", "three"):
            alice.send(chat_a, me, body)
        assert alice.poll().posted == {"tg": 3}
        server.advance(25 * 3600)  # Telegram drops Bob's unread updates
        state = json.loads(bob.store.cursor("tg") or "{}")
        bob.store.save_cursor("tg", json.dumps({**state, "polled_at": time.time() - 25 * 3600}))

        server.say(group, person, f"pbcatchup1 {int(time.time()) - 3600}")  # a person's: not a request
        away = bob.poll()
        assert away.received == {"tg": 0} and "asked the other members" in away.notes["tg"][0]
        answered = alice.poll()  # sees the request: its own three go back into the outbox
        assert [n for n in answered.notes["tg"] if "queued" in n] == [answered.notes["tg"][0]]  # the bot's only
        assert "3 pointer(s) queued" in answered.notes["tg"][0]
        assert alice.poll().posted == {"tg": 3}
        assert bob.poll().received == {"tg": 3}
        assert [s.message.body for s in bob.read(chat_b)[0]] == ["one", "two", "three"]
        assert alice.poll().notes == {}  # a request is answered once
        for app in apps.values():
            app.close()
    finally:
        server.stop()


def test_a_failed_post_does_not_stop_the_poll_from_reading(bot_api: BotApiServer, tmp_path: Path) -> None:
    bot = bot_api.add_bot("stubborn_bot", bot_to_bot=True, privacy=False)
    group, person = _group(bot_api, bot)
    home = Home(tmp_path, tmp_path)
    home.create()
    save_config(
        home.config_path,
        Config(carriers={"tg": CarrierConfig.model_validate({"type": "telegram", **_settings(bot_api, bot, group)})}),
    )
    with App(home) as app:
        me = app.init("me", "my phrase", allow_weak=True)
        chat = app.create_chat("c", "chat secret", ["tg"], allow_weak=True)
        app.send(chat, me, "waits")
        bot_api.say(group, person, seal(chat.key, raw_identity("friend"), "arrives")[0])
        bot_api.fail("sendMessage", 403, "Forbidden: bot was kicked")
        summary = app.poll()  # Telegram drops what is not read within a day: read even so
        assert "tg" in summary.errors and summary.received == {"tg": 1}
        assert len(app.store.outbox("tg")) == 1


def _findings(bridge: Bridge, cursor: str | None = None) -> dict[str, tuple[str, str]]:
    try:
        return {f.check: (f.status, f.detail) for f in bridge.diagnose(cursor)}
    finally:
        bridge.close()


def test_diagnose_tells_a_bot_without_bot_to_bot_mode_from_one_that_has_it(bot_api: BotApiServer) -> None:
    alice = bot_api.add_bot("talker_bot", bot_to_bot=True, privacy=False)
    bob = bot_api.add_bot("hearer_bot", bot_to_bot=True, privacy=False)
    deaf = bot_api.add_bot("unhearing_bot", privacy=False)
    group, _ = _group(bot_api, alice, bob, deaf)
    sender = _bridge(bot_api, alice, group)
    sender.post(seal(raw_chat("c"), raw_identity("a"), "hello")[0])
    sender.close()
    cursors = {}
    for bot in (bob, deaf):
        cursor = None
        for _ in range(3):
            reader = _bridge(bot_api, bot, group)
            cursor = reader.poll(cursor).cursor
            reader.close()
        cursors[bot.username] = cursor
    heard = _findings(_bridge(bot_api, bob, group), cursors["hearer_bot"])
    assert heard["token"][0] == heard["admin"][0] == heard["bot-to-bot"][0] == "ok"
    assert "privacy" not in heard and "saw another bot's post" in heard["bot-to-bot"][1]
    unheard = _findings(_bridge(bot_api, deaf, group), cursors["unhearing_bot"])
    status, detail = unheard["bot-to-bot"]
    assert status == "warn" and "Bot-to-Bot Communication mode is off for @unhearing_bot" in detail
    assert "@talker_bot" in detail and "@hearer_bot" in detail and "in 3 polls" in detail
    early = _findings(_bridge(bot_api, deaf, group))  # never polled: too early to blame anything
    assert early["bot-to-bot"][0] == "ok" and "too early" in early["bot-to-bot"][1]


def test_diagnose_finds_what_the_user_must_fix_in_telegram(bot_api: BotApiServer) -> None:
    member = bot_api.add_bot("member_only_bot", bot_to_bot=True, privacy=False)
    private = bot_api.add_bot("private_mode_bot", bot_to_bot=True)  # Group Privacy still on
    hooked = bot_api.add_bot("hooked_bot", bot_to_bot=True, privacy=False)
    alone = bot_api.add_bot("lonely_bot", bot_to_bot=True, privacy=False)
    group, _ = _group(bot_api, private, hooked)
    group.members[member.id] = "member"
    solo, _ = _group(bot_api, alone)
    hooked.webhook = "https://example.invalid/hook"
    assert _findings(_bridge(bot_api, member, group))["admin"][0] == "fail"
    assert _findings(_bridge(bot_api, private, group))["privacy"] == (
        "fail",
        "Group Privacy is on for @private_mode_bot: @BotFather /setprivacy -> Disable, then remove the "
        "bot from the group and add it again",
    )
    assert _findings(_bridge(bot_api, hooked, group))["webhook"][0] == "fail"
    outside = _findings(_bridge(bot_api, alone, group))  # not in that group at all
    assert outside["chat"][0] == "fail" and "not found" in outside["chat"][1]
    lonely = _findings(_bridge(bot_api, alone, solo))["bot-to-bot"]
    assert lonely[0] == "warn" and "no other member's bot" in lonely[1]


@pytest.mark.parametrize(("hours", "status"), [(2, "ok"), (23, "warn"), (25, "fail")])
def test_diagnose_measures_the_24_hour_window(bot_api: BotApiServer, hours: int, status: str) -> None:
    bot = bot_api.add_bot("window_bot", bot_to_bot=True, privacy=False)
    group, _ = _group(bot_api, bot)
    cursor = json.dumps({"offset": 5, "polled_at": time.time() - hours * 3600})
    window = _findings(_bridge(bot_api, bot, group), cursor)["24-hour window"]
    assert window[0] == status and f"last poll {hours} h ago" in window[1]
    assert bot.calls.count("getUpdates") == 0  # diagnosing never confirms updates


def test_two_carriers_on_one_bot_are_refused(bot_api: BotApiServer, tmp_path: Path) -> None:
    bot = bot_api.add_bot("shared_bot", bot_to_bot=True, privacy=False)
    group, _ = _group(bot_api, bot)
    other, _ = _group(bot_api, bot)
    os.environ["PBRIDGE_TEST_TG_COPY"] = bot.token  # the same token under another name
    initialised_home(tmp_path, carrier=False)  # the CLI below needs a home init made (issue 17, item 2)
    home = Home(tmp_path, tmp_path)
    save_config(
        home.config_path,
        Config(
            carriers={
                "tg": CarrierConfig.model_validate({"type": "telegram", **_settings(bot_api, bot, group)}),
                "tg2": CarrierConfig.model_validate(
                    {"type": "telegram", **_settings(bot_api, bot, other), "token_env": "PBRIDGE_TEST_TG_COPY"}
                ),
                "files": CarrierConfig.model_validate({"type": "files", "path": str(tmp_path)}),
            }
        ),
    )
    with App(home) as app:
        summary = app.poll()
    assert sorted(summary.to_fix) == ["tg", "tg2"] and "files" not in summary.errors
    assert "uses the same telegram bot" in summary.errors["tg"] and "'tg2'" in summary.errors["tg"]
    assert "getUpdates" not in bot.calls
    env = {"PBRIDGE_TEST_TG_ADD2": bot.token, "PBRIDGE_TEST_TG_COPY": bot.token}
    refused = run(
        "--home",
        str(tmp_path),
        "carrier",
        "add",
        "tg3",
        "--type",
        "telegram",
        "--set",
        f"chat_id={group.id}",
        "--set",
        "token_env=PBRIDGE_TEST_TG_ADD2",
        "--set",
        f"base_url={bot_api.base_url}",
        env=env,
    )
    assert refused.returncode == 24 and "uses the same telegram bot" in refused.stderr
    assert "tg3" not in (tmp_path / "config.toml").read_text()


def test_in_a_channel_another_bots_pointer_is_the_evidence_of_bot_to_bot_mode(bot_api: BotApiServer) -> None:
    alice = bot_api.add_bot("channel_poster_bot", bot_to_bot=True, privacy=False)
    bob = bot_api.add_bot("channel_reader_bot", bot_to_bot=True, privacy=False)
    channel = bot_api.add_chat("news", kind="channel", members={alice.id: "admin", bob.id: "admin"})
    sender, reader = _bridge(bot_api, alice, channel), _bridge(bot_api, bob, channel)
    sender.post(seal(raw_chat("c"), raw_identity("a"), "on the channel")[0])
    sender.close()
    cursor = reader.poll(None).cursor
    reader.close()
    found = _findings(_bridge(bot_api, bob, channel), cursor)
    assert found["admin"][0] == found["bot-to-bot"][0] == "ok" and "privacy" not in found


def test_a_first_post_that_would_wait_past_the_runs_budget_waits_for_the_next_run(
    bot_api: BotApiServer, tmp_path: Path
) -> None:
    bot = bot_api.add_bot("slow_pace_bot", bot_to_bot=True, privacy=False)
    group, _ = _group(bot_api, bot)
    home = Home(tmp_path, tmp_path)
    home.create()
    save_config(
        home.config_path,
        Config(
            carriers={
                "tg": CarrierConfig.model_validate(
                    {"type": "telegram", **_settings(bot_api, bot, group, post_interval=45)}
                )
            }
        ),
    )
    with App(home) as app:
        me = app.init("me", "my phrase", allow_weak=True)
        chat = app.create_chat("c", "chat secret", ["tg"], allow_weak=True)
        for body in ("first", "second"):
            app.send(chat, me, body)
        started = time.monotonic()
        assert app.poll(fetch=False).posted == {"tg": 1}  # the second would wait 45 s: the next run's
        assert app.poll(fetch=False).posted == {"tg": 0}  # 45 s after the last post have not passed
        assert time.monotonic() - started < 5 and len(app.store.outbox("tg")) == 1


def test_a_cron_run_asks_getme_only_while_it_does_not_know_the_bot(bot_api: BotApiServer) -> None:
    # Issue 19, item 3: every cron run (a new process, a new bridge) asked getMe before its
    # getUpdates: a round trip to Telegram per minute for an id that never changes.
    bot = bot_api.add_bot("cron_bot", bot_to_bot=True, privacy=False)
    group, _ = _group(bot_api, bot)
    cursor = None
    for _ in range(3):
        bot_api.advance(60)
        bridge = _bridge(bot_api, bot, group)
        try:
            cursor = bridge.poll(cursor).cursor
        finally:
            bridge.close()
    assert bot.calls.count("getMe") == 1 and bot.calls.count("getUpdates") == 3
    assert json.loads(cursor)["bot_id"] == bot.id
    stale = json.dumps({**json.loads(cursor), "bot_id": bot.id + 1})  # kept for another bot's token
    bridge = _bridge(bot_api, bot, group)
    try:
        bot_api.advance(60)
        assert json.loads(bridge.poll(stale).cursor)["bot_id"] == bot.id
    finally:
        bridge.close()
    assert bot.calls.count("getMe") == 2
    os.environ["PBRIDGE_TEST_TG_REFUSED"] = f"{bot.id}:not-its-secret"
    refused = bridge_class("telegram").from_config(
        "tg", {**_settings(bot_api, bot, group), "token_env": "PBRIDGE_TEST_TG_REFUSED"}
    )
    try:
        with pytest.raises(ConfigurationError, match="refused the bot token"):
            refused.poll(cursor)  # without getMe, getUpdates says it
    finally:
        refused.close()
