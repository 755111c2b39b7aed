"""The CMD-CHAT carrier against the faithful test server (tests/servers/cmdchat.py): the
real protocol's details, errors mapped, the push hook, one login per name in a process.
Restarts, clears and catch-up at the app's level are in test_cmdchat_catchup.py."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cmdchat_helpers import PASSWORD, PASSWORD_ENV, bot, server_fixture
from pointerbridge.bridges.base import (
    BridgeError,
    ConfigurationError,
    CredentialRefusedError,
    RetryableError,
    bridge_class,
)
from pointerbridge.bridges.cmdchat import MAX_POINTER_CHARS, CmdChatBridge
from pointerbridge.bridges.cmdchat_link import LinkSettings, acquire, release
from pointerbridge.bridges.cmdchat_protocol import SERVER_LINE_LIMIT, LineReader, LineTooLong
from pointerbridge.core import ChatKey, Identity, seal
from servers.cmdchat import CmdChatServer, RawClient

server = server_fixture()


@pytest.fixture
def make(server: CmdChatServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., CmdChatBridge]]:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    made: list[CmdChatBridge] = []

    def bridge(username: str = "alice-bot", **settings: Any) -> CmdChatBridge:
        built = bot(server.port, username, **settings)
        made.append(built)
        return built

    yield bridge
    for built in made:
        built.close()


def _pointer(body: str = "hello") -> str:
    (pointer,) = seal(ChatKey("x", bytes(32)), Identity("alice", bytes(32)), body)
    return pointer


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.01)


def test_a_cmdchat_client_decrypts_the_post_as_its_own_client_does(
    server: CmdChatServer, make: Callable[..., CmdChatBridge]
) -> None:
    person = RawClient(server.port, "carol", PASSWORD)  # in the room, as CMD-CHAT's client
    pointer = _pointer()
    reference = make().post(pointer)
    data = person.next_message()
    assert person.decrypt(data) == pointer  # the pointer text, nothing else
    assert data["id"] == reference and data["username"] == "alice-bot" and data["user_ip"] == "127.0.0.1"
    assert data["text"].startswith("gAAAAA") and pointer not in json.dumps(data)  # a Fernet token on the wire
    person.close()


def test_a_pointer_pasted_by_a_cmdchat_client_is_read(
    server: CmdChatServer, make: Callable[..., CmdChatBridge]
) -> None:
    person = RawClient(server.port, "carol", PASSWORD)
    pointer = _pointer("pasted")
    person.say(f"look at this: {pointer}")
    stored = person.next_message()
    result = make("bob-bot").poll(None)
    assert [(r.text, r.reference) for r in result.pointers] == [(pointer, stored["id"])]
    person.close()


def test_text_under_another_key_is_skipped_as_foreign(
    server: CmdChatServer, make: Callable[..., CmdChatBridge]
) -> None:
    person = RawClient(server.port, "carol", PASSWORD)
    person.send({"type": "message", "text": "gAAAAAnot-a-token"})
    person.send({"type": "message", "text": {"an": "object"}})  # stored and echoed as it is
    person.say(_pointer()[:300])  # damaged
    for _ in range(3):
        person.next_message()
    result = make().poll(None)
    assert result.pointers == [] and result.items == 3
    assert (result.skipped_foreign, result.skipped_malformed) == (2, 1)
    person.close()


def test_the_longest_pointer_fits_every_members_line(server: CmdChatServer, make: Callable[..., CmdChatBridge]) -> None:
    name = "n" * 64
    person = RawClient(server.port, "carol", PASSWORD)
    pointer = "pb" + "x" * (MAX_POINTER_CHARS - 2)
    make(name, max_pointer_chars=MAX_POINTER_CHARS).post(pointer)
    line = person.file.readline()
    while json.loads(line).get("type") != "message":
        line = person.file.readline()
    assert len(line) < SERVER_LINE_LIMIT * 0.85  # a CMD-CHAT client reads at most 64 KiB a line
    assert person.decrypt(json.loads(line)["data"]) == pointer
    person.close()


def test_the_server_drops_a_line_over_64_kib(server: CmdChatServer) -> None:
    person = RawClient(server.port, "carol", PASSWORD)
    person.send({"type": "message", "text": "x" * SERVER_LINE_LIMIT})
    with pytest.raises(ConnectionError):
        person.next_message()
    person.close()


def test_a_wrong_password_is_a_configuration_error(
    make: Callable[..., CmdChatBridge], monkeypatch: pytest.MonkeyPatch
) -> None:
    bridge = make()
    monkeypatch.setenv(PASSWORD_ENV, "not it")
    with pytest.raises(CredentialRefusedError, match="refused the room password"):  # a ConfigurationError, exit 44
        bridge.poll(None)


def test_a_connected_name_refuses_a_poll_and_defers_a_post(
    server: CmdChatServer, make: Callable[..., CmdChatBridge]
) -> None:
    holder = RawClient(server.port, "alice-bot", PASSWORD)  # the name held elsewhere: another process, a person
    bridge = make()
    with pytest.raises(ConfigurationError, match="connected already: another client"):
        bridge.poll(None)
    with pytest.raises(RetryableError, match="stays in the outbox"):
        bridge.post(_pointer())
    holder.close()
    _wait_for(lambda: "alice-bot" not in server.usernames())
    assert bridge.post(_pointer())  # the name is free again


def test_a_server_that_is_not_there_is_retryable(make: Callable[..., CmdChatBridge], server: CmdChatServer) -> None:
    bridge = make()
    server.stop()
    with pytest.raises(RetryableError, match="refused the connection"):
        bridge.poll(None)
    with pytest.raises(RetryableError):
        bridge.post(_pointer())


@pytest.mark.parametrize(
    ("text", "kind", "says"),
    [
        ("Authentication failed", CredentialRefusedError, "refused the room password"),
        ("Username taken", ConfigurationError, "connected already"),
        ("Invalid session", RetryableError, "lost the login half-way"),
        ("Invalid JSON", ConfigurationError, "is it a CMD-CHAT server"),
        ("Expected srp_init", ConfigurationError, "is it a CMD-CHAT server"),
        ("Missing A", ConfigurationError, "is it a CMD-CHAT server"),
        ("SRP init failed", ConfigurationError, "is it a CMD-CHAT server"),
        ("Expected srp_verify", ConfigurationError, "is it a CMD-CHAT server"),
        ("Invalid verify request", ConfigurationError, "is it a CMD-CHAT server"),
        ("\x1b[31msomething else", ConfigurationError, r"'\?\[31msomething else'"),
        (None, RetryableError, "closed the connection"),
    ],
)
def test_every_error_of_the_server_is_mapped(
    text: str | None, kind: type[Exception], says: str, make: Callable[..., CmdChatBridge]
) -> None:
    """Each ``{"error": ...}`` the real server sends (server.py, srp_auth.py), answered to the
    first line by a socket that says only that; None: it closes without a word."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            if text is not None:
                conn.sendall((json.dumps({"error": text}) + "\n").encode())

    thread = threading.Thread(target=answer)
    thread.start()
    with pytest.raises(kind, match=says):
        make(port=listener.getsockname()[1]).poll(None)
    thread.join()
    listener.close()


