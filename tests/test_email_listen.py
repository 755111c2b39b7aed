"""The e-mail carrier's push hook (issue 20): IMAP IDLE against a real Dovecot, the
fallback to a scan per wait where IDLE is not offered, and a connection cut mid-IDLE."""

from __future__ import annotations

import functools
import imaplib
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from console_helpers import carrier_home, opened, with_chat
from helpers import ScriptedServer, idle_began, raw_chat, raw_identity, running_daemon, timed_on_a_thread, wait_for
from pointerbridge.app.listen import Backoff, Heard, Listener, ListenEvent, ListenFailed
from pointerbridge.app.service import App
from pointerbridge.bridges import email_idle
from pointerbridge.bridges.base import Bridge, PollResult, RetryableError, bridge_class
from pointerbridge.bridges.email import EmailBridge
from pointerbridge.core import seal
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from servers.dovecot import MailServer, email_pair, mailbox_config, shared_mail_server

# Dovecot 2.3's own list less IDLE: a server that does not offer it.
_NO_IDLE = "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS MOVE\n"


def _bridge(config: CarrierConfig) -> Bridge:
    return bridge_class("email").from_config("mail", dict(config.settings))


def _pointers(count: int, prefix: str) -> list[str]:
    return [seal(raw_chat("mail"), raw_identity("alice"), f"{prefix}{i}")[0] for i in range(count)]


@pytest.fixture
def pair() -> Iterator[tuple[Bridge, Bridge, CarrierConfig]]:
    shared_mail_server()
    alice, bob, _ = email_pair()
    sender, reader = _bridge(alice), _bridge(bob)
    yield sender, reader, bob
    sender.close()
    reader.close()


