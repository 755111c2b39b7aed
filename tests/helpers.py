"""Keys for tests, built from raw bytes so most tests skip the 150 ms Argon2id; an export's
records opened, and sealed again."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pointerbridge.core import ChatKey, Identity

if TYPE_CHECKING:
    from pointerbridge.home.store import Store


def raw_chat(name: str) -> ChatKey:
    return ChatKey(name, hashlib.sha256(b"test chat " + name.encode()).digest())


def raw_identity(username: str) -> Identity:
    return Identity(username, hashlib.sha256(b"test identity " + username.encode()).digest())


@contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """Held by one test process of this machine at a time: the suite runs in several
    (pytest-xdist), and two of them installing the same package or venv at once would
    break both (dpkg's lock, a half-made venv)."""
    import fcntl
    import tempfile

    path = Path(tempfile.gettempdir()) / f"pbridge-tests-{name}.lock"
    with open(path, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


def apt_install(*packages: str) -> str | None:
    """Install Debian's ``packages`` (without recommends); None when done, else why not
    (not root on Debian, or apt-get's own words). The caller holds ``machine_lock("apt")``."""
    import os
    import shutil

    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"not root on Debian: apt-get install {' '.join(packages)}"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        done = subprocess.run(step, capture_output=True, text=True, env=env, timeout=600)
        if done.returncode != 0:
            return f"{' '.join(step)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    return None


def debian_command(command: str, package: str) -> str:
    """The path of ``command``, installing Debian's ``package`` first when root and it is
    missing; fails (never skips) with the reason when it cannot."""
    import os
    import shutil
    import subprocess

    with machine_lock("apt"):
        found = shutil.which(command)
        if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
                subprocess.run(step, check=True, capture_output=True, env=env, timeout=600)
            found = shutil.which(command)
    assert found, f"{command} is missing and cannot be installed here (apt-get install {package})"
    return found


def _place(header: dict[str, Any], index: int) -> bytes:
    """What a sealed line of version 4 is bound to, built as docs/EXPORT.md says (not by
    the code under test): version, the export's id, the line's index and the count."""
    if header["version"] == 3:
        return b""
    return bytes([4]) + bytes.fromhex(header["id"]) + index.to_bytes(4, "big") + header["sealed"].to_bytes(4, "big")


def opened_export(store: Store, path: Path) -> list[dict[str, Any]]:
    """The records of the export at ``path`` (header left out) as a version-2 file held
    them: each sealed line opened under ``store``'s key (the store that wrote it, or one
    of the same identity) and its records in its place, each pointer's chat lookup turned
    back into the chat's name."""
    import base64
    import json

    header, *lines = (json.loads(line) for line in path.read_text().splitlines())
    records: list[dict[str, Any]] = []
    index = 0
    for record in lines:
        if record["kind"] != "sealed":
            records.append(record)
            continue
        plain = json.loads(store.open_from_export(base64.b64decode(record["data"]), _place(header, index)))
        records += [plain] if header["version"] == 3 else plain
        index += 1
    names = {store.chat_lookup(c.normalized_name).hex(): c.normalized_name for c in store.chats()}
    for record in records:
        if record["kind"] == "pointer" and record["chat"] is not None:
            record["chat"] = names[record["chat"]]
    return records


def write_export_file(
    path: Path, records: list[dict[str, Any]], sealed_by: Store | None = None, version: int = 4
) -> Path:
    """Write ``records`` (as :func:`opened_export` gives them) as an export: sealed again
    under ``sealed_by``'s key, of ``version`` 4 (each chat's records one sealed line) or 3
    (each record alone), or of version 2 (still read; names in the clear) without it."""
    import base64
    import json
    import os

    from pointerbridge.app.export_format import SEALED_KINDS

    if sealed_by is None:
        version = 2
    header: dict[str, Any] = {"format": "pointerbridge-export", "version": version, "schema": 10}
    clear = [r for r in records if sealed_by is None or r["kind"] not in SEALED_KINDS]
    chats: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if sealed_by is not None and record["kind"] in SEALED_KINDS:
            chats.setdefault(record.get("normalized_name") or record["chat"], []).append(record)
    if version == 3:
        plain = [json.dumps(r).encode() for rs in chats.values() for r in rs]
    else:
        plain = [json.dumps(rs).encode() for rs in chats.values()]
    if version == 4:
        header |= {"id": os.urandom(16).hex(), "sealed": len(plain)}
    lines = [header, *(r for r in clear if r["kind"] == "identity")]
    for index, data in enumerate(plain):
        assert sealed_by is not None
        sealed = sealed_by.seal_for_export(data, _place(header, index))
        lines.append({"kind": "sealed", "data": base64.b64encode(sealed).decode()})
    for record in clear:
        if sealed_by is not None and record["kind"] == "pointer" and record["chat"] is not None:
            record = {**record, "chat": sealed_by.chat_lookup(record["chat"]).hex()}
        if record["kind"] != "identity":
            lines.append(record)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def collect_lines(process: subprocess.Popen[str]) -> list[str]:
    """The lines ``process`` writes to its stderr pipe, appended as they come by a thread
    of their own (so a test waits for a line instead of sleeping)."""
    lines: list[str] = []
    stream = process.stderr
    assert stream is not None, "start the process with stderr=subprocess.PIPE, text=True"

    def read() -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return lines


def end_process(process: subprocess.Popen[Any], timeout: float = 15.0, *, group: bool = False) -> None:
    """SIGTERM ``process`` (``group``: its whole process group, started with a session of
    its own), then SIGKILL if it has not exited within ``timeout`` seconds; wait for it."""
    if process.poll() is not None:
        return

    def send(sig: signal.Signals) -> None:
        if group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)

    send(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait(timeout=timeout)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait until ``condition()`` holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.02)


def idle_began(monkeypatch: Any) -> threading.Event:
    """An event set each time an e-mail bridge's IMAP server answers an IDLE with its
    continuation (the listen waits now), until ``monkeypatch`` undoes it."""
    from pointerbridge.bridges import email_idle

    real = email_idle._read_line
    began = threading.Event()

    def reading(imap: Any, by: float) -> bytes | None:
        line = real(imap, by)
        if line is not None and line.startswith(b"+"):
            began.set()
        return line

    monkeypatch.setattr(email_idle, "_read_line", reading)
    return began


def timed_on_a_thread(
    call: Callable[[], object], catch: tuple[type[BaseException], ...], timeout: float
) -> tuple[float | None, list[BaseException]]:
    """Run ``call`` on a daemon thread for at most ``timeout`` seconds: how long it ran
    (None: it had not ended), and what of ``catch`` it raised."""
    raised: list[BaseException] = []
    ended: list[float] = []

    def run() -> None:
        try:
            call()
        except catch as exc:
            raised.append(exc)
        finally:
            ended.append(time.monotonic())

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    return (ended[0] - started if ended else None), raised


@contextmanager
def running_daemon(
    home_dir: Path,
    *extra_args: str,
    listening_to: str | None = None,
    timeout: float = 30.0,
    stop_within: float = 10.0,
    never_logged: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Iterator[list[str]]:
    """``pbridge --home home_dir daemon *extra_args`` running while the block runs, its
    stderr lines as they come; ``env``: its environment (None: this process's). With
    ``listening_to``, the block starts once the daemon says ``listening live to <carrier>``
    (within ``timeout`` seconds). When the block ends without an error, the daemon gets
    SIGTERM and must exit 0 within ``stop_within`` seconds and say ``stopped``, and no line
    may hold a pointer (``pb1``) or any of ``never_logged``; it is killed if it still runs
    however the block ends."""
    from test_cli import PBRIDGE

    assert PBRIDGE
    daemon = subprocess.Popen(
        [PBRIDGE, "--home", str(home_dir), "daemon", *extra_args], stderr=subprocess.PIPE, text=True, env=env
    )
    lines = collect_lines(daemon)
    try:
        if listening_to is not None:
            wait_for(
                lambda: any(f"listening live to {listening_to}" in line for line in lines),
                "the daemon listens",
                timeout,
            )
        yield lines
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=stop_within) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    wait_for(lambda: any("stopped" in line for line in lines), "the daemon's last line", 10)
    for secret in ("pb1", *never_logged):
        assert not any(secret in line for line in lines), f"a daemon line holds {secret!r}"


class ScriptedServer:
    """A server of a test's own on 127.0.0.1 that answers one connection after another with
    :meth:`answer` (a hostile or broken peer no real server can be made to play). A subclass
    sets what :meth:`answer` needs, then calls ``super().__init__()``, which starts serving."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self._listening = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listening.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def answer(self, conn: socket.socket) -> None:
        """Speak to one connection; an ``OSError`` (the client gave up) ends only it."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving: the accept is woken and the thread joined."""
        self.stopped.set()
        self._listening.shutdown(socket.SHUT_RDWR)
        self._listening.close()
        self._thread.join(10)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listening.accept()
            except OSError:
                return
            with conn:
                try:
                    self.answer(conn)
                except OSError:  # the client hung up mid-answer: what a bounded read does
                    continue
