"""What a bridge provides to run the contract suite: a fresh carrier and a way to put
arbitrary text on it. Add a built-in bridge by adding a factory here and its name to
FACTORIES (an out-of-tree bridge implements the same hook in its own conftest.py)."""

from __future__ import annotations

from pathlib import Path

from pointerbridge.home.config import CarrierConfig
from pointerbridge.testing import CarrierFactory, CarrierUnderTest
from servers.cmdchat import CmdChatServer, RawClient
from servers.dovecot import email_pair, shared_mail_server
from servers.prosody import xmpp_room
from servers.synapse import matrix_room
from servers.telegram import BotApiServer, telegram_group


def _files(tmp_path: Path) -> CarrierUnderTest:
    folder = tmp_path / "shared-folder"
    folder.mkdir()
    counter = iter(range(10**6))

    def inject(text: str) -> None:
        (folder / f"zz-foreign-{next(counter)}.txt").write_text(text, encoding="utf-8")

    config = CarrierConfig.model_validate({"type": "files", "path": str(folder), "max_pointer_chars": 2000})
    return CarrierUnderTest(config, inject)


def _matrix(tmp_path: Path) -> CarrierUnderTest:
    config, inject = matrix_room()
    return CarrierUnderTest(config, inject)


def _telegram(tmp_path: Path) -> CarrierUnderTest:
    # A server per test, without rate limits (the pacing has tests of its own): its thread
    # must not outlive the test, or forking readers elsewhere would see a second thread.
    server = BotApiServer(rate_limits=False)
    server.start()
    (alice, bob), say = telegram_group(server, 2)
    return CarrierUnderTest(alice, say, bob, server.stop)


def _cmdchat(tmp_path: Path) -> CarrierUnderTest:
    server = CmdChatServer("contract room").start()  # a server per test: its backlog is the carrier
    secret = tmp_path / "cmdchat-password"
    secret.write_text("contract room\n", encoding="utf-8")
    secret.chmod(0o600)
    base = {"type": "cmdchat", "host": "127.0.0.1", "port": server.port, "password_file": str(secret)}
    alice = CarrierConfig.model_validate({**base, "username": "alice-bot", "max_pointer_chars": 2000})
    bob = CarrierConfig.model_validate({**base, "username": "bob-bot", "max_pointer_chars": 2000})

    def inject(text: str) -> None:  # a person in the room types it into CMD-CHAT's client
        person = RawClient(server.port, "a person", "contract room")
        person.say(text)
        person.next_message()  # the echo: stored on the server
        person.close()

    return CarrierUnderTest(alice, inject, bob, server.close)


def _email(tmp_path: Path) -> CarrierUnderTest:
    alice, bob, inject = email_pair()  # a mailbox each, on one Dovecot for the session
    return CarrierUnderTest(alice, inject, bob)


def _email_dovecot24(tmp_path: Path) -> CarrierUnderTest:
    alice, bob, inject = email_pair(server=shared_mail_server("2.4"))  # Debian 13's Dovecot
    return CarrierUnderTest(alice, inject, bob)


def _xmpp(tmp_path: Path) -> CarrierUnderTest:
    alice, bob, inject = xmpp_room()  # a fresh room and accounts on one Prosody for the session
    return CarrierUnderTest(alice, inject, bob)


FACTORIES: dict[str, CarrierFactory] = {
    "cmdchat": _cmdchat,
    "email": _email,
    "email-dovecot2.4": _email_dovecot24,
    "files": _files,
    "matrix": _matrix,
    "telegram": _telegram,
    "xmpp": _xmpp,
}
