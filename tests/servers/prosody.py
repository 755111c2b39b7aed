"""A real Prosody (XMPP server) on 127.0.0.1 for tests.

Debian's ``prosody`` runs from a private config and data directory in a temporary folder
(the system's /etc/prosody and /var/lib/prosody are never read or written), on free ports:
client connections (c2s) on ``c2s_port``, with encryption not required since it is
loopback; a MUC component ``muc.localhost`` whose rooms are archived (mod_muc_mam,
XEP-0313) and persistent; optionally an external component (XEP-0114) for the gateway.
Users are registered with ``prosodyctl register``. Run as root without Prosody, the
first use installs it from Debian's packages; a server that cannot be had raises
:class:`XmppServerUnavailable` with the reason: a test that needs it fails, never skips.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pointerbridge.home.config import CarrierConfig

DOMAIN = "localhost"
MUC = "muc.localhost"
PASSWORD = "secret"  # every test user's; tests pass it by reference (an environment variable)
_PACKAGES = ("prosody",)


class XmppServerUnavailable(RuntimeError):
    """Prosody could not be installed or started here; the message says why."""


def prosody_binary() -> str:
    """Prosody's path, installing Debian's package first when root and it is missing."""
    from helpers import apt_install, machine_lock

    with machine_lock("apt"):
        found = shutil.which("prosody")
        if found:
            return found
        failed = apt_install(*_PACKAGES)
        if failed:
            raise XmppServerUnavailable(f"Prosody is missing and cannot be installed: {failed}")
        # The package starts the system's own Prosody; the tests never use it, and it holds 5222.
        subprocess.run(["systemctl", "stop", "prosody"], capture_output=True, timeout=60, check=False)
        return shutil.which("prosody") or "/usr/bin/prosody"


def free_port() -> int:
    """A TCP port nothing listens on at the moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_CONFIG = """\
-- A test's private Prosody; nothing here is read from or written to the system's.
run_as_root = true
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
plugin_paths = {{ }}
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{d}/prosody.log" }} }}
modules_enabled = {{ "disco"; "roster"; "saslauth"; "ping"; "register"; "posix"; {tls_module} }}
modules_disabled = {{ "s2s"; {disabled} }}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
c2s_direct_tls_ports = {{ }}
c2s_require_encryption = {require_tls}
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"
certificates = "{d}"
{settings}
{components_global}
VirtualHost "{domain}"
{virtualhost_ssl}
Component "{muc}" "muc"
    modules_enabled = {{ "muc_mam" }}
    muc_log_by_default = true
    muc_log_all_rooms = true
    muc_room_default_persistent = true
    muc_room_locking = false
    restrict_room_creation = false
    storage_archive_item_limit = 100000
    muc_log_expires_after = "never"
{component}
"""


