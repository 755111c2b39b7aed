"""The SMTP front of the tests' mail server, run as a process of its own (``python
smtp_front.py SMTP_PORT LMTP_PORT``): an aiosmtpd server with AUTH, like a real
submission server, that hands each mail to Dovecot over LMTP and answers 250 only once
Dovecot has stored it; recipients named ``refused...`` or ``deferred...`` are
refused for good (550) or for now (452). A process, not a thread: the app forks readers only while it runs
no other thread, and a server thread living through the whole test session would change
that for every test after the first mail one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import smtplib
import ssl
import sys
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class _Relay:
    def __init__(self, lmtp_port: int) -> None:
        self.lmtp_port = lmtp_port

    async def handle_RCPT(self, _server: Any, _session: Any, envelope: Any, address: str, _options: list[str]) -> str:
        # As a real server answers an unknown or over-quota mailbox: by the address's name.
        if address.startswith("refused"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("deferred"):
            return "452 4.2.2 mailbox full, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        loop = asyncio.get_running_loop()
        for rcpt in envelope.rcpt_tos:  # smtplib.LMTP reads one reply per DATA: one recipient at a time
            try:
                await loop.run_in_executor(None, self._deliver, envelope.mail_from, rcpt, envelope.content)
            except smtplib.SMTPResponseException as exc:
                return f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
            except (OSError, smtplib.SMTPException):
                return "451 4.4.1 the mailbox server is unavailable"
        return "250 OK delivered"

    def _deliver(self, sender: str, rcpt: str, content: bytes) -> None:
        with smtplib.LMTP("127.0.0.1", self.lmtp_port) as lmtp:
            lmtp.sendmail(sender, [rcpt], content)


def main(smtp_port: int, lmtp_port: int, password: str, tls_ports: list[int], certs: str | None) -> None:
    """Serve until SIGTERM: plain SMTP on ``smtp_port``; with ``certs`` (a folder with
    cert.pem and key.pem) also STARTTLS on ``tls_ports[0]`` and implicit TLS on ``tls_ports[1]``."""

    def authenticate(_server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == password.encode()
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 235 or 535 itself

    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's note on AUTH without TLS, per mail
    relay = _Relay(lmtp_port)
    common: dict[str, Any] = {"hostname": "127.0.0.1", "authenticator": authenticate, "auth_required": True}
    controllers = [Controller(relay, port=smtp_port, auth_require_tls=False, **common)]
    if certs is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(os.path.join(certs, "cert.pem"), os.path.join(certs, "key.pem"))
        controllers += [
            Controller(relay, port=tls_ports[0], tls_context=context, require_starttls=True, **common),
            _ImplicitTls(relay, port=tls_ports[1], ssl_context=context, auth_require_tls=False, **common),
        ]
    for controller in controllers:
        controller.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    for controller in controllers:
        controller.stop()


class _ImplicitTls(Controller):
    """A controller whose readiness check speaks TLS without checking the test certificate
    (aiosmtpd's own would fail on a CA it does not know)."""

    def _trigger_server(self) -> None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # its own test certificate
        import socket

        with (
            socket.create_connection((self.hostname, self.port), 1.0) as raw,
            context.wrap_socket(raw, server_hostname=self.hostname) as conn,
        ):
            conn.recv(1024)


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # for sigwait, in every thread
    main(
        int(sys.argv[1]),
        int(sys.argv[2]),
        os.environ["PBRIDGE_TEST_SMTP_PASSWORD"],
        [int(p) for p in sys.argv[3:]],
        os.environ.get("PBRIDGE_TEST_SMTP_CERT"),
    )
