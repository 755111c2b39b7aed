"""A real Synapse homeserver on 127.0.0.1 for tests (see ../shared/recipes/matrix-synapse.md).

Synapse lives in its own virtualenv, created on first use under the git-ignored
``.cache/synapse-venv`` (or ``$PBRIDGE_SYNAPSE_VENV``), so its pins never touch the
project's. Each server gets a temporary folder, a free port and a fresh SQLite database;
users are made by shared-secret registration. A server that cannot be installed or
started raises :class:`SynapseUnavailable` with the reason and the log's tail: a test that
needs it fails, it never skips.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pointerbridge.home.config import CarrierConfig

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("PBRIDGE_SYNAPSE_VENV", ROOT / ".cache" / "synapse-venv"))
REQUIREMENT = "matrix-synapse>=1.140,<2"
_REGISTRATION_SECRET = "pointer-bridge-test-registration"
_UNLIMITED = {"per_second": 10_000, "burst_count": 10_000}


class SynapseUnavailable(RuntimeError):
    """Synapse could not be installed or started here; the message says why."""


def synapse_python() -> Path:
    """The cached venv's python, installing Synapse into it on first use (~20-60 s)."""
    from helpers import machine_lock

    with machine_lock("synapse-venv"):
        return _synapse_python()


def _synapse_python() -> Path:
    python = VENV / "bin" / "python"
    if python.exists() and _runs(python, "import synapse.app.homeserver"):
        return python
    steps = ([sys.executable, "-m", "venv", str(VENV)], [str(python), "-m", "pip", "install", "-q", REQUIREMENT])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise SynapseUnavailable(f"{' '.join(step)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    if not _runs(python, "import synapse.app.homeserver"):
        raise SynapseUnavailable(f"Synapse was installed into {VENV} but does not import")
    return python


def _runs(python: Path, code: str) -> bool:
    return subprocess.run([str(python), "-c", code], capture_output=True, timeout=120).returncode == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Synapse:
    """One homeserver process in ``folder``; ``start``, ``stop`` and ``start`` again keep its data."""

    def __init__(
        self, folder: Path, message_rate: dict[str, float] | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        """``message_rate`` ({"per_second", "burst_count"}) turns on Synapse's limit on
        sending messages, which is otherwise lifted; ``extra``: more of homeserver.yaml
        (``{"max_upload_size": "100K"}``)."""
        self.folder = folder
        self._message_rate = message_rate
        self._extra = dict(extra or {})
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._write_config()

    def _write_config(self) -> None:
        d = self.folder
        d.mkdir(parents=True, exist_ok=True)
        log = {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"file": {"class": "logging.FileHandler", "filename": str(d / "homeserver.log")}},
            "root": {"level": "WARNING", "handlers": ["file"]},
        }
        (d / "log.yaml").write_text(json.dumps(log))
        limits = {
            name: _UNLIMITED
            for name in (
                "rc_message",
                "rc_registration",
                "rc_room_creation",
                "rc_joins_per_room",
                "rc_3pid_validation",
                "rc_user_directory",
                "rc_profile",
                "rc_delayed_event_mgmt",
                "rc_media_create",
            )
        }
        config = {
            "server_name": "localhost",
            "public_baseurl": f"{self.url}/",
            "pid_file": str(d / "homeserver.pid"),
            "signing_key_path": str(d / "signing.key"),
            "media_store_path": str(d / "media"),
            "log_config": str(d / "log.yaml"),
            "database": {"name": "sqlite3", "args": {"database": str(d / "homeserver.db")}},
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "report_stats": False,
            "registration_shared_secret": _REGISTRATION_SECRET,
            "macaroon_secret_key": "test-macaroon",
            "form_secret": "test-form",
            "enable_registration": False,
            "bcrypt_rounds": 4,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],
            "url_preview_enabled": False,
            "enable_metrics": False,
            "presence": {"enabled": False},
            "filter_timeline_limit": 1000,
            **limits,
            **({"rc_message": self._message_rate} if self._message_rate else {}),
            "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
            "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
            "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
            "rc_presence": {"per_user": _UNLIMITED},
            **self._extra,
        }
        (d / "homeserver.yaml").write_text(json.dumps(config))  # JSON is YAML

    def start(self, timeout: float = 90.0) -> None:
        """Run the server and wait until its client API answers."""
        python = synapse_python()
        self._stderr = open(self.folder / "stderr.log", "ab")  # noqa: SIM115  # closed by stop()
        self._process = subprocess.Popen(
            [str(python), "-m", "synapse.app.homeserver", "-c", str(self.folder / "homeserver.yaml")],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise SynapseUnavailable(f"Synapse exited with {self._process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_matrix/client/versions", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SynapseUnavailable(f"Synapse did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s."""
        process, self._process = self._process, None
        if process is not None:
            from helpers import end_process

            end_process(process, 15)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log and stderr, for failure messages."""
        text = ""
        for name in ("homeserver.log", "stderr.log"):
            path = self.folder / name
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    def register(self, username: str, password: str, *, admin: bool = False) -> dict[str, Any]:
        """A new user by shared-secret registration: the answer has user_id, access_token, device_id."""
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        nonce = _request("GET", endpoint)["nonce"]
        role = "admin" if admin else "notadmin"
        text = "\0".join((nonce, username, password, role)).encode()
        mac = hmac.new(_REGISTRATION_SECRET.encode(), text, hashlib.sha1).hexdigest()
        body = {"nonce": nonce, "username": username, "password": password, "admin": admin, "mac": mac}
        return _request("POST", endpoint, body)

    def bot_in_new_room(self, username: str, variable: str) -> tuple[dict[str, Any], str]:
        """A new bot account in a room of its own: a Matrix carrier's settings (its token in
        the environment variable ``variable``) and the bot's token."""
        account = self.register(username, "bot-password")
        token = account["access_token"]
        room = self.request("POST", "/_matrix/client/v3/createRoom", {"name": "pointers"}, token)["room_id"]
        os.environ[variable] = token
        settings = {
            "type": "matrix",
            "homeserver": self.url,
            "user_id": account["user_id"],
            "device_id": account["device_id"],
            "access_token_env": variable,
            "room_id": room,
        }
        return settings, token

    def two_bots_in_new_room(self, tag: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Two members' Matrix carrier settings, each bot its own account (tokens in
        environment variables named after ``tag``), in one new room."""
        settings, token = self.bot_in_new_room(f"{tag}a", f"PBRIDGE_TEST_MX_{tag.upper()}_A")
        other = self.register(f"{tag}b", "bot-password")
        room = quote(settings["room_id"], safe="")
        self.request("POST", f"/_matrix/client/v3/rooms/{room}/invite", {"user_id": other["user_id"]}, token)
        self.request("POST", f"/_matrix/client/v3/join/{room}", {}, other["access_token"])
        variable = f"PBRIDGE_TEST_MX_{tag.upper()}_B"
        os.environ[variable] = other["access_token"]
        theirs = {
            **settings,
            "user_id": other["user_id"],
            "device_id": other["device_id"],
            "access_token_env": variable,
        }
        return settings, theirs

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """A client-API call as a test needs it (setting up rooms, checking state)."""
        return _request(method, self.url + path, body, token)


def _request(method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    call = urllib.request.Request(url, data=data, headers=headers, method=method)  # 127.0.0.1 only
    try:
        with urllib.request.urlopen(call, timeout=30) as answer:
            result: dict[str, Any] = json.loads(answer.read() or b"{}")
            return result
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {url}: HTTP {exc.code}: {exc.read()[:500]!r}") from None


_synapse: Synapse | None = None
_accounts = itertools.count()


def shared_server() -> Synapse:
    """One Synapse for the whole session (fresh users and rooms per test)."""
    global _synapse
    if _synapse is None:
        server = Synapse(Path(tempfile.mkdtemp(prefix="pbridge-synapse-")))
        server.start()
        atexit.register(server.stop)
        _synapse = server
    return _synapse


def matrix_room() -> tuple[CarrierConfig, Callable[[str], None]]:
    """A fresh bot account and room on the session's server: the carrier's config (token
    in an environment variable) and a way for "a person" to post text in the room."""
    server = shared_server()
    name = f"bot{next(_accounts)}x{os.getpid()}"
    settings, token = server.bot_in_new_room(name, f"PBRIDGE_TEST_MATRIX_TOKEN_{name.upper()}")
    room = settings["room_id"]
    counter = itertools.count()

    def inject(text: str) -> None:  # a person in the room types (or pastes) this
        path = f"/_matrix/client/v3/rooms/{room}/send/m.room.message/person{next(counter)}"
        server.request("PUT", path, {"msgtype": "m.text", "body": text}, token)

    config = CarrierConfig.model_validate(
        {
            **settings,
            "start": "history",
            "max_pointer_chars": 2000,
        }
    )
    return config, inject
