"""Telegram live latency against the tests' Bot API server on 127.0.0.1 (issue 20, item 1):
from the moment a member's bot's message lands on the server to the moment the reader
has it. Usage:

    python bench/telegram_listen.py [--count 50] [--json]

Three readers, each its own bot in a group of its own with Alice's bot, measured in
interleaved rounds (one message each per round, the order rotating), each waiting in a
long poll when the message lands (``BotApiServer.bot_says``: no sender's HTTP call):

- **floor**: a bare getUpdates long poll over a kept httpx connection and ``json.loads``
  of its answer: what the server and the HTTP stack cost, nothing of the project;
- **bridge**: ``TelegramBridge.listen``: the probe's long poll, then python-telegram-bot
  parsing the batch and asking getChatAdministrators (is the poster a member's bot?), as
  every poll reads a bot's post;
- **app**: ``App.listen_round`` on that bridge: the above, the pointer stored in SQLite and
  the cursor saved, which is what a daemon's or console's listener does per batch.

The server answers a waiting call 1.5 ms after an update lands, as Telegram does
(``LONG_POLL_WAIT_AFTER``/``_MAX_DELAY``); real Telegram adds the network's round trip.
Figures are p50 and p95 in ms and each reader's p50 over the floor's, from the same run.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import httpx
from local_app import cli
from pointerbridge.app.service import App
from pointerbridge.bridges.base import bridge_class
from pointerbridge.core import ChatKey, Identity, seal
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from servers.telegram import BotAccount, BotApiServer, Chat

_WAIT = 20  # seconds each long poll may wait; a message lands well within it


def run(count: int) -> dict[str, Any]:
    server = BotApiServer(rate_limits=False)
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="pbridge-bench-telegram-listen-") as scratch:
            return _measure(Path(scratch), server, count)
    finally:
        server.stop()


def _measure(root: Path, server: BotApiServer, count: int) -> dict[str, Any]:
    alice = server.add_bot("alice_live_bot", bot_to_bot=True, privacy=False)
    chat = ChatKey.derive("bench", "bench chat secret", bytes(16))
    me = Identity.derive_unsalted("alice", "bench phrase")
    readers: dict[str, tuple[BotAccount, Chat, Callable[[], int]]] = {}
    closing: list[Callable[[], None]] = []
    try:
        for kind in ("floor", "bridge", "app"):
            bot = server.add_bot(f"{kind}_live_bot", bot_to_bot=True, privacy=False)
            group = server.add_chat(kind, members={alice.id: "admin", bot.id: "admin"})
            readers[kind] = (bot, group, _reader(kind, root, server, bot, group, closing))
        for kind, (_, group, listen) in readers.items():  # the first call learns the bot: not timed
            server.bot_says(group, alice, seal(chat, me, "warm-up")[0])
            assert listen() == 1, kind
            server.advance(60)
        pointers = [seal(chat, me, f"message {i:04d}: " + "lorem ipsum " * 24)[0] for i in range(count)]
        latencies: dict[str, list[float]] = {kind: [] for kind in readers}
        order = list(readers)
        for i, pointer in enumerate(pointers):
            for kind in order[i % 3 :] + order[: i % 3]:
                bot, group, listen = readers[kind]
                latencies[kind].append(_one(server, alice, bot, group, pointer, listen))
    finally:
        for close in reversed(closing):
            close()
    floor = statistics.median(latencies["floor"])
    figures: dict[str, Any] = {"messages_per_reader": count}
    for kind, values in latencies.items():
        ordered = sorted(values)
        figures[f"{kind}_p50_ms"] = round(statistics.median(ordered) * 1000, 2)
        figures[f"{kind}_p95_ms"] = round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2)
        figures[f"{kind}_p50_over_floor"] = round(statistics.median(ordered) / floor, 2)
    return figures


def _one(
    server: BotApiServer, alice: BotAccount, bot: BotAccount, group: Chat, pointer: str, listen: Callable[[], int]
) -> float:
    """One message's latency: it lands once ``bot``'s long poll waits; ``listen`` returns."""
    landed: list[float] = []

    def land() -> None:
        while not bot.waiting:  # the reader's getUpdates waits on the server now
            time.sleep(0.0005)
        landed.append(time.perf_counter())
        server.bot_says(group, alice, pointer)

    lander = threading.Thread(target=land)
    lander.start()
    got = listen()
    back = time.perf_counter()
    lander.join()
    assert got == 1, got
    return back - landed[0]


def _reader(
    kind: str, root: Path, server: BotApiServer, bot: BotAccount, group: Chat, closing: list[Callable[[], None]]
) -> Callable[[], int]:
    """A call that waits in a long poll and returns how many pointers it got."""
    variable = f"PBRIDGE_BENCH_TG_{kind.upper()}"
    os.environ[variable] = bot.token
    settings = {"type": "telegram", "token_env": variable, "chat_id": group.id, "base_url": server.base_url}
    if kind == "floor":
        client = httpx.Client(timeout=_WAIT + 10)
        closing.append(client.close)
        url, offset = f"{server.base_url}{bot.token}/getUpdates", [0]

        def bare() -> int:
            asked = {"timeout": str(_WAIT), "offset": str(offset[0]), "allowed_updates": '["message"]'}
            updates = json.loads(client.post(url, data=asked).content)["result"]
            offset[0] = updates[-1]["update_id"] + 1 if updates else offset[0]
            return len(updates)

        return bare
    if kind == "bridge":
        bridge = bridge_class("telegram").from_config("tg", {k: v for k, v in settings.items() if k != "type"})
        closing.append(bridge.close)
        cursor: list[str | None] = [None]

        def listen() -> int:
            result = bridge.listen(cursor[0], _WAIT)
            cursor[0] = result.cursor
            return len(result.pointers)

        return listen
    home = Home(root / kind, root / kind)
    home.create()
    save_config(home.config_path, Config(carriers={"tg": CarrierConfig.model_validate(settings)}))
    app = App(home)
    closing.append(app.close)
    held = app.listening("tg")
    assert held.__enter__()
    closing.append(lambda: held.__exit__(None, None, None))
    live = app.bridge("tg")
    closing.append(live.close)
    return lambda: app.listen_round(live, _WAIT).new


if __name__ == "__main__":
    cli(run, 50, __doc__)
