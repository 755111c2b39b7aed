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


class TelegramServer:
    """The suite's Bot API server (tests/servers/telegram.py) in a process of its own, so
    that its work is not counted as the bench's: it makes groups of bots on request."""

    def __init__(self) -> None:
        """Not started yet."""
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # nothing of this process's threads or servers
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_telegram, args=(child,), daemon=True)

    def start(self) -> None:
        """Start the process and wait until its server listens."""
        self._process.start()
        try:
            ready = self._conn.poll(60) and self._conn.recv() == "ready"
        except EOFError:  # the process ended first (its error is on stderr)
            ready = False
        if not ready:
            raise RuntimeError(f"the test Bot API server did not start in its process (exit {self._process.exitcode})")

    def group(self, members: int) -> list[dict[str, Any]]:
        """A fresh supergroup with ``members`` bots: each bot's carrier settings (its token
        put in this process's environment, where the settings say)."""
        self._conn.send(members)
        settings, tokens = self._conn.recv()
        os.environ.update(tokens)
        return list(settings)

    def stop(self) -> None:
        """End the process."""
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()


def _serve_telegram(conn: Any) -> None:
    from servers.telegram import BotApiServer, telegram_group

    server = BotApiServer(rate_limits=False)
    server.start()
    conn.send("ready")
    while (members := conn.recv()) is not None:
        configs, _ = telegram_group(server, members)
        settings = [{**c.settings, "type": "telegram"} for c in configs]
        conn.send((settings, {s["token_env"]: os.environ[s["token_env"]] for s in settings}))
    server.stop()


def _telegram_server(servers: Servers) -> Any:
    return TelegramServer()


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
    server: TelegramServer = servers.get("telegram")
    return server.group(members)


def email(servers: Servers, members: int) -> list[dict[str, Any]]:
    """A mailbox per member on one Dovecot (IMAP IDLE), each mailing all of them (a lone
    member mails a peer that never reads: a carrier must mail someone but itself)."""
    from servers.dovecot import mailbox_config

    server = servers.get("mail")
    users = [f"bench{next(servers.names)}" for _ in range(members)]
    to = users if members > 1 else [*users, f"{users[0]}peer"]
    return [{**mailbox_config(server, user, to).settings, "type": "email"} for user in users]


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
