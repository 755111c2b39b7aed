"""Live: the files carrier's push (inotify), the listener that drives any carrier's push
hook, and the daemon and the console receiving as things arrive, without a poll."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from console_helpers import (
    PHRASES,
    SECRET,
    chat_salt,
    console,
    fill,
    make_home,
    opened,
    send,
    unlock,
    until,
    with_chat,
)
from helpers import running_daemon, wait_for
from pointerbridge.app.listen import Backoff, Heard, Listener, ListenEvent, ListenFailed
from pointerbridge.bridges.files import FilesBridge
from pointerbridge.console.chat import ChatScreen
from pointerbridge.home.config import Home
from textual.pilot import Pilot


def _pointer(tmp_path: Path, shared: Path) -> str:
    """A real pointer text, sealed by a home of its own (never posted)."""
    home = make_home(tmp_path, "carol", tmp_path / "elsewhere")
    with opened(home) as app:
        chat = app.create_chat("Family", SECRET, ["shared"], salt=chat_salt("Family"))
        app.send(chat, app.unlock_identity(PHRASES["carol"]), "a pointer for the bridge tests")
        return app.store.outbox("shared")[0][1]


def _stored(home: Home) -> int:
    with opened(home) as app:
        return app.store.counts()["inbox"]


def test_a_files_listen_returns_when_a_pointer_lands_not_when_the_wait_ends(tmp_path: Path, shared: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    pointer = _pointer(tmp_path, shared)
    listener, poster = (
        FilesBridge.from_config("shared", {"path": str(shared)}),
        FilesBridge.from_config("shared", {"path": str(shared)}),
    )
    try:
        cursor = listener.listen(None, 0.05).cursor  # the folder as it is: nothing in it
        posted = threading.Timer(0.3, poster.post, [pointer])
        posted.start()
        started = time.monotonic()
        result = listener.listen(cursor, 30.0)
        took = time.monotonic() - started
        posted.join()
        assert [r.text for r in result.pointers] == [pointer]
        assert took < 10.0, f"the listen waited {took:.1f} s for a pointer posted after 0.3 s"
        # A file being written (a dot-file, as a post in flight is) does not end the wait.
        (shared / ".in-flight.tmp").write_text("half a pointer")
        started = time.monotonic()
        idle = listener.listen(result.cursor, 0.5)
        assert idle.pointers == [] and time.monotonic() - started >= 0.45
    finally:
        listener.close()
        poster.close()


def test_the_backoff_doubles_with_jitter_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(first=1.0, cap=8.0)
    pauses = [backoff.next() for _ in range(6)]
    for pause, ceiling in zip(pauses, (1, 2, 4, 8, 8, 8), strict=True):
        assert ceiling / 2 <= pause <= ceiling
    backoff.reset()
    assert backoff.next() <= 1.0
    assert len({round(Backoff(1.0, 60.0).next(), 9) for _ in range(20)}) > 1  # jittered, not one value


def test_a_poll_only_posts_to_a_carrier_a_listener_holds_and_a_second_listener_waits(
    tmp_path: Path, shared: Path
) -> None:
    alice, bob = make_home(tmp_path, "alice", shared), make_home(tmp_path, "bob", shared)
    chat = with_chat(bob, "bob")
    events: list[ListenEvent] = []
    first = Listener(alice, "shared", events.append, wait=0.5)
    first.start()
    second_events: list[ListenEvent] = []
    second = Listener(alice, "shared", second_events.append, wait=0.5)
    try:
        with opened(bob) as app:
            send(app, chat, "bob", ["while alice listens"])
        wait_for(lambda: any(isinstance(e, Heard) and e.received == 1 for e in events), "alice's listener hears it")
        with opened(alice) as app:
            summary = app.poll()
        assert summary.live == ["shared"] and "shared" not in summary.received  # fetched by the listener only
        second.start()
        with opened(bob) as app:
            send(app, chat, "bob", ["still the first listener's"])
        wait_for(lambda: sum(isinstance(e, Heard) for e in events) == 2, "the first listener hears the second")
        assert not any(isinstance(e, Heard) for e in second_events)  # the second waits for the carrier
        assert first.stop(timeout=10)
        with opened(bob) as app:
            send(app, chat, "bob", ["now the second's"])
        wait_for(lambda: any(isinstance(e, Heard) for e in second_events), "the second listener takes over")
    finally:
        first.stop(timeout=10)
        assert second.stop(timeout=10)
    assert _stored(alice) == 3


def test_a_folder_that_goes_away_mid_listen_is_retried_and_every_pointer_arrives_once(
    tmp_path: Path, shared: Path
) -> None:
    alice, bob = make_home(tmp_path, "alice", shared), make_home(tmp_path, "bob", shared)
    chat = with_chat(bob, "bob", bodies=("before",))
    events: list[ListenEvent] = []
    listener = Listener(alice, "shared", events.append, wait=0.5, backoff=Backoff(first=0.2, cap=0.5))
    listener.start()
    try:
        wait_for(lambda: _stored(alice) == 1, "the pointer sent before listening")
        away = shared.with_name("shared-away")
        shared.rename(away)  # the mount is gone: the listener fails and tries again
        wait_for(lambda: any(isinstance(e, ListenFailed) and not e.fatal for e in events), "a retryable failure")
        bob_poster = FilesBridge.from_config("shared", {"path": str(away)})
        with opened(bob) as app:
            app.send(chat, app.unlock_identity(PHRASES["bob"]), "during")
            for pointer_id, text in app.store.outbox("shared"):
                app.store.mark_posted(pointer_id, "shared", bob_poster.post(text))  # lands while alice's is away
        away.rename(shared)
        with opened(bob) as app:
            send(app, chat, "bob", ["after"])
        wait_for(lambda: _stored(alice) == 3, "every pointer once the folder is back")
    finally:
        assert listener.stop(timeout=10)
    assert not any(isinstance(e, ListenFailed) and e.fatal for e in events)
    assert _stored(alice) == 3  # nothing twice


def test_bobs_daemon_stores_alices_message_without_any_poll(tmp_path: Path, shared: Path) -> None:
    alice = make_home(tmp_path, "alice", shared)
    bob = make_home(tmp_path, "bob", shared, poll_every=3600)  # its jobs run once, at start
    with_chat(bob, "bob")
    with running_daemon(bob.config_dir, listening_to="shared", never_logged=("live, not polled",)) as lines:
        with_chat(alice, "alice", bodies=("live, not polled",))
        wait_for(lambda: any("shared: received 1 (live)" in line for line in lines), "bob's daemon hears it")
        assert _stored(bob) == 1
    assert not any("received 1, skipped" in line for line in lines)  # no poll fetched it


def test_alices_open_chat_shows_bobs_message_live_with_no_background_poll(tmp_path: Path, shared: Path) -> None:
    alice, bob = make_home(tmp_path, "alice", shared), make_home(tmp_path, "bob", shared)
    with_chat(alice, "alice", bodies=("are you there?",))
    chat = with_chat(bob, "bob")

    async def main() -> None:
        app = console(alice, poll_every=0, live=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await _scenario(pilot)

    async def _scenario(pilot: Pilot[None]) -> None:
        await unlock(pilot, "alice")
        await pilot.press("enter")
        await fill(pilot, secret=SECRET)
        screen = pilot.app.screen
        assert isinstance(screen, ChatScreen)
        assert [s.message.body for s in screen.shown] == ["are you there?"]
        with opened(bob) as bobs:
            send(bobs, chat, "bob", ["yes, here"])
        await until(pilot, lambda: len(screen.shown) == 2, "bob's message on alice's screen")
        assert [(s.message.username, s.message.body) for s in screen.shown][-1] == ("bob", "yes, here")
        assert pilot.app.polls == 0 and "(live)" in pilot.app.sub_title

    asyncio.run(main())


def test_the_listeners_json_log_holds_no_pointer(tmp_path: Path, shared: Path) -> None:
    alice, bob = make_home(tmp_path, "alice", shared, poll_every=3600), make_home(tmp_path, "bob", shared)
    with_chat(alice, "alice")
    with_chat(bob, "bob", bodies=("a body never logged",))
    with running_daemon(alice.config_dir, "--log-json", never_logged=("never logged",)) as lines:
        wait_for(lambda: any("received 1 (live)" in line for line in lines), "the daemon hears bob's post")
    records = [json.loads(line) for line in lines]
    assert any(r["message"] == "listening live to shared" for r in records)


def test_a_cron_poll_beside_a_listener_only_posts_there_and_says_so(tmp_path: Path, shared: Path) -> None:
    from test_cli import run

    bob = make_home(tmp_path, "bob", shared)
    listener = Listener(bob, "shared", lambda event: None, wait=0.5)
    listener.start()
    try:
        with opened(bob) as app:

            def held() -> bool:
                with app.listening("shared") as free:
                    return not free

            wait_for(held, "the listener holds the carrier")
        done = run("--home", str(bob.config_dir), "poll", phrase=None)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "shared: posted 0, received live by another session (the daemon?)"
        as_json = run("--home", str(bob.config_dir), "poll", "--json", phrase=None)
        assert (
            json.loads(as_json.stdout)["live"] == ["shared"] and "shared" not in json.loads(as_json.stdout)["received"]
        )
    finally:
        assert listener.stop(timeout=10)
    done = run("--home", str(bob.config_dir), "poll", phrase=None)
    assert done.stdout.startswith("shared: posted 0, received 0")  # fetched again once nobody listens


_LISTEN_ONCE = """
import sys
from pointerbridge.bridges.files import FilesBridge
bridge = FilesBridge.from_config("f", {"path": sys.argv[1]})
cursor = bridge.poll(None).cursor
bridge.post(sys.argv[2])
print("found", len(bridge.listen(cursor, 0.2).pointers))
"""


def test_a_files_listen_without_inotify_instances_left_still_reads_by_scanning(tmp_path: Path, shared: Path) -> None:
    # The user's inotify instances (128 by default) can be used up by other programs: the
    # listener then scans once per wait, as a poll would, instead of failing for good. The
    # limit is set to 0 in a user namespace of the test's own (no root needed).
    (tmp_path / "elsewhere").mkdir()
    pointer = _pointer(tmp_path, shared)
    unshare = shutil.which("unshare")
    assert unshare, "this test needs util-linux's unshare (Debian: util-linux)"
    lowered = 'echo 0 > /proc/sys/user/max_inotify_instances && exec "$0" "$@"'
    probe = subprocess.run(
        [unshare, "-Ur", "sh", "-c", lowered, sys.executable, "-c", "import inotify_simple; inotify_simple.INotify()"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode != 0 and "Too many open files" in probe.stderr, probe.stderr  # the limit holds
    done = subprocess.run(
        [unshare, "-Ur", "sh", "-c", lowered, sys.executable, "-c", _LISTEN_ONCE, str(shared), pointer],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "found 1", done.stdout + done.stderr