def test_a_backlog_over_the_line_limit_is_refused_with_what_to_do(
    server: CmdChatServer, make: Callable[..., CmdChatBridge]
) -> None:
    person = RawClient(server.port, "carol", PASSWORD)
    for _ in range(5):
        person.send({"type": "message", "text": "y" * 60_000})
        person.next_message()
    with pytest.raises(ConfigurationError, match="raise max_line_bytes"):  # a person must act: not retried soon
        make(max_line_bytes=256 * 1024).poll(None)
    assert len(make("bob-bot").poll(None).cursor) > 0  # the default limit (4 MiB) reads it
    person.close()


def test_a_line_over_the_readers_limit_is_skipped_and_the_next_one_read() -> None:
    ours, theirs = socket.socketpair()
    theirs.sendall(b"z" * 5000 + b"\n" + b'{"ok": 1}\n')
    lines = LineReader(ours, 1000)
    with pytest.raises(LineTooLong):
        lines.readline()
    assert lines.json() == {"ok": 1}
    ours.close()
    theirs.close()


def test_the_password_can_be_handed_over_in_memory(server: CmdChatServer) -> None:
    config = {"host": "127.0.0.1", "port": server.port, "username": "live-bot"}
    bridge = bridge_class("cmdchat").from_config("c", config)
    assert isinstance(bridge, CmdChatBridge)
    assert bridge.wants_password
    with pytest.raises(ConfigurationError, match="no room password"):
        bridge.poll(None)
    bridge.use_password(PASSWORD)
    assert not bridge.wants_password
    assert bridge.post(_pointer())
    bridge.close()
    named = bridge_class("cmdchat").from_config("c", {**config, "password_env": PASSWORD_ENV})
    assert isinstance(named, CmdChatBridge) and not named.wants_password


