"""The cron line's cost guarded without a clock (issue 19, item 3): an idle ``pbridge poll``
of a files carrier, as a whole process, must not import what it does not run. The modules
are the process's ``sys.modules`` as it exits from the real entry point, so an import that
creeps back onto the idle path fails here on any machine, fast or slow (bench/idle.py has
the times)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pointerbridge.core import PointerBridgeError
from test_cli import initialised_home

# What an idle files poll never runs: pydantic (config.toml and the folder's settings are
# plainly valid), the entry points of every installed distribution, an event loop,
# cryptography (nothing is sealed or opened), the Typer front-end and the console, the
# network carriers' libraries, and the app's reading pipeline.
NOT_ON_THE_IDLE_PATH = (
    "pydantic",
    "pydantic_core",
    "importlib.metadata",
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


def imported_modules(*args: str, cwd: Path) -> set[str]:
    """The modules a ``pbridge`` process run through its console-script entry imports."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('MODULES', *sorted(sys.modules), file=sys.stderr))\n"
        f"sys.argv = ['pbridge', *{list(args)!r}]\n"
        "from pointerbridge.cli.entry import entry\n"
        "entry()\n"
    )
    unset = ("PBRIDGE_HOME", "PBRIDGE_MASTER_PHRASE", "PBRIDGE_CHAT_SECRET")  # a carrier's token variable stays
    env = {k: v for k, v in os.environ.items() if k not in unset}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "posted 0, received 0" in done.stdout  # an idle poll, that polled
    (listed,) = [line for line in done.stderr.splitlines() if line.startswith("MODULES ")]
    return set(listed.split()[1:])


def test_an_idle_files_poll_imports_only_what_it_runs(tmp_path: Path) -> None:
    home = initialised_home(tmp_path / "home")
    modules = imported_modules("--home", home, "poll", cwd=tmp_path)
    assert "pointerbridge.bridges.files" in modules and "sqlite3" in modules  # the parse found the poll's own
    loaded = sorted(m for m in modules if any(m == n or m.startswith(f"{n}.") for n in NOT_ON_THE_IDLE_PATH))
    assert loaded == []


# Tables an idle poll takes without pydantic, and tables it must leave to pydantic (a
# coercion, a bound, a type pydantic refuses or changes): either way, the same outcome.
CARRIER_TABLES = [
    {"type": "files", "path": "/srv/shared"},
    {"type": "files", "poll_every": 5, "poll_cron": "*/5 * * * *", "path": "~/shared", "full_scan_hours": 0},
    {"type": "files", "poll_every": 86_400, "max_pointer_chars": 1000, "full_scan_hours": 1.5, "path": "/x"},
    {"type": "files", "poll_every": "60", "path": "/x"},
    {"type": "files", "poll_every": True, "path": "/x"},
    {"type": "files", "poll_every": 4, "path": "/x"},
    {"type": "files", "poll_every": 86_401, "path": "/x"},
    {"type": "files", "poll_every": 60.0, "path": "/x"},
    {"type": "Files", "path": "/x"},
    {"type": "files\n", "path": "/x"},
    {"type": 5, "path": "/x"},
    {"path": "/x"},
    {"type": "files", "poll_cron": 5, "path": "/x"},
    {"type": "files", "path": "relative"},
    {"type": "files", "path": "~no-such-user-of-pbridge/shared"},  # no home to expand it to
    {"type": "files", "path": ""},
    {"type": "files", "path": 5},
    {"type": "files"},
    {"type": "files", "path": "/x", "max_pointer_chars": 999},
    {"type": "files", "path": "/x", "max_pointer_chars": 10**9},
    {"type": "files", "path": "/x", "max_pointer_chars": "2000"},
    {"type": "files", "path": "/x", "max_pointer_chars": True},
    {"type": "files", "path": "/x", "full_scan_hours": -1},
    {"type": "files", "path": "/x", "full_scan_hours": float("nan")},
    {"type": "files", "path": "/x", "full_scan_hours": float("inf")},
    {"type": "files", "path": "/x", "full_scan_hours": "2"},
    {"type": "files", "path": "/x", "unknown": 1},
]


def _outcome(validate: Callable[[], object]) -> object:
    try:
        return validate()
    except (ValueError, PointerBridgeError) as exc:  # pydantic's ValidationError; the bridge's refusal
        return type(exc).__name__


@pytest.mark.parametrize("table", CARRIER_TABLES)
def test_plainly_valid_settings_are_what_pydantic_makes_of_them(table: dict[str, Any]) -> None:
    from pointerbridge.bridges.files import FilesBridge, FilesSettings
    from pointerbridge.bridges.files_settings import FilesSettingsModel
    from pointerbridge.home.config import CarrierConfig, Config, _plain_carrier
    from pointerbridge.home.config_model import CarrierModel, ConfigModel

    pydantic_carrier = _outcome(lambda: CarrierModel.model_validate(table).model_dump())
    assert _outcome(lambda: CarrierConfig.model_validate(table).model_dump()) == pydantic_carrier
    whole = {"carriers": {"shared": table}}
    assert _outcome(lambda: Config.model_validate(whole).model_dump()) == _outcome(
        lambda: ConfigModel.model_validate(whole).model_dump()
    )
    plain = _plain_carrier(table)
    if plain is not None:  # taken without pydantic: exactly as pydantic would have it
        assert plain.model_dump() == pydantic_carrier
    settings = {k: v for k, v in table.items() if k not in ("type", "poll_every", "poll_cron")}
    through_pydantic = _outcome(lambda: FilesSettings(**FilesSettingsModel.model_validate(settings).model_dump()))
    assert _outcome(lambda: FilesBridge.from_config("shared", settings).settings) in (
        through_pydantic,
        "ConfigurationError",
    )
    quick = FilesBridge.plain_settings(settings)
    if quick is not None:
        assert quick == through_pydantic


def test_plain_tables_take_the_plain_path() -> None:
    # The list above must exercise both paths, or it proves nothing about the plain one.
    from pointerbridge.bridges.files import FilesBridge
    from pointerbridge.home.config import _plain_carrier

    plain = [t for t in CARRIER_TABLES if _plain_carrier(t) is not None]
    assert len(plain) >= 10 and len(plain) < len(CARRIER_TABLES)
    settings = [{k: v for k, v in t.items() if k not in ("type", "poll_every", "poll_cron")} for t in CARRIER_TABLES]
    assert 3 <= sum(FilesBridge.plain_settings(s) is not None for s in settings) < len(settings)
