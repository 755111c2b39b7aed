"""Adversarial review of issue 20's push hooks (Matrix /sync, Telegram getUpdates, IMAP
IDLE) and the Listener that drives them: one test per defect found, each failing on
``wip`` (2559fe6). The servers here are hostile on purpose: no real server behaves so,
which is the point (carriers are hostile, bridges/base.py)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pointerbridge.app.listen import Backoff, Listener, ListenEvent
from pointerbridge.app.service import App
from pointerbridge.bridges.base import RetryableError, bridge_class
from pointerbridge.bridges.email import EmailBridge
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


@pytest.fixture
def flooding() -> Iterator[_ImapServer]:
    server = _ImapServer("flood")
    yield server
    server.stop()


def test_an_idle_flooded_with_untagged_lines_still_ends_at_its_wait(flooding: _ImapServer) -> None:
    """email_idle.py:_read_line returns a line whenever bytes are buffered without looking at
    ``by``: a server that keeps its socket full (untagged FETCH/EXPUNGE lines, ``* OK still
    here``) holds a listen, and its thread at 100% CPU, for as long as it likes, past the
    wait and past the timeout that bounds the answers to IDLE and DONE."""
    bridge = bridge_class("email").from_config("mail", _mail_settings(flooding.port, timeout=1))
    assert isinstance(bridge, EmailBridge)
    ended: list[float] = []
    given_up: list[RetryableError] = []  # giving up on such a server is fine; waiting on it is not

    def listen() -> None:
        try:
            bridge.listen(None, 1.0)
        except RetryableError as exc:
            given_up.append(exc)
        finally:
            ended.append(time.monotonic())

    started = time.monotonic()
    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    thread.join(20)
    bridge.close()
    assert ended, "the listen never ended"
    # the wait (1 s) and the answer to DONE (the 1 s timeout), with room for a slow machine;
    # the server floods for 6 s
    assert ended[0] - started < 4.0, f"a 1 s listen took {ended[0] - started:.1f} s"


@pytest.fixture
def trickling() -> Iterator[_ImapServer]:
    server = _ImapServer("trickle")
    yield server
    server.stop()


def test_an_idle_line_trickled_a_byte_at_a_time_still_ends_at_its_wait(trickling: _ImapServer) -> None:
    """email_idle.py:_read_line: once a byte of a line is there, ``imap.readline()`` reads the
    rest with only the socket's timeout per recv, not per line (the module docstring says
    "the rest of their line must come within the socket's timeout": it need not). A server
    sending a byte every 0.5 s against a 1 s timeout holds a 1 s listen for as long as it
    likes (imaplib's 1 MB line: days). The Telegram probe checks a deadline per chunk
    (telegram_probe.py); the IDLE reader does not."""
    bridge = bridge_class("email").from_config("mail", _mail_settings(trickling.port, timeout=1))
    ended: list[float] = []
    given_up: list[RetryableError] = []  # giving up on such a server is fine; waiting on it is not

    def listen() -> None:
        try:
            bridge.listen(None, 1.0)
        except RetryableError as exc:
            given_up.append(exc)
        finally:
            ended.append(time.monotonic())

    started = time.monotonic()
    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    thread.join(20)
    bridge.close()
    assert ended, "the listen never ended"
    assert ended[0] - started < 4.0, f"a 1 s listen took {ended[0] - started:.1f} s"


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


class _HugeSync:
    """A homeserver whose /sync answer never ends: JSON text streamed until ``total``
    bytes are sent, then the connection held open. Records whether the client read it all."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0
        self.sent_all = threading.Event()
        self._listening = socket.create_server(("127.0.0.1", 0))
        self.port = self._listening.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with self._listening:
            conn, _ = self._listening.accept()
            with conn:
                conn.settimeout(30)
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
                conn.sendall(b'{"next_batch": "s2", "padding": "')
                block = b"a" * (1 << 20)
                try:
                    while self.sent < self.total:
                        conn.sendall(block)
                        self.sent += len(block)
                    self.sent_all.set()
                    conn.recv(1)  # held open until the client hangs up
                except OSError:
                    return


def test_a_huge_sync_answer_is_not_read_into_memory_without_bound() -> None:
    """matrix_api.py:get_json reads the whole body (aiohttp's ``response.json()``) with no
    size bound, only the time bound (timeout + wait, ~55 s by default): a hostile or broken
    homeserver fills the listener's memory at the speed of the link (here 72 MiB read in
    full before the bridge gives up; the Telegram probe stops at 16 MiB, MAX_ANSWER_BYTES).
    A /sync answer of 100 events of at most 64 KiB stays under 7 MiB."""
    server = _HugeSync(72 << 20)
    os.environ["PBRIDGE_REVIEW2_MX_TOKEN"] = "syt_review2_token"
    bridge = bridge_class("matrix").from_config(
        "mx",
        {
            "homeserver": f"http://127.0.0.1:{server.port}",
            "user_id": "@bob:test",
            "device_id": "DEV",
            "room_id": "!room:test",
            "access_token_env": "PBRIDGE_REVIEW2_MX_TOKEN",
            "timeout": 3,
        },
    )
    cursor = json.dumps({"room": "!room:test", "user": "@bob:test", "filter": "f1", "since": "s1"})
    try:
        with pytest.raises(RetryableError):
            bridge.listen(cursor, 1.0)
    finally:
        bridge.close()
    assert not server.sent_all.is_set(), f"the bridge read all {server.sent >> 20} MiB the server sent"
