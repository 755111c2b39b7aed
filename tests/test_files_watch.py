"""The files carrier's push hook in a process with many listeners: one inotify instance for
them all (the kernel gives a user only ``fs.inotify.max_user_instances`` of them, 128 by
default, across all of that user's processes), and every folder still heard."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import raw_chat, raw_identity
from pointerbridge.bridges.base import PollResult
from pointerbridge.bridges.files import FilesBridge
from pointerbridge.core import seal


def _inotify_fds() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify"
        except OSError:  # the listing's own fd, closed meanwhile
            continue
    return count


def _bridge(folder: Path, name: str = "shared") -> FilesBridge:
    folder.mkdir(exist_ok=True)
    return FilesBridge.from_config(name, {"path": str(folder)})


def _readers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "inotify"}


@pytest.fixture
def bridges() -> Iterator[list[FilesBridge]]:
    made: list[FilesBridge] = []
    yield made
    for bridge in made:
        bridge.close()


def _heard_while_waiting(
    listener: FilesBridge, cursor: str, poster: FilesBridge, text: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[PollResult, float]:
    """``poster`` posts ``text`` once ``listener`` has scanned and waits (up to 60 s) for
    news: what the listener returned, and how long it took."""
    scanned, scan = threading.Event(), listener.poll

    def poll(cursor: str | None) -> PollResult:
        result = scan(cursor)
        scanned.set()
        return result

    monkeypatch.setattr(listener, "poll", poll)
    found: list[PollResult] = []
    thread = threading.Thread(target=lambda: found.append(listener.listen(cursor, wait=60.0)))
    start = time.monotonic()
    thread.start()
    assert scanned.wait(30)
    poster.post(text)
    thread.join(90)
    assert found, "the listener did not return"
    return found[0], time.monotonic() - start


def test_listeners_of_many_folders_share_one_inotify_instance(tmp_path: Path, bridges: list[FilesBridge]) -> None:
    gc.collect()  # bridges other tests dropped without closing them
    before, readers = _inotify_fds(), _readers()  # another test's listener may still be ending
    for number in range(5):
        bridges.append(_bridge(tmp_path / f"folder{number}"))
        bridges[-1].listen(None, wait=0.0)
    assert _inotify_fds() - before <= 1  # was 5: an instance per folder
    for bridge in bridges[:4]:
        bridge.close()
    bridges[4:] = []  # the last one dropped without close(): its watch ends with it
    gc.collect()
    for thread in _readers() - readers:
        thread.join(10)
        assert not thread.is_alive()  # the last watch ended: its instance and thread with it
    assert _inotify_fds() <= before


def test_more_listeners_than_the_kernel_has_instances_each_hear_their_folder(
    tmp_path: Path, bridges: list[FilesBridge], monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    cursors = []
    for number in range(min(limit, 2000) + 8):  # before: the 129th failed with EMFILE, for good
        bridges.append(_bridge(tmp_path / f"folder{number}", f"carrier{number}"))
        cursors.append(bridges[-1].listen(None, wait=0.0).cursor)
    pointer = seal(raw_chat("watch"), raw_identity("alice"), "heard by the last")[0]
    poster = _bridge(tmp_path / f"folder{len(bridges) - 1}", "poster")
    result, elapsed = _heard_while_waiting(bridges[-1], cursors[-1], poster, pointer, monkeypatch)
    assert [item.text for item in result.pointers] == [pointer]
    assert elapsed < 30  # woken by the kernel, not by the end of its 60 s wait


def test_two_listeners_of_one_folder_each_keep_their_watch(
    tmp_path: Path, bridges: list[FilesBridge], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _bridge(tmp_path / "shared", "first"), _bridge(tmp_path / "shared", "second")
    bridges += [first, second]
    first.listen(None, wait=0.0)
    cursor = second.listen(None, wait=0.0).cursor
    first.close()  # the folder's one kernel watch is the second's too: it must stay
    pointer = seal(raw_chat("watch"), raw_identity("alice"), "heard by the second")[0]
    poster = _bridge(tmp_path / "shared", "poster")
    result, elapsed = _heard_while_waiting(second, cursor, poster, pointer, monkeypatch)
    assert [item.text for item in result.pointers] == [pointer]
    assert elapsed < 30
