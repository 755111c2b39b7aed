"""The cron line's cost guarded without a clock (issue 19, item 3): an idle ``pbridge poll``
of a files carrier, as a whole process, must not import what it does not run. The modules
are the process's ``sys.modules`` as it exits from the real entry point, so an import that
creeps back onto the idle path fails here on any machine, fast or slow (bench/idle.py has
the times)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_cli import initialised_home

# What an idle files poll never runs: an event loop, cryptography (nothing is sealed or
# opened), the Typer front-end and the console, the network carriers' libraries, and the
# app's reading pipeline.
NOT_ON_THE_IDLE_PATH = (
    "asyncio",
    "cryptography",
    "typer",
    "click",
    "rich",
    "textual",
    "nio",
    "aiohttp",
    "telegram",
    "httpx",
    "imaplib",
    "smtplib",
    "pointerbridge.cli.main",
    "pointerbridge.app.history",
    "pointerbridge.app.decrypt",
    "pointerbridge.app.trust",
    "pointerbridge.core.keys",
    "pointerbridge.bridges.email",
    "pointerbridge.bridges.matrix",
    "pointerbridge.bridges.telegram",
)


def _imported(*args: str, cwd: Path) -> set[str]:
    """The modules a ``pbridge`` process run through its console-script entry imports."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('MODULES', *sorted(sys.modules), file=sys.stderr))\n"
        f"sys.argv = ['pbridge', *{list(args)!r}]\n"
        "from pointerbridge.cli.entry import entry\n"
        "entry()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBRIDGE_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "posted 0, received 0" in done.stdout  # an idle poll, that polled
    (listed,) = [line for line in done.stderr.splitlines() if line.startswith("MODULES ")]
    return set(listed.split()[1:])


def test_an_idle_files_poll_imports_only_what_it_runs(tmp_path: Path) -> None:
    home = initialised_home(tmp_path / "home")
    modules = _imported("--home", home, "poll", cwd=tmp_path)
    assert "pointerbridge.bridges.files" in modules and "sqlite3" in modules  # the parse found the poll's own
    loaded = sorted(m for m in modules if any(m == n or m.startswith(f"{n}.") for n in NOT_ON_THE_IDLE_PATH))
    assert loaded == []
