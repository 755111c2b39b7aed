"""Bridges from outside the project. A throwaway distribution (a module and its .dist-info,
on a path of its own) registers toy bridges under the ``pointerbridge.bridges`` entry-point
group: the shipped contract suite (``pointerbridge.testing``) runs on one and passes, and
fails on one that loses posts; the carrier-type lookup refuses an unknown type and an entry
point that is not a Bridge; ``pbridge carrier login`` runs a bridge's own login hook and
keeps what it returns, and refuses a type that has none; the daemon quiets what a
third-party bridge names."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pointerbridge.app.login import log_in
from pointerbridge.app.service import App
from pointerbridge.bridges.base import ConfigurationError, LoginUnsupportedError, bridge_class, bridge_types
from pointerbridge.cli.errors import exit_codes
from pointerbridge.core import InvalidInputError
from pointerbridge.home.config import Home, load_config, save_config
from pointerbridge.testing import contract  # not its class: this module would run the suite itself
from test_cli import initialised_home, run

EXIT_CODES = exit_codes()
TOY = '''"""A bridge from outside Pointer Bridge: each post is the next numbered file in a folder."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import ClassVar

from pointerbridge.bridges.base import Bridge, ConfigurationError, Login, NetworkSettings, PollResult, extract
from pointerbridge.core import InvalidInputError
from pydantic import BaseModel, ConfigDict


def append(folder, text):
    """Put text on the carrier as the next file; its name is the carrier's reference."""
    name = f"{len(list(folder.iterdir())):08d}.txt"
    with open(folder / name, "x", encoding="utf-8") as out:
        out.write(text)
    return name


class ToySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: Path
    max_pointer_chars: int = 2000


class ToyBridge(Bridge):
    carrier_type = "toy"
    Settings = ToySettings
    quiet_loggers = ("pb_toybridge.wire",)

    def post(self, pointer):
        return append(self.settings.path, pointer)

    def poll(self, cursor):
        result = PollResult([], cursor or "")
        for path in sorted(self.settings.path.iterdir()):
            if path.name > (cursor or ""):
                extract(path.read_text(encoding="utf-8"), path.name, result)
                result.cursor = path.name
        return result


class LossyBridge(ToyBridge):
    """Loses every post: the contract suite must fail on it."""

    carrier_type = "lossy"

    def poll(self, cursor):
        return PollResult([], cursor or "")


class LoginSettings(NetworkSettings):
    credential_fields = ("token_env", "token_file")
    token_env: str | None = None
    token_file: Path | None = None
    account: str
    session: str
    path: Path
    max_pointer_chars: int = 2000


class LoginToyBridge(ToyBridge):
    """A carrier with accounts: a login opens a session whose token the app keeps."""

    carrier_type = "logintoy"
    Settings = LoginSettings
    sessions = itertools.count(1)
    ended: ClassVar[list[tuple[str, str]]] = []

    @classmethod
    def login(cls, name, saved, password, options):
        unknown = sorted(set(options) - {"user", "path"})
        if unknown:
            raise InvalidInputError(f"a toy login takes no {unknown[0]}")
        account = options.get("user") or saved.get("account")
        if not account:
            raise InvalidInputError("a new toy carrier needs --user")
        if password() != "open sesame":
            raise ConfigurationError(name, "the password was refused")
        session = f"s{next(cls.sessions)}"
        settings = {**saved, "account": account, "session": session, "path": options.get("path", saved.get("path"))}
        old = saved.get("session")
        return Login(settings, f"token-{session}", f"{account}, session {session}", f"session {old}" if old else None)

    @classmethod
    def logout(cls, name, settings, credential):
        cls.ended.append((str(settings["session"]), credential))
'''

ENTRY_POINTS = """[pointerbridge.bridges]
toy = pb_toybridge:ToyBridge
lossy = pb_toybridge:LossyBridge
logintoy = pb_toybridge:LoginToyBridge
notabridge = pb_toybridge:append
notasubclass = pb_toybridge:ToySettings
broken = pb_toybridge_is_not_installed:Bridge
"""

CONFTEST = '''"""A third party's conftest.py: its carriers for the shipped contract suite."""

from pb_toybridge import append
from pointerbridge.testing import CarrierConfig, CarrierUnderTest


def _kind(carrier_type):
    def fresh(tmp_path):
        folder = tmp_path / "carrier"
        folder.mkdir()
        config = CarrierConfig.model_validate({"type": carrier_type, "path": str(folder)})
        return CarrierUnderTest(config, lambda text: append(folder, text) and None)

    return fresh


def pytest_pointerbridge_carriers(config):
    return {"toy": _kind("toy"), "lossy": _kind("lossy")}
