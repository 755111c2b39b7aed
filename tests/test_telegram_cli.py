"""The Telegram carrier end to end through the CLI: three users, each with a bot of their own
in one supergroup, on the test Bot API server with Telegram's rate limits on.

The commands run in this process (``pbridge``'s own entry), so that the app's pacing clock
can be the server's: a "cron run" every simulated minute, pacing sleeps that move the
server's clock instead of the test's wall time.
"""

from __future__ import annotations

import functools
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from carrier_acceptance import Members, a_file_a_reply_an_edit_a_delete_and_forgeries, post_as_bot
from pointerbridge.app import outbox, poll
from pointerbridge.bridges import telegram as telegram_bridge
from pointerbridge.bridges import telegram_doctor
from pointerbridge.cli.main import main
from pointerbridge.core import keys
from pointerbridge.home.config import load_config
from pointerbridge.home.store import carriers, chats, pointers, records
from servers.telegram import BotApiServer

USERS = ("alice", "bob", "carol")
SECRET = "a circle of three"
BIG = "".join(f"line {i:04d} of a twenty-kilobyte letter, ünïcödé.\n" for i in range(500))[:20_000]


class _ServerTime:
    """``time`` as the app, the store and the bridge see it: the server's clock, which
    sleeping moves forward."""

    def __init__(self, server: BotApiServer) -> None:
        self.server, self.now = server, 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.server.clock()

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.server.advance(seconds)

    def __getattr__(self, name: str) -> Any:
        import time

        return getattr(time, name)


class Pbridge:
    """Runs ``pbridge --home HOME ...`` in this process, as USER (phrase, chat secret)."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.root, self.monkeypatch, self.capsys = root, monkeypatch, capsys
        self.err = ""  # the last command's stderr

    def __call__(self, user: str, *args: str, stdin: str = "", code: int = 0) -> str:
        self.monkeypatch.setenv("PBRIDGE_MASTER_PHRASE", f"{user}'s master phrase")
        self.monkeypatch.setenv("PBRIDGE_CHAT_SECRET", SECRET)
        self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as ended:
            main(["--home", str(self.root / user), *args])
        out, err = self.capsys.readouterr()
        self.err = err
        assert ended.value.code in (None, code) if code == 0 else ended.value.code == code, (args, out, err)
        return out


@pytest.fixture
def circle(
    bot_api: BotApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[Pbridge, BotApiServer]:
    clock = _ServerTime(bot_api)
    # Every module that reads the clock: the app's outbox (pacing) and poll, the store's tables, the bridge
    # and its doctor.
    for module in (outbox, poll, carriers, chats, pointers, records, telegram_bridge, telegram_doctor):
        monkeypatch.setattr(module, "time", clock)
    pbridge = Pbridge(tmp_path, monkeypatch, capsys)
    bots = {u: bot_api.add_bot(f"{u}_circle_bot", bot_to_bot=True, privacy=False) for u in USERS}
    group = bot_api.add_chat("circle", members={b.id: "admin" for b in bots.values()})
    for user, bot in bots.items():
        _set_up(pbridge, bot_api, user, bot.token, group.id)
    pbridge("alice", "chat", "create", "Circle", "--carrier", "tg", "--weak-secret-ok")
    invite = pbridge("alice", "chat", "invite", "circle", "--no-qr").strip()
    for user in ("bob", "carol"):
        pbridge(user, "chat", "join", invite)
    return pbridge, bot_api


def _cron(pbridge: Pbridge, server: BotApiServer, rounds: int) -> dict[str, dict[str, int]]:
    """``rounds`` simulated minutes, each user's cron poll once a minute; totals per user."""
    totals = {u: {"posted": 0, "received": 0, "known": 0} for u in USERS}
    for _ in range(rounds):
        server.advance(60)
        for user in USERS:
            data = json.loads(pbridge(user, "poll", "--json", code=0))
            for key in totals[user]:
                totals[user][key] += sum(data[key].values())
    return totals