def test_an_invites_port_as_carrier_add_keeps_it_is_the_same_place() -> None:
    # `carrier add --set port=N` keeps the port as a string, and invites carry it so; a carrier
    # file (pbridge live) or a hand-written config.toml has a number: the same server.
    mine = {"host": "127.0.0.1", "port": 4567, "username": "alice-bot"}
    assert CmdChatBridge.same_place(mine, {"type": "cmdchat", "host": "127.0.0.1", "port": "4567"})
    assert CmdChatBridge.same_place({**mine, "port": "4567"}, {"host": "127.0.0.1", "port": 4567})
    assert not CmdChatBridge.same_place(mine, {"host": "127.0.0.1", "port": "4568"})
    assert not CmdChatBridge.same_place(mine, {"host": "127.0.0.2", "port": 4567})


def test_a_password_file_must_be_private(server: CmdChatServer, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)
    secret.chmod(0o644)
    config = {"host": "127.0.0.1", "port": server.port, "username": "bot", "password_file": str(secret)}
    with pytest.raises(ConfigurationError, match="chmod 600"):
        bridge_class("cmdchat").from_config("c", config).poll(None)
    with pytest.raises(ConfigurationError, match="at most one of password_env and password_file"):
        bridge_class("cmdchat").from_config("c", {**config, "password_env": "X"})


def test_listen_returns_as_soon_as_a_message_arrives(server: CmdChatServer, make: Callable[..., CmdChatBridge]) -> None:
    listener = make("bob-bot")
    cursor = listener.poll(None).cursor
    pointer = _pointer("live")
    person = RawClient(server.port, "carol", PASSWORD)
    started = time.monotonic()
    timer = threading.Timer(0.2, lambda: person.say(pointer))
    timer.start()
    result = listener.listen(cursor, 30.0)
    assert time.monotonic() - started < 10.0  # far before the 30 s wait ends
    assert [r.text for r in result.pointers] == [pointer]
    assert listener.listen(result.cursor, 0.05).pointers == []  # nothing twice
    timer.join()
    person.close()


def test_one_process_shares_one_login_per_name(server: CmdChatServer, make: Callable[..., CmdChatBridge]) -> None:
    listening, posting = make("alice-bot"), make("alice-bot")  # the daemon's listener and its post job
    cursor = listening.poll(None).cursor
    pointer = _pointer("shared")
    reference = posting.post(pointer)  # no "Username taken": the same login
    result = listening.listen(cursor, 10.0)
    assert [(r.text, r.reference) for r in result.pointers] == [(pointer, reference)]
    assert server.logins == 1 and server.usernames() == ["alice-bot"]
    posting.close()  # the listener keeps the login
    assert listening.listen(result.cursor, 0.01).pointers == [] and server.usernames() == ["alice-bot"]
    listening.close()  # the last one out logs out: the name is free at once
    assert server.usernames() == []
    assert make("alice-bot").post(_pointer("again"))


def test_one_thread_reads_every_login_and_ends_with_the_last(
    server: CmdChatServer, make: Callable[..., CmdChatBridge]
) -> None:
    # A thread left behind would keep a later read in this process from forking its
    # workers (app/opening.py runs them only in a process of one thread).
    def readers() -> int:
        return sum(t.name == "cmdchat-read" for t in threading.enumerate())

    first, second = make("alice-bot"), make("bob-bot")
    first.poll(None)
    second.poll(None)
    assert readers() == 1  # one thread for both logins, not one each
    first.close()
    assert readers() == 1
    second.close()
    assert readers() == 0  # gone by the time the last login is closed


def test_an_idle_login_keeps_its_name_with_an_ignored_line(
    server: CmdChatServer, make: Callable[..., CmdChatBridge]
) -> None:
    bridge = make(keepalive=1.0)
    bridge.poll(None)
    _wait_for(lambda: "alice-bot" in server.activity)  # nothing sent since the login, yet a line came
    assert [m["username"] for m in server.backlog()] == []  # and it is not a message


