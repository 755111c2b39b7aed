"""A real Prosody on 127.0.0.1 for the gateway's test, with an external component port
(XEP-0114), configured as deploy/prosody/pbridge-gateway.cfg.lua advises: no message
archive (mod_mam) and no offline store on the user's host. (With them on, Prosody archives
what the user's own client sends, which no hint of the gateway's can stop.) Debian's
``prosody``, a private config in a folder of the test's own; users registered with
``prosodyctl``.

Run as root, Prosody's ``prosodyctl`` reads and writes as the ``prosody`` user: the
server's folder is made in /tmp (pytest's are root's only) and given to it. The server
itself runs in the foreground without mod_posix (which refuses root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from helpers import debian_command, wait_for


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Prosody:
    """A running Prosody: its folder (config, data, log), its ports, the component's
    domain and secret."""

    folder: Path
    c2s_port: int
    component_port: int
    domain: str
    component: str
    component_secret: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        """Prosody's data directory (accounts, rosters, archives, offline messages)."""
        return self.folder / "data"

    def start(self) -> None:
        prosody = debian_command("prosody", "prosody")
        self.data.mkdir(mode=0o700)
        (self.folder / "prosody.cfg.lua").write_text(
            f"""
daemonize = false
pidfile = "{self.folder}/prosody.pid"
data_path = "{self.data}"
log = {{ info = "{self.folder}/prosody.log" }}
modules_enabled = {{ "roster", "saslauth", "disco", "ping", "presence" }}
modules_disabled = {{ "s2s", "tls", "posix", "mam", "offline" }}
c2s_ports = {{ {self.c2s_port} }}
c2s_interfaces = {{ "127.0.0.1" }}
component_ports = {{ {self.component_port} }}
component_interfaces = {{ "127.0.0.1" }}
http_ports = {{}}
https_ports = {{}}
s2s_ports = {{}}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"
VirtualHost "{self.domain}"
Component "{self.component}"
    component_secret = "{self.component_secret}"
"""
        )
        if os.geteuid() == 0:
            for path in (self.folder, self.data, self.folder / "prosody.cfg.lua"):
                shutil.chown(path, "prosody", "prosody")
        self.process = subprocess.Popen(
            [prosody, "--config", str(self.folder / "prosody.cfg.lua"), "-F"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: self._listening(self.c2s_port) and self._listening(self.component_port), "prosody listening")

    def register(self, user: str, password: str) -> None:
        """Make the account ``user@domain`` (before or while the server runs)."""
        done = subprocess.run(
            ["prosodyctl", "--config", str(self.folder / "prosody.cfg.lua"), "register", user, self.domain, password],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def stop(self) -> None:
        """Stop the server (its folder stays, for the test to search)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    @staticmethod
    def _listening(port: int) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0


def start_prosody(component: str, component_secret: str) -> Prosody:
    """A Prosody serving ``localhost`` and the component ``component``, started, in a
    folder of its own (:meth:`Prosody.remove` deletes it)."""
    folder = Path(tempfile.mkdtemp(prefix="pbridge-prosody-"))
    server = Prosody(folder, _free_port(), _free_port(), "localhost", component, component_secret)
    server.start()
    return server
