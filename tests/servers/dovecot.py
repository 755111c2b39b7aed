"""A real IMAP server and SMTP delivery on 127.0.0.1 for tests (see ../shared/recipes/email-dovecot.md).

Debian's Dovecot 2.3 serves IMAP and LMTP from a private config (nothing under /etc is
read); an aiosmtpd SMTP front (``smtp_front.py``, a process of its own), with AUTH like a
real submission server, hands each mail to Dovecot over LMTP and answers 250 only once
Dovecot has stored it, so a sent mail is visible over IMAP when the send returns. Any
user name logs in with the password :data:`PASSWORD`, so each test takes fresh
mailboxes. Run as root without Dovecot, the first use installs it from Debian's
packages; a server that cannot be had raises :class:`MailServerUnavailable` with the
reason: a test that needs it fails, never skips.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pointerbridge.home.config import CarrierConfig

from servers.tls import tls_certificates

PASSWORD = "secret"
DOMAIN = "mail.test"
_PACKAGES = ("dovecot-imapd", "dovecot-lmtpd")


class MailServerUnavailable(RuntimeError):
    """Dovecot could not be installed or started here; the message says why."""


def dovecot_binary() -> str:
    """Dovecot 2.3's path, installing Debian's packages first when root and it is missing."""
    from helpers import machine_lock

    with machine_lock("apt"):
        return _dovecot_binary()


def _dovecot_binary() -> str:
    found = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
    if not found:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise MailServerUnavailable(
                f"Dovecot is not installed and this is not root on Debian: apt-get install {' '.join(_PACKAGES)}"
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for step in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *_PACKAGES],
        ):
            done = subprocess.run(step, capture_output=True, text=True, env=env, timeout=600)
            if done.returncode != 0:
                raise MailServerUnavailable(f"{' '.join(step)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        found = shutil.which("dovecot") or "/usr/sbin/dovecot"
    version = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    if not version.startswith("2.3."):
        raise MailServerUnavailable(f"Dovecot {version or '(unknown)'} found; this configuration needs 2.3")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_CONFIG = """\