'''

SUITE = """from pointerbridge.testing.contract import TestBridgeContract  # noqa: F401  (the shipped suite)
"""


def _distribution(root: Path) -> Path:
    """A folder for sys.path holding the toy module and its distribution's metadata, as
    pip would install it (importlib.metadata finds the entry points in the .dist-info)."""
    site = root / "site"
    info = site / "pb_toybridge-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "pb_toybridge.py").write_text(TOY, encoding="utf-8")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pb-toybridge\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    return site


@pytest.fixture
def toy_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The throwaway distribution, importable in this process for one test."""
    site = _distribution(tmp_path)
    monkeypatch.syspath_prepend(str(site))  # also invalidates importlib's caches
    bridge_class.cache_clear()
    yield site
    bridge_class.cache_clear()
    sys.modules.pop("pb_toybridge", None)


def _pytest(site: Path, suite: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "pointerbridge.testing", "-p", "no:cacheprovider", *args]
    # As a third party runs it: no identity cost from this suite's conftest.py (the plugin picks one).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBRIDGE_")} | {"PYTHONPATH": str(site)}
    return subprocess.run(command, cwd=suite, env=env, capture_output=True, text=True, timeout=600)


def _suite(root: Path, *, with_conftest: bool = True) -> Path:
    suite = root / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # the rootdir: nothing above it counts
    (suite / "test_contract.py").write_text(SUITE, encoding="utf-8")
    if with_conftest:
        (suite / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    return suite


@pytest.mark.slow
def test_an_out_of_tree_bridge_passes_the_shipped_contract_suite(tmp_path: Path) -> None:
    site, suite = _distribution(tmp_path), _suite(tmp_path)
    result = _pytest(site, suite, "-v", "-k", "not lossy")
    assert result.returncode == 0, result.stdout + result.stderr
    passed = {line.split(" ")[0].split("::")[-1] for line in result.stdout.splitlines() if " PASSED" in line}
    tests = sorted(name for name in vars(contract.TestBridgeContract) if name.startswith("test_"))
    assert len(tests) == 8 and all(any(p.startswith(f"{t}[toy") for p in passed) for t in tests), passed
    assert {p for p in passed if not p.endswith("toy]")} == {
        "test_injected_failure_is_finished_by_the_next_run[toy-post]",
        "test_injected_failure_is_finished_by_the_next_run[toy-poll]",
    }


def test_the_shipped_suite_fails_a_bridge_that_loses_posts(tmp_path: Path) -> None:
    site, suite = _distribution(tmp_path), _suite(tmp_path)
    result = _pytest(site, suite, "-q", "-k", "lossy and round_trip")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED test_contract.py::TestBridgeContract::test_post_then_poll_round_trip[lossy]" in result.stdout
    assert "assert [] == [(" in result.stdout  # the shipped module's assertions are rewritten: they explain


def test_the_suite_without_carriers_says_how_to_name_them(tmp_path: Path) -> None:
    site, suite = _distribution(tmp_path), _suite(tmp_path, with_conftest=False)
    result = _pytest(site, suite, "-q", "--collect-only")
    assert result.returncode != 0
    assert "no carrier to run the contract suite on: implement pytest_pointerbridge_carriers" in result.stdout


def test_an_unknown_carrier_type_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown carrier type 'carrier-pigeon' \(known: (.*)\)") as caught:
        bridge_class("carrier-pigeon")
    known = str(caught.value).rsplit("(known: ", 1)[1].rstrip(")").split(", ")
    assert {"email", "files", "matrix", "telegram"} <= set(known) and known == sorted(known) == bridge_types()


def test_an_entry_point_that_is_not_a_bridge_is_refused(toy_site: Path) -> None:
    assert bridge_class("toy").carrier_type == "toy"  # the same distribution's bridge loads
    with pytest.raises(ConfigurationError, match="entry point pb_toybridge:append is not a Bridge"):
        bridge_class("notabridge")
    with pytest.raises(ConfigurationError, match="entry point pb_toybridge:ToySettings is not a Bridge"):
        bridge_class("notasubclass")


def test_the_daemon_quiets_a_third_party_bridges_loggers_and_survives_a_broken_one(toy_site: Path) -> None:
    from pointerbridge.app.daemon import quiet_loggers

    noisy, unloaded = quiet_loggers()
    assert {"pb_toybridge.wire", "nio", "httpx"} <= noisy
    assert [kind for kind, _ in unloaded] == ["broken", "notabridge", "notasubclass"]
    assert "pb_toybridge_is_not_installed" in dict(unloaded)["broken"]


def _app(tmp_path: Path) -> App:
    return App(Home(tmp_path / "home", tmp_path / "home"))


class _Password:
    """A password callable that counts how often it is asked."""

    def __init__(self, value: str = "open sesame") -> None:
        self.value, self.asked = value, 0

    def __call__(self) -> str:
        self.asked += 1
        return self.value


def test_a_bridges_login_hook_is_kept_by_the_app(toy_site: Path, tmp_path: Path) -> None:
    toy: Any = bridge_class("logintoy")
    toy.ended.clear()
    folder = tmp_path / "carrier"
    folder.mkdir()
    password = _Password()
    with _app(tmp_path) as app:
        done = log_in(app, "logintoy", "toy1", password, {"user": "bot", "path": str(folder)})
    assert password.asked == 1 and done.notes == [] and toy.ended == []
    first = done.summary.rsplit(" ", 1)[1]
    assert done.summary == f"bot, session {first}"
    token = tmp_path / "home" / "tokens" / "toy1.token"
    assert done.token_file == token and token.read_text() == f"token-{first}\n"
    assert token.stat().st_mode & 0o777 == 0o600 and token.parent.stat().st_mode & 0o777 == 0o700
    config_path = tmp_path / "home" / "config.toml"
    saved = load_config(config_path).carriers["toy1"]
    assert saved.type == "logintoy" and saved.settings["session"] == first
    assert saved.settings["token_file"] == str(token) and b"token-" not in config_path.read_bytes()

    config = load_config(config_path)  # the user schedules it, then logs in again
    config.carriers["toy1"] = saved.model_copy(update={"poll_every": 123})
    save_config(config_path, config)
    with _app(tmp_path) as app:
        again = log_in(app, "logintoy", "toy1", password, {})  # the account and folder as saved
    second = again.summary.rsplit(" ", 1)[1]
    assert second != first and toy.ended == [(first, f"token-{first}")]
    assert again.notes == [f"the old session {first} was logged out"]
    assert token.read_text() == f"token-{second}\n"
    kept = load_config(config_path).carriers["toy1"]
    assert kept.poll_every == 123 and kept.settings["session"] == second and kept.settings["account"] == "bot"


def test_a_login_that_cannot_be_kept_ends_its_new_session(toy_site: Path, tmp_path: Path) -> None:
    toy: Any = bridge_class("logintoy")
    toy.ended.clear()
    with _app(tmp_path) as app, pytest.raises(ConfigurationError, match="path"):
        log_in(app, "logintoy", "toy1", _Password(), {"user": "bot"})  # no folder: the settings are refused
    ((session, token),) = toy.ended  # the session the login opened was ended again
    assert token == f"token-{session}"
    assert (
        not (tmp_path / "home" / "config.toml").exists() and not (tmp_path / "home" / "tokens" / "toy1.token").exists()
    )


def test_a_login_refuses_options_before_asking_the_password(toy_site: Path, tmp_path: Path) -> None:
    password = _Password()
    with _app(tmp_path) as app:
        with pytest.raises(InvalidInputError, match="a toy login takes no room"):
            log_in(app, "logintoy", "toy1", password, {"user": "bot", "room": "!r"})
        with pytest.raises(LoginUnsupportedError, match="files carriers have no login"):
            log_in(app, "files", "f", password, {})
        with pytest.raises(InvalidInputError, match=r"'Bad Name'"):
            log_in(app, "logintoy", "Bad Name", password, {"user": "bot"})
        app.config = type(app.config).model_validate({"carriers": {"f": {"type": "files", "path": str(tmp_path)}}})
        with pytest.raises(InvalidInputError, match="carrier 'f' is a files carrier, not logintoy"):
            log_in(app, "logintoy", "f", password, {"user": "bot"})
    assert password.asked == 0


def test_carrier_login_of_a_type_without_a_login_hook_or_unknown(tmp_path: Path) -> None:
    home = initialised_home(tmp_path / "home", carrier=False)
    files = run("--home", home, "carrier", "login", "files", "shared", "--user", "x")
    assert files.returncode == EXIT_CODES["LoginUnsupportedError"] == 33, files
    assert files.stderr.splitlines() == [
        "pbridge: carrier 'shared': files carriers have no login: declare this one with "
        "pbridge carrier add shared --type files"
    ]
    unknown = run("--home", home, "carrier", "login", "pigeon", "coop")
    assert unknown.returncode == EXIT_CODES["ConfigurationError"] and len(unknown.stderr.splitlines()) == 1
    assert "unknown carrier type 'pigeon' (known: cmdchat, email, files, matrix, telegram" in unknown.stderr
    not_an_option = run("--home", home, "carrier", "login", "matrix", "mx", "--set", "colour=blue")
    assert not_an_option.returncode == EXIT_CODES["InvalidInputError"] and "takes no 'colour'" in not_an_option.stderr
    assert not (tmp_path / "home" / "config.toml").exists()


def test_config_toml_parsed_once_is_handed_out_as_copies_and_parsed_again_when_it_changes(tmp_path: Path) -> None:
    from pointerbridge.home.config import CarrierConfig, Config, load_config, save_config

    path = tmp_path / "config.toml"
    save_config(path, Config({"a": CarrierConfig.model_validate({"type": "files", "folder": str(tmp_path)})}))
    first = load_config(path)
    first.carriers["a"].settings["folder"] = "changed in memory"  # a caller's own copy
    del first.carriers["a"]
    again = load_config(path)
    assert again.carriers["a"].settings["folder"] == str(tmp_path)
    save_config(path, Config({"b": CarrierConfig.model_validate({"type": "files", "folder": str(tmp_path)})}))
    assert list(load_config(path).carriers) == ["b"]
    path.write_text(path.read_text().replace("[carriers.b]", "[carriers.c]"))  # the same size, written in place
    assert list(load_config(path).carriers) == ["c"]
