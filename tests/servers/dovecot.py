"""A real IMAP server and SMTP delivery on 127.0.0.1 for tests (see ../shared/recipes/email-dovecot.md).

Dovecot serves IMAP and LMTP from a private config (nothing under /etc is read), in the
syntax of its version (2.3 or 2.4, dovecot_config.py): this machine's, or Debian 13's in a
root of its own (dovecot_install.py, ``$PBRIDGE_TEST_DOVECOT=2.4``). An aiosmtpd SMTP
front (``smtp_front.py``, a process of its own, the same for both), with AUTH like a real
submission server, hands each mail to Dovecot over LMTP and answers 250 only once Dovecot
has stored it, so a sent mail is visible over IMAP when the send returns. Any user name
logs in with the password :data:`PASSWORD`, so each test takes fresh mailboxes. Run as
root without Dovecot, the first use installs it from Debian's packages; a server that
cannot be had raises :class:`MailServerUnavailable` with the reason: a test that needs it
fails, never skips.
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
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pointerbridge.home.config import CarrierConfig

from servers.dovecot_config import Layout, dovecot_config
from servers.dovecot_install import Dovecot, MailServerUnavailable, chosen_dovecot, named_dovecot
from servers.tls import tls_certificates

PASSWORD = "secret"
DOMAIN = "mail.test"

__all__ = [
    "DOMAIN",
    "DOVECOTS",
    "PASSWORD",
    "Dovecot",
    "MailServer",
    "MailServerUnavailable",
    "email_pair",
    "mailbox_config",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MailServer:
    """Dovecot and its SMTP front; ``stop_imap`` and ``start_imap`` keep the mailboxes.

    With ``tls``, as a real provider: IMAP offers STARTTLS on ``imap_port`` and implicit
    TLS on ``imaps_port``; SMTP offers STARTTLS on ``smtp_starttls_port`` and implicit TLS
    on ``smtp_tls_port``, with a certificate from a CA of the test's own (``ca_file``)."""

    def __init__(self, *, tls: bool = False, settings: str = "", dovecot: Dovecot | None = None) -> None:
        """Ports, folders and which Dovecot (``$PBRIDGE_TEST_DOVECOT``'s unless given; installed
        or built on first use); nothing runs until :meth:`start`. ``settings``: more lines of
        Dovecot's configuration (e.g. an ``imap_capability`` without IDLE), in either syntax."""
        self.dovecot = dovecot or chosen_dovecot()
        self.folder = self.dovecot.folder("pbridge-dovecot-")
        self.run_dir = self.dovecot.folder("pbd-")  # unix sockets: a short path
        self.imap_port, self.lmtp_port, self.smtp_port = _free_port(), _free_port(), _free_port()
        self.tls, self.settings = tls, settings
        self.imaps_port = _free_port() if tls else 0
        self.smtp_starttls_port, self.smtp_tls_port = (_free_port(), _free_port()) if tls else (0, 0)
        self.ca_file: Path | None = None
        self.config = self.folder / "dovecot.conf"
        self._dovecot: subprocess.Popen[bytes] | None = None
        self._smtp: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Dovecot, then the SMTP front."""
        for folder in (self.folder, self.run_dir):
            os.chmod(folder, 0o755)  # Dovecot's processes run as mail: they must get in
        (self.folder / "state").mkdir(exist_ok=True)
        (self.folder / "mail").mkdir(exist_ok=True)
        shutil.chown(self.folder / "mail", "mail", "mail")
        if self.tls:
            self.ca_file = tls_certificates(self.folder)
        inside, ports = self.dovecot.inside, (self.imap_port, self.imaps_port, self.lmtp_port)
        layout = Layout(inside(self.folder), inside(self.run_dir), *ports, PASSWORD, self.tls)
        self.config.write_text(dovecot_config(self.dovecot.series, layout) + self.settings)
        self.start_imap()
        self._start_smtp()

    def start_imap(self, timeout: float = 30.0) -> None:
        """Run Dovecot in the foreground of a child process; wait until IMAP answers."""
        self._dovecot = subprocess.Popen(
            self.dovecot.command("dovecot", "-F", "-c", str(self.dovecot.inside(self.config))),
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
        command = self.dovecot.command("doveadm", "-c", str(self.dovecot.inside(self.config)), *args)
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
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


_servers: dict[str, MailServer] = {}
_boxes = itertools.count()
DOVECOTS = ("installed", "2.4")  # the Dovecots shared_mail_server runs: this machine's (or the env's) and 2.4


def shared_mail_server(which: str = DOVECOTS[0]) -> MailServer:
    """One mail server per Dovecot for the whole session (fresh mailboxes per test):
    ``which`` "2.4" is Debian 13's, anything else ``$PBRIDGE_TEST_DOVECOT``'s."""
    if which not in _servers:
        server = MailServer(dovecot=named_dovecot(which))
        server.start()
        atexit.register(server.stop)
        _servers[which] = server
    return _servers[which]


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


def email_pair(
    max_pointer_chars: int = 2000, server: MailServer | None = None
) -> tuple[CarrierConfig, CarrierConfig, Callable[[str], None]]:
    """Two fresh mailboxes on ``server`` (the session's by default), their carriers mailing
    each other, and a way for a stranger to mail text to the second one."""
    server = server or shared_mail_server()
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
