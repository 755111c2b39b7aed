"""Issue 17, item 13: a pbridge process that may hold a secret never writes a core dump."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_cli import PBRIDGE
from test_local_app import PHRASES, setup_user


def _unlimited_cores() -> None:
    # What `ulimit -c unlimited` gives a shell's children (root may raise the hard limit).
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _blocked_reading(pid: int, deadline: float) -> bool:
    """Whether ``pid`` sleeps in read(2) on a pipe: waiting for the secret we never send."""
    while time.monotonic() < deadline:
        wchan = Path(f"/proc/{pid}/wchan").read_text()
        if "pipe_read" in wchan or wchan == "pipe_wait":  # anon_pipe_read on newer kernels
            return True
        time.sleep(0.05)
    return False


def _core_limit(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max core file size"):
            return " ".join(line.split()[4:6])
    raise AssertionError("no core limit in /proc/PID/limits")


def test_a_read_killed_by_sigabrt_while_it_waits_for_the_secret_leaves_no_core(tmp_path: Path) -> None:
    assert Path("/proc/sys/kernel/core_pattern").read_text().strip() == "core", (
        "this test shows the dump would land in the process's folder: core_pattern must be 'core' here"
    )
    (tmp_path / "shared").mkdir()
    home = setup_user(tmp_path, "alice", tmp_path / "shared")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    secret_r, secret_w = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBRIDGE_")}
    env["PBRIDGE_MASTER_PHRASE"] = PHRASES["alice"]  # the secret is the one waited for
    reader = subprocess.Popen(
        [PBRIDGE, "--home", str(home), "read", "Family", "--secret-fd", str(secret_r)],
        cwd=cwd,
        env=env,
        pass_fds=(secret_r,),
        preexec_fn=_unlimited_cores,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    os.close(secret_r)
    try:
        assert _blocked_reading(reader.pid, time.monotonic() + 60), "pbridge read never waited for the secret"
        assert _core_limit(reader.pid) == "0 0"  # soft and hard: nothing later can raise it
        reader.send_signal(signal.SIGABRT)
        assert reader.wait(timeout=30) == -signal.SIGABRT
    finally:
        os.close(secret_w)
        if reader.poll() is None:
            reader.kill()
    assert list(cwd.iterdir()) == []  # before the fix: a core with whatever the process held


def test_harden_process_drops_the_limit_and_the_dumpable_flag() -> None:
    code = (
        "import resource\n"
        "from pointerbridge.app.hardening import harden_process, is_dumpable\n"
        "assert is_dumpable()\n"
        "harden_process()\n"
        "assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)\n"
        "assert not is_dumpable()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _hardened_after(tmp_path: Path, command: str) -> str:
    """Whether ``pbridge --home TMP COMMAND``, run through the console script's entry point
    in this interpreter, left the process hardened once it ended (it may fail: no home)."""
    code = (
        "import sys\n"
        "sys.argv = ['pbridge', '--home', sys.argv[1], sys.argv[2]]\n"
        "from pointerbridge.cli.entry import entry\n"
        "from pointerbridge.app.hardening import is_dumpable\n"
        "try:\n    entry()\nexcept SystemExit:\n    print('dumpable' if is_dumpable() else 'hardened')\n"
    )
    args = [sys.executable, "-c", code, str(tmp_path), command]
    return subprocess.run(args, capture_output=True, text=True, timeout=60).stdout


def test_a_cron_poll_is_hardened_too_it_reads_a_carriers_token(tmp_path: Path) -> None:
    # The review found a 41 MB core of a cron poll holding a Telegram token 8 times.
    assert _hardened_after(tmp_path, "poll") == "hardened\n"


def test_a_command_is_hardened_before_anything_it_does_even_when_it_fails(tmp_path: Path) -> None:
    assert _hardened_after(tmp_path, "whoami") == "hardened\n"
