"""The files carrier's push hook: the shared folder watched with inotify, the scan kept.

Why ``inotify_simple`` rather than a watcher with threads of its own (watchdog,
watchfiles): it is the kernel's queue and nothing else, so an idle listener sleeps in one
``poll(2)`` with no thread and no wake-up at all, and what arrives between two calls waits
in the kernel for the next one. The watch is set up before the scan it guards, so nothing
that lands during the scan is missed. The scan is the poll's own, so every rule of the
files carrier holds, and it runs at least once per wait: a network mount or a sync tool
whose writes the kernel does not report is still read, as a poll would read it.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from .base import Bridge, PollResult

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["FolderWatch"]

# What makes a file appear or change in a folder: a rename into it (posts, sync tools), a
# copy closed after writing, a change of attributes (a rewrite's ctime), the folder itself
# going away (its watch ends with it).
_EVENTS = ("MOVED_TO", "CLOSE_WRITE", "CREATE", "ATTRIB", "DELETE_SELF", "MOVE_SELF")
_SETTLE_MS = 5  # after the first event, gather those of the same write for this long


class FolderWatch(Bridge):
    """Mixed into the files bridge: :meth:`listen` over inotify, :meth:`close` ends it."""

    listens = True
    _notify: Any = None  # the inotify_simple.INotify of the folder, set up on first listen

    @property
    def folder(self) -> Path:  # the files bridge's
        raise NotImplementedError

    def listen(self, cursor: str | None, wait: float) -> PollResult:
        """Scan; when nothing is new, wait up to ``wait`` seconds for the kernel to report
        a change in the folder, then scan again."""
        notify = self._watch()
        result = self.poll(cursor)
        if result.pointers or result.more:
            return result
        if notify is None:  # no inotify here: the scan alone, once per wait
            time.sleep(wait)
            return self.poll(result.cursor)
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            events = notify.read(timeout=int(left * 1000), read_delay=_SETTLE_MS)
            if any(not e.name.startswith(".") for e in events) or self._lost(events):
                break  # a pointer's file, or the folder moved: a dot-file is a post in flight
        return self.poll(result.cursor)

    def _watch(self) -> Any:
        if self._notify is not None:
            return self._notify
        try:
            from inotify_simple import INotify, flags
        except ImportError:  # not Linux: the listener scans once per wait
            return None
        try:
            notify = INotify()
        except OSError:  # the user's inotify instances used up (EMFILE): the scan alone, tried again next time
            return None
        mask = 0
        for event in _EVENTS:
            mask |= getattr(flags, event)
        try:
            notify.add_watch(os.fspath(self.folder), mask)
        except OSError:
            notify.close()  # the scan says what is wrong with the folder, as a poll does
            return None
        self._notify = notify
        return notify

    def _lost(self, events: list[Any]) -> bool:
        from inotify_simple import flags

        gone = flags.DELETE_SELF | flags.MOVE_SELF | flags.IGNORED
        if any(e.mask & gone for e in events):
            self.close()  # watched again on the next listen, if the folder is back
            return True
        return False

    def close(self) -> None:
        """Stop watching the folder."""
        notify, self._notify = self._notify, None
        if notify is not None:
            notify.close()