def test_three_users_100_messages_each_arrive_once_in_order_without_a_429(
    circle: tuple[Pbridge, BotApiServer],
) -> None:
    pbridge, server = circle
    sent = {u: [f"{u} says {i:02d}" for i in range(99)] for u in USERS}
    for user in USERS:
        pbridge(user, "send", "circle", "-", "--lines", "--queue", stdin="\n".join(sent[user]))
        pbridge(user, "send", "circle", "-", "--queue", stdin=BIG + user)  # split under 4,096 characters
        sent[user].append(BIG + user)
    totals = _cron(pbridge, server, rounds=20)
    assert [status for _, status in server.refused] == []  # paced: Telegram never had to say 429
    for user in USERS:
        others = [u for u in USERS if u != user]
        assert totals[user]["received"] == sum(totals[o]["posted"] for o in others)
        assert totals[user]["known"] == 0 and totals[user]["posted"] >= 100 + 5
        shown = json.loads(pbridge(user, "read", "circle", "--json"))["messages"]
        for sender in USERS:
            assert [m["body"] for m in shown if m["username"] == sender] == sent[sender]
    assert json.loads(pbridge("alice", "poll", "--json"))["received"] == {"tg": 0}


def test_a_429_drawn_anyway_leaves_the_rest_for_later_runs(circle: tuple[Pbridge, BotApiServer]) -> None:
    pbridge, server = circle
    pbridge("alice", "send", "circle", "-", "--lines", "--queue", stdin="\n".join(f"m{i}" for i in range(10)))
    server.fail("sendMessage", 429, "Too Many Requests: retry after 120", retry_after=120)
    server.advance(60)
    first = json.loads(pbridge("alice", "poll", "--json", code=25))
    assert "rate limited" in first["errors"]["tg"] and first["posted"].get("tg", 0) == 0
    totals = _cron(pbridge, server, rounds=3)
    assert totals["alice"]["posted"] == 10 and totals["bob"]["received"] == 10


def _set_up(pbridge: Pbridge, server: BotApiServer, user: str, token: str, chat_id: int) -> None:
    """A member's home: an identity, and a Telegram carrier with the member's own bot."""
    pbridge.monkeypatch.setenv(f"PBRIDGE_TG_{user.upper()}", token)
    pbridge(user, "init", "--username", user, "--weak-secret-ok")
    settings = {
        "chat_id": chat_id,
        "token_env": f"PBRIDGE_TG_{user.upper()}",
        "base_url": server.base_url,
        "base_file_url": server.base_file_url,
    }
    pbridge(user, "carrier", "add", "tg", "--type", "telegram", *(f"--set={k}={v}" for k, v in settings.items()))


def _join(pbridge: Pbridge, server: BotApiServer, user: str, **bot_settings: bool) -> None:
    """Another member, with a bot of their own made an admin of the circle's group."""
    bot = server.add_bot(f"{user}_circle_bot", **bot_settings)
    group = next(iter(server.chats.values()))
    group.members[bot.id] = "admin"
    _set_up(pbridge, server, user, bot.token, group.id)
    pbridge(user, "chat", "join", pbridge("alice", "chat", "invite", "circle", "--no-qr").strip())


def _doctor(pbridge: Pbridge, user: str, code: int = 0) -> dict[str, tuple[str, str]]:
    data = json.loads(pbridge(user, "doctor", "--json", code=code))
    assert data["ok"] is (code == 0)
    return {f"{c['scope']} {c['check']}": (c["status"], c["detail"]) for c in data["checks"]}


def test_a_bot_without_bot_to_bot_mode_sees_nothing_and_doctor_says_why(
    circle: tuple[Pbridge, BotApiServer],
) -> None:
    pbridge, server = circle
    _join(pbridge, server, "dave", privacy=False)  # an admin with privacy off, but Bot-to-Bot mode never turned on
    pbridge("alice", "send", "circle", "-", "--lines", stdin="one\ntwo")
    totals = _cron(pbridge, server, rounds=3)
    assert totals["bob"]["received"] == 2
    dave = [json.loads(pbridge("dave", "poll", "--json"))["received"]["tg"] for _ in range(3)]
    assert dave == [0, 0, 0] and "getUpdates" in server.bots[server_token(server, "dave")].calls
    status, detail = _doctor(pbridge, "dave")["tg bot-to-bot"]  # a warning: it may just be a quiet group
    assert status == "warn" and "Bot-to-Bot Communication mode is off for @dave_circle_bot" in detail
    assert "@alice_circle_bot" in detail and "in 3 polls" in detail
    plain = pbridge("dave", "doctor")
    assert "warn  tg: bot-to-bot: @dave_circle_bot has seen no post" in plain
    heard = _doctor(pbridge, "bob")
    assert heard["tg bot-to-bot"][0] == "ok" and "saw another bot's post" in heard["tg bot-to-bot"][1]
    assert all(status == "ok" for status, _ in heard.values()), heard


