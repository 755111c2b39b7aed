"""Adversarial review of issue 20's live code: each test shows one defect (it FAILS on the
reviewed code, branch wip at 392de96). One test per defect, named for it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pointerbridge.bridges.base import BridgeError, bridge_class
from pointerbridge.bridges.cmdchat import CmdChatBridge
from pointerbridge.core import ChatKey, Identity, seal
from servers.cmdchat import CmdChatServer, RawClient

PASSWORD = "room password"


@pytest.fixture
def server() -> Iterator[CmdChatServer]:
    made = CmdChatServer(PASSWORD).start()
    yield made
    made.close()


@pytest.fixture
def make(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., CmdChatBridge]]:
    monkeypatch.setenv("CMDCHAT_TEST_PASSWORD", PASSWORD)
    made: list[CmdChatBridge] = []

    def bridge(port: int, username: str = "bob-bot", name: str = "c", **settings: Any) -> CmdChatBridge:
        config = {"host": "127.0.0.1", "port": port, "username": username}
        config |= {"password_env": "CMDCHAT_TEST_PASSWORD", **settings}
        built = bridge_class("cmdchat").from_config(name, config)
        assert isinstance(built, CmdChatBridge)
        made.append(built)
        return built

    yield bridge
    for built in made:
        built.close()


def _pointer(body: str) -> str:
    (pointer,) = seal(ChatKey("x", bytes(32)), Identity("alice", bytes(32)), body)
    return pointer


def test_cmdchat_poll_skips_a_message_that_lands_while_it_returns(
    server: CmdChatServer, make: Callable[..., CmdChatBridge]
) -> None:
    # bridges/cmdchat.py listen(): with no entries, the cursor's seq is `link.end` read AFTER
    # the link's lock was let go; whatever the reader thread added meanwhile is never handed
    # out, yet the cursor is saved past it. A fine switch interval makes the window visible.
    bridge = make(server.port)
    cursor = bridge.poll(None).cursor
    pointers = [_pointer(f"m{i}") for i in range(300)]
    person = RawClient(server.port, "carol", PASSWORD)

    def say_all() -> None:
        for pointer in pointers:
            person.say(pointer)
            time.sleep(0.0005)

    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        sender = threading.Thread(target=say_all)
        sender.start()
        seen: set[str] = set()
        deadline = time.monotonic() + 30
        while len(seen) < len(pointers) and time.monotonic() < deadline:
            if not sender.is_alive():  # all sent: a few more seconds for the last echoes, then done
                deadline = min(deadline, time.monotonic() + 3)
            result = bridge.poll(cursor)
            cursor = result.cursor
            seen.update(p.text for p in result.pointers)
        sender.join()
    finally:
        sys.setswitchinterval(before)
    person.close()
    missing = len(pointers) - len(seen)
    assert missing == 0, f"{missing} of {len(pointers)} message(s) skipped for good"


def test_cmdchat_a_member_can_make_the_link_hold_memory_far_past_its_bound(
    server: CmdChatServer, make: Callable[..., CmdChatBridge]
) -> None:
    # cmdchat_link.py _size(): a text that is not a string counts 64 bytes, whatever it is.
    # The real server stores and broadcasts any JSON as `text`, so any member (anyone with the
    # room password) sends lists of empty lists (3 bytes on the wire, ~64 bytes in RAM each)
    # and every pbridge bot in the room keeps them: ~20x each line, counted as nothing.
    bound = 256 * 1024  # max_line_bytes, the least allowed: the link keeps at most this much text
    bridge = make(server.port, max_line_bytes=bound)
    cursor = bridge.poll(None).cursor
    person = RawClient(server.port, "mallory", PASSWORD)
    tracemalloc.start(25)
    try:
        for _ in range(20):
            person.send(
                {"type": "message", "text": [[]] * 15_000}
            )  # ~60 KB a line ("[], " each): under the server's 64 KiB
        person.say(_pointer("last"))
        got: list[str] = []
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            result = bridge.listen(cursor, 1.0)
            cursor = result.cursor
            got += [p.text for p in result.pointers]
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    person.close()
    assert got, "the last message never arrived"
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


def test_cmdchat_login_has_no_overall_deadline(make: Callable[..., CmdChatBridge]) -> None:
    # cmdchat_link.py Link.open / cmdchat_protocol.py login(): the socket timeout bounds each
    # recv, not the login; a server that drips a byte now and then keeps the login (and the
    # process-wide registry lock it runs under) forever. timeout = 1 s here.
    stop = threading.Event()
    listening, thread = _drip(stop)
    bridge = make(listening.getsockname()[1], timeout=1.0)
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
    stop.set()  # the drip ends: the login now fails on the closed connection
    thread.join(5)
    listening.close()
    caller.join(10)
    assert ended and ended[0] is not None
    assert ended_in_time, "the login was still running 6 s into a 1 s timeout"


def test_cmdchat_one_slow_server_holds_up_every_other_carriers_login(
    server: CmdChatServer, make: Callable[..., CmdChatBridge]
) -> None:
    # cmdchat_link.py acquire(): the registry lock (one for the whole process) is held while
    # Link.open connects and logs in. A carrier whose server does not answer stalls every
    # other CMD-CHAT carrier of the process (another server, another name) until it times out.
    silent = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()

    def never_answer() -> None:
        conn, _ = silent.accept()
        accepted.set()
        with conn:
            while conn.recv(65536):  # the login's first line; no answer, until the client gives up
                pass

    server_side = threading.Thread(target=never_answer, daemon=True)
    server_side.start()
    slow = make(silent.getsockname()[1], username="slow-bot", name="slow", timeout=4.0)
    fine = make(server.port, username="fine-bot", name="fine")
    failed: list[BaseException] = []

    def log_in_slowly() -> None:
        try:
            slow.poll(None)
        except BridgeError as exc:
            failed.append(exc)

    stuck = threading.Thread(target=log_in_slowly, daemon=True)
    stuck.start()
    assert accepted.wait(10)  # the slow login is under way, the registry lock held
    started = time.monotonic()
    fine.poll(None)
    took = time.monotonic() - started
    stuck.join(10)
    server_side.join(5)
    silent.close()
    assert failed  # the silent server's login timed out, as it should
    assert took < 1.5, f"a login to a server that answers took {took:.1f} s behind a silent one"


_FILES_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pointerbridge.bridges.base import bridge_class
    folder = Path(sys.argv[1])
    bridge = bridge_class("files").from_config("f", {"path": str(folder)})
    cursor = bridge.poll(None).cursor
    bridge.post(sys.argv[2])
    try:
        found = bridge.listen(cursor, 0.2)
    except OSError as exc:
        print("listen failed:", type(exc).__name__, exc.errno)
        raise SystemExit(1)
    print("found", len(found.pointers))
    """
)


