"""The wheel installs into a fresh venv as the pointerbridge namespace, nothing else."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_only_pointerbridge(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("pointerbridge-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True)
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    top_level = {p.name for p in site.iterdir()}
    assert "pointerbridge" in top_level and not {"core", "home", "bridges", "app", "cli", "console"} & top_level
    assert (site / "pointerbridge" / "home" / "store" / "__init__.py").exists()
    assert not (site / "core").exists() and not (site / "bridges").exists()
    assert (site / "pointerbridge" / "core" / "__init__.py").exists()
    assert (site / "pointerbridge" / "bridges" / "__init__.py").exists()
    assert (site / "pointerbridge" / "console" / "tui.py").exists()
    assert (site / "pointerbridge" / "testing" / "contract.py").exists()  # the contract suite ships
    assert "testing" not in top_level
    check = "import pointerbridge.core as c; print(c.seal.__module__)"
    out = subprocess.run([str(python), "-c", check], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == "pointerbridge.core.pointer"
    assert subprocess.run([str(python), "-c", "import core"], capture_output=True, cwd=tmp_path).returncode != 0
    help_run = subprocess.run([str(env_dir / "bin" / "pbridge"), "--help"], capture_output=True, text=True)
    assert help_run.returncode == 0 and "clm" in help_run.stdout


def test_the_console_script_names_its_entry_module() -> None:
    # pyproject's script target must exist, in a module named for what it is (cli/entry.py).
    import importlib
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts == {"pbridge": "pointerbridge.cli.entry:entry"}
    module, _, name = scripts["pbridge"].partition(":")
    assert callable(getattr(importlib.import_module(module), name))
