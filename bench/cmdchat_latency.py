"""CMD-CHAT round trips: a pointer posted by one pbridge bot (``post``, which returns once
the server echoed it) until another bot's ``listen`` on its own login returns it, against
CMD-CHAT's own client-to-client path through the same server in the same run (a line
encrypted with the room key and sent, until the other client has read and decrypted it:
what CMD-CHAT's client does, without its screen redraw), interleaved message by message.

    python bench/cmdchat_latency.py [--messages 200] [--real CHECKOUT --real-python PYTHON] [--json]

Without ``--real`` it runs against the faithful test server (tests/servers/cmdchat.py);
with it, also against CMD-CHAT's real server started from a checkout of
github:emilycodestar/cmd-chat (``python cmd_chat.py serve``), with a Python that has its
requirements. Reported: p50 and p95 in ms of each, and pbridge's p50 over the floor's.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

PASSWORD = "bench room password"


@contextmanager
def test_server() -> Iterator[int]:
    from servers.cmdchat import CmdChatServer

    server = CmdChatServer(PASSWORD).start()
    try:
        yield server.port
    finally:
        server.close()


@contextmanager
def real_server(checkout: str, python: str) -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [python, "cmd_chat.py", "serve", "127.0.0.1", str(port), "--password", PASSWORD]
    process = subprocess.Popen(command, cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("CMD-CHAT's server did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()  # SIGTERM: started without a terminal, it ignores SIGINT
        process.wait(10)


def _pointers(count: int) -> list[str]:
    import hashlib

    from pointerbridge.core import ChatKey, Identity, seal

    key, me = ChatKey("bench", hashlib.sha256(b"bench").digest()), Identity("alice", bytes(32))
    return [seal(key, me, f"message {n}")[0] for n in range(count)]


def measure(port: int, messages: int) -> dict[str, Any]:
    """Both round trips, interleaved, ``messages`` of each (ms)."""
    from pointerbridge.bridges.base import bridge_class
    from servers.cmdchat import RawClient

    os.environ["CMDCHAT_BENCH_PASSWORD"] = PASSWORD
    settings = {"host": "127.0.0.1", "port": port, "password_env": "CMDCHAT_BENCH_PASSWORD"}
    sender = bridge_class("cmdchat").from_config("c", {**settings, "username": "alice-bot"})
    reader = bridge_class("cmdchat").from_config("c", {**settings, "username": "bob-bot"})
    cursor = reader.poll(None).cursor
    one, two = RawClient(port, "carol", PASSWORD), RawClient(port, "dave", PASSWORD)
    pointers = _pointers(messages)
    bridge_ms: list[float] = []
    floor_ms: list[float] = []

    def until(client: RawClient, text: str) -> None:  # skips the other members' lines
        while True:
            data = client.next_message()
            if data["username"] == "carol" and client.decrypt(data) == text:
                return

    for pointer in pointers:
        started = time.perf_counter()
        one.say(pointer)
        until(two, pointer)
        floor_ms.append((time.perf_counter() - started) * 1000)
        until(one, pointer)  # carol's own echo, read off outside the timing
        started = time.perf_counter()
        sender.post(pointer)
        found: list[str] = []
        while pointer not in found:
            result = reader.listen(cursor, 5.0)
            cursor, found = result.cursor, [r.text for r in result.pointers]
        bridge_ms.append((time.perf_counter() - started) * 1000)
    for closing in (sender.close, reader.close, one.close, two.close):
        closing()
    return {"pbridge": _summary(bridge_ms), "floor": _summary(floor_ms)}


def _summary(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=20)
    return {"p50": round(statistics.median(values), 3), "p95": round(cuts[18], 3), "max": round(max(values), 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--real", help="a checkout of github:emilycodestar/cmd-chat")
    parser.add_argument("--real-python", default=sys.executable, help="a Python with its requirements")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    servers: dict[str, Callable[[], Any]] = {"test server": test_server}
    if args.real:
        servers["CMD-CHAT's server"] = lambda: real_server(args.real, args.real_python)
    report = {}
    for name, start in servers.items():
        with start() as port:
            found = measure(port, args.messages)
        found["ratio_p50"] = round(found["pbridge"]["p50"] / found["floor"]["p50"], 2)
        report[name] = found
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for name, found in report.items():
        bridge, floor = found["pbridge"], found["floor"]
        print(
            f"{name}: pbridge post->listen p50 {bridge['p50']} ms, p95 {bridge['p95']} ms; "
            f"CMD-CHAT client->client p50 {floor['p50']} ms, p95 {floor['p95']} ms; ratio p50 {found['ratio_p50']}x"
        )


if __name__ == "__main__":
    main()
