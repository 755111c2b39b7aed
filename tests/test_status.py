"""``pbridge status``: what a monitoring system scrapes, per carrier."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import run


def test_status_tells_the_outbox_the_last_poll_and_the_last_error(tmp_path: Path) -> None:
    env: dict[str, str | bytes] = {"PBRIDGE_MASTER_PHRASE": "phrase", "PBRIDGE_CHAT_SECRET": "status secret"}
    home, shared = str(tmp_path / "home"), tmp_path / "shared"
    shared.mkdir()
    for args in (
        ("init", "--username", "al", "--weak-secret-ok"),
        ("carrier", "add", "sh", "--type", "files", "--path", str(shared)),
        ("chat", "create", "c", "--carrier", "sh", "--weak-secret-ok"),
    ):
        assert run("--home", home, *args, env=env).returncode == 0
    never = json.loads(run("--home", home, "status", "--json").stdout)["carriers"]["sh"]
    assert never == {
        "type": "files",
        "problem": None,
        "waiting": 0,
        "last_poll": None,
        "last_ok": None,
        "last_error": None,
        "last_error_at": None,
    }
    assert run("--home", home, "send", "c", "--queue", stdin="hello", env=env).returncode == 0
    shared.rename(tmp_path / "gone")
    assert run("--home", home, "poll").returncode == 24
    down = json.loads(run("--home", home, "status", "--json").stdout)
    failed = down["carriers"]["sh"]
    assert down["outbox"] == 1 and failed["waiting"] == 1 and failed["last_ok"] is None
    assert "No such file or directory" in failed["last_error"]
    (tmp_path / "gone").rename(shared)
    assert run("--home", home, "poll").returncode == 0
    up = json.loads(run("--home", home, "status", "--json").stdout)
    carrier = up["carriers"]["sh"]
    assert up["outbox"] == 0 and carrier["last_ok"] >= carrier["last_error_at"] and carrier["last_poll"] is not None
    plain = run("--home", home, "status")
    assert plain.returncode == 0 and "sh (files): 0 waiting, last poll 20" in plain.stdout
    assert "failing" not in plain.stdout and carrier["last_error"]  # recovered: JSON keeps it, the line does not
