"""The files carrier's push hook: the shared folder watched with inotify, the scan kept.

Why ``inotify_simple`` rather than a watcher with threads of its own per folder (watchdog,
watchfiles): it is the kernel's queue and nothing else. The watch is set up before the
scan it guards, so nothing that lands during the scan is missed. The scan is the poll's
own, so every rule of the files carrier holds, and it runs at least once per wait: a
network mount or a sync tool whose writes the kernel does not report is still read, as a
poll would read it.

One inotify instance serves every folder watched in the process (:class:`_Kernel`): the
kernel allows a user 128 instances by default (``fs.inotify.max_user_instances``), shared
by all of that user's processes, while watches are counted in the hundreds of thousands.
A daemon with an instance per files carrier failed from its 129th carrier on (less, beside
other programs) and tried again forever (``bench/idle_push.py``). One thread reads the
instance and hands each folder's events to the listeners waiting on it; with nothing to
read it sleeps in one ``poll(2)``, and it ends with the last watch. If no instance can be
had at all, a listener scans once per wait, as where there is no inotify.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from .base import Bridge, PollResult

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["FolderWatch"]

# What makes a file appear or change in a folder: a rename into it (posts, sync tools), a
# copy closed after writing, a change of attributes (a rewrite's ctime), the folder itself
# going away (its watch ends with it).
_EVENTS = ("MOVED_TO", "CLOSE_WRITE", "CREATE", "ATTRIB", "DELETE_SELF", "MOVE_SELF")
_SETTLE = 0.005  # seconds: after the first event, gather those of the same write for this long
_OVERFLOW = -1  # the wd of IN_Q_OVERFLOW: events were lost, every folder must look again


class _Watch:
    """One listener's watch of a folder: its events come through :attr:`events`."""

    def __init__(self, wd: int) -> None:
        self.wd = wd
        self.events: queue.SimpleQueue[Any] = queue.SimpleQueue()


class _Kernel:
    """The process's one inotify instance, and the thread that reads it for every watch."""

    _lock = threading.Lock()
    _current: _Kernel | None = None

    def __init__(self) -> None:
        from inotify_simple import INotify

        self._notify = INotify()
        self._wake_r, self._wake_w = os.pipe()
        self._watches: dict[int, list[_Watch]] = {}
        self._thread = threading.Thread(target=self._read, name="inotify", daemon=True)
        self._thread.start()

    @classmethod
    def watch(cls, folder: Path, mask: int) -> _Watch | None:
        """Watch ``folder``; None when the kernel gives no instance (the limit is reached)."""
        with cls._lock:
            kernel = cls._current
            if kernel is None:
                try:
                    kernel = cls._current = cls()
                except OSError:
                    return None
            try:
                wd = kernel._notify.add_watch(os.fspath(folder), mask)
            except OSError:
                if not kernel._watches:
                    kernel._end()
                return None  # the scan says what is wrong with the folder, as a poll does
            watch = _Watch(wd)
            kernel._watches.setdefault(wd, []).append(watch)  # one wd per folder: a list of listeners
            return watch

    @classmethod
    def unwatch(cls, watch: _Watch) -> None:
        """End ``watch``; the folder's kernel watch ends with its last listener."""
        with cls._lock:
            kernel = cls._current
            if kernel is None:
                return
            listeners = kernel._watches.get(watch.wd, [])
            if watch in listeners:
                listeners.remove(watch)
            if not listeners and kernel._watches.pop(watch.wd, None) is not None:
                with contextlib.suppress(OSError):  # the kernel ended it already (the folder went)
                    kernel._notify.rm_watch(watch.wd)
            if not kernel._watches:
                kernel._end()

    def _end(self) -> None:  # under the lock
        _Kernel._current = None
        os.write(self._wake_w, b"x")  # the thread closes the instance and the pipe

    def _read(self) -> None:
        poller = select.poll()
        poller.register(self._notify.fileno(), select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        try:
            while True:
                ready = {fd for fd, _ in poller.poll()}
                if self._wake_r in ready:
                    return
                events = self._notify.read(timeout=0)
                with _Kernel._lock:
                    for event in events:
                        everyone = event.wd == _OVERFLOW
                        for listeners in self._watches.values() if everyone else [self._watches.get(event.wd, [])]:
                            for watch in listeners:
                                watch.events.put(event)
        finally:
            self._notify.close()
            os.close(self._wake_r)
            os.close(self._wake_w)


def _drained(watch: _Watch) -> list[Any]:
    """The events waiting for ``watch``, taken."""
    events = []
    with contextlib.suppress(queue.Empty):
        while True:
            events.append(watch.events.get_nowait())
    return events


class FolderWatch(Bridge):
    """Mixed into the files bridge: :meth:`listen` over inotify, :meth:`close` ends it."""

    listens = True
    _watch: _Watch | None = None  # this bridge's watch of its folder, set up on first listen
    _unwatch: weakref.finalize[[_Watch], FolderWatch] | None = None  # ends it

    @property
    def folder(self) -> Path:  # the files bridge's
        raise NotImplementedError

    def listen(self, cursor: str | None, wait: float) -> PollResult:
        """Scan; when nothing is new, wait up to ``wait`` seconds for the kernel to report
        a change in the folder, then scan again."""
        watch = self._watching()
        if watch is not None and self._lost(_drained(watch)):  # what came before the scan, the scan sees
            watch = self._watching()
        result = self.poll(cursor)
        if result.pointers or result.more:
            return result
        if watch is None:  # no inotify here: the scan alone, once per wait
            time.sleep(wait)
            return self.poll(result.cursor)
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            try:
                first = watch.events.get(timeout=left)
            except queue.Empty:
                break
            time.sleep(_SETTLE)
            events = [first, *_drained(watch)]
            if any(e.wd == _OVERFLOW or not e.name.startswith(".") for e in events) or self._lost(events):
                break  # a pointer's file, or the folder moved: a dot-file is a post in flight
        return self.poll(result.cursor)

    def _watching(self) -> _Watch | None:
        if self._watch is not None:
            return self._watch
        try:
            from inotify_simple import flags
        except ImportError:  # not Linux: the listener scans once per wait
            return None
        mask = 0
        for event in _EVENTS:
            mask |= getattr(flags, event)
        watch = self._watch = _Kernel.watch(self.folder, mask)
        if watch is not None:  # a bridge dropped without close() ends its watch too, as its own fd did
            self._unwatch = weakref.finalize(self, _Kernel.unwatch, watch)
        return watch

    def _lost(self, events: list[Any]) -> bool:
        from inotify_simple import flags

        gone = flags.DELETE_SELF | flags.MOVE_SELF | flags.IGNORED
        if any(e.mask & gone for e in events):
            self.close()  # watched again on the next listen, if the folder is back
            return True
        return False

    def close(self) -> None:
        """Stop watching the folder."""
        self._watch = None
        if self._unwatch is not None:
            self._unwatch()  # once: a finalizer runs at most once
