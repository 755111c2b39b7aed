"""Telegram carrier benchmark against the tests' Bot API server on 127.0.0.1 (not named telegram.py,
which would shadow the library). Usage:

    python bench/telegram_carrier.py [--count 1000] [--json]

The server (``tests/servers/telegram.py``) keeps Telegram's rules; real Telegram adds
network latency, so these are the client's costs, not Telegram's. Then:

1. Bot API to store: ``count`` pointers (~300 B messages) posted by a person into the
   group while Bob's bot is away; one ``App.poll`` stores them all (batches of 100).
   Reports pointers/s and the getUpdates calls.
2. Idle poll: ``App.poll`` with nothing new (Bot API calls counted), and ``pbridge poll``
   as a whole process, the cron line; ``pbridge doctor`` as a whole process.
3. Posting with the rate limits off: the client's cost per post (Telegram itself allows
   one post per ``post_interval`` = 3.1 s in a group).
4. Machine speed, as ``bench/local_app.py`` measures it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from local_app import _machine_factor, cli
from matrix import _idle_process_polls, _timed
from pointerbridge.app.service import App
from pointerbridge.bridges.base import bridge_class
from pointerbridge.core import ChatKey, Identity, seal
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from servers.telegram import BotApiServer


def run(count: int) -> dict[str, Any]:
    server = BotApiServer(rate_limits=False)
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="pbridge-bench-telegram-") as scratch:
            return _measure(Path(scratch), server, count)
    finally:
        server.stop()


def _measure(root: Path, server: BotApiServer, count: int) -> dict[str, Any]:
    bob_bot = server.add_bot("bob_bench_bot", bot_to_bot=True, privacy=False)
    alice_bot = server.add_bot("alice_bench_bot", bot_to_bot=True, privacy=False)
    person = server.add_person("Pat")
    group = server.add_chat("bench", members={person: "member", bob_bot.id: "admin", alice_bot.id: "admin"})
    carriers = {}
    for name, bot in (("bob", bob_bot), ("alice", alice_bot)):
        os.environ[f"PBRIDGE_BENCH_TG_{name.upper()}"] = bot.token
        carriers[name] = CarrierConfig.model_validate(
            {
                "type": "telegram",
                "token_env": f"PBRIDGE_BENCH_TG_{name.upper()}",
                "chat_id": group.id,
                "base_url": server.base_url,
                "post_interval": 0,
            }
        )
    home = Home(root / "bob", root / "bob")
    home.create()
    save_config(home.config_path, Config(carriers={"tg": carriers["bob"]}))
    chat = ChatKey.derive("bench", "bench chat secret", bytes(16))
    alice = Identity.derive_unsalted("alice", "bench phrase")
    pointers = [p for i in range(count) for p in seal(chat, alice, f"message {i:06d}: " + "lorem ipsum " * 24)]
    for pointer in pointers:
        server.say(group, person, pointer)

    with App(home) as bob:
        bob.init("bob", "bob's bench phrase", allow_weak=True)  # doctor checks for an identity
        before = len(bob_bot.calls)
        summary, backlog_seconds = _timed(bob.poll)
        assert summary.errors == {} and summary.received == {"tg": len(pointers)}, summary
        backlog_calls = bob_bot.calls[before:]
        before = len(bob_bot.calls)
        idle = []
        for _ in range(5):  # a minute apart, as cron runs them: like Telegram, the server slows
            server.advance(60)  # a poll that asks again with the same offset within 3 s
            idle.append(_timed(bob.poll)[1])
        idle_calls = bob_bot.calls[before:]
    processes = []
    for _ in range(5):
        server.advance(60)
        processes += _idle_process_polls(root / "bob", runs=1)
    doctor = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).parent / "pbridge"), "--home", str(root / "bob"), "doctor"],
            check=True,
            capture_output=True,
            env={**os.environ, "PBRIDGE_HOME": ""},
        )
        doctor.append(time.perf_counter() - start)
    sender = bridge_class("telegram").from_config("tg", carriers["alice"].settings)
    posts = pointers[: min(200, len(pointers))]
    try:
        _, post_seconds = _timed(lambda: [sender.post(p) for p in posts])
    finally:
        sender.close()
    return {
        "machine": _machine_factor(),
        "count": len(pointers),
        "backlog_poll_seconds": round(backlog_seconds, 3),
        "backlog_pointers_per_second": round(len(pointers) / backlog_seconds),
        "backlog_bot_api_calls": sorted({c: backlog_calls.count(c) for c in backlog_calls}.items()),
        "idle_bot_api_calls_per_poll": sorted({c: idle_calls.count(c) / 5 for c in idle_calls}.items()),
        "idle_poll_in_process_ms_median": round(statistics.median(idle) * 1000, 1),
        "idle_pbridge_poll_process_seconds_median": round(statistics.median(processes), 3),
        "pbridge_doctor_process_seconds_median": round(statistics.median(doctor), 3),
        "posts": len(posts),
        "post_ms_each_without_rate_limits": round(post_seconds / len(posts) * 1000, 2),
    }


if __name__ == "__main__":
    cli(run, 1000, __doc__)
