"""E-mail push latency (issue 20): post -> a listening bridge's IDLE returns the pointer,
against a real Dovecot on 127.0.0.1. Usage:

    python bench/email_listen.py [--count 30] [--json]

Starts the tests' mail server (``tests/servers/dovecot.py``), then, ``count`` rounds:
Bob's bridge listens (IMAP IDLE, ``wait`` 20 s) in a thread; once the server has
answered the IDLE, Alice's bridge posts one pointer (SMTP -> LMTP: it returns once Dovecot
has stored the mail); the latency is from the post's return to the listen's return with
the pointer. Interleaved in the same rounds, the floor: the same kind of post, then one
poll by a second bridge of Bob's on a connection of its own (the cheapest read of a
stored mail: SELECT, SEARCH, FETCH). Dovecot itself waits 500 ms after a change before it
tells an IDLE (``NOTIFY_DELAY_MSECS`` in its mailbox-watch.c), counted from its delivery,
before the post returns: that is nearly all of the figure.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from local_app import cli
from pointerbridge.bridges import email_idle
from pointerbridge.bridges.base import PollResult, bridge_class
from pointerbridge.core import ChatKey, Identity, seal
from servers.dovecot import MailServer, mailbox_config


def run(count: int) -> dict[str, Any]:
    server = MailServer()
    server.start()
    try:
        return _measure(server, count)
    finally:
        server.stop()


def _measure(server: MailServer, count: int) -> dict[str, Any]:
    users = ["alicelisten", "boblisten"]
    alice, bob = (mailbox_config(server, u, users) for u in users)
    email = bridge_class("email")
    sender, listener, poller = (email.from_config("mail", c.settings) for c in (alice, bob, bob))
    chat = ChatKey.derive("bench", "bench chat secret", bytes(16))
    sender_id = Identity.derive_unsalted("alice", "bench phrase")
    idling = threading.Event()
    real = email_idle._read_line

    def reading(imap: Any, by: float) -> bytes | None:  # tells when the server has answered IDLE
        line = real(imap, by)
        if line is not None and line.startswith(b"+"):
            idling.set()
        return line

    email_idle._read_line = reading  # type: ignore[assignment]
    listened, polled, posts = [], [], []
    try:
        listen_cursor = listener.poll(None).cursor
        poll_cursor = poller.poll(None).cursor
        for i in range(count):
            pushed, floor = (seal(chat, sender_id, f"{kind} {i}")[0] for kind in ("push", "poll"))
            idling.clear()
            out: list[Any] = []
            thread = threading.Thread(target=_listen_into, args=(listener, listen_cursor, out))
            thread.start()
            if not idling.wait(20):
                raise RuntimeError("the listen never started an IDLE")
            began = time.perf_counter()
            sender.post(pushed)
            posted = time.perf_counter()
            posts.append(posted - began)
            thread.join(30)
            result, returned = out[0]
            assert [r.text for r in result.pointers] == [pushed], result
            listened.append(returned - posted)
            listen_cursor = result.cursor
            sender.post(floor)
            posted = time.perf_counter()
            found: PollResult = poller.poll(poll_cursor)
            polled.append(time.perf_counter() - posted)
            assert floor in [r.text for r in found.pointers], found
            poll_cursor = found.cursor
            listen_cursor = listener.poll(listen_cursor).cursor  # the floor's mail, read untimed
    finally:
        email_idle._read_line = real  # type: ignore[assignment]
        for bridge in (sender, listener, poller):
            bridge.close()
    p50, floor_p50 = statistics.median(listened), statistics.median(polled)
    return {
        "rounds": count,
        "listen_latency_ms_p50": round(p50 * 1000, 1),
        "listen_latency_ms_p95": round(sorted(listened)[int(0.95 * (count - 1))] * 1000, 1),
        "listen_latency_ms_best": round(min(listened) * 1000, 1),
        "floor_poll_ms_p50": round(floor_p50 * 1000, 1),
        "p50_ratio_to_floor": round(p50 / floor_p50, 1),
        "post_ms_p50": round(statistics.median(posts) * 1000, 1),
    }


def _listen_into(listener: Any, cursor: str, out: list[Any]) -> None:
    out.append((listener.listen(cursor, 20), time.perf_counter()))


if __name__ == "__main__":
    cli(run, 30, __doc__)
