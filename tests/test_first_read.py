"""The first read of a long history (issue 19, item 4): every core the process may use,
the same result in one process as in several, and progress reported up to the total."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pointerbridge.app import opening
from pointerbridge.app.service import App, UnlockedChat
from pointerbridge.core import Identity
from pointerbridge.core.pointer import _seal
from pointerbridge.home.config import Home

SECRET = "a shared secret for first reads"


def _home(tmp_path: Path, username: str) -> tuple[App, UnlockedChat]:
    app = App(Home.resolve(tmp_path / username))
    app.init(username, f"{username} phrase", allow_weak=True)  # Argon2id once per home
    return app, app.create_chat("Family", SECRET, [], allow_weak=True)


def _history(app: App, chat: UnlockedChat, count: int) -> None:
    senders = [Identity(n, hashlib.sha256(f"identity {n}".encode()).digest()) for n in ("alice", "carol")]
    texts = [
        "\n".join(_seal(chat.key, senders[i % 2], f"message {i}", 2000, os.urandom, 1_790_000_000_000 + i))
        for i in range(count)
    ]
    texts.append("\n".join(_seal(chat.key, senders[1], "C" * 5000, 2000, os.urandom, 1_790_000_000_500)))  # parts
    app.receive("\n".join(texts))


def _small_chunks(monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    monkeypatch.setattr(opening, "PARALLEL_FROM", 10)
    monkeypatch.setattr(opening, "CHUNK", 7)
    monkeypatch.setattr(opening, "WORKERS", workers)


def test_a_long_history_uses_every_core_the_process_may_run_on(monkeypatch: pytest.MonkeyPatch) -> None:
    if hasattr(os, "process_cpu_count"):
        monkeypatch.setattr(os, "process_cpu_count", lambda: 8)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert opening.cores() == 8
    assert opening.workers_for(100_000) == 8  # not capped below the cores there are
    assert opening.workers_for(opening.PARALLEL_FROM - 1) == 1  # a short history: not worth forking
    monkeypatch.setattr(opening, "WORKERS", 1)
    assert opening.workers_for(100_000) == 1


def test_a_first_read_in_one_process_equals_one_in_every_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = []
    for workers in (1, max(2, opening.cores())):
        app, chat = _home(tmp_path, f"bob{workers}")
        _history(app, chat, 40)
        db = sqlite3.connect(tmp_path / f"bob{workers}" / "store.db")
        (payload,) = db.execute("SELECT payload FROM pointers WHERE id = 5").fetchone()
        tampered = payload[:60] + bytes([payload[60] ^ 1]) + payload[61:]
        db.execute("UPDATE pointers SET payload = ? WHERE id = 5", (tampered,))
        db.commit()
        _small_chunks(monkeypatch, workers)
        assert opening.workers_for(41) == workers
        shown, refused = app.read(chat)  # the first read: every signature verified, proofs stored
        proofs = db.execute("SELECT id, verified IS NOT NULL FROM pointers ORDER BY id").fetchall()
        db.close()
        again, _ = app.read(chat)  # from the proofs, the senders pinned now
        results.append(([(s.message.body, s.trust, s.pointer_ids) for s in shown + again], refused, proofs))
        app.close()
    assert results[0] == results[1]
    messages, refused, proofs = results[0]
    assert refused == 1 and len(messages) == 80 and {body[0] for body, _, _ in messages} == {"m", "C"}
    assert [pointer for pointer, proven in proofs if not proven] == [5]  # proofs for all but the tampered one


@pytest.mark.parametrize("workers", [1, 2])
def test_a_read_and_a_settle_report_progress_up_to_the_total(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    app, chat = _home(tmp_path, "bob")
    _history(app, chat, 40)
    total = app.store.counts()["pointers"]
    _small_chunks(monkeypatch, workers)
    for run in (app.settle, app.read):  # settle: what the console does in the background
        seen: list[tuple[int, int]] = []
        run(chat, progress=lambda done, of, seen=seen: seen.append((done, of)))  # type: ignore[operator]
        assert seen[0] == (0, total) and seen[-1] == (total, total)
        assert len(seen) == 2 + total // 7  # after every chunk of 7
        assert [done for done, _ in seen] == sorted(done for done, _ in seen)
        assert {of for _, of in seen} == {total}
    app.close()


def test_the_cli_counts_the_pointers_of_a_read_on_a_terminal_only(tmp_path: Path) -> None:
    from test_cli import MASTER_PHRASE, run
    from test_secret_policy import Terminal

    home = str(tmp_path / "home")
    env: dict[str, str] = {"PBRIDGE_MASTER_PHRASE": MASTER_PHRASE, "PBRIDGE_CHAT_SECRET": SECRET + " tulips at dawn"}
    assert run("--home", home, "init", "--username", "alice", env={**env}).returncode == 0
    assert run("--home", home, "carrier", "add", "x", "--type", "files", "--path", str(tmp_path)).returncode == 0
    assert run("--home", home, "chat", "create", "family", "--carrier", "x", env={**env}).returncode == 0
    for body in ("one", "two", "three"):
        assert run("--home", home, "send", "family", body, env={**env}).returncode == 0
    piped = run("--home", home, "read", "family", env={**env})
    assert piped.returncode == 0 and "of 3" not in piped.stderr + piped.stdout  # no terminal: no progress line
    terminal = Terminal("--home", home, "read", "family", env=env)
    terminal.expect("checking pointers: 0 of 3")
    terminal.expect("checking pointers: 3 of 3")
    terminal.expect("three")
    assert terminal.finish() == 0


def test_a_read_beside_another_thread_checks_signatures_in_spawned_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from pointerbridge.core import pointer
    from pointerbridge.core.padding import padded_length

    app, chat = _home(tmp_path, "bob")
    _history(app, chat, 30)
    victim, forger = (Identity(n, hashlib.sha256(f"identity {n}".encode()).digest()) for n in ("alice", "mallory"))
    head = pointer._HEAD.pack(0, 1_790_000_000_999, victim.public_key, 5) + b"alice" + pointer._U32.pack(6)
    nonce = os.urandom(16)
    signature = forger._sign(pointer._Content(head, b"forged").signed(chat.key, nonce))
    inner = head + b"forged" + signature  # valid AEAD and layout; the signature is mallory's
    app.receive(pointer._encrypt(chat.key, nonce, inner + bytes(padded_length(len(inner)) - len(inner))))
    _small_chunks(monkeypatch, 2)
    spawned: list[int] = []
    real = opening._open_checked_apart
    monkeypatch.setattr(opening, "_open_checked_apart", lambda *a: (spawned.append(a[3]), (yield from real(*a))))
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # the console's own threads
    other.start()
    try:
        shown, refused = app.read(chat)
    finally:
        stop.set()
        other.join()
    assert spawned == [2]  # not forked (another thread runs), and not all in this process
    assert refused == 1 and "forged" not in [s.message.body for s in shown]
    assert sorted(s.message.body for s in shown) == sorted([f"message {i}" for i in range(30)] + ["C" * 5000])
    again, refused_again = app.read(chat)  # from the proofs made: the forgery got none
    assert [s.message.body for s in again] == [s.message.body for s in shown] and refused_again == 1
    app.close()


def test_the_spawned_signature_checkers_are_hardened_before_they_get_any_message() -> None:
    # They get each pointer's signed bytes, the username and body among them; a spawned
    # process is dumpable again whatever its parent (exec resets it), so every checker
    # hardens itself first, as every pbridge process does (app/hardening.py).
    from pointerbridge.app.hardening import is_dumpable

    with opening._checker_pool(2) as pool:
        assert [pool.submit(is_dumpable).result() for _ in range(4)] == [False] * 4


def _prepared(home: Path) -> tuple[App, UnlockedChat]:
    """For the scripts below, each run in a process of its own: bob's home with a history
    of 40 messages and one in parts, read in chunks of 7 by 2 worker processes."""
    app, chat = _home(home, "bob")
    _history(app, chat, 40)
    opening.PARALLEL_FROM, opening.CHUNK, opening.WORKERS = 10, 7, 2
    return app, chat


# What each script below starts with (``tests`` and ``home`` formatted in).
_SCRIPT = """
import multiprocessing, os, signal, sys, threading
sys.path.insert(0, {tests!r})
from pathlib import Path
from pointerbridge.app import opening
import test_first_read as t
"""

_DYING = (
    _SCRIPT
    + """
