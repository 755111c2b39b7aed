"""A real SOCKS5 proxy on 127.0.0.1 (Debian's ``microsocks``) and a watch on a test
server's port, for the proxy tests of every network carrier (issue 24).

microsocks binds its outgoing connections to 127.0.0.2 (``-b``), so a server behind a
:class:`Watch` tells the proxy's connections (from 127.0.0.2) from direct ones (from
127.0.0.1). A :class:`Watch` is a plain TCP relay in front of the server: the carrier is
configured with the watch's port, and ``peers`` lists where each connection came from.
Run as root without microsocks, the first use installs it from Debian's packages; one
that cannot be had fails the test with the reason."""

from __future__ import annotations

import contextlib
import selectors
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any, Self

import pytest
from helpers import debian_command, end_process, timed_on_a_thread
from pointerbridge.bridges.base import RetryableError

__all__ = ["PROXY_SOURCE", "Silent", "Socks", "Watch", "ends_in_retry", "record_lookups", "retry_said"]

PROXY_SOURCE = "127.0.0.2"  # the address microsocks connects from


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Socks:
    """microsocks on 127.0.0.1:``port``; ``url`` is the carrier's ``proxy`` setting. Use as
    a context manager; :meth:`stop` takes it down mid-test (the "proxy down" case)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"socks5h://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        """Start microsocks and wait until it accepts connections."""
        binary = debian_command("microsocks", "microsocks")
        command = [binary, "-i", "127.0.0.1", "-p", str(self.port), "-b", PROXY_SOURCE]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                said = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(f"microsocks exited with {self._process.returncode}: {said[-1000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"microsocks did not listen on {self.port} within {timeout:.0f} s")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop microsocks (its port then refuses connections)."""
        process, self._process = self._process, None
        if process is None:
            return
        end_process(process, 10)
        if process.stderr is not None:
            process.stderr.close()

    def __enter__(self) -> Socks:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class _Served:
    """A TCP server on 127.0.0.1:``port`` on a thread of its own, every connection in one
    selector; :meth:`_accept` takes a new one, :meth:`_ready` reads one (its ``data``, as
    the subclass registered it). Use as a context manager; its thread ends on exit."""

    def __init__(self, name: str) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._listener.close()
        assert not self._thread.is_alive(), f"the {self._thread.name} thread did not stop"

    def _serve(self) -> None:
        """Serve every connection, on one thread, until told to stop."""
        selector = selectors.DefaultSelector()
        self._listener.setblocking(False)
        selector.register(self._listener, selectors.EVENT_READ, None)
        try:
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.05):
                    if key.data is None:
                        self._accept(selector)
                    else:
                        self._ready(selector, key.fileobj, key.data)  # type: ignore[arg-type]
        finally:
            for key in list(selector.get_map().values()):
                if key.data is not None:
                    key.fileobj.close()  # type: ignore[union-attr]
            selector.close()

    def _accept(self, selector: selectors.BaseSelector) -> None:
        raise NotImplementedError

    def _ready(self, selector: selectors.BaseSelector, conn: socket.socket, data: Any) -> None:
        raise NotImplementedError


class Watch(_Served):
    """A TCP relay on 127.0.0.1:``port`` to ``target_port``, noting each connection's
    source address in ``peers``. Use as a context manager; its thread ends on exit."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        super().__init__("watch")
        self.target = (target_host, target_port)
        self.peers: list[str] = []

    @property
    def direct(self) -> list[str]:
        """Sources of the connections that did not come through the proxy."""
        return [peer for peer in self.peers if peer != PROXY_SOURCE]

    def _accept(self, selector: selectors.BaseSelector) -> None:
        client, (source, *_) = self._listener.accept()
        self.peers.append(source)
        try:
            server = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        for one, other in ((client, server), (server, client)):
            one.setblocking(False)
            selector.register(one, selectors.EVENT_READ, other)

    def _ready(self, selector: selectors.BaseSelector, source: socket.socket, sink: socket.socket) -> None:
        """Relay what came from ``source`` to ``sink``; end both when either ends."""
        try:
            data = source.recv(65536)
            if data:
                sink.setblocking(True)
                sink.sendall(data)
                sink.setblocking(False)
        except OSError:
            data = b""  # a reset ends this connection, as an empty read does
        if data:
            return
        for end in (source, sink):
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(end)
            end.close()


def record_lookups(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """Every name lookup this process makes from now on (in any thread: asyncio's run in
    its executor), as (function, name): getaddrinfo (under every connect), gethostbyname,
    and getfqdn and gethostbyaddr (smtplib's way to name this machine in EHLO)."""
    made: list[tuple[str, object]] = []
    for function in ("getaddrinfo", "gethostbyname", "gethostbyaddr", "getfqdn"):
        real = getattr(socket, function)

        def recorded(name: object = "", *args: Any, _real: Any = real, _function: str = function, **kwargs: Any) -> Any:
            made.append((_function, name))
            return _real(name, *args, **kwargs)

        monkeypatch.setattr(socket, function, recorded)
    return made


class Silent(_Served):
    """A "proxy" on 127.0.0.1 that accepts connections and never answers; ``greets``: it
    answers the SOCKS5 greeting ("no authentication") and then never the CONNECT. ``url``
    is the carrier's ``proxy`` setting, ``accepted`` counts the connections it took. Use as
    a context manager; its thread ends on exit."""

    def __init__(self, *, greets: bool = False) -> None:
        super().__init__("silent-proxy")
        self.greets = greets
        self.accepted = 0
        self.url = f"socks5h://127.0.0.1:{self.port}"

    def _accept(self, selector: selectors.BaseSelector) -> None:
        client, _ = self._listener.accept()
        self.accepted += 1
        client.setblocking(False)
        selector.register(client, selectors.EVENT_READ, [False])  # not greeted yet

    def _ready(self, selector: selectors.BaseSelector, client: socket.socket, greeted: list[bool]) -> None:
        """Read what came, answering at most the greeting; close when the client does."""
        try:
            data = client.recv(4096)
        except OSError:
            data = b""
        if not data:
            selector.unregister(client)
            client.close()
        elif self.greets and not greeted[0]:  # the first bytes are the greeting (05 01 00)
            greeted[0] = True
            client.sendall(b"\x05\x00")


def ends_in_retry(call: Any, timeout: float) -> RetryableError:
    """What ``call`` (through a :class:`Silent` proxy, the carrier's ``timeout`` seconds)
    raised: it must end, within three timeouts and a margin, in "retry later"."""
    bound = timeout * 3 + 3
    took, raised = timed_on_a_thread(call, (RetryableError,), bound)
    assert took is not None, f"still waiting on the silent proxy after {bound:g} s"
    assert len(raised) == 1, f"no RetryableError: it ended otherwise after {took:.1f} s"
    assert isinstance(raised[0], RetryableError)
    return raised[0]


def retry_said(attempts: tuple[Callable[[], object], ...], timeout: float) -> list[str]:
    """What each of ``attempts`` said, each ended by :func:`ends_in_retry`."""
    return [str(ends_in_retry(attempt, timeout)) for attempt in attempts]