@pytest.fixture
def idling(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set each time the server has answered an IDLE with its continuation (cleared by the test)."""
    return idle_began(monkeypatch)


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When each scan of the folder (the poll's own) started."""
    real = EmailBridge._poll
    started: list[float] = []

    def scanning(self: EmailBridge, imap: Any, state: dict[str, Any]) -> PollResult:
        started.append(time.monotonic())
        return real(self, imap, state)

    monkeypatch.setattr(EmailBridge, "_poll", scanning)
    return started


def _in_thread(call: Callable[[], PollResult]) -> tuple[threading.Thread, list[Any]]:
    """Run ``call`` in a thread; its result (or exception) and the time it ended land in the list."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(call())
        except RetryableError as exc:
            out.append(exc)
        out.append(time.monotonic())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_a_waiting_listen_returns_within_a_second_of_a_mail_arriving(
    pair: tuple[Bridge, Bridge, CarrierConfig], idling: threading.Event, scans: list[float]
) -> None:
    sender, reader, _ = pair
    assert reader.listens
    cursor = reader.poll(None).cursor
    (pointer,) = _pointers(1, "pushed")
    started = time.monotonic()
    thread, out = _in_thread(lambda: reader.listen(cursor, 20))
    assert idling.wait(10), "the listen never started an IDLE"
    sender.post(pointer)  # returns once Dovecot has stored the mail
    posted = time.monotonic()
    thread.join(20)
    result, ended = out
    assert [r.text for r in result.pointers] == [pointer]
    assert ended - posted < 2.0, f"the listen returned {ended - posted:.2f} s after the mail was stored"
    assert len(scans) == 3 and scans[1] - started < 2.0  # the first poll, the listen's scan, the one after IDLE
    again = reader.listen(result.cursor, 0.5)  # nothing read twice
    assert again.pointers == []


def test_an_idle_listen_returns_empty_after_its_wait_not_an_error(
    pair: tuple[Bridge, Bridge, CarrierConfig], idling: threading.Event
) -> None:
    _, reader, _ = pair
    cursor = reader.poll(None).cursor
    for _ in range(2):  # the connection and its folder stay open: the second IDLEs as the first
        idling.clear()
        started = time.monotonic()
        result = reader.listen(cursor, 1.5)
        took = time.monotonic() - started
        assert result.pointers == [] and idling.is_set()
        assert 1.4 < took < 4.0, f"an idle listen of 1.5 s took {took:.2f} s"
        cursor = result.cursor


@pytest.mark.parametrize("after", ["keep", "seen"])
def test_a_mail_arriving_between_the_scan_and_the_idle_is_not_missed(
    monkeypatch: pytest.MonkeyPatch, after: str
) -> None:
    """keep: the server tells of the mail when the IDLE starts; seen: in its answer to the
    scan's STORE (marking the mail the last listen read), so the IDLE would not tell again."""
    shared_mail_server()
    alice, bob, _ = email_pair()
    sender, reader = _bridge(alice), bridge_class("email").from_config("mail", {**bob.settings, "after": after})
    first, late = _pointers(2, "between")
    sender.post(first)
    read = reader.poll(None)
    assert [r.text for r in read.pointers] == [first]
    real = EmailBridge._select
    delivered: list[str] = []

    def select_then_deliver(self: EmailBridge, imap: Any, *, writable: bool) -> tuple[int, int | None]:
        answer = real(self, imap, writable=writable)
        if not delivered:  # after the scan's SELECT: its UIDNEXT does not cover this mail
            sender.post(late)
            delivered.append(late)
        return answer

    monkeypatch.setattr(EmailBridge, "_select", select_then_deliver)
    try:
        started = time.monotonic()
        result = reader.listen(read.cursor, 20)
        assert delivered and [r.text for r in result.pointers] == [late]
        assert time.monotonic() - started < 5.0
    finally:
        sender.close()
        reader.close()


@pytest.fixture(scope="module")
def idle_less_server() -> Iterator[MailServer]:
    with MailServer(settings=_NO_IDLE) as served:
        yield served


def test_without_idle_the_listen_scans_once_per_wait(idle_less_server: MailServer, scans: list[float]) -> None:
    users = [f"noidle{n}x{os.getpid()}" for n in ("a", "b")]
    alice, bob = (mailbox_config(idle_less_server, u, users) for u in users)
    sender, reader = _bridge(alice), _bridge(bob)
    try:
        cursor = reader.poll(None).cursor
        assert isinstance(reader, EmailBridge) and "IDLE" not in reader._capabilities
        (pointer,) = _pointers(1, "fallback")
        scans.clear()
        thread, out = _in_thread(lambda: reader.listen(cursor, 1.0))  # a scan, then the wait
        wait_for(lambda: len(scans) == 1, "the listen's scan", 10)
        sender.post(pointer)  # during that wait
        thread.join(10)
        first, first_ended = out
        assert first.pointers == [] and len(scans) == 1 and 0.95 < first_ended - scans[0] < 1.6
        second = reader.listen(first.cursor, 1.0)
        assert [r.text for r in second.pointers] == [pointer] and time.monotonic() - scans[1] < 0.5  # at once
        third = reader.listen(second.cursor, 1.0)
        assert third.pointers == [] and len(scans) == 3 and 0.95 < time.monotonic() - scans[2] < 1.6
    finally:
        sender.close()
        reader.close()


def _home(tmp_path: Path, config: CarrierConfig) -> Home:
    home = Home(tmp_path / "bob", tmp_path / "bob")
    home.create()
    save_config(home.config_path, Config(carriers={"mail": config}))
    with App(home) as app:  # a listener opens the home as it is: initialised
        app.init("bob", "bob's phrase", allow_weak=True)
    return home


def test_dovecot_stopped_while_a_listener_waits_then_every_mail_arrives_once(
    tmp_path: Path, pair: tuple[Bridge, Bridge, CarrierConfig], idling: threading.Event
) -> None:
    server = shared_mail_server()
    sender, _, bob_config = pair
    before, during, outage, after = (
        _pointers(n, p) for n, p in ((3, "before"), (2, "during"), (2, "out"), (2, "after"))
    )
    for pointer in before:
        sender.post(pointer)
    home = _home(tmp_path, bob_config)
    events: queue.Queue[ListenEvent] = queue.Queue()
    listener = Listener(home, "mail", events.put, wait=5, backoff=Backoff(0.05, 0.2))

    def heard(count: int) -> list[ListenEvent]:
        got, seen = 0, []
        while got < count:
            event = events.get(timeout=30)
            seen.append(event)
            assert len(seen) < 500, seen[-1]
            got += event.received if isinstance(event, Heard) else 0
        assert got == count
        return seen

    idling.clear()
    listener.start()
    try:
        heard(len(before))
        assert idling.wait(10)
        for pointer in during:
            sender.post(pointer)
        idling.clear()
        heard(len(during))
        assert idling.wait(10)
        server.stop_imap()  # the push connection is cut mid-IDLE
        try:
            failed = events.get(timeout=30)
            assert isinstance(failed, ListenFailed) and not failed.fatal and "unavailable" in failed.message
            deferred = []
            for pointer in outage:  # the SMTP front answers 451 while Dovecot is down: the outbox tries later
                with pytest.raises(RetryableError):
                    sender.post(pointer)
                deferred.append(pointer)
        finally:
            server.start_imap()
        for pointer in deferred + after:
            sender.post(pointer)
        seen = heard(len(outage) + len(after))
        assert all(isinstance(e, (Heard, ListenFailed)) and not getattr(e, "fatal", False) for e in seen)
    finally:
        assert listener.stop(timeout=30)
    with App(home, create=False) as bob:
        stored = [t for (t,) in bob.store._db.execute("SELECT text FROM pointers ORDER BY id")]
    assert sorted(stored) == sorted(before + during + outage + after) and len(stored) == len(set(stored))


@pytest.fixture(scope="module")
def tls_server() -> Iterator[MailServer]:
    with MailServer(tls=True) as served:
        yield served


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_idle_over_tls_returns_on_arrival_and_after_the_wait(
    tls_server: MailServer, idling: threading.Event, security: str
) -> None:
    """TLS keeps bytes of its own below imaplib's buffer: the wait must see them too."""
    users = [f"idle{security}{n}x{os.getpid()}" for n in ("a", "b")]
    port = tls_server.imaps_port if security == "tls" else tls_server.imap_port
    settings = {"imap_security": security, "imap_port": port, "tls_ca_file": str(tls_server.ca_file)}
    alice, bob = (mailbox_config(tls_server, u, users, **settings) for u in users)
    sender, reader = _bridge(alice), _bridge(bob)
    try:
        cursor = reader.poll(None).cursor
        pointers = _pointers(2, security)
        for pointer in pointers:
            idling.clear()
            thread, out = _in_thread(functools.partial(reader.listen, cursor, 20))
            assert idling.wait(10)
            sender.post(pointer)
            posted = time.monotonic()
            thread.join(20)
            result, ended = out
            assert [r.text for r in result.pointers] == [pointer] and ended - posted < 2.0
            cursor = result.cursor
        started = time.monotonic()
        assert reader.listen(cursor, 1.0).pointers == [] and 0.95 < time.monotonic() - started < 3.0
    finally:
        sender.close()
        reader.close()


def test_bobs_daemon_stores_alices_mail_without_any_poll(tmp_path: Path) -> None:
    server = shared_mail_server()
    users = [f"alice{os.getpid()}d", f"bob{os.getpid()}d"]
    alice_config, bob_config = (mailbox_config(server, u, users, poll_every=3600) for u in users)
    alice, bob = carrier_home(tmp_path, "alice", alice_config), carrier_home(tmp_path, "bob", bob_config)
    with_chat(bob, "bob")
    with running_daemon(
        bob.config_dir, listening_to="shared", stop_within=30, never_logged=("live over IMAP IDLE",)
    ) as lines:
        with_chat(alice, "alice", bodies=("live over IMAP IDLE",))
        sent = time.monotonic()
        wait_for(lambda: any("shared: received 1 (live)" in line for line in lines), "bob's daemon hears it")
        assert time.monotonic() - sent < 5.0  # IDLE, not the hour between its polls
        with opened(bob) as app:
            assert app.store.counts()["inbox"] == 1
    assert not any("received 1, skipped" in line for line in lines)  # no poll fetched it


def _scripted_server(during_idle: bytes) -> tuple[int, threading.Thread]:
    """A one-connection IMAP server that answers every command OK and, to IDLE, sends
    ``during_idle`` (what a hostile or unusual server may send), then OK after DONE."""
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]

    def serve() -> None:
        with listening, listening.accept()[0] as conn, conn.makefile("rb") as lines:
            conn.sendall(b"* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n")
            for line in lines:
                tag, _, command = line.partition(b" ")
                if command.upper().startswith(b"IDLE"):
                    conn.sendall(during_idle)
                    if lines.readline().strip().upper() != b"DONE":
                        return
                conn.sendall(tag + b" OK done\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


@pytest.mark.parametrize(
    ("during_idle", "outcome"),
    [
        (b"* 2 EXISTS\r\n+ idling\r\n", True),  # told as the IDLE starts (a mail since the scan)
        (b"+ idling\r\n* 2 EXISTS\r\n* 1 RECENT\r\n", True),
        (b"+ idling\r\n* 1 FETCH (BODY[] {12}\r\n* 9 EXISTS\r\n)\r\n", False),  # a literal's text is no news
        (b"+ idling\r\n* 1 EXPUNGE\r\n* 1 FETCH (FLAGS (\\Seen))\r\n", False),  # nothing to read: the wait goes on
        (b"+ idling\r\n* BYE shutting down\r\n", "said BYE"),
        (b"+ idling\r\n* 1 FETCH (X {1}\r\n" + b"x {1}\r\n" * 20 + b"x)\r\n", "too many literals"),
        (b"+ idling\r\n* 1 FETCH (BODY[] {99999999}\r\n", "literal too long"),
        (b"+ idling\r\n* 2 EXI", "timed out"),  # half a line, then silence: the socket's timeout (1 s)
    ],
)
def test_the_idle_reader_bounds_what_a_server_sends(during_idle: bytes, outcome: bool | str) -> None:
    port, thread = _scripted_server(during_idle)
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=1.0)
    bridge = bridge_class("email").from_config("mail", {**email_pair()[1].settings, "imap_port": port})
    assert isinstance(bridge, EmailBridge)
    try:
        started = time.monotonic()
        if isinstance(outcome, bool):
            assert bridge._idle(imap, started + 1.5) is outcome
            assert (time.monotonic() - started < 1.0) is outcome  # news ends the wait at once
        else:
            with pytest.raises((imaplib.IMAP4.abort, TimeoutError), match=outcome):  # listen: retryable
                bridge._idle(imap, started + 1.5)
            assert time.monotonic() - started < 3.0
    finally:
        imap.shutdown()
        thread.join(5)