app, chat = t._prepared(Path({home!r}))
parent, opened = os.getpid(), opening._open_range
def dies_in_a_worker(key, proof_key, rows, start):
    if os.getpid() != parent and start == 14:
        os._exit(9)  # as the OOM killer ends a worker mid-chunk
    return opened(key, proof_key, rows, start)
opening._open_range = dies_in_a_worker
# Spawned checkers that end before their first task, as killed ones would.
opening._checker_pool = lambda n: opening._pool(n, "spawn", os.abort)
stop = threading.Event()
if {beside_a_thread!r}:  # the console's own threads: checked apart, in spawned processes
    threading.Thread(target=stop.wait, daemon=True).start()
shown, refused = app.read(chat)
stop.set()
print(len(shown), refused)
"""
)


@pytest.mark.parametrize("beside_a_thread", [False, True], ids=["forked workers", "spawned checkers"])
def test_worker_processes_that_die_leave_their_part_to_this_process(tmp_path: Path, beside_a_thread: bool) -> None:
    # A multiprocessing.Pool never notices a worker that died mid-task: the read waited forever.
    code = _DYING.format(tests=str(Path(__file__).parent), home=str(tmp_path), beside_a_thread=beside_a_thread)
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError("the read waited for dead worker processes for 120 s") from None
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["41", "0"]  # 40 messages and one in parts, none lost


def _left(pids: list[int], within: float) -> list[int]:
    """Which of ``pids`` still run after waiting up to ``within`` seconds for all to end
    (a zombie has ended: only its parent has not reaped it yet)."""
    import time

    def running(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + within
    while (left := [pid for pid in pids if running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


_KILLED = (
    _SCRIPT
    + """
