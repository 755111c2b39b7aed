"""How soon a Matrix listen hears a post (issue 20, item 1), against a real Synapse. Usage:

    python bench/matrix_listen.py [--count 50]

Starts a Synapse of its own (the tests' cached venv, ``tests/servers/synapse.py``). Each
round, one bridge's :meth:`listen` has its ``/sync`` long poll open (wait 20 s), then
another bridge posts a pointer; the latency is from the post's start to the listen
returning with it. The floor, measured in the same round, is the post alone (until
Synapse has stored the event): a listen can hear nothing sooner. Prints p50 and p95 of
both and the ratio of the p50s; the whole run takes a few seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pointerbridge.bridges.base import PollResult, bridge_class
from pointerbridge.bridges.matrix_api import RawClient
from pointerbridge.core import ChatKey, Identity, seal
from servers.synapse import Synapse

_TOKEN_ENV = "PBRIDGE_BENCH_MATRIX_LISTEN_TOKEN"
_SETTLE = 0.05  # seconds between the long poll's request leaving and the post


def _long_polls() -> threading.Event:
    """Set whenever a ``/sync`` that waits is sent."""
    sent = threading.Event()
    real = RawClient.send

    async def send(self: Any, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        if "/sync" in path and "timeout=20000" in path:
            sent.set()
        return await real(self, method, path, *args, **kwargs)

    RawClient.send = send  # type: ignore[method-assign]
    return sent


def _quantile(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    count = parser.parse_args().count
    server = Synapse(Path(tempfile.mkdtemp(prefix="pbridge-bench-listen-")))
    server.start()
    try:
        account = server.register("listenbench", "bot-password")
        token = account["access_token"]
        room = server.request("POST", "/_matrix/client/v3/createRoom", {"name": "bench"}, token)["room_id"]
        os.environ[_TOKEN_ENV] = token
        settings = {
            "homeserver": server.url,
            "user_id": account["user_id"],
            "device_id": account["device_id"],
            "access_token_env": _TOKEN_ENV,
            "room_id": room,
        }
        listener, sender = (bridge_class("matrix").from_config("mx", settings) for _ in range(2))
        chat = ChatKey("bench", hashlib.sha256(b"bench chat").digest())  # no Argon2id: not what is measured
        alice = Identity("alice", hashlib.sha256(b"bench identity").digest())
        pointers = [seal(chat, alice, f"message {i}")[0] for i in range(count)]
        sent = _long_polls()
        cursor = listener.listen(None, 0).cursor
        latencies: list[float] = []
        posts: list[float] = []
        for pointer in pointers:
            sent.clear()
            heard: list[tuple[PollResult, float]] = []

            def listen(cursor: str = cursor, heard: list[tuple[PollResult, float]] = heard) -> None:
                result = listener.listen(cursor, 20)
                heard.append((result, time.perf_counter()))

            waiting = threading.Thread(target=listen)
            waiting.start()
            sent.wait(20)
            time.sleep(_SETTLE)  # the request reaches Synapse before the post
            started = time.perf_counter()
            sender.post(pointer)
            posted = time.perf_counter()
            waiting.join(30)
            result, returned = heard[0]
            if [r.text for r in result.pointers] != [pointer]:
                raise SystemExit(f"round heard {len(result.pointers)} pointers, not the one posted")
            cursor = result.cursor
            posts.append(posted - started)
            latencies.append(returned - started)
        listener.close()
        sender.close()
    finally:
        server.stop()
    p50, p50_floor = statistics.median(latencies), statistics.median(posts)
    p95 = _quantile(latencies, 0.95)
    print(f"{count} rounds: post -> listen returned p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    print(f"floor, the post alone: p50 {p50_floor * 1000:.1f} ms, p95 {_quantile(posts, 0.95) * 1000:.1f} ms")
    print(f"ratio of p50s: {p50 / p50_floor:.2f}x the post")


if __name__ == "__main__":
    main()
