"""E-mail carrier benchmark against a real Dovecot on 127.0.0.1 (not named email.py, which
would shadow the standard library). Usage:

    python bench/email_carrier.py [--count 1000] [--json]

Starts the tests' mail server (``tests/servers/dovecot.py``: Dovecot 2.3 with an SMTP
front delivering over LMTP), then:

1. Posting: ``count`` pointers (~300 B messages) mailed by Alice's bridge, one SMTP
   connection, one mail each.
2. IMAP to store: Bob's first ``App.poll`` reads the whole backlog (batches of 200, fetched
   100 at a time) and stores every pointer. Reports pointers/s and the IMAP commands sent.
3. Idle poll: ``App.poll`` with nothing new (IMAP commands counted), and ``pbridge poll``
   as a whole process, the cron line.
4. Machine speed, as ``bench/local_app.py`` measures it.
"""

from __future__ import annotations

import imaplib
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from local_app import _machine_factor, cli
from matrix import _idle_process_polls, _timed
from pointerbridge.app.service import App
from pointerbridge.bridges.base import bridge_class
from pointerbridge.core import ChatKey, Identity, seal
from pointerbridge.home.config import Config, Home, save_config
from servers.dovecot import MailServer, mailbox_config


@contextmanager
def _counting_commands() -> Iterator[list[str]]:
    """Every IMAP command imaplib sends while the block runs."""
    commands: list[str] = []
    real = imaplib.IMAP4._command

    def counting(self: imaplib.IMAP4, name: str, *args: Any) -> Any:
        commands.append(name)
        return real(self, name, *args)

    imaplib.IMAP4._command = counting  # type: ignore[method-assign]
    try:
        yield commands
    finally:
        imaplib.IMAP4._command = real  # type: ignore[method-assign]


def run(count: int) -> dict[str, Any]:
    server = MailServer()
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="pbridge-bench-email-") as scratch:
            return _measure(Path(scratch), server, count)
    finally:
        server.stop()


def _measure(root: Path, server: MailServer, count: int) -> dict[str, Any]:
    alice = mailbox_config(server, "alicebench", ["alicebench", "bobbench"])
    bob = mailbox_config(server, "bobbench", ["alicebench", "bobbench"])
    home = Home(root / "bob", root / "bob")
    home.create()
    save_config(home.config_path, Config(carriers={"mail": bob}))
    chat = ChatKey.derive("bench", "bench chat secret", bytes(16))
    sender_id = Identity.derive_unsalted("alice", "bench phrase")
    pointers = [p for i in range(count) for p in seal(chat, sender_id, f"message {i:06d}: " + "lorem ipsum " * 24)]
    sender = bridge_class("email").from_config("mail", alice.settings)
    try:
        _, post_seconds = _timed(lambda: [sender.post(p) for p in pointers])
    finally:
        sender.close()
    with App(home) as app:
        with _counting_commands() as backlog:
            summary, backlog_seconds = _timed(app.poll)
        assert summary.errors == {} and summary.received == {"mail": len(pointers)}, summary
        with _counting_commands() as idle_commands:
            idle = [_timed(app.poll)[1] for _ in range(5)]
    processes = _idle_process_polls(root / "bob")
    return {
        "machine": _machine_factor(),
        "count": len(pointers),
        "post_seconds": round(post_seconds, 2),
        "posts_per_second": round(len(pointers) / post_seconds, 1),
        "backlog_poll_seconds": round(backlog_seconds, 3),
        "backlog_pointers_per_second": round(len(pointers) / backlog_seconds),
        "backlog_imap_commands": sorted({c: backlog.count(c) for c in backlog}.items()),
        "idle_imap_commands_per_poll": sorted({c: idle_commands.count(c) / 5 for c in idle_commands}.items()),
        "idle_poll_in_process_ms_median": round(statistics.median(idle) * 1000, 1),
        "idle_pbridge_poll_process_seconds_median": round(statistics.median(processes), 3),
    }


if __name__ == "__main__":
    cli(run, 1000, __doc__)