def test_a_server_killed_mid_listen_is_retryable(server: CmdChatServer, make: Callable[..., CmdChatBridge]) -> None:
    listener = make("bob-bot")
    cursor = listener.poll(None).cursor
    failed: list[BaseException] = []

    def listen() -> None:
        try:
            listener.listen(cursor, 30.0)
        except RetryableError as exc:
            failed.append(exc)

    thread = threading.Thread(target=listen)
    thread.start()
    _wait_for(lambda: server.usernames() == ["bob-bot"])
    started = time.monotonic()
    server.stop()
    thread.join(20)
    assert failed and time.monotonic() - started < 10.0
    server.restart()
    result = listener.listen(cursor, 0.0)  # a new login: the room changed, so it asks
    assert any("restarted" in note for note in result.notes)


def test_doctor_says_what_the_carrier_reveals(make: Callable[..., CmdChatBridge]) -> None:
    findings = make().diagnose(None)
    assert findings[0].check == "login" and findings[0].status == "ok"
    said = " ".join(f.detail for f in findings)
    for words in ("no TLS", "IP address", "clear the room", "RAM without a bound", "changes at every server restart"):
        assert words in said


# -- found by issue 20's adversarial review ---------------------------------------------------


def test_a_message_landing_while_a_poll_returns_is_read_by_the_next(
    server: CmdChatServer, make: Callable[..., CmdChatBridge]
) -> None:
    # The cursor's seq is the link's end read under its lock, with the entries handed out: what
    # the reader thread adds after that is the next poll's. A fine switch interval makes the
    # window between the two (where messages were skipped for good) easy to hit.
    bridge = make("bob-bot")
    cursor = bridge.poll(None).cursor
    pointers = [_pointer(f"m{i}") for i in range(300)]
    person = RawClient(server.port, "carol", PASSWORD)

    def say_all() -> None:
        for pointer in pointers:
            person.say(pointer)
            time.sleep(0.0005)  # spreads the messages over many polls

    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        sender = threading.Thread(target=say_all)
        sender.start()
        seen: set[str] = set()
        deadline = time.monotonic() + 30
        while json.loads(cursor)["seq"] < len(pointers):  # until the cursor is past every message
            assert time.monotonic() < deadline, "the messages did not all reach the bot in time"
            result = bridge.poll(cursor)
            cursor = result.cursor
            seen.update(p.text for p in result.pointers)
        sender.join()
    finally:
        sys.setswitchinterval(before)
    person.close()
    missing = len(pointers) - len(seen)
    assert missing == 0, f"{missing} of {len(pointers)} message(s) skipped for good"


def test_texts_that_are_not_strings_are_not_kept(server: CmdChatServer, make: Callable[..., CmdChatBridge]) -> None:
    # The server stores and broadcasts any JSON as a text: lists of empty lists (3 bytes on the
    # wire, ~64 bytes in RAM each) would be ~20x each line, and were counted as 64 bytes.
    bound = 256 * 1024  # max_line_bytes, the least allowed: the link keeps at most this much text
    bridge = make("bob-bot", max_line_bytes=bound)
    cursor = bridge.poll(None).cursor
    person = RawClient(server.port, "mallory", PASSWORD)
    tracemalloc.start(6)
    try:
        for _ in range(8):  # ~60 KB a line ("[], " each): under the server's 64 KiB
            person.send({"type": "message", "text": [[]] * 15_000})
        person.say(_pointer("last"))
        got: list[str] = []
        deadline = time.monotonic() + 30
        while not got:
            assert time.monotonic() < deadline, "the last message never arrived"
            result = bridge.listen(cursor, 1.0)
            cursor = result.cursor
            got += [p.text for p in result.pointers]
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    person.close()
    here = tracemalloc.Filter(True, "*cmdchat_link.py", all_frames=True)
    held = sum(stat.size for stat in snapshot.filter_traces([here]).statistics("filename"))
    assert held < 4 * bound, f"the link holds {held >> 20} MiB for a bound of {bound >> 10} KiB"


def _drip(stop: threading.Event) -> tuple[socket.socket, threading.Thread]:
    """A hostile server: accepts, then sends one byte (never a newline) every 0.2 s."""
    listening = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listening.accept()
        with conn:
            while not stop.wait(0.2):
                try:
                    conn.sendall(b" ")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listening, thread