class _HostileImap(ScriptedServer):
    """An IMAP server (one connection after another) that logs anyone in, SELECTs an empty
    folder, and answers IDLE with its continuation and then, for ``for_s`` seconds, either
    untagged lines as fast as the socket takes them (``"flood"``: a hostile server, or a
    mailbox whose flags another client changes in a tight loop) or one line a byte every
    0.5 s (``"trickle"``, under the client's 1 s socket timeout)."""

    def __init__(self, idle: str, for_s: float = 6.0) -> None:
        self.idle, self.for_s = idle, for_s
        super().__init__()

    def answer(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        lines = conn.makefile("rb")
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n")
        for line in lines:
            tag, _, command = line.strip().partition(b" ")
            verb = command.split(b" ", 1)[0].upper()
            if verb in (b"SELECT", b"EXAMINE"):
                conn.sendall(b"* 0 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 1] n\r\n" + tag + b" OK done\r\n")
            elif verb == b"IDLE":
                until = time.monotonic() + self.for_s
                if self.idle == "trickle":
                    conn.sendall(b"+ idling\r\n* 1 FETCH (FLAGS (")
                    while time.monotonic() < until and not self.stopped.is_set():
                        conn.sendall(b"x")
                        time.sleep(0.5)  # the server's pace, not a wait for a condition
                    conn.sendall(b"))\r\n")
                else:
                    conn.sendall(b"+ idling\r\n")
                    while time.monotonic() < until and not self.stopped.is_set():
                        conn.sendall(b"* 1 FETCH (FLAGS (\\Seen))\r\n" * 2000)
                if lines.readline().strip().upper() != b"DONE":
                    return
                conn.sendall(tag + b" OK idle done\r\n")
            elif verb == b"LOGOUT":
                conn.sendall(b"* BYE bye\r\n" + tag + b" OK bye\r\n")
                return
            else:
                conn.sendall(tag + b" OK done\r\n")


def _listen_to(server: _HostileImap) -> tuple[float, list[RetryableError]]:
    """A 1 s listen (socket timeout 1 s) to ``server``: how long it took, and the error
    that gave the server up, if any (fine for such a server; waiting on it is not)."""
    os.environ["PBRIDGE_TEST_HOSTILE_IMAP"] = "secret"
    settings = {
        **email_pair()[1].settings,
        "imap_port": server.port,
        "password_env": "PBRIDGE_TEST_HOSTILE_IMAP",
        "timeout": 1,
    }
    bridge = bridge_class("email").from_config("mail", settings)
    took, given_up = timed_on_a_thread(lambda: bridge.listen(None, 1.0), (RetryableError,), 20)
    bridge.close()
    server.stop()
    assert took is not None, "the listen never ended"
    return took, [e for e in given_up if isinstance(e, RetryableError)]


@pytest.mark.parametrize("capped", [True, False])
def test_an_idle_flooded_with_untagged_lines_ends_at_its_wait(capped: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server keeping the socket full of untagged lines for 6 s holds a 1 s listen no
    longer than its wait and the answer to DONE (1 s timeout): the deadline is looked at
    before every read, buffered bytes or not. An IDLE reads at most 20,000 lines, so such
    a server is given up sooner still; uncapped, the deadline alone ends it."""
    if not capped:
        monkeypatch.setattr(email_idle, "_IDLE_LINES", 10**9)
    took, given_up = _listen_to(_HostileImap("flood"))
    assert took < 4.0, f"a 1 s listen took {took:.1f} s"  # room for a slow machine
    (error,) = given_up
    assert ("over 20000 lines" in str(error)) is capped
    assert capped or took > 1.0  # the wait, then the answer to DONE that never comes


def test_an_idle_line_trickled_a_byte_at_a_time_ends_at_its_wait() -> None:
    """imaplib's readline bounds a line's time only per recv: a byte every 0.5 s against a
    1 s timeout would hold a 1 s listen for days (1 MB). A line begun must end by the wait
    or within the timeout of its first byte: the connection is given up then."""
    took, given_up = _listen_to(_HostileImap("trickle"))
    assert took < 4.0, f"a 1 s listen took {took:.1f} s"
    (error,) = given_up
    assert "timed out mid-line" in str(error)
