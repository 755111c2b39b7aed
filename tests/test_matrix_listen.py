"""The Matrix carrier listening live (issue 20, item 1): one ``/sync`` long poll held open by
a real Synapse, answered the moment a pointer lands; cut by the server going away, it
fails as a retry, and a listener brings every message once when the server is back."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from console_helpers import carrier_home, opened, with_chat
from helpers import ScriptedServer, raw_chat, raw_identity, running_daemon, wait_for
from pointerbridge.app.listen import Backoff, Heard, Listener, ListenEvent, ListenFailed
from pointerbridge.app.service import App
from pointerbridge.bridges.base import Bridge, BridgeError, PollResult, RetryableError, bridge_class
from pointerbridge.bridges.matrix_api import RawClient
from pointerbridge.core import seal
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from servers.synapse import Synapse, matrix_room, shared_server


class LongPolls:
    """The ``/sync`` requests that wait (``timeout`` above 1 ms) and are still unanswered,
    per thread name: whether a listen has its request open at the homeserver."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.open: dict[str, int] = {}
        self.sent: dict[str, int] = {}
        self._lock = threading.Lock()
        real_send = RawClient.send

        async def send(client: Any, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
            query = parse_qs(urlsplit(path).query)
            waiting = "/sync" in path and int(query.get("timeout", ["0"])[0]) > 1
            thread = threading.current_thread().name
            if waiting:
                self._count(thread, 1)
            try:
                return await real_send(client, method, path, *args, **kwargs)
            finally:
                if waiting:
                    self._count(thread, -1)

        monkeypatch.setattr(RawClient, "send", send)

    def _count(self, thread: str, step: int) -> None:
        with self._lock:
            self.open[thread] = self.open.get(thread, 0) + step
            if step > 0:
                self.sent[thread] = self.sent.get(thread, 0) + 1


def pointers(label: str, count: int) -> list[str]:
    return [p for i in range(count) for p in seal(raw_chat("live"), raw_identity("alice"), f"{label}{i}")]


@pytest.fixture
def room() -> Iterator[tuple[Bridge, Bridge]]:
    """A listening bridge and a posting one (another connection) in a fresh room."""
    config, _ = matrix_room()
    made = [bridge_class("matrix").from_config("mx", {**config.settings, "start": "now", "timeout": 2})]
    made.append(bridge_class("matrix").from_config("mx", config.settings))
    try:
        yield made[0], made[1]
    finally:
        for bridge in made:
            bridge.close()


def test_the_matrix_bridge_listens() -> None:
    assert bridge_class("matrix").listens


def test_a_waiting_listen_returns_as_soon_as_a_pointer_lands(
    room: tuple[Bridge, Bridge], monkeypatch: pytest.MonkeyPatch
) -> None:
    listener, sender = room
    cursor = listener.listen(None, 20).cursor  # no sync token yet: answered at once
    polls: list[str | None] = []
    monkeypatch.setattr(listener, "poll", lambda cursor: polls.append(cursor) or PollResult([], ""))
    requests = LongPolls(monkeypatch)
    (pointer,) = pointers("now", 1)
    heard: list[PollResult] = []
    started = time.monotonic()
    waiting = threading.Thread(target=lambda: heard.append(listener.listen(cursor, 20)), name="listening")
    waiting.start()
    wait_for(lambda: requests.open.get("listening", 0) == 1, "the long poll", 20)
    posted = time.monotonic()
    sender.post(pointer)
    waiting.join(20)
    returned = time.monotonic()
    assert not waiting.is_alive() and polls == []
    assert [r.text for r in heard[0].pointers] == [pointer]
    assert returned - posted < 3 and returned - started < 10  # far below the 20 s wait
    assert requests.sent == {"listening": 1}  # one request, not a loop of short polls


def test_an_idle_listen_waits_its_time_and_gives_a_cursor_that_works(room: tuple[Bridge, Bridge]) -> None:
    listener, sender = room  # the listener's request timeout is 2 s, below the 3 s wait
    cursor = listener.listen(None, 3).cursor
    started = time.monotonic()
    idle = listener.listen(cursor, 3)
    waited = time.monotonic() - started
    assert idle.pointers == [] and idle.cursor
    assert 2.5 < waited < 8
    (pointer,) = pointers("later", 1)
    sender.post(pointer)
    assert [r.text for r in listener.listen(idle.cursor, 3).pointers] == [pointer]


def _bob(tmp_path: Path, server: Synapse) -> tuple[Home, dict[str, Any]]:
    settings, _ = server.bot_in_new_room("livebot", "PBRIDGE_TEST_LIVE_TOKEN")
    carrier = CarrierConfig.model_validate(settings)
    home = Home(tmp_path / "home", tmp_path / "home")
    home.create()
    save_config(home.config_path, Config(carriers={"mx": carrier}))
    with App(home) as app:
        app.init("bob", "bob's long master phrase here", allow_weak=True)
        assert app.poll().errors == {}  # Bob's starting point: before every message below
    return home, carrier.settings


def test_the_server_going_away_mid_listen_is_a_retry_and_nothing_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = Synapse(tmp_path / "synapse")
    server.start()
    events: list[ListenEvent] = []

    def heard() -> int:
        return sum(e.received for e in events if isinstance(e, Heard))

    try:
        home, settings = _bob(tmp_path, server)
        sender, cut = (bridge_class("matrix").from_config("mx", settings) for _ in range(2))
        before, during, after = pointers("before", 3), pointers("during", 3), pointers("after", 3)
        for pointer in before:
            sender.post(pointer)
        requests = LongPolls(monkeypatch)
        listener = Listener(home, "mx", events.append, wait=5, backoff=Backoff(0.2, 1.0))
        listener.start()
        wait_for(lambda: heard() == 3, "the messages from before", 60)
        # A bare listen too, to see what the bridge raises when its long poll is cut. (From
        # Bob's cursor: Synapse answers a second start-from-now sync of this device and
        # filter from its cache, for two minutes, with a token from before the messages.)
        with App(home, create=False) as app:
            cursor = app.store.cursor("mx")
        outcome: list[PollResult | BaseException] = []

        def listen_once() -> None:
            try:
                outcome.append(cut.listen(cursor, 30))
            except BridgeError as exc:
                outcome.append(exc)

        waiting = threading.Thread(target=listen_once, name="cut")
        waiting.start()
        wait_for(lambda: requests.open.get("cut") == 1 and requests.open.get("listen-mx") == 1, "long polls", 60)
        server.stop()
        waiting.join(30)
        assert not waiting.is_alive() and len(outcome) == 1
        assert isinstance(outcome[0], RetryableError), outcome
        wait_for(lambda: any(isinstance(e, ListenFailed) for e in events), "the listener's failure", 60)
        with pytest.raises(RetryableError):  # Alice's outbox keeps these until the server is back
            sender.post(during[0])
        server.start()
        for pointer in during:
            sender.post(pointer)
        reconnected = requests.sent.get("listen-mx", 0)
        wait_for(lambda: requests.sent.get("listen-mx", 0) > reconnected, "the listener back", 60)
        for pointer in after:
            sender.post(pointer)
        wait_for(lambda: heard() == 9, "every message", 60)
        assert listener.stop(timeout=15)
        sender.close()
        cut.close()
    finally:
        server.stop()
    failures = [e for e in events if isinstance(e, ListenFailed)]
    assert failures and all(not e.fatal and not e.to_fix for e in failures)  # retries, never a configuration error
    assert heard() == 9
    with App(home, create=False) as app:
        stored = [text for (text,) in app.store._db.execute("SELECT text FROM pointers")]
    assert sorted(stored) == sorted(before + during + after)


def _member_home(root: Path, user: str, settings: dict[str, Any], poll_every: int) -> Home:
    """A home whose carrier ``shared`` is the Matrix room of ``settings``."""
    carrier = CarrierConfig.model_validate({"type": "matrix", "poll_every": poll_every, **settings})
    return carrier_home(root, user, carrier)


def test_bobs_daemon_stores_alices_matrix_message_without_any_poll(tmp_path: Path) -> None:
    server = shared_server()
    config, _ = matrix_room()  # Alice's bot made the room
    alices = dict(config.settings)
    room, alice_token = str(alices["room_id"]), os.environ[str(alices["access_token_env"])]
    account = server.register(f"bobbot{os.getpid()}", "bot-password")  # Bob's own bot, invited to it
    server.request("POST", f"/_matrix/client/v3/rooms/{room}/invite", {"user_id": account["user_id"]}, alice_token)
    server.request("POST", f"/_matrix/client/v3/rooms/{room}/join", {}, account["access_token"])
    os.environ["PBRIDGE_TEST_LIVE_BOB_TOKEN"] = account["access_token"]
    bobs = {
        **alices,
        "user_id": account["user_id"],
        "device_id": account["device_id"],
        "access_token_env": "PBRIDGE_TEST_LIVE_BOB_TOKEN",
    }
    alice = _member_home(tmp_path, "alice", alices, 60)
    bob = _member_home(tmp_path, "bob", bobs, 3600)  # its jobs run once, at start
    with_chat(bob, "bob")
    with running_daemon(bob.config_dir, listening_to="shared", timeout=60, never_logged=("live over matrix",)) as lines:
        with_chat(alice, "alice", bodies=("live over matrix, not polled",))
        wait_for(lambda: any("shared: received 1 (live)" in line for line in lines), "bob's daemon hears it", 60)
        with opened(bob) as app:
            assert app.store.counts()["inbox"] == 1
    assert not any("received 1, skipped" in line for line in lines)  # no poll fetched it


class _HugeAnswers(ScriptedServer):
    """A homeserver answering ``/sync`` and ``/messages`` with JSON bodies of the sizes it
    is given (padding streamed a MiB at a time, the end told by closing the connection):
    records, per endpoint, whether a whole body went out. The /sync names a gap (a limited
    timeline), so a poll goes on to read a history page."""

    def __init__(self, sync: int, messages: int) -> None:
        self.sizes = {"sync": sync, "messages": messages}
        self.sent_all: set[str] = set()
        super().__init__()

    def answer(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(65536)
        endpoint = "messages" if b"/messages" in request.split(b"\r\n", 1)[0] else "sync"
        if endpoint == "sync":
            room = {"!room:test": {"timeline": {"limited": True, "events": [], "prev_batch": "p1"}}}
            head = b'{"next_batch": "s2", "rooms": {"join": ' + json.dumps(room).encode() + b'}, "padding": "'
        else:
            head = b'{"chunk": [], "padding": "'
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + head)
        left = self.sizes[endpoint] - len(head) - 2
        while left > 0:
            conn.sendall(b"a" * min(left, 1 << 20))
            left -= 1 << 20
        conn.sendall(b'"}')
        self.sent_all.add(endpoint)


def _bridge_to(server: _HugeAnswers) -> Bridge:
    os.environ["PBRIDGE_TEST_MX_HUGE_TOKEN"] = "syt_huge_token"
    return bridge_class("matrix").from_config(
        "mx",
        {
            "homeserver": f"http://127.0.0.1:{server.port}",
            "user_id": "@bob:test",
            "device_id": "DEV",
            "room_id": "!room:test",
            "access_token_env": "PBRIDGE_TEST_MX_HUGE_TOKEN",
            "timeout": 3,
        },
    )


_CURSOR = json.dumps({"room": "!room:test", "user": "@bob:test", "filter": "f1", "since": "s1"})
_MIB = 1 << 20


@pytest.mark.parametrize("listening", [True, False])
def test_a_huge_sync_answer_is_a_retry_and_is_not_read_to_its_end(listening: bool) -> None:
    """A hostile homeserver streaming a /sync answer without end (here 72 MiB) fills no
    memory: the body is read in chunks and given up past ~7.8 MiB (100 events of 64 KiB
    and a quarter more), listening or polling, as a retry."""
    server = _HugeAnswers(sync=72 * _MIB, messages=1000)
    bridge = _bridge_to(server)
    try:
        with pytest.raises(RetryableError, match="polling: 502: the answer is longer than 8,192,000 bytes"):
            bridge.listen(_CURSOR, 1.0) if listening else bridge.poll(_CURSOR)
    finally:
        bridge.close()
        server.stop()
    assert "sync" not in server.sent_all, "the bridge read the whole 72 MiB /sync answer"


@pytest.mark.parametrize(
    ("sync", "messages", "given_up"),
    [
        (7 * _MIB, 1000, None),  # a full /sync fits its bound
        (1000, 36 * _MIB, None),  # a page of 500 events of 64 KiB (31 MiB) and more fits a page's bound
        (1000, 72 * _MIB, "reading history"),  # past ~39 MiB: given up
    ],
)
def test_a_history_page_has_a_bound_of_its_own(sync: int, messages: int, given_up: str | None) -> None:
    server = _HugeAnswers(sync=sync, messages=messages)
    bridge = _bridge_to(server)
    try:
        if given_up is None:
            assert bridge.poll(_CURSOR).pointers == []
        else:
            with pytest.raises(RetryableError, match=f"{given_up}: 502: the answer is longer than 40,960,000 bytes"):
                bridge.poll(_CURSOR)
    finally:
        bridge.close()
        server.stop()
    assert ("messages" in server.sent_all) is (given_up is None)
    assert "sync" in server.sent_all