instance_name = pbtest-{imap}
base_dir = {run}
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{d}/mail/%n/Maildir
first_valid_uid = 1
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={d}/mail/%n allow_all_users=yes
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
protocol lmtp {{
  auth_username_format = %n
}}
"""


class MailServer:
    """Dovecot and its SMTP front; ``stop_imap`` and ``start_imap`` keep the mailboxes.

    With ``tls``, as a real provider: IMAP offers STARTTLS on ``imap_port`` and implicit
    TLS on ``imaps_port``; SMTP offers STARTTLS on ``smtp_starttls_port`` and implicit TLS
    on ``smtp_tls_port``, with a certificate from a CA of the test's own (``ca_file``)."""

    def __init__(self, *, tls: bool = False, settings: str = "") -> None:
        """Ports and folders; nothing runs until :meth:`start`. ``settings``: more lines
        of Dovecot's configuration (e.g. an ``imap_capability`` without IDLE)."""
        self.folder = Path(tempfile.mkdtemp(prefix="pbridge-dovecot-"))
        self.run_dir = Path(tempfile.mkdtemp(prefix="pbd-", dir="/tmp"))  # unix sockets: a short path
        self.imap_port, self.lmtp_port, self.smtp_port = _free_port(), _free_port(), _free_port()
        self.tls, self.settings = tls, settings
        self.imaps_port = _free_port() if tls else 0
        self.smtp_starttls_port, self.smtp_tls_port = (_free_port(), _free_port()) if tls else (0, 0)
        self.ca_file: Path | None = None
        self.config = self.folder / "dovecot.conf"
        self._dovecot: subprocess.Popen[bytes] | None = None
        self._smtp: subprocess.Popen[bytes] | None = None
        self.binary = ""

    def start(self) -> None:
        """Dovecot, then the SMTP front."""
        self.binary = dovecot_binary()
        for folder in (self.folder, self.run_dir):
            os.chmod(folder, 0o755)  # Dovecot's processes run as mail: they must get in
        (self.folder / "state").mkdir(exist_ok=True)
        (self.folder / "mail").mkdir(exist_ok=True)
        shutil.chown(self.folder / "mail", "mail", "mail")
        ssl_lines = "ssl = no"
        if self.tls:
            self.ca_file = tls_certificates(self.folder)
            ssl_lines = f"ssl = yes\nssl_cert = <{self.folder / 'cert.pem'}\nssl_key = <{self.folder / 'key.pem'}"
        self.config.write_text(
            _CONFIG.format(
                d=self.folder,
                run=self.run_dir,
                imap=self.imap_port,
                imaps=self.imaps_port,
                lmtp=self.lmtp_port,
                password=PASSWORD,
                ssl=ssl_lines,
            )
            + self.settings
        )
        self.start_imap()
        self._start_smtp()

    def start_imap(self, timeout: float = 30.0) -> None:
        """Run Dovecot in the foreground of a child process; wait until IMAP answers."""
        self._dovecot = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.config)],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._dovecot.poll() is not None:
                said = self._dovecot.stderr.read().decode(errors="replace") if self._dovecot.stderr else ""
                code = self._dovecot.returncode
                raise MailServerUnavailable(f"Dovecot exited with {code}: {said}\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.imap_port), timeout=1) as probe:
                    if probe.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop_imap()
        raise MailServerUnavailable(f"Dovecot did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop_imap(self) -> None:
        """Stop Dovecot and every process of its, open IMAP sessions included (the SMTP
        front then answers 451), and wait for the master to exit."""
        process, self._dovecot = self._dovecot, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # its own session: the imap processes too
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)
        if process is not None and process.stderr is not None:
            process.stderr.close()

    def stop(self) -> None:
        """Everything, and the folders."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.terminate()
            smtp.wait(timeout=20)
            if smtp.stderr is not None:
                smtp.stderr.close()
        self.stop_imap()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        shutil.rmtree(self.folder, ignore_errors=True)  # mailboxes, keys and the config with the password

    def __enter__(self) -> MailServer:
        """Started, for a ``with`` block (a module's fixture) that stops it at its end."""
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        """The end of Dovecot's log, for failure messages."""
        log = self.folder / "dovecot.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""

    def doveadm(self, *args: str) -> str:
        """Run ``doveadm`` against this server (e.g. to change a folder's UIDVALIDITY)."""
        done = subprocess.run(["doveadm", "-c", str(self.config), *args], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def deliver(self, user: str, mail: bytes, sender: str = f"someone@{DOMAIN}") -> None:
        """Put a mail straight into ``user``'s INBOX, as if from anyone."""
        with smtplib.LMTP("127.0.0.1", self.lmtp_port) as lmtp:
            lmtp.sendmail(sender, [f"{user}@{DOMAIN}"], mail)

    def _start_smtp(self, timeout: float = 30.0) -> None:
        script = Path(__file__).with_name("smtp_front.py")
        env = {**os.environ, "PBRIDGE_TEST_SMTP_PASSWORD": PASSWORD, "PYTHONWARNINGS": "ignore"}
        ports = [self.smtp_port, self.lmtp_port, *([self.smtp_starttls_port, self.smtp_tls_port] if self.tls else [])]
        if self.tls:
            env["PBRIDGE_TEST_SMTP_CERT"] = str(self.folder)
        self._smtp = subprocess.Popen(
            [sys.executable, str(script), *map(str, ports)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        waiting = [p for p in (self.smtp_port, self.smtp_starttls_port, self.smtp_tls_port) if p]
        while waiting and time.monotonic() < deadline:
            if self._smtp.poll() is not None:
                said = self._smtp.stderr.read().decode(errors="replace") if self._smtp.stderr else ""
                raise MailServerUnavailable(f"the SMTP front exited with {self._smtp.returncode}: {said[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", waiting[-1]), timeout=1):
                    waiting.pop()  # the front starts them in order: the last one listening means all are
                    waiting.clear()
            except OSError:
                time.sleep(0.05)
        if waiting:
            raise MailServerUnavailable(f"the SMTP front did not answer within {timeout:.0f} s")


_server: MailServer | None = None
_boxes = itertools.count()


def shared_mail_server() -> MailServer:
    """One mail server for the whole session (fresh mailboxes per test)."""
    global _server
    if _server is None:
        server = MailServer()
        server.start()
        atexit.register(server.stop)
        _server = server
    return _server


def mailbox_config(server: MailServer, user: str, members: list[str], **changes: Any) -> CarrierConfig:
    """An email carrier's config for ``user``'s own mailbox on ``server``, mailing ``members``."""
    variable = "PBRIDGE_TEST_MAIL_PASSWORD"
    os.environ[variable] = PASSWORD
    return CarrierConfig.model_validate(
        {
            "type": "email",
            "address": f"{user}@{DOMAIN}",
            "to": [f"{m}@{DOMAIN}" for m in members],
            "username": user,
            "password_env": variable,
            "imap_host": "127.0.0.1",
            "imap_port": server.imap_port,
            "imap_security": "none",
            "smtp_host": "127.0.0.1",
            "smtp_port": server.smtp_port,
            "smtp_security": "none",
            **changes,
        }
    )


def email_pair(max_pointer_chars: int = 2000) -> tuple[CarrierConfig, CarrierConfig, Callable[[str], None]]:
    """Two fresh mailboxes on the session's server, their carriers mailing each other, and a
    way for a stranger to mail text to the second one."""
    server = shared_mail_server()
    number = next(_boxes)
    alice, bob = f"alice{number}x{os.getpid()}", f"bob{number}x{os.getpid()}"
    configs = [mailbox_config(server, user, [alice, bob], max_pointer_chars=max_pointer_chars) for user in (alice, bob)]
    counter = itertools.count()

    def inject(text: str) -> None:  # a person writes to the member (a forward, a reply, spam)
        mail = (
            f"From: someone@{DOMAIN}\r\nTo: {bob}@{DOMAIN}\r\nSubject: hello {next(counter)}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        )
        server.deliver(bob, mail.encode("utf-8"))

    return configs[0], configs[1], inject
