"""One thread that reads every CMD-CHAT login of this process.

CMD-CHAT's server stalls a whole room while any member does not read (cmdchat_link.py), so
every link must be read all the time. A thread per link did that, but a daemon with 200
idle CMD-CHAT carriers then held 400 threads (each listener's beside each link's) and 56 MB,
most of it in the threads' stacks and malloc arenas. Here one thread waits on all the
sockets at once (``selectors``: epoll on Linux) and wakes for the links that have bytes, or
for the next link whose keepalive is due.

A link is anything :class:`Readable`: it takes the bytes, is told when its connection ended,
and says when it next wants :meth:`Readable.tick` (its keepalive).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["READERS", "Readable", "Readers"]

_CHUNK = 256 * 1024  # the most bytes read from one socket per wake
_JOIN = 5.0  # seconds the last link's removal waits for the thread to end
_IDLE = 3600.0  # seconds the thread sleeps when no link wants a tick sooner


class Readable(Protocol):
    """What :class:`Readers` reads for."""

    sock: socket.socket

    def received(self, chunk: bytes) -> None:
        """Take bytes read from :attr:`sock` (b"" once at the start: lines read before)."""

    def ended(self, reason: str) -> None:
        """The connection ended (closed by the server, failed, or this side gave up)."""

    def due(self) -> float:
        """The ``time.monotonic()`` at which this link wants :meth:`tick`."""

    def tick(self) -> None:
        """Do what was due (send a keepalive); raise to end the link."""


class Readers:
    """The reading thread and the links it reads (started with the first link)."""

    def __init__(self) -> None:
        """No thread yet: :meth:`add` starts it, and it ends when the last link is removed."""
        self._lock = threading.Lock()
        self._selector: selectors.BaseSelector | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._thread: threading.Thread | None = None

    def add(self, link: Readable) -> None:
        """Read ``link`` from now on (it first gets ``received(b"")``, in the caller's thread)."""
        link.received(b"")
        with self._lock:
            if self._selector is None:
                self._selector, self._wake = selectors.DefaultSelector(), socket.socketpair()
                self._wake[0].setblocking(False)
                self._selector.register(self._wake[0], selectors.EVENT_READ, None)
                self._thread = threading.Thread(
                    target=self._run, args=(self._selector,), name="cmdchat-read", daemon=True
                )
                self._thread.start()
            self._selector.register(link.sock, selectors.EVENT_READ, link)
            self._poke()

    def remove(self, link: Readable) -> None:
        """Stop reading ``link`` (nothing happens when it was not read); the thread ends
        with the last link."""
        with self._lock:
            if self._selector is None:
                return
            with contextlib.suppress(KeyError, ValueError):  # not registered (any more)
                self._selector.unregister(link.sock)
            last = not any(k.data is not None for k in self._selector.get_map().values())
            thread = self._thread
            self._poke()
        if last and thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN)  # gone when this returns: a process may fork next (app/opening.py)

    def _stop(self, selector: selectors.BaseSelector) -> None:
        """Close the selector and the wake pair; the next :meth:`add` starts anew. Hold the lock."""
        assert self._wake is not None
        for end in self._wake:
            end.close()
        selector.close()
        self._selector, self._wake = None, None

    def _poke(self) -> None:
        if self._wake is not None:
            with contextlib.suppress(BlockingIOError):  # a wake is pending already
                self._wake[1].send(b"\0")

    def _run(self, selector: selectors.BaseSelector) -> None:
        while True:
            with self._lock:
                links: list[Readable] = [k.data for k in selector.get_map().values() if k.data is not None]
                if not links:  # the last link is gone: so is the thread (a process that forks wants none)
                    self._stop(selector)
                    return
            now = time.monotonic()
            timeout = min(max(0.0, min((link.due() for link in links), default=now + _IDLE) - now), _IDLE)
            for key, _ in selector.select(timeout):
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        key.fileobj.recv(4096)  # type: ignore[union-attr]
                    continue
                self._read(key.data)
            now = time.monotonic()
            for link in links:
                if link.due() <= now:
                    self._guarded(link, link.tick)

    def _read(self, link: Readable) -> None:
        try:
            chunk = link.sock.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._end(link, f"the connection failed ({type(exc).__name__})")
            return
        if not chunk:
            self._end(link, "the server closed the connection")
            return
        self._guarded(link, lambda: link.received(chunk))

    def _guarded(self, link: Readable, step: Callable[[], None]) -> None:
        """Run one link's step; whatever it raises ends that link, never the thread that reads the others."""
        from .cmdchat_protocol import Broken

        try:
            step()
        except Broken as exc:
            self._end(link, str(exc))
        except OSError as exc:
            self._end(link, f"the connection failed ({type(exc).__name__})")
        except Exception as exc:  # noqa: BLE001  # a bug here must not stop every other link being read
            self._end(link, f"reading stopped on an internal error ({type(exc).__name__})")

    def _end(self, link: Readable, reason: str) -> None:
        self.remove(link)
        link.ended(reason)


READERS = Readers()
"""The one reader of this process."""
