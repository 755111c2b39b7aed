"""``pbridge carrier add`` (issue 17, item 15): the bridge checks a carrier before it is
saved, an existing carrier is replaced only with --replace, and a path given as ``~/x``
is the user's home folder's ``x``, not ``./~/x``."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pointerbridge.home.store import Store
from test_cli import EXIT_CODES, run

PHRASE = {"PBRIDGE_MASTER_PHRASE": "carrier test phrase, walnut cobalt meadow"}


def _home(tmp_path: Path) -> str:
    home = str(tmp_path / "home")
    init = run("--home", home, "init", "--username", "alice", "--weak-secret-ok", env=PHRASE)
    assert init.returncode == 0, init.stderr
    return home


def _carriers(home: str) -> dict[str, dict[str, object]]:
    path = Path(home) / "config.toml"
    if not path.exists():
        return {}
    carriers: dict[str, dict[str, object]] = tomllib.loads(path.read_text(encoding="utf-8")).get("carriers", {})
    return carriers


def _cursor(home: str, carrier: str) -> str | None:
    store = Store.open(Path(home) / "store.db")
    try:
        return store.cursor(carrier)
    finally:
        store.close()


def test_a_files_carrier_whose_folder_is_missing_is_refused_and_not_saved(tmp_path: Path) -> None:
    home = _home(tmp_path)
    missing = tmp_path / "no such folder"
    result = run("--home", home, "carrier", "add", "sh", "--type", "files", "--path", str(missing))
    assert result.returncode == EXIT_CODES["ConfigurationError"], result.stderr
    assert result.stderr.count("\n") == 1 and str(missing) in result.stderr and "not a folder" in result.stderr
    assert "sh" not in _carriers(home)
    a_file = tmp_path / "a file"
    a_file.write_text("not a folder")
    as_file = run("--home", home, "carrier", "add", "sh", "--type", "files", "--path", str(a_file))
    assert as_file.returncode == EXIT_CODES["ConfigurationError"] and "sh" not in _carriers(home)
    missing.mkdir()
    made = run("--home", home, "carrier", "add", "sh", "--type", "files", "--path", str(missing))
    assert made.returncode == 0, made.stderr
    assert f"{missing} can be read and written" in made.stdout
    assert _carriers(home)["sh"]["path"] == str(missing)


def test_an_existing_carrier_is_replaced_only_with_replace(tmp_path: Path) -> None:
    home = _home(tmp_path)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    assert run("--home", home, "carrier", "add", "sh", "--type", "files", "--path", str(first)).returncode == 0
    assert run("--home", home, "poll").returncode == 0
    assert _cursor(home, "sh") is not None
    before = (Path(home) / "config.toml").read_bytes()
    again = run("--home", home, "carrier", "add", "sh", "--type", "files", "--path", str(second))
    assert again.returncode == EXIT_CODES["CarrierExistsError"] == 49, again.stderr
    assert again.stderr.count("\n") == 1 and "'sh' exists already" in again.stderr and "--replace" in again.stderr
    assert (Path(home) / "config.toml").read_bytes() == before
    replaced = run("--home", home, "carrier", "add", "sh", "--type", "files", "--path", str(second), "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert "replaced" in replaced.stdout
    assert _carriers(home)["sh"]["path"] == str(second)
    assert _cursor(home, "sh") is None  # the first folder's cursor says nothing of the second
    # --replace still goes through the bridge's check: a missing folder replaces nothing.
    gone = run("--home", home, "carrier", "add", "sh", "--type", "files", "--path", str(tmp_path / "x"), "--replace")
    assert gone.returncode == EXIT_CODES["ConfigurationError"]
    assert _carriers(home)["sh"]["path"] == str(second)


def test_a_quoted_tilde_path_is_the_home_folders(tmp_path: Path) -> None:
    home = _home(tmp_path)
    user_home = tmp_path / "user"
    (user_home / "shared").mkdir(parents=True)
    result = run(
        "--home", home, "carrier", "add", "sh", "--type", "files", "--path", "~/shared", env={"HOME": str(user_home)}
    )
    assert result.returncode == 0, result.stderr
    assert _carriers(home)["sh"]["path"] == str(user_home / "shared")
    assert not (Path.cwd() / "~").exists()
    # The review: --set path=~/x was saved as typed (then read against whatever $HOME was),
    # --path '' saved the working folder, and --set path= silently won over --path.
    by_set = run(
        "--home",
        home,
        "carrier",
        "add",
        "s2",
        "--type",
        "files",
        "--set",
        "path=~/shared",
        env={"HOME": str(user_home)},
    )
    assert by_set.returncode == 0, by_set.stderr
    assert _carriers(home)["s2"]["path"] == str(user_home / "shared")
    empty = run("--home", home, "carrier", "add", "s3", "--type", "files", "--path", "")
    assert empty.returncode == EXIT_CODES["InvalidInputError"] and "the path is empty" in empty.stderr, empty
    both = run("--home", home, "carrier", "add", "s4", "--type", "files", "--path", str(tmp_path), "--set", "path=/x")
    assert both.returncode == EXIT_CODES["InvalidInputError"] and "'path' is given twice" in both.stderr, both
    assert set(_carriers(home)) == {"sh", "s2"}


def test_a_matrix_carrier_whose_token_cannot_be_read_is_refused_before_any_request(tmp_path: Path) -> None:
    # No server: the token file is read first, so this check needs no network.
    home = _home(tmp_path)
    settings = {
        "homeserver": "http://127.0.0.1:9",
        "user_id": "@bot:example.org",
        "device_id": "DEVICE",
        "room_id": "!room:example.org",
        "access_token_file": str(tmp_path / "no-token"),
    }
    options = [f"--set={key}={value}" for key, value in settings.items()]
    result = run("--home", home, "carrier", "add", "mx", "--type", "matrix", *options)
    assert result.returncode == EXIT_CODES["ConfigurationError"], result.stderr
    assert result.stderr.count("\n") == 1 and "cannot read" in result.stderr and "no-token" in result.stderr
    assert "mx" not in _carriers(home)
    token = tmp_path / "no-token"
    token.write_text("syt_token\n")
    token.chmod(0o644)
    loose = run("--home", home, "carrier", "add", "mx", "--type", "matrix", *options)
    assert loose.returncode == EXIT_CODES["ConfigurationError"] and "chmod 600" in loose.stderr
    assert "mx" not in _carriers(home)


def test_numbers_given_as_text_are_saved_as_numbers(tmp_path: Path) -> None:
    # --set gives text; config.toml (and the invites made from it) keep what the bridge
    # reads: a port of 8000, not "8000" (seen: a CMD-CHAT invite's port never matched a
    # carrier file's number, so a member could not join by it).
    home = _home(tmp_path)
    options = ["--set", "max_pointer_chars=4096", "--set", "poll_every=30"]
    result = run("--home", home, "carrier", "add", "sh", "--type", "files", "--path", str(tmp_path), *options)
    assert result.returncode == 0, result.stderr
    saved = _carriers(home)["sh"]
    assert saved["max_pointer_chars"] == 4096 and saved["poll_every"] == 30 and saved["path"] == str(tmp_path)
    bad = run(
        "--home",
        home,
        "carrier",
        "add",
        "s2",
        "--type",
        "files",
        "--path",
        str(tmp_path),
        "--set",
        "max_pointer_chars=lots",
    )
    assert bad.returncode != 0 and "max_pointer_chars" in bad.stderr and "s2" not in _carriers(home)