def test_files_listen_fails_for_good_when_inotify_instances_run_out(tmp_path: Path) -> None:
    # bridges/files_watch.py _watch(): INotify() raising OSError (EMFILE: the user's
    # max_user_instances, 128 by default, used up by other programs or other listeners) is
    # not caught; listen() raises, bridge_call makes it a RetryableError, the Listener retries
    # forever and the daemon's job only posts to a carrier it listens to: nothing is read.
    # The scan alone (as when inotify_simple is missing) is what a poll would do.
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root to lower max_inotify_instances in a user namespace")
    script = tmp_path / "listen.py"
    script.write_text(_FILES_SCRIPT)
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o700)
    pointer = _pointer("inotify gone")
    shell = 'echo 0 > /proc/sys/user/max_inotify_instances && exec "$0" "$@"'
    run = subprocess.run(
        [unshare, "-Ur", "sh", "-c", shell, sys.executable, str(script), str(folder), pointer],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.stdout.strip() == "found 1", run.stdout + run.stderr


def test_live_session_a_line_sent_during_the_watchers_poll_never_reaches_a_live_carrier(tmp_path: Path) -> None:
    # app/live.py LiveChat.send(): when the watcher's poll holds the poll lock, send() gets
    # PollBusyError and returns None; cli/live.py then says "queued: the poll running now
    # posts it". But the watcher polls only the carriers that do NOT listen (_Watcher._polled),
    # and nothing else ever flushes a listened-to carrier's outbox: the line waits for the
    # user's next line, and /quit drops it with the RAM store, without a word.
    from pointerbridge.app.base import default_bridge
    from pointerbridge.app.live import LiveChat
    from pointerbridge.bridges.files import FilesBridge
    from pointerbridge.home.config import CarrierConfig

    class PolledFiles(FilesBridge):  # a carrier without push (as e-mail without IDLE is)
        listens = False

    def factory(name: str, config: CarrierConfig) -> Any:
        if name == "slow":
            return PolledFiles.from_config(name, config.settings)
        return default_bridge(name, config)

    live_folder, slow_folder = tmp_path / "live", tmp_path / "slow"
    for folder in (live_folder, slow_folder):
        folder.mkdir(mode=0o700)
    carriers = tmp_path / "carriers.toml"
    carriers.write_text(
        f'[carriers.live]\ntype = "files"\npath = "{live_folder}"\n'
        f'[carriers.slow]\ntype = "files"\npath = "{slow_folder}"\npoll_every = 5\n'
    )
    with LiveChat.from_carrier_file(carriers, factory) as session:
        session.unlock("alice", "lantern orbit mill quartz harbour", None)
        session.open("general", "a chat secret nobody guesses 8421")
        session.catch_up(new=True)
        session.start(lambda shown: None, lambda note: None)
        with session.home.hold("poll") as held:  # the watcher's poll of "slow" is running
            assert held
            assert session.send("hello") is None  # "queued: the poll running now posts it"
        deadline = time.monotonic() + 20
        while not list(slow_folder.glob("*.pb")):  # the watcher's next poll posts it there
            assert time.monotonic() < deadline, "the watcher never posted the line to the polled carrier"
            time.sleep(0.05)
        waiting = session.app.store.waiting("live")
        posted_live = list(live_folder.glob("*.pb"))
    assert posted_live and not waiting, f"the line still waits in RAM for 'live' ({waiting}); quitting drops it"


def test_cmdchat_a_server_that_is_not_cmdchat_is_retried_forever_not_a_configuration_error(
    make: Callable[..., CmdChatBridge],
) -> None:
    # bridges/cmdchat.py _mapped(): an unknown {"error": ...} is a ConfigurationError ("is it a
    # CMD-CHAT server?"), but a service that answers with something that is not JSON (the wrong
    # port: SSH, SMTP, HTTP) raises Broken, mapped to RetryableError: the listener and every
    # poll retry it for ever and nobody is told to fix the host/port.
    from pointerbridge.bridges.base import ConfigurationError

    listening = socket.create_server(("127.0.0.1", 0))

    def banner() -> None:
        conn, _ = listening.accept()
        with conn:
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            conn.recv(65536)

    thread = threading.Thread(target=banner, daemon=True)
    thread.start()
    bridge = make(listening.getsockname()[1], timeout=5.0)
    with pytest.raises(BridgeError) as caught:
        bridge.poll(None)
    thread.join(5)
    listening.close()
    assert isinstance(caught.value, ConfigurationError), f"{type(caught.value).__name__}: {caught.value}"


def test_cmdchat_reconnecting_to_an_unchanged_room_asks_for_a_catch_up(
    server: CmdChatServer, make: Callable[..., CmdChatBridge]
) -> None:
    # bridges/cmdchat.py _start(): a cursor from a read that saw an empty room has last=None,
    # so a new login to the SAME server (a daemon restart, nothing happened) finds "last" nowhere,
    # calls it lost, and posts a catch-up request: every peer's bot re-posts all it posted in the
    # window, growing the backlog towards the 64 KiB where CMD-CHAT's own client cannot join.
    # (The same happens after a clear this bot saw live: its old "last" is gone from the backlog.)
    first = make(server.port)
    cursor = first.poll(None).cursor
    first.close()
    again = make(server.port).poll(cursor)
    assert not again.notes, again.notes
    assert [m["username"] for m in server.backlog()] == []  # no request posted into the room
