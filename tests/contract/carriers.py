"""What a bridge provides to run the contract suite: a fresh carrier and a way to put
arbitrary text on it. Add a bridge by adding a factory here and its name to FACTORIES."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pointerbridge.home.config import CarrierConfig
from servers.dovecot import email_pair
from servers.synapse import matrix_room
from servers.telegram import BotApiServer, telegram_group


@dataclass
class CarrierUnderTest:
    """A fresh, empty carrier for one test: one member's config, the other member's (the
    same, unless the carrier needs an account each: a Telegram bot never sees its own posts)
    and a way to put text on it."""

    config: CarrierConfig
    inject: Callable[[str], None]  # put text on the carrier as a stranger or a person would
    peer: CarrierConfig | None = None
    close: Callable[[], None] = lambda: None  # stop what the factory started

    @property
    def other(self) -> CarrierConfig:
        """The config the second member uses."""
        return self.peer or self.config


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


FACTORIES: dict[str, Callable[[Path], CarrierUnderTest]] = {
    "email": _email,
    "files": _files,
    "matrix": _matrix,
    "telegram": _telegram,
}
