"""Adversarial review of issue 20's live code: each test shows one defect (it FAILS on the
reviewed code, branch wip at 392de96). One test per defect, named for it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from pointerbridge.core import ChatKey, Identity, seal


def _pointer(body: str) -> str:
    (pointer,) = seal(ChatKey("x", bytes(32)), Identity("alice", bytes(32)), body)
    return pointer


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
