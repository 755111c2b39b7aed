"""XMPP carrier benchmark against a real Prosody on 127.0.0.1. Usage:

    python bench/xmpp_carrier.py [--count 1000] [--json]

Starts the tests' Prosody (``tests/servers/prosody.py``: Debian's Prosody 0.12, a MUC
component with mod_muc_mam, plain c2s on loopback), makes a room, then:

1. Posting: ``count`` pointers (~300 B messages) by Alice's bridge on one session, each
   waiting for the room's echo (the archive id, the post's receipt).
2. Archive to store: Bob's first ``App.poll`` reads the whole backlog through MAM (pages of
   50, the server's most) and stores every pointer; pointers/s and the pages asked.
3. Idle poll: ``App.poll`` with nothing new (a login and one archive query), in-process,
   and ``pbridge poll`` as a whole process, the cron line.
4. Machine speed, as ``bench/local_app.py`` measures it.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from local_app import _machine_factor, cli
from matrix import _idle_process_polls, _timed
from pointerbridge.app.service import App
from pointerbridge.bridges.base import bridge_class
from pointerbridge.bridges.xmpp_api import Session
from pointerbridge.core import ChatKey, Identity, seal
from pointerbridge.home.config import Config, Home, save_config
from servers.prosody import MUC, XmppServer, bot_config, say


def run(count: int) -> dict[str, Any]:
    with XmppServer() as server, tempfile.TemporaryDirectory(prefix="pbridge-bench-xmpp-") as scratch:
        return _measure(Path(scratch), server, count)


def _measure(root: Path, server: XmppServer, count: int) -> dict[str, Any]:
    room = f"bench@{MUC}"
    say(bot_config(server, "benchperson", room), "a room for the benchmark")
    alice, bob = bot_config(server, "alicebench", room), bot_config(server, "bobbench", room)
    home = Home(root / "bob", root / "bob")
    home.create()
    save_config(home.config_path, Config(carriers={"jabber": bob}))
    chat = ChatKey.derive("bench", "bench chat secret", bytes(16))
    sender_id = Identity.derive_unsalted("alice", "bench phrase")
    pointers = [p for i in range(count) for p in seal(chat, sender_id, f"message {i:06d}: " + "lorem ipsum " * 24)]
    sender = bridge_class("xmpp").from_config("jabber", alice.settings)
    try:
        _, post_seconds = _timed(lambda: [sender.post(p) for p in pointers])
    finally:
        sender.close()
    pages: list[int] = []
    real_page = Session.page

    async def counting(self: Session, **kwargs: Any) -> Any:
        pages.append(1)
        return await real_page(self, **kwargs)

    Session.page = counting  # type: ignore[method-assign]
    try:
        with App(home) as app:
            app.init("bob", "bob's bench phrase", allow_weak=True)  # the cron poll below needs a home made by init
            summary, backlog_seconds = _timed(app.poll)
            assert summary.errors == {} and summary.received == {"jabber": len(pointers)}, summary
            backlog_pages = len(pages)
            pages.clear()
            idle = [_timed(app.poll)[1] for _ in range(5)]
            idle_pages = len(pages) / 5
    finally:
        Session.page = real_page  # type: ignore[method-assign]
    processes = _idle_process_polls(root / "bob")
    return {
        "machine": _machine_factor(),
        "count": len(pointers),
        "post_seconds": round(post_seconds, 2),
        "posts_per_second": round(len(pointers) / post_seconds, 1),
        "backlog_poll_seconds": round(backlog_seconds, 3),
        "backlog_pointers_per_second": round(len(pointers) / backlog_seconds),
        "backlog_archive_pages": backlog_pages,
        "idle_archive_queries_per_poll": idle_pages,
        "idle_poll_in_process_ms_median": round(statistics.median(idle) * 1000, 1),
        "idle_pbridge_poll_process_seconds_median": round(statistics.median(processes), 3),
    }


if __name__ == "__main__":
    cli(run, 1000, __doc__)
