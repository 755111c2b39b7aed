"""CMD-CHAT's own client-to-client latency, for ``bench/latency.py``: two clients of
CMD-CHAT's client class (its code, imported at run time from a checkout; never part of
this repository) in one process, through CMD-CHAT's real server. Usage (by the bench,
with the interpreter of the checkout's own venv, which has ``srp``, ``cryptography`` and
``rich``):

    CHECKOUT/.venv/bin/python bench/cmdchat_peer.py CHECKOUT HOST PORT

The room password comes on stdin's first line (never argv). Each further line ``N`` asks
for N messages, one at a time; the answer is one line of JSON: their latencies in ms,
from the sender's Fernet encryption (as the client's input loop does it) to the text
decrypted by the receiver's ``decrypt_message`` (as its receive loop does it, before it
redraws the screen). The sender reads its own echo before the next message, as its
client's receive loop does.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import time
from typing import Any


async def _client(client_class: Any, host: str, port: int, name: str, password: str) -> Any:
    from rich.console import Console

    client = client_class(host, port, name, password)
    client.console = Console(file=io.StringIO())  # its status lines, not the terminal
    client.reader, client.writer = await asyncio.open_connection(host, port, limit=1 << 24)
    await client.srp_authenticate()
    first = await client.recv_json()
    if first.get("type") != "init":
        raise SystemExit(f"expected the init line, got {first.get('type')!r}")
    return client


async def _next_message(client: Any) -> dict[str, Any]:
    while True:
        data = await client.recv_json()
        if data.get("type") == "message":
            return dict(client.decrypt_message(data.get("data", {})))


async def _one(sender: Any, receiver: Any, number: int) -> float:
    text = f"latency {number:06d} pbridge://ptr/" + "x" * 300  # about a pointer's size
    start = time.perf_counter()
    token = sender.room_fernet.encrypt(text.encode()).decode()
    await sender.send_json({"type": "message", "text": token})
    while (await _next_message(receiver)).get("text") != text:
        pass
    elapsed = time.perf_counter() - start
    while (await _next_message(sender)).get("text") != text:  # its own echo
        pass
    return elapsed * 1000


async def _main(checkout: str, host: str, port: int) -> None:
    sys.path.insert(0, checkout)
    from cmd_chat.client.client import Client

    loop = asyncio.get_running_loop()
    password = (await loop.run_in_executor(None, sys.stdin.readline)).rstrip("\n")
    sender = await _client(Client, host, port, "bench-alice", password)
    receiver = await _client(Client, host, port, "bench-bob", password)
    number = 0
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        times = []
        for _ in range(int(line)):
            times.append(await _one(sender, receiver, number))
            number += 1
        print(json.dumps(times), flush=True)
    for client in (sender, receiver):
        client.writer.close()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
