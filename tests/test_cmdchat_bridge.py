"""The CMD-CHAT carrier against the faithful test server (tests/servers/cmdchat.py): the
real protocol's details, errors mapped, the push hook, one login per name in a process.
Restarts, clears and catch-up at the app's level are in test_cmdchat_catchup.py."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pointerbridge.bridges.base import ConfigurationError, RetryableError, bridge_class
from pointerbridge.bridges.cmdchat import MAX_POINTER_CHARS, CmdChatBridge
from pointerbridge.bridges.cmdchat_protocol import SERVER_LINE_LIMIT, LineReader, LineTooLong
from pointerbridge.core import ChatKey, Identity, seal
from servers.cmdchat import CmdChatServer, RawClient

PASSWORD = "room password"


@pytest.fixture
def server() -> Iterator[CmdChatServer]:
    made = CmdChatServer(PASSWORD).start()
    yield made
    made.close()


@pytest.fixture
def make(server: CmdChatServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., CmdChatBridge]]:
    monkeypatch.setenv("CMDCHAT_TEST_PASSWORD", PASSWORD)
    made: list[CmdChatBridge] = []

    def bridge(username: str = "alice-bot", **settings: Any) -> CmdChatBridge:
        config = {"host": "127.0.0.1", "port": server.port, "username": username}
        config |= {"password_env": "CMDCHAT_TEST_PASSWORD", **settings}
        built = bridge_class("cmdchat").from_config("c", config)
        assert isinstance(built, CmdChatBridge)
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
    monkeypatch.setenv("CMDCHAT_TEST_PASSWORD", "not it")
    with pytest.raises(ConfigurationError, match="refused the room password"):
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
        ("Authentication failed", ConfigurationError, "refused the room password"),
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
    with pytest.raises(RetryableError, match="raise max_line_bytes"):
        make(max_line_bytes=256 * 1024).poll(None)
    assert len(make("bob-bot").poll(None).cursor) > 0  # the default limit (16 MiB) reads it
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
    with pytest.raises(ConfigurationError, match="no room password"):
        bridge.poll(None)
    bridge.use_password(PASSWORD)
    assert bridge.post(_pointer())
    bridge.close()


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
