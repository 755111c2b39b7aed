"""What a bridge provides to run the contract suite: a fresh carrier and a way to put
arbitrary text on it. Add a built-in bridge by adding a factory here and its name to
FACTORIES (an out-of-tree bridge implements the same hook in its own conftest.py)."""

from __future__ import annotations

from pathlib import Path

from pointerbridge.home.config import CarrierConfig
from pointerbridge.testing import CarrierFactory, CarrierUnderTest
from servers.dovecot import email_pair
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


def _email(tmp_path: Path) -> CarrierUnderTest:
    alice, bob, inject = email_pair()  # a mailbox each, on one Dovecot for the session
    return CarrierUnderTest(alice, inject, bob)


FACTORIES: dict[str, CarrierFactory] = {
    "email": _email,
    "files": _files,
    "matrix": _matrix,
    "telegram": _telegram,
}
