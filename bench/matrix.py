"""Matrix carrier benchmark against a real Synapse on 127.0.0.1. Usage:

    python bench/matrix.py [--count 1000] [--json]

Starts a Synapse of its own (the tests' cached venv, ``tests/servers/synapse.py``), then:

1. Posting: ``count`` pointers (~300 B messages) sent by one bridge, one event each.
2. Synapse to store: a bot whose cursor predates them runs one ``App.poll``: one sync
   (``limited``), the gap read forward with ``/messages``, every pointer stored. Reports
   pointers/s and the HTTP requests the poll made.
3. Idle poll: ``App.poll`` with nothing new (HTTP requests counted; target one sync), and
   ``pbridge poll`` as a whole process, the cron line.
4. Machine speed, as ``bench/local_app.py`` measures it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from local_app import _machine_factor, cli
from pointerbridge.app.service import App
from pointerbridge.bridges.base import bridge_class
from pointerbridge.core import ChatKey, Identity, seal
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from servers.synapse import Synapse

_TOKEN_ENV = "PBRIDGE_BENCH_MATRIX_TOKEN"


@contextmanager
def _counting_requests() -> Iterator[list[str]]:
    """Every HTTP request the bridge sends while the block runs, as "METHOD /path": nio's
    (posts, the filter) and the raw reads' (sync, history)."""
    import nio
    from pointerbridge.bridges.matrix_api import RawClient

    calls: list[str] = []
    reals = {cls: cls.send for cls in (nio.AsyncClient, RawClient)}

    def counting(real: Any) -> Any:
        async def send(self: Any, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
            calls.append(f"{method} {path.split('?')[0]}")
            return await real(self, method, path, *args, **kwargs)

        return send

    for cls, real in reals.items():
        cls.send = counting(real)
    try:
        yield calls
    finally:
        for cls, real in reals.items():
            cls.send = real


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def _idle_process_polls(home: Path, runs: int = 5) -> list[float]:
    pbridge = Path(sys.executable).parent / "pbridge"
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [str(pbridge), "--home", str(home), "poll"],
            check=True,
            capture_output=True,
            env={**os.environ, "PBRIDGE_HOME": ""},
        )
        times.append(time.perf_counter() - start)
    return times


def run(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pbridge-bench-matrix-") as scratch:
        root = Path(scratch)
        server = Synapse(root / "synapse")
        server.start()
        try:
            return _measure(root, server, count)
        finally:
            server.stop()


def _measure(root: Path, server: Synapse, count: int) -> dict[str, Any]:
    account = server.register("benchbot", "bench-password")
    os.environ[_TOKEN_ENV] = account["access_token"]
    room = server.request("POST", "/_matrix/client/v3/createRoom", {"name": "bench"}, account["access_token"])
    carrier = CarrierConfig.model_validate(
        {
            "type": "matrix",
            "homeserver": server.url,
            "user_id": account["user_id"],
            "device_id": account["device_id"],
            "access_token_env": _TOKEN_ENV,
            "room_id": room["room_id"],
        }
    )
    home = Home(root / "bob", root / "bob")
    home.create()
    save_config(home.config_path, Config(carriers={"mx": carrier}))
    chat = ChatKey.derive("bench", "bench chat secret", bytes(16))
    alice = Identity.derive_unsalted("alice", "bench phrase")
    pointers = [p for i in range(count) for p in seal(chat, alice, f"message {i:06d}: " + "lorem ipsum " * 24)]

    with App(home) as bob:
        bob.poll()  # the bot's cursor: before everything posted below
        sender = bridge_class("matrix").from_config("mx", carrier.settings)
        try:
            _, post_seconds = _timed(lambda: [sender.post(p) for p in pointers])
        finally:
            sender.close()
        with _counting_requests() as backlog_calls:
            summary, backlog_seconds = _timed(bob.poll)
        assert summary.errors == {} and summary.received == {"mx": len(pointers)}, summary
        with _counting_requests() as idle_calls:
            idle = [_timed(bob.poll)[1] for _ in range(5)]
        assert all(c.startswith("GET") and c.endswith("/sync") for c in idle_calls), idle_calls
    processes = _idle_process_polls(root / "bob")
    machine = _machine_factor()
    return {
        "machine": machine,
        "count": len(pointers),
        "post_seconds": round(post_seconds, 2),
        "posts_per_second": round(len(pointers) / post_seconds, 1),
        "backlog_poll_seconds": round(backlog_seconds, 3),
        "backlog_pointers_per_second": round(len(pointers) / backlog_seconds),
        "backlog_http_requests": len(backlog_calls),
        "backlog_requests": sorted({c: backlog_calls.count(c) for c in backlog_calls}.items()),
        "idle_http_requests_per_poll": len(idle_calls) / 5,
        "idle_poll_in_process_ms_median": round(statistics.median(idle) * 1000, 1),
        "idle_pbridge_poll_process_seconds_median": round(statistics.median(processes), 3),
    }


if __name__ == "__main__":
    cli(run, 1000, __doc__)