if __name__ == "__main__":
    app, chat = t._prepared(Path({home!r}))
    rows = []
    real = opening.open_chunks
    opening.open_chunks = lambda key, proof_key, got: rows.append((key, proof_key, got)) or real(key, proof_key, got)
    app.read(chat)
    if {beside_a_thread!r}:
        threading.Thread(target=threading.Event().wait, daemon=True).start()
    reading = opening.open_chunks(*rows[0])
    next(reading)  # the workers run: this process is killed half-way through its read
    print(*[p.pid for p in multiprocessing.active_children()], flush=True)
    threading.Event().wait()
"""
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers and /proc: Linux")
@pytest.mark.parametrize("beside_a_thread", [False, True], ids=["forked workers", "spawned checkers"])
def test_worker_processes_end_with_a_reader_that_is_killed(tmp_path: Path, beside_a_thread: bool) -> None:
    # The OOM killer's first choice is the reader (it holds the history): forked workers
    # hold the chat key and the proof key, checkers the signed bytes (bodies). A
    # multiprocessing.Pool's workers saw the end of their queue; concurrent.futures'
    # hold its writing end themselves, and waited forever for work.
    import signal

    code = _KILLED.format(tests=str(Path(__file__).parent), home=str(tmp_path), beside_a_thread=beside_a_thread)
    reader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        assert reader.stdout is not None
        workers = [int(pid) for pid in reader.stdout.readline().split()]
        assert len(workers) == 2
        reader.kill()
        reader.wait()
        assert _left(workers, within=30) == [], "worker processes outlived their reader"
    finally:
        reader.kill()
        reader.wait()
        for pid in _left(workers, within=0):
            os.kill(pid, signal.SIGKILL)


_INTERRUPTED = (
    _SCRIPT
    + """
app, chat = t._prepared(Path({home!r}))
parent, forks = os.getpid(), []

def ctrl_c_after_a_fork(frame, event, arg):
    # Ctrl-C (a SIGINT to this process alone: a supervisor's, ``timeout -s INT``) right
    # after the {which} worker is forked, before the pool's thread runs.
    if os.getpid() != parent:
        sys.setprofile(None)
    elif event == "c_return" and arg is os.fork:
        forks.append(arg)
        if len(forks) == {which}:
            sys.setprofile(None)
            os.kill(parent, signal.SIGINT)

sys.setprofile(ctrl_c_after_a_fork)
try:
    app.read(chat)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers and /proc: Linux")
@pytest.mark.parametrize("which", [1, 2], ids=["first worker", "second worker"])
def test_an_interrupt_as_workers_are_forked_leaves_none_behind(tmp_path: Path, which: int) -> None:
    # Landing between a fork and the start of the pool's thread, it left a worker that no
    # one would ever stop: the first an orphan holding the keys, the second one that the
    # interpreter's exit waited for forever.
    import signal

    code = _INTERRUPTED.format(tests=str(Path(__file__).parent), home=str(tmp_path), which=which)
    said = tmp_path / "said"
    with said.open("w") as out:  # not a pipe: a worker left behind would hold it open
        reader = subprocess.Popen([sys.executable, "-c", code], stdout=out, start_new_session=True)

    def group() -> list[int]:
        found = []
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if fields[3] == str(reader.pid) and fields[0] != "Z":
                found.append(int(entry))
        return found

    try:
        try:
            reader.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("the reader did not end within 60 s after the interrupt") from None
        assert said.read_text().split() == ["interrupted"]
        assert _left(group(), within=30) == [], "worker processes outlived an interrupted read"
    finally:
        reader.kill()
        reader.wait()
        for pid in group():
            os.kill(pid, signal.SIGKILL)
