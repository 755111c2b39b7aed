"""The SMTP front of the tests' mail server, run as a process of its own (``python
smtp_front.py SMTP_PORT LMTP_PORT``): an aiosmtpd server with AUTH, like a real
submission server, that hands each mail to Dovecot over LMTP and answers 250 only once
Dovecot has stored it. A process, not a thread: the app forks readers only while it runs
no other thread, and a server thread living through the whole test session would change
that for every test after the first mail one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import smtplib
import sys
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class _Relay:
    def __init__(self, lmtp_port: int) -> None:
        self.lmtp_port = lmtp_port

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


def main(smtp_port: int, lmtp_port: int, password: str) -> None:
    """Serve until SIGTERM."""
    def authenticate(_server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == password.encode()
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 235 or 535 itself

    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's note on AUTH without TLS, per mail
    controller = Controller(_Relay(lmtp_port), hostname="127.0.0.1", port=smtp_port, authenticator=authenticate,
                            auth_required=True, auth_require_tls=False)
    controller.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # for sigwait, in every thread
    main(int(sys.argv[1]), int(sys.argv[2]), os.environ["PBRIDGE_TEST_SMTP_PASSWORD"])
