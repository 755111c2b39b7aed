"""``pbridge doctor``: one line per check, nothing changed, exit 28 on any failure."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from pointerbridge.app.doctor import run_checks
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from servers.telegram import BotApiServer
from test_cli import run


def _home(tmp_path: Path, **carriers: dict[str, Any]) -> Path:
    home = tmp_path / "home"
    made = run(
        "--home", str(home), "init", "--username", "alice", "--weak-secret-ok", env={"PBRIDGE_MASTER_PHRASE": "phrase"}
    )
    assert made.returncode == 0, made
    save_config(
        home / "config.toml",
        Config(carriers={name: CarrierConfig.model_validate(settings) for name, settings in carriers.items()}),
    )
    return home


def _doctor(home: Path, code: int = 0, env: dict[str, str | bytes] | None = None) -> dict[str, tuple[str, str]]:
    result = run("--home", str(home), "doctor", "--json", env=env)
    assert result.returncode == code, result
    data = json.loads(result.stdout)
    assert data["ok"] is (code == 0)
    return {f"{c['scope']} {c['check']}": (c["status"], c["detail"]) for c in data["checks"]}


def test_a_healthy_home_passes_every_check(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    home = _home(tmp_path, shared={"type": "files", "path": str(shared)})
    assert run("--home", str(home), "poll").returncode == 0
    found = _doctor(home)
    assert all(status == "ok" for status, _ in found.values()), found
    assert set(found) >= {
        "home folders",
        "home config",
        "home store integrity",
        "home schema",
        "home identity",
        "home chat list",
        "shared folder",
        "shared last poll",
    }
    assert "0 pointer(s) waiting" in found["shared last poll"][1]
    plain = run("--home", str(home), "doctor")
    assert plain.returncode == 0 and "ok    shared: folder: " in plain.stdout


def test_a_chat_list_a_bot_migrated_is_in_the_clear_until_the_next_unlock_and_doctor_says_so(tmp_path: Path) -> None:
    import sqlite3

    from pointerbridge.home.store.record import ChatRecord

    shared = tmp_path / "shared"
    shared.mkdir()
    home = _home(tmp_path, shared={"type": "files", "path": str(shared)})
    env = {"PBRIDGE_CHAT_SECRET": "the secret of the family chat 18"}
    made = run("--home", str(home), "chat", "create", "family", "--carrier", "shared", env=env, phrase="phrase")
    assert made.returncode == 0, made.stderr
    assert _doctor(home)["home chat list"] == ("ok", "1 chat(s), sealed under the master phrase")
    # What schema 10's migration leaves when the bot opened a store of an earlier schema
    # first: a chat's row with nothing sealed yet, its record in to_seal (docs/AT-REST.md §6).
    db = sqlite3.connect(home / "store.db")
    db.execute("INSERT INTO chats (id) VALUES (7)")
    db.execute("INSERT INTO to_seal VALUES (7, ?)", (ChatRecord("Old Club", "old club", ["shared"], 1.0).to_bytes(),))
    db.commit()
    db.close()
    status, detail = _doctor(home)["home chat list"]
    assert status == "warn" and "1 chat(s) from before schema 10 are still in the clear" in detail
    assert run("--home", str(home), "poll", phrase=None).returncode == 0  # the bot seals nothing: it has no key
    assert _doctor(home)["home chat list"][0] == "warn"
    listed = run("--home", str(home), "chat", "list", "--json", phrase="phrase")  # the first unlock seals it
    assert sorted(c["name"] for c in json.loads(listed.stdout)) == ["Old Club", "family"]
    assert _doctor(home)["home chat list"] == ("ok", "2 chat(s), sealed under the master phrase")
    assert b"Old Club" not in (home / "store.db").read_bytes()
    # a record the migration wrote that does not parse: the others unlock, doctor names it
    db = sqlite3.connect(home / "store.db")
    db.execute("INSERT INTO chats (id) VALUES (9)")
    db.execute('INSERT INTO to_seal VALUES (9, \'{"name": "half"}\')')
    db.commit()
    db.close()
    listed = run("--home", str(home), "chat", "list", "--json", phrase="phrase")
    assert sorted(c["name"] for c in json.loads(listed.stdout)) == ["Old Club", "family"]
    status, detail = _doctor(home, code=28)["home chat list"]
    assert status == "fail" and "(id 9)" in detail and "kept aside" in detail


def test_a_home_that_does_not_exist_fails_and_is_not_created(tmp_path: Path) -> None:
    # Issue 17, item 2: a mistyped --home is refused like every other command refuses it (it
    # was a failed "folders" check, exit 28); a home that exists but is damaged is checked.
    for args in (("doctor",), ("doctor", "--json")):
        result = run("--home", str(tmp_path / "nowhere"), *args)
        assert result.returncode == 6 and result.stdout == "", result
        refusal = f"pbridge: no home at {tmp_path / 'nowhere'}: run 'pbridge init' there, or give the right --home"
        assert result.stderr == refusal + "\n"
    assert not (tmp_path / "nowhere").exists()
    (tmp_path / "half").mkdir(mode=0o700)  # a folder, but no store in it: that is what doctor is for
    found = _doctor(tmp_path / "half", code=28)
    assert found["home store"][0] == "fail" and "pbridge init" in found["home store"][1]


def test_loose_permissions_are_reported_and_left_as_they_are(tmp_path: Path) -> None:
    home = _home(tmp_path)
    os.chmod(home, 0o755)
    found = _doctor(home, code=28)
    assert found["home folders"] == ("fail", f"{home} is mode 0755, not 0700 (chmod 700 {home})")
    assert (home.stat().st_mode & 0o777) == 0o755  # doctor only looks


def test_a_world_readable_credential_file_fails(tmp_path: Path) -> None:
    token = tmp_path / "tg.token"
    token.write_text("12345:secret-token-text\n")
    os.chmod(token, 0o644)
    home = _home(
        tmp_path,
        tg={"type": "telegram", "chat_id": -100, "token_file": str(token), "base_url": "http://127.0.0.1:9/bot"},
    )
    result = run("--home", str(home), "doctor")
    assert result.returncode == 28 and "fail  tg: settings:" in result.stdout and "chmod 600" in result.stdout
    assert "secret-token-text" not in result.stdout + result.stderr


def test_a_corrupted_store_fails(tmp_path: Path) -> None:
    home = _home(tmp_path)
    store = home / "store.db"
    data = bytearray(store.read_bytes())
    data[100:4096] = os.urandom(4096 - 100)  # the schema page, past the header
    store.write_bytes(bytes(data))
    found = _doctor(home, code=28)
    assert any(status == "fail" and key.startswith("home store") for key, (status, _) in found.items()), found


def test_an_unreachable_carrier_fails_as_retryable(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = _home(
        tmp_path,
        tg={
            "type": "telegram",
            "chat_id": -100,
            "token_env": "PBRIDGE_TEST_DOCTOR_TG",
            "base_url": f"http://127.0.0.1:{port}/bot",
        },
    )
    found = _doctor(home, code=28, env={"PBRIDGE_TEST_DOCTOR_TG": "12345:abc"})
    status, detail = found["tg reachable"]
    assert status == "fail" and "unreachable now" in detail and "12345:abc" not in detail


def test_a_missing_folder_and_two_carriers_on_one_bot_fail(tmp_path: Path) -> None:
    server = BotApiServer(rate_limits=False)
    server.start()
    try:
        bot = server.add_bot("twice_bot", bot_to_bot=True, privacy=False)
        group = server.add_chat("g", members={bot.id: "admin"})
        os.environ["PBRIDGE_TEST_DOCTOR_ONE"] = os.environ["PBRIDGE_TEST_DOCTOR_TWO"] = bot.token
        tg = {"type": "telegram", "chat_id": group.id, "base_url": server.base_url}
        home = Home(tmp_path, tmp_path)
        home.create()
        save_config(
            home.config_path,
            Config(
                carriers={
                    "one": CarrierConfig.model_validate({**tg, "token_env": "PBRIDGE_TEST_DOCTOR_ONE"}),
                    "two": CarrierConfig.model_validate({**tg, "token_env": "PBRIDGE_TEST_DOCTOR_TWO"}),
                    "gone": CarrierConfig.model_validate({"type": "files", "path": str(tmp_path / "missing")}),
                }
            ),
        )
        found = {f"{c.scope} {c.finding.check}": c.finding for c in run_checks(home)}
    finally:
        server.stop()
    assert found["one settings"].status == found["two settings"].status == "fail"
    assert "same telegram bot" in found["one settings"].detail
    assert found["gone folder"].status == "fail" and "not a folder" in found["gone folder"].detail
    assert found["home store"].status == "fail"  # no store: this home was never initialised
    assert "getUpdates" not in bot.calls and "getMe" not in bot.calls  # a clash is not even reached


def test_a_store_damaged_past_its_schema_page_fails_without_a_crash(tmp_path: Path) -> None:
    from pointerbridge.home.store import Store

    shared = tmp_path / "shared"
    shared.mkdir()
    home = _home(tmp_path, shared={"type": "files", "path": str(shared)})
    with Store.open(home / "store.db") as store:  # enough rows for pages beyond the schema's
        store.add_pointers([(f"pb1{i:06d}" + "x" * 400, os.urandom(300)) for i in range(300)], "in")
        store.save_cursor("shared", "{}")
        store._checkpoint()
    path = home / "store.db"
    data = bytearray(path.read_bytes())
    assert len(data) > 20 * 4096
    data[10 * 4096 : 14 * 4096] = os.urandom(4 * 4096)  # table pages, not the schema on page 1
    path.write_bytes(bytes(data))
    result = run("--home", str(home), "doctor")
    assert result.returncode == 28, result  # a failed check, not an internal error (70)
    assert "fail  home: store" in result.stdout and "ok    shared: folder" in result.stdout


def test_a_clock_behind_what_the_store_recorded_is_a_warning(tmp_path: Path) -> None:
    import time

    from pointerbridge.home.store import Store

    home = _home(tmp_path)
    assert _doctor(home)["home clock"][0] == "ok"
    with Store.open(home / "store.db") as store:
        store.save_cursor("elsewhere", "{}")
        store._db.execute("UPDATE cursors SET updated_at = ?", (time.time() + 3 * 3600,))  # written before a step back
    status, detail = _doctor(home)["home clock"]
    assert status == "warn" and "3 h ahead of this clock" in detail


def test_a_carrier_not_polled_for_a_day_fails_so_a_health_check_sees_a_stalled_bot(tmp_path: Path) -> None:
    import time

    from pointerbridge.home.store import Store

    shared = tmp_path / "shared"
    shared.mkdir()
    home = _home(tmp_path, shared={"type": "files", "path": str(shared)})
    assert run("--home", str(home), "poll").returncode == 0
    with Store.open(home / "store.db") as store:
        store._db.execute("UPDATE cursors SET updated_at = ?", (time.time() - 10 * 60,))
    assert _doctor(home)["shared last poll"][0] == "warn"  # three intervals missed: look
    with Store.open(home / "store.db") as store:
        store._db.execute("UPDATE cursors SET updated_at = ?", (time.time() - 25 * 3600,))
    status, detail = _doctor(home, code=28)["shared last poll"]
    assert status == "fail" and "25 h ago" in detail and "running?" in detail


def test_every_status_is_one_of_the_three(tmp_path: Path) -> None:
    from typing import get_args

    from pointerbridge.bridges.base import Status

    assert get_args(Status) == ("ok", "warn", "fail")
    shared = tmp_path / "shared"
    home = _home(tmp_path, shared={"type": "files", "path": str(shared)})  # a missing folder: a failure
    checked = run_checks(Home.resolve(home))
    assert {c.finding.status for c in checked} <= set(get_args(Status))
    assert "fail" in {c.finding.status for c in checked} and "warn" in {c.finding.status for c in checked}
