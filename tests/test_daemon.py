"""The daemon polls on its own and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import time
from pathlib import Path

from helpers import running_daemon, wait_for
from test_cli import run
from test_local_app import CHAT_SECRET, PHRASES, ok, setup_user


def test_daemon_polls_and_stops_on_sigterm(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, bob = setup_user(tmp_path, "alice", shared), setup_user(tmp_path, "bob", shared)
    ok(alice, "alice", "send", "family", "delivered by the daemon")
    with running_daemon(bob, stop_within=5, never_logged=("delivered by the daemon",)) as lines:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = run(
                "--home",
                str(bob),
                "read",
                "family",
                "--json",
                env={"PBRIDGE_CHAT_SECRET": CHAT_SECRET, "PBRIDGE_MASTER_PHRASE": PHRASES["bob"]},
            )
            if status.returncode == 0 and json.loads(status.stdout)["messages"]:
                break
            time.sleep(0.3)
        else:
            raise AssertionError("the daemon did not poll within 30 s")
        assert json.loads(status.stdout)["messages"][0]["body"] == "delivered by the daemon"
    log = "\n".join(lines)  # the daemon exited 0 within 5 s of SIGTERM, nothing secret logged
    # The files carrier pushes (inotify): the daemon's listener receives it, its job only posts.
    assert "shared: received 1 (live)" in log and "stopping (SIGTERM)" in log


def test_daemon_without_carriers_is_a_config_error(tmp_path: Path) -> None:
    made = run(
        "--home",
        str(tmp_path),
        "init",
        "--username",
        "alice",
        "--weak-secret-ok",
        env={"PBRIDGE_MASTER_PHRASE": PHRASES["alice"]},
    )
    assert made.returncode == 0, made.stderr
    result = run("--home", str(tmp_path), "daemon")
    assert result.returncode == 9 and "no carriers" in result.stderr


def test_daemon_logs_json_lines_with_log_json(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, bob = setup_user(tmp_path, "alice", shared), setup_user(tmp_path, "bob", shared)
    ok(alice, "alice", "send", "family", "a body that must never be logged")
    with running_daemon(bob, "--log-json", never_logged=("never be logged",)) as lines:
        wait_for(lambda: any("received 1 (live)" in line for line in lines), "the daemon's live line", 30)
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {r["level"] for r in records} <= {"info", "warning", "error"} and all(r["time"] for r in records)
    messages = [r["message"] for r in records if r["logger"] == "pointerbridge.daemon"]
    assert "shared: received 1 (live)" in messages and "stopping (SIGTERM)" in messages


def test_the_daemon_quiets_the_loggers_each_bridge_names() -> None:
    import logging

    from pointerbridge.app.daemon import quiet_loggers, setup_logging
    from pointerbridge.bridges.base import bridge_class, bridge_types

    noisy, unloaded = quiet_loggers()
    assert unloaded == [] and {"email", "files", "matrix", "telegram"} <= set(bridge_types())
    assert bridge_class("matrix").quiet_loggers == ("nio", "aiohttp")
    assert bridge_class("telegram").quiet_loggers == ("httpx",)
    assert {"apscheduler", "httpx", "nio", "aiohttp"} <= noisy  # what the daemon named itself before
    root = logging.getLogger()
    saved = root.handlers[:], root.level, {name: logging.getLogger(name).level for name in noisy}
    try:
        for name in noisy:
            logging.getLogger(name).setLevel(logging.NOTSET)
        setup_logging(as_json=True)
        assert {name: logging.getLogger(name).level for name in noisy} == dict.fromkeys(noisy, logging.WARNING)
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


def _json_lines(text: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in text.splitlines()]  # every line is one JSON object


def test_a_cron_poll_with_log_json_logs_the_daemons_json_lines(tmp_path: Path) -> None:
    from pointerbridge.app.errors import ConfigurationError

    shared = tmp_path / "shared"
    shared.mkdir()
    alice, bob = setup_user(tmp_path, "alice", shared), setup_user(tmp_path, "bob", shared)
    ok(alice, "alice", "send", "family", "a body that must never be logged")
    env = {"PBRIDGE_MASTER_PHRASE": PHRASES["bob"], "PBRIDGE_CHAT_SECRET": CHAT_SECRET}
    polled = run("--home", str(bob), "poll", "--log-json", env=env)  # the cron line's own path
    assert polled.returncode == 0 and polled.stdout == "", polled.stderr
    records = _json_lines(polled.stderr)
    assert [(r["level"], r["logger"], r["message"]) for r in records] == [
        ("info", "pointerbridge.daemon", "shared: posted 0, received 1, skipped 0")
    ]
    # The same kind of event from the daemon: a carrier's poll that fails (a folder no one's
    # home holds, so nothing listens to it and its poll job fetches): the same fields and line.
    config = bob / "config.toml"
    config.write_text(config.read_text().replace(f'"{shared}"', '"~nosuchuser-pb/shared"'))
    failed = run("--home", str(bob), "poll", "--log-json", "--json", env=env)
    assert failed.returncode == ConfigurationError.exit_code and json.loads(failed.stdout)["errors"].keys() == {
        "shared"
    }
    cron = [r for r in _json_lines(failed.stderr) if r["level"] == "error"]
    with running_daemon(bob, "--log-json", never_logged=("never be logged", PHRASES["bob"], CHAT_SECRET)) as lines:
        wait_for(lambda: any('"error"' in line for line in lines), "the daemon's failed poll", 30)
    daemon = [r for r in map(json.loads, lines) if r["level"] == "error"]
    assert [r.keys() for r in cron] == [daemon[0].keys()] == [{"time", "level", "logger", "message"}]
    assert cron[0]["logger"] == daemon[0]["logger"] and cron[0]["message"] == daemon[0]["message"]
    assert cron[0]["message"].startswith("shared: ") and "cannot expand its ~" in cron[0]["message"]
    for output in (polled.stdout, polled.stderr, failed.stderr):
        for secret in ("pb1", "never be logged", PHRASES["bob"], CHAT_SECRET):
            assert secret not in output


def test_poll_with_log_json_stays_on_the_cron_lines_quick_path() -> None:
    from pointerbridge.cli.entry import CronLine, cron_line

    assert cron_line(["poll", "--log-json"]) == CronLine(None, as_json=False, log_json=True)
    assert cron_line(["--home", "h", "poll", "--log-json", "--json"]) == CronLine(Path("h"), True, True)
    assert cron_line(["poll", "--json"]) == CronLine(None, as_json=True, log_json=False)
    for other in (["poll", "--log-json", "--log-json"], ["poll", "--log"], ["poll", "--log-json", "x"]):
        assert cron_line(other) is None  # click's, which says what is wrong or runs it the same