def test_a_login_ends_at_its_timeout_however_the_server_trickles(make: Callable[..., CmdChatBridge]) -> None:
    # The socket timeout bounds each recv; the login (connect, SRP, init) has one deadline.
    stop = threading.Event()
    listening, thread = _drip(stop)
    bridge = make(port=listening.getsockname()[1], timeout=1.0)
    ended: list[BaseException | None] = []

    def log_in() -> None:
        try:
            bridge.poll(None)
            ended.append(None)
        except BridgeError as exc:
            ended.append(exc)

    caller = threading.Thread(target=log_in, daemon=True)
    caller.start()
    caller.join(6.0)  # six times the timeout, the drip still going
    ended_in_time = not caller.is_alive()
    stop.set()  # the drip ends: a login still running fails on the closed connection
    thread.join(5)
    listening.close()
    caller.join(10)
    assert ended and ended[0] is not None
    assert ended_in_time, "the login was still running 6 s into a 1 s timeout"
    assert isinstance(ended[0], RetryableError) and "did not answer within 1 s" in str(ended[0])


def test_a_slow_server_holds_up_no_other_carriers_login(
    server: CmdChatServer, make: Callable[..., CmdChatBridge]
) -> None:
    # A login holds a lock of its name only: the registry's is never held while one runs.
    silent = socket.create_server(("127.0.0.1", 0))
    accepted, let_go = threading.Event(), threading.Event()

    def never_answer() -> None:
        conn, _ = silent.accept()
        accepted.set()
        with conn:
            let_go.wait(30)  # no answer to the login's first line, until the test is done

    server_side = threading.Thread(target=never_answer, daemon=True)
    server_side.start()
    slow = make("slow-bot", port=silent.getsockname()[1], timeout=5.0)
    fine = make("fine-bot")
    failed: list[BaseException] = []

    def log_in_slowly() -> None:
        try:
            slow.poll(None)
        except BridgeError as exc:
            failed.append(exc)

    stuck = threading.Thread(target=log_in_slowly, daemon=True)
    stuck.start()
    assert accepted.wait(10)  # the slow login is under way
    started = time.monotonic()
    fine.poll(None)
    took = time.monotonic() - started
    let_go.set()  # the silent server closes: the slow login fails at once
    stuck.join(10)
    server_side.join(5)
    silent.close()
    assert failed  # the silent server's login failed, as it should
    assert took < 1.5, f"a login to a server that answers took {took:.1f} s behind a silent one"


def test_a_service_that_is_not_cmdchat_is_a_configuration_error(make: Callable[..., CmdChatBridge]) -> None:
    # Not JSON in answer to the login (the wrong port: SSH, SMTP, HTTP): retrying never helps.
    listening = socket.create_server(("127.0.0.1", 0))

    def banner() -> None:
        conn, _ = listening.accept()
        with conn:
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            conn.recv(65536)

    thread = threading.Thread(target=banner, daemon=True)
    thread.start()
    bridge = make(port=listening.getsockname()[1], timeout=5.0)
    with pytest.raises(BridgeError) as caught:
        bridge.poll(None)
    thread.join(5)
    listening.close()
    assert isinstance(caught.value, ConfigurationError), f"{type(caught.value).__name__}: {caught.value}"
    assert "check host and port" in str(caught.value)


def test_a_dead_connection_is_noticed_within_two_minutes(server: CmdChatServer) -> None:
    # A half-open connection (a laptop suspended, Wi-Fi gone) is silent: TCP keepalive probes
    # it after 60 s of silence, and the user timeout ends it once 120 s pass unanswered.
    needed = ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_USER_TIMEOUT")
    if not all(hasattr(socket, name) for name in needed):
        pytest.skip("the system has no TCP keepalive timing options (Linux has)")
    settings = LinkSettings("127.0.0.1", server.port, "alice-bot", 10.0, 1 << 20, 1 << 20, 600.0)
    link = acquire(settings, PASSWORD.encode)
    try:
        sock = link.sock
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        idle, interval, count = (sock.getsockopt(socket.IPPROTO_TCP, getattr(socket, n)) for n in needed[:3])
        assert idle + interval * count <= 120 and idle >= 30  # probes, but not chatty
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 120_000  # ms
    finally:
        release(link)
