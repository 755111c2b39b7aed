"""Adversarial review of issue 20's push hooks (Matrix /sync, Telegram getUpdates, IMAP
IDLE) and the Listener that drives them: one test per defect found, each failing on
``wip`` (2559fe6). The servers here are hostile on purpose: no real server behaves so,
which is the point (carriers are hostile, bridges/base.py)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from pointerbridge.app.listen import Backoff, Listener, ListenEvent
from pointerbridge.app.service import App
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config

_PASSWORD_ENV = "PBRIDGE_REVIEW2_MAIL_PASSWORD"


def _mail_settings(port: int, **changes: object) -> dict[str, object]:
    os.environ[_PASSWORD_ENV] = "secret"
    return {
        "address": "bob@mail.test",
        "to": ["alice@mail.test", "bob@mail.test"],
        "username": "bob",
        "password_env": _PASSWORD_ENV,
        "imap_host": "127.0.0.1",
        "imap_port": port,
        "imap_security": "none",
        "smtp_host": "127.0.0.1",
        "smtp_port": 9,
        "smtp_security": "none",
        **changes,
    }


class _ImapServer:
    """A scripted IMAP server (any number of connections, one after another): it logs in
    anyone, SELECTs an empty folder, and answers IDLE as ``idle`` says:

    - ``"flood"``: the continuation, then untagged lines sent as fast as the socket takes
      them for ``flood_for`` seconds (a hostile server, or a mailbox whose flags another
      client changes in a tight loop), then silence;
    - ``"trickle"``: the continuation, then one untagged line a byte every 0.5 s for
      ``flood_for`` seconds;
    - ``"news"``: the continuation and ``* 1 EXISTS`` at once, every time (a server that
      answers the long wait at once, forever: nothing is ever there to read).
    """

    def __init__(self, idle: str, flood_for: float = 6.0) -> None:
        self.idle, self.flood_for = idle, flood_for
        self.idles = 0
        self._listening = socket.create_server(("127.0.0.1", 0))
        self.port = self._listening.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._listening.close()
        self._thread.join(10)

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listening.accept()
            except OSError:
                return
            with conn:
                try:
                    self._session(conn)
                except OSError:
                    continue

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        lines = conn.makefile("rb")
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n")
        for line in lines:
            tag, _, command = line.strip().partition(b" ")
            verb = command.split(b" ", 1)[0].upper()
            if verb in (b"SELECT", b"EXAMINE"):
                conn.sendall(
                    b"* 0 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 1] n\r\n"
                    + tag
                    + b" OK [READ-WRITE] selected\r\n"
                )
            elif verb == b"IDLE":
                self.idles += 1
                if self.idle == "trickle":
                    conn.sendall(b"+ idling\r\n* 1 FETCH (FLAGS (")
                    until = time.monotonic() + self.flood_for
                    while time.monotonic() < until and not self._stopped.is_set():
                        conn.sendall(b"x")
                        time.sleep(0.5)  # the server's pace: under the client's 1 s socket timeout
                    conn.sendall(b"))\r\n")
                elif self.idle == "flood":
                    conn.sendall(b"+ idling\r\n")
                    chunk = b"* 1 FETCH (FLAGS (\\Seen))\r\n" * 2000
                    until = time.monotonic() + self.flood_for
                    while time.monotonic() < until and not self._stopped.is_set():
                        conn.sendall(chunk)
                else:
                    conn.sendall(b"+ idling\r\n* 1 EXISTS\r\n")
                if lines.readline().strip().upper() != b"DONE":
                    return
                conn.sendall(tag + b" OK idle done\r\n")
            elif verb == b"LOGOUT":
                conn.sendall(b"* BYE bye\r\n" + tag + b" OK bye\r\n")
                return
            else:
                conn.sendall(tag + b" OK done\r\n")


def _home(tmp_path: Path, settings: dict[str, object]) -> Home:
    home = Home(tmp_path / "bob", tmp_path / "bob")
    home.create()
    save_config(
        home.config_path, Config(carriers={"mail": CarrierConfig.model_validate({"type": "email", **settings})})
    )
    with App(home) as app:
        app.init("bob", "bob's phrase", allow_weak=True)
    return home


def test_a_carrier_that_answers_every_wait_at_once_does_not_spin_the_listener(tmp_path: Path) -> None:
    """app/listen.py:Listener._listen calls listen_round again the moment one returns, and
    resets the backoff after every round that did not raise: a carrier that ends every wait
    at once with nothing (here an IMAP server telling ``* 1 EXISTS`` at each IDLE; equally a
    homeserver or a Telegram proxy ignoring the long poll's timeout) turns an idle listener
    into a busy loop: 100% of a core, a request storm on the server, and a cursor write per
    round. A listener asked to wait 5 s should not ask more than a few times a second."""
    server = _ImapServer("news")
    home = _home(tmp_path, _mail_settings(server.port, timeout=5))
    events: list[ListenEvent] = []
    listener = Listener(home, "mail", events.append, wait=5.0, backoff=Backoff(0.5, 2.0))
    cpu = time.process_time()
    listener.start()
    try:
        time.sleep(3.0)  # a measured period, not a wait for a condition
    finally:
        assert listener.stop(timeout=30)
        server.stop()
    used = time.process_time() - cpu
    # Each wait was cut short at once; a floor of ~1 s between empty rounds would allow ~4.
    assert server.idles <= 10, f"{server.idles} IDLEs in 3 s of a 5 s wait ({used:.1f} s of CPU)"