def server_token(server: BotApiServer, user: str) -> str:
    return next(t for t, b in server.bots.items() if b.username == f"{user}_circle_bot")


def test_a_poll_after_25_hours_reports_the_gap_and_the_catch_up_brings_back_what_was_missed(
    circle: tuple[Pbridge, BotApiServer],
) -> None:
    pbridge, server = circle
    _cron(pbridge, server, rounds=1)  # every bot has polled; then Bob's is away
    pbridge("alice", "send", "circle", "-", "--lines", stdin="one\ntwo\nthree")
    for _ in range(5):  # 25 hours in which Alice's and Carol's bots poll every 5 hours
        server.advance(5 * 3600)
        for user in ("alice", "carol"):
            pbridge(user, "poll")
    assert _doctor(pbridge, "bob", code=28)["tg 24-hour window"][0] == "fail"
    assert "received 0" in pbridge("bob", "poll")  # Telegram has dropped the three
    assert "25 h since the last poll" in pbridge.err and "asked the other members' bots" in pbridge.err
    pbridge("carol", "poll")
    assert "0 pointer(s) queued" in pbridge.err  # Carol posted nothing in that time
    pbridge("alice", "poll")
    assert "3 pointer(s) queued" in pbridge.err
    server.advance(60)
    assert json.loads(pbridge("alice", "poll", "--json"))["posted"] == {"tg": 3}
    assert json.loads(pbridge("bob", "poll", "--json"))["received"] == {"tg": 3}
    shown = json.loads(pbridge("bob", "read", "circle", "--json"))["messages"]
    assert [m["body"] for m in shown] == ["one", "two", "three"]
    assert _doctor(pbridge, "bob")["tg 24-hour window"][0] == "ok"


def test_a_burst_of_60_sends_never_draws_a_429(
    circle: tuple[Pbridge, BotApiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    pbridge, server = circle
    monkeypatch.setattr(keys, "_argon2", functools.cache(keys._argon2))  # the subject is pacing, not Argon2id
    for i in range(60):  # each send posts at once, paced from the previous run's post
        assert "posted 1" in pbridge("alice", "send", "circle", "-", stdin=f"burst {i}")
    assert [status for _, status in server.refused] == []
    totals = _cron(pbridge, server, rounds=2)
    assert totals["bob"]["received"] == totals["carol"]["received"] == 60


def test_a_file_a_reply_an_edit_and_a_delete_over_telegram_through_the_cli(
    circle: tuple[Pbridge, BotApiServer], tmp_path: Path
) -> None:
    # Issue 21's acceptance over Telegram, a forged edit and delete too: mallory's pointers
    # posted through the bridge by a bot of her own in the group, set up as the others are.
    pbridge, server = circle
    mallory = server.add_bot("mallory_circle_bot", bot_to_bot=True, privacy=False)
    group = next(iter(server.chats.values()))
    group.members[mallory.id] = "admin"
    pbridge.monkeypatch.setenv("PBRIDGE_TG_MALLORY", mallory.token)
    settings = load_config(tmp_path / "carol" / "config.toml").carriers["tg"].settings
    members = Members(
        pbridge=pbridge,
        exchange=lambda: _cron(pbridge, server, rounds=3) and None,
        post=post_as_bot("telegram", "tg", {**settings, "token_env": "PBRIDGE_TG_MALLORY"}),
        chat="circle",
        invite=pbridge("alice", "chat", "invite", "circle", "--no-qr").strip(),
        secret=SECRET,
        readers=USERS,
        queue=("--queue",),
    )
    a_file_a_reply_an_edit_a_delete_and_forgeries(members, tmp_path)