class XmppServer:
    """One Prosody; ``stop`` and ``start`` again keep its users, rooms and archives
    (the outage tests), ``close`` also removes its folder.

    ``component``: a subdomain (e.g. ``pbridge.localhost``) served by an external component
    (XEP-0114) connecting on ``component_port`` with ``component_secret``.
    ``tls``: STARTTLS offered and required on c2s, with a certificate for ``localhost``
    and 127.0.0.1 from a CA of the test's own (``ca_file``).
    ``offline``: whether Prosody stores messages for users who are offline (mod_offline);
    the gateway's set-up (deploy/prosody/pbridge-gateway.cfg.lua) turns it off, as it keeps
    the users' own message archive (mod_mam) off, which no test server here turns on."""

    def __init__(self, *, component: str = "", tls: bool = False, settings: str = "", offline: bool = True) -> None:
        """Ports and folders; nothing runs until :meth:`start`. ``settings``: more lines
        of Prosody's global configuration (e.g. ``c2s_stanza_size_limit = 20000``)."""
        self.folder = Path(tempfile.mkdtemp(prefix="pbridge-prosody-"))
        self.c2s_port = free_port()
        self.component, self.tls, self.settings, self.offline = component, tls, settings, offline
        self.component_port = free_port() if component else 0
        self.component_secret = "component-secret-" + os.urandom(6).hex() if component else ""
        self.ca_file: Path | None = None
        self.config = self.folder / "prosody.cfg.lua"
        self.binary = ""
        self._process: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> None:
        virtualhost_ssl = ""
        if self.tls:
            from servers.tls import tls_certificates

            self.ca_file = tls_certificates(self.folder)
            virtualhost_ssl = f'    ssl = {{ certificate = "{self.folder}/cert.pem"; key = "{self.folder}/key.pem" }}'
        components_global = component = ""
        if self.component:
            components_global = (
                f'component_ports = {{ {self.component_port} }}\ncomponent_interfaces = {{ "127.0.0.1" }}'
            )
            component = f'Component "{self.component}"\n    component_secret = "{self.component_secret}"'
        self.config.write_text(
            _CONFIG.format(
                d=self.folder,
                c2s=self.c2s_port,
                tls_module='"tls";' if self.tls else "",
                require_tls="true" if self.tls else "false",
                settings=self.settings,
                components_global=components_global,
                domain=DOMAIN,
                virtualhost_ssl=virtualhost_ssl,
                muc=MUC,
                component=component,
                disabled="" if self.offline else '"offline"',
            )
        )
        os.chmod(self.config, 0o600)  # holds the component's secret
        (self.folder / "data").mkdir(mode=0o700, exist_ok=True)

    def start(self, timeout: float = 30.0) -> None:
        """Run Prosody in the foreground of a child process; wait until c2s (and the
        component port) answer."""
        if not self.binary:
            self.binary = prosody_binary()
            self._write_config()
        self._process = subprocess.Popen(
            [self.binary, "--config", str(self.config), "-F"],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        waiting = [p for p in (self.c2s_port, self.component_port) if p]
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            if self._process.poll() is not None:
                said = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise XmppServerUnavailable(
                    f"Prosody exited with {self._process.returncode}: {said[-2000:]}\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", waiting[-1]), timeout=1):
                    waiting.pop()
            except OSError:
                time.sleep(0.05)
        if waiting:
            self.stop()
            raise XmppServerUnavailable(f"Prosody did not listen within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop Prosody (its data stays) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)
        if process.stderr is not None:
            process.stderr.close()

    @property
    def data(self) -> Path:
        """Prosody's data directory (accounts, rosters, archives, offline messages)."""
        return self.folder / "data"

    @property
    def running(self) -> bool:
        """Whether this object's Prosody process is alive."""
        return self._process is not None and self._process.poll() is None

    def close(self) -> None:
        """Stop, and remove the folder (config, data, keys)."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> XmppServer:
        """Started, for a ``with`` block (a module's fixture) that closes it at its end."""
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def register(self, user: str, password: str = PASSWORD) -> str:
        """Create ``user`` on :data:`DOMAIN`; returns the JID. The password goes to
        prosodyctl as an argument: this is a throwaway test server's throwaway password."""
        done = subprocess.run(
            ["prosodyctl", "--config", str(self.config), "register", user, DOMAIN, password],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise XmppServerUnavailable(f"prosodyctl register {user}: {done.stdout[-1000:]}{done.stderr[-1000:]}")
        return f"{user}@{DOMAIN}"

    def log_tail(self, lines: int = 30) -> str:
        """The end of Prosody's log, for failure messages."""
        log = self.folder / "prosody.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


_server: XmppServer | None = None
_rooms = itertools.count()


def shared_xmpp_server() -> XmppServer:
    """One Prosody for the whole test process (fresh accounts and rooms per test)."""
    global _server
    if _server is None:
        server = XmppServer()
        server.start()
        atexit.register(server.close)
        _server = server
    return _server


def bot_config(server: XmppServer, user: str, room: str, **changes: Any) -> CarrierConfig:
    """An XMPP carrier's config for the account ``user`` (registered here) in ``room``,
    over plain c2s on 127.0.0.1, the password in an environment variable."""
    variable = "PBRIDGE_TEST_XMPP_PASSWORD"
    os.environ[variable] = PASSWORD
    server.register(user)
    settings = {
        "type": "xmpp",
        "jid": f"{user}@{DOMAIN}",
        "password_env": variable,
        "room": room,
        "host": "127.0.0.1",
        "port": server.c2s_port,
        "security": "none",
        **changes,
    }
    return CarrierConfig.model_validate(settings)


def say(config: CarrierConfig, text: str) -> str:
    """Post ``text`` to the room as the account of ``config`` (a person typing); returns its archive id."""
    from pointerbridge.bridges.xmpp import XmppBridge

    bridge = XmppBridge.from_config("person", config.settings)
    try:
        return bridge.post(text)
    finally:
        bridge.close()


def xmpp_room(max_pointer_chars: int = 2000) -> tuple[CarrierConfig, CarrierConfig, Callable[[str], None]]:
    """A fresh room on the session's Prosody with two bots' configs (Alice's and Bob's
    accounts), and a way for a third account, a person, to type text into it. The person
    joins first: that creates the room (persistent, archived, as the test config says)."""
    server = shared_xmpp_server()
    number = f"{next(_rooms)}x{os.getpid()}"
    room = f"room{number}@{MUC}"
    person = bot_config(server, f"person{number}", room)
    say(person, "hello, this room is for pointers")
    alice, bob = (
        bot_config(server, f"{who}{number}", room, max_pointer_chars=max_pointer_chars) for who in ("alice", "bob")
    )

    def inject(text: str) -> None:  # a person in the room types (or pastes) this
        say(person, text)

    return alice, bob, inject
