"""Two processes of one home sending in one chat at once (a cron poll's `send`, the
console, a script): each pb2 message must get a number of its own in the device's stream
(app/outbox.py, home/store/pointers.py), or every receiver flags the second as a replay."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from test_local_app import ok, setup_user


def test_two_processes_sending_at_once_never_share_a_number(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, bob = (setup_user(tmp_path, user, shared) for user in ("alice", "bob"))
    batches = ["\n".join(f"{who} {n}" for n in range(120)) for who in ("first", "second")]
    with ThreadPoolExecutor(2) as pool:  # two `pbridge send` processes, racing for each number
        list(pool.map(lambda lines: ok(alice, "alice", "send", "family", "--lines", stdin=lines), batches))
    ok(bob, "bob", "poll")
    seen = json.loads(ok(bob, "bob", "read", "family", "--json"))
    bodies = [m["body"] for m in seen["messages"]]
    assert sorted(bodies) == sorted(line for batch in batches for line in batch.split("\n"))
    assert not [m for m in seen["messages"] if m["replayed"]] and seen["gaps"] == []
