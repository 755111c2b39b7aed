"""What the command line answers where it used to answer wrongly or not at all (issue 17,
item 17): ids that match nothing, a restore of what is not in the trash, an empty chat, a
config.toml with a wrong type, table or key, the version, and a bench that names its steps."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_cli import EXIT_CODES, run

PHRASE = "alice master phrase for the answers test 11"
SECRET = "tulips in the rain at seven 7"
ENV = {"PBRIDGE_MASTER_PHRASE": PHRASE, "PBRIDGE_CHAT_SECRET": SECRET}


def pb(home: Path, *args: str, stdin: str = ""):  # type: ignore[no-untyped-def]
    return run("--home", str(home), *args, stdin=stdin, env=ENV)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("answers")
    shared, home = root / "shared", root / "alice"
    shared.mkdir()
    for args in (
        ("init", "--username", "alice", "--weak-secret-ok"),
        ("carrier", "add", "shared", "--type", "files", "--path", str(shared)),
        ("chat", "create", "family", "--carrier", "shared", "--weak-secret-ok"),
        ("chat", "create", "quiet", "--carrier", "shared", "--weak-secret-ok"),
    ):
        done = pb(home, *args)
        assert done.returncode == 0, done
    assert pb(home, "send", "family", "--queue", stdin="dinner at eight?").returncode == 0
    return home


def _one_id(home: Path) -> str:
    messages = json.loads(pb(home, "read", "family", "--json").stdout)["messages"]
    assert len(messages) == 1
    return str(messages[0]["id"])


def test_an_id_that_matches_nothing_says_so(home: Path) -> None:
    for action in ("trash", "restore", "purge"):
        result = pb(home, action, "family", "zzzz", *(["--yes"] if action == "purge" else []))
        assert result.returncode == EXIT_CODES["InvalidInputError"], result
        assert result.stderr == (
            "pbridge: no message of chat 'family' has an id starting 'zzzz' ('pbridge read' shows them)\n"
        )
        assert "give more of the id" not in result.stderr


def test_restore_of_a_message_not_in_the_trash_is_refused(home: Path) -> None:
    message = _one_id(home)
    refused = pb(home, "restore", "family", message[:8])
    assert refused.returncode == EXIT_CODES["InvalidInputError"], refused
    assert refused.stderr == f"pbridge: message {message[:8]!r} is not in the trash\n" and refused.stdout == ""
    assert pb(home, "trash", "family", message[:8]).returncode == 0
    again = pb(home, "trash", "family", message[:8])
    assert again.returncode == 3 and again.stderr == f"pbridge: message {message[:8]!r} is already in the trash\n"
    restored = pb(home, "restore", "family", message[:8])
    assert restored.returncode == 0 and restored.stdout == "restore: 1 message(s), 1 pointer(s)\n"
    twice = pb(home, "trash", "family", message[:4], message)  # one message named twice counts once
    assert twice.returncode == 0 and twice.stdout == "trash: 1 message(s), 1 pointer(s)\n"
    assert pb(home, "restore", "family", message).returncode == 0  # as the module's other tests expect it


def test_read_of_an_empty_chat_says_it_is_empty(home: Path) -> None:
    empty = pb(home, "read", "quiet")
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, "", "(chat 'quiet' has no messages yet)\n")
    trash = pb(home, "read", "family", "--trash")
    assert trash.stderr == "(the trash of chat 'family' is empty)\n" and trash.stdout == ""
    search = pb(home, "read", "family", "--search", "breakfast")
    assert search.stderr == "(no message in chat 'family' contains 'breakfast')\n"
    assert json.loads(pb(home, "read", "quiet", "--json").stdout)["messages"] == []  # JSON stays as it was
    full = pb(home, "read", "family")
    assert "dinner at eight?" in full.stdout and full.stderr == ""


def _with_config(tmp_path: Path, home: Path, text: str) -> Path:
    """A copy of ``home`` (initialised) whose config.toml is ``text``."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(home, copy)
    (copy / "config.toml").write_text(text)
    return copy


def test_an_unknown_carrier_type_names_the_carrier(tmp_path: Path, home: Path) -> None:
    copy = _with_config(tmp_path, home, f'[carriers.shared]\ntype = "flies"\npath = "{tmp_path}"\n')
    status = pb(copy, "status")  # it once listed the carrier as if nothing were wrong
    assert status.returncode == 0 and "shared (flies): 1 waiting, last poll never; unknown carrier type (known: " in (
        status.stdout
    )
    result = pb(copy, "poll")
    assert result.returncode == EXIT_CODES["ConfigurationError"], result
    assert result.stdout.startswith("shared: unknown carrier type 'flies' (known: ")
    assert "carrier 'flies'" not in result.stdout


def test_a_wrong_table_or_key_in_config_is_named_plainly(tmp_path: Path, home: Path) -> None:
    table = pb(_with_config(tmp_path / "a", home, '[carrier.x]\ntype = "files"\n'), "status")
    assert table.returncode == EXIT_CODES["ConfigError"]
    assert table.stderr.endswith("config.toml: unknown table [carrier]: carriers are declared as [carriers.NAME]\n"), (
        table.stderr
    )
    key = pb(
        _with_config(tmp_path / "b", home, f'[carriers.x]\ntype = "files"\npath = "{tmp_path}"\ncolour = 1\n'), "poll"
    )
    assert key.returncode == EXIT_CODES["ConfigurationError"], key
    assert key.stdout.startswith(
        "x: unknown setting 'colour' in [carriers.x] (a files carrier takes: path, "
        "max_pointer_chars, full_scan_hours, max_blob_bytes) (fix it in "
    )
    value = pb(_with_config(tmp_path / "c", home, "[carriers]\nx = 5\n"), "status")
    assert value.returncode == EXIT_CODES["ConfigError"]
    assert value.stderr.endswith("config.toml: carriers.x must be a table, [carriers.x], with its type and settings\n")
    flat = pb(_with_config(tmp_path / "d", home, "carriers = 5\n"), "status")
    assert flat.stderr.endswith(
        ": carriers must be tables, one per carrier: [carriers.NAME] with its type and settings\n"
    )
    for result in (table, key, value, flat):
        assert "Extra inputs" not in result.stdout + result.stderr and "CarrierConfig" not in result.stderr
        assert "valid dictionary" not in result.stderr


def test_version() -> None:
    from importlib.metadata import version

    result = run("--version")
    assert (result.returncode, result.stdout) == (0, f"pbridge {version('pointerbridge')}\n")


def test_bench_names_each_step_on_stderr_as_it_starts() -> None:
    result = run("bench", "--seconds", "0.01", "--json")
    assert result.returncode == 0, result
    steps = [line for line in result.stderr.splitlines() if line.startswith("bench: ")]
    assert [re.match(r"bench: (\d)/4 ", line) is not None for line in steps] == [True] * 4, result.stderr
    assert "ratio_1k" in json.loads(result.stdout)  # stdout keeps only the figures


def test_readme_exit_codes_list_every_code_with_1_and_70() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    paragraph = " ".join(readme.split("Each failure prints one line on stderr", 1)[1].split("\n\n", 1)[0].split())
    listed = [int(code) for code in re.findall(r"(?:: |, )(\d+) ", paragraph)]
    assert listed == [1, 2, *EXIT_CODES.values(), 70], paragraph
    assert "1 declined (a y/N question answered no) or interrupted (Ctrl-C)" in paragraph
    assert "0 ok, 1 declined or interrupted, 2 usage" in " ".join(run("--help").stdout.split())
