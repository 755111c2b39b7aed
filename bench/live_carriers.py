"""The carriers the live benchmarks (``bench/latency.py``, ``bench/idle_push.py``) run
against, one entry each: the suite's own test servers (``tests/servers/``) on 127.0.0.1,
CMD-CHAT's real server (a checkout of github:emilycodestar/cmd-chat, used at run time and
never committed), and a folder for files.

An entry makes the settings of ``members`` carriers on one place (a folder, a room, a
group, mailboxes that mail each other): ``entry(servers, members) -> [settings, ...]``.
``servers`` starts each server once, on first use, and stops them all at the end.
A carrier whose bridge does not listen (``Bridge.listens`` False on this branch) or is not
there at all is reported as such by :func:`not_listening`, and its server is never started.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

CMDCHAT_SOURCE = "https://github.com/emilycodestar/cmd-chat"
CMDCHAT_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pbridge-bench" / "cmd-chat"
CMDCHAT_PACKAGES = ("srp", "cryptography", "rich")  # what its client and server import
_PASSWORD_ENV = "PBRIDGE_BENCH_CMDCHAT_PASSWORD"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cmdchat_checkout(folder: Path, source: str) -> Path:
    """CMD-CHAT's code in ``folder`` (cloned from ``source`` when absent) with a venv of its
    own holding its dependencies from PyPI; returns the venv's python."""
    if not (folder / "cmd_chat.py").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", source, str(folder)], check=True)
    python = folder / ".venv" / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(folder / ".venv")], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *CMDCHAT_PACKAGES], check=True)
    return python


class CmdChatServer:
    """CMD-CHAT's own server (``python cmd_chat.py serve``) on 127.0.0.1."""

    def __init__(self, folder: Path, source: str) -> None:
        """Its checkout is ``folder`` (cloned from ``source`` when absent)."""
        self.folder, self.python = folder, cmdchat_checkout(folder, source)
        self.port = _free_port()
        self.password = secrets.token_urlsafe(16)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        # Its CLI takes the password on argv (its own design); a random one, on loopback.
        command = [str(self.python), "cmd_chat.py", "serve", "127.0.0.1", str(self.port), "--password", self.password]
        self._process = subprocess.Popen(command, cwd=self.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            if self._process.poll() is not None:
                raise RuntimeError(f"CMD-CHAT's server exited with {self._process.returncode}")
            time.sleep(0.05)
        raise RuntimeError("CMD-CHAT's server did not start in 30 s")

    def stop(self) -> None:
        """Stop it (SIGTERM: it ignores SIGINT when started in the background)."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)


class Servers:
    """The servers the entries need, each started on first use and stopped by :meth:`close`."""

    def __init__(self, root: Path, cmdchat_dir: Path = CMDCHAT_DIR, cmdchat_source: str = CMDCHAT_SOURCE) -> None:
        """Servers keep their files under ``root``."""
        self.root, self.cmdchat_dir, self.cmdchat_source = root, cmdchat_dir, cmdchat_source
        self._started: dict[str, Any] = {}
        self._stack = contextlib.ExitStack()
        self.names = itertools.count()

    def get(self, kind: str) -> Any:
        """The server of ``kind`` (synapse, telegram, mail, cmdchat), started if need be."""
        if kind not in self._started:
            server = _SERVER_MAKERS[kind](self)
            server.start()
            self._stack.callback(server.stop)
            self._started[kind] = server
        return self._started[kind]

    def close(self) -> None:
        """Stop every server started."""
        self._stack.close()


def _synapse(servers: Servers) -> Any:
    from servers.synapse import Synapse

    return Synapse(servers.root / "synapse")


def _telegram_server(servers: Servers) -> Any:
    from servers.telegram import BotApiServer

    return BotApiServer(rate_limits=False)


def _mail(servers: Servers) -> Any:
    from servers.dovecot import MailServer

    return MailServer()


def _cmdchat_server(servers: Servers) -> Any:
    return CmdChatServer(servers.cmdchat_dir, servers.cmdchat_source)


_SERVER_MAKERS: dict[str, Callable[[Servers], Any]] = {
    "synapse": _synapse,
    "telegram": _telegram_server,
    "mail": _mail,
    "cmdchat": _cmdchat_server,
}


def files(servers: Servers, members: int) -> list[dict[str, Any]]:
    """One shared folder."""
    folder = servers.root / f"folder{next(servers.names)}"
    folder.mkdir()
    return [{"type": "files", "path": str(folder)}] * members


def matrix(servers: Servers, members: int) -> list[dict[str, Any]]:
    """One room, an account per member (the first makes it, the others join)."""
    server = servers.get("synapse")
    settings, room = [], ""
    for _ in range(members):
        name = f"bench{next(servers.names)}"
        account = server.register(name, "bench-password")
        token = account["access_token"]
        if not room:
            room = server.request("POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat"}, token)["room_id"]
        else:
            server.request("POST", f"/_matrix/client/v3/join/{room}", {}, token)
        variable = f"PBRIDGE_BENCH_MATRIX_{name.upper()}"
        os.environ[variable] = token
        settings.append(
            {
                "type": "matrix",
                "homeserver": server.url,
                "user_id": account["user_id"],
                "device_id": account["device_id"],
                "access_token_env": variable,
                "room_id": room,
            }
        )
    return settings


def telegram(servers: Servers, members: int) -> list[dict[str, Any]]:
    """One supergroup, a bot per member set up as the README says; posting unpaced (the
    test server has no rate limits here: the figure is delivery, not Telegram's pace)."""
    from servers.telegram import telegram_group

    configs, _ = telegram_group(servers.get("telegram"), members)
    return [{**c.settings, "type": "telegram"} for c in configs]


def email(servers: Servers, members: int) -> list[dict[str, Any]]:
    """A mailbox per member on one Dovecot (IMAP IDLE), each mailing all of them."""
    from servers.dovecot import mailbox_config

    server = servers.get("mail")
    users = [f"bench{next(servers.names)}" for _ in range(members)]
    return [{**mailbox_config(server, user, users).settings, "type": "email"} for user in users]


def cmdchat(servers: Servers, members: int) -> list[dict[str, Any]]:
    """CMD-CHAT's real server, a username per member (it refuses one already connected)."""
    server = servers.get("cmdchat")
    os.environ[_PASSWORD_ENV] = server.password
    return [
        {
            "type": "cmdchat",
            "host": "127.0.0.1",
            "port": server.port,
            "username": f"pbridge-bench-{next(servers.names)}",
            "password_env": _PASSWORD_ENV,
        }
        for _ in range(members)
    ]


ENTRIES: dict[str, Callable[[Servers, int], list[dict[str, Any]]]] = {
    "files": files,
    "cmdchat": cmdchat,
    "matrix": matrix,
    "telegram": telegram,
    "email": email,
}


def not_listening(kind: str) -> str | None:
    """Why carrier type ``kind`` cannot be measured live on this branch, or None."""
    from pointerbridge.bridges.base import BridgeError, bridge_class

    try:
        bridge = bridge_class(kind)
    except (BridgeError, ImportError) as exc:
        return f"no {kind} carrier on this branch ({exc})"
    if not bridge.listens:
        return f"its bridge does not listen yet ({bridge.__module__}: listens = False)"
    return None
