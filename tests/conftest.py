"""Shared keys. Tests of derivation itself derive for real; the rest use raw keys."""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import raw_chat, raw_identity
from pointerbridge.core import ChatKey, Identity
from servers.telegram import BotApiServer

# The contract suite ships with the package as a plugin; tests/contract/conftest.py names
# the carriers it runs on.
pytest_plugins = ["pointerbridge.testing"]

# New identities in tests (every `pbridge init`, in-process or in a subprocess, which
# inherits this) use the smallest identity cost a recovery code can name, 64 MiB, instead
# of 512 MiB: hundreds of unlocks would otherwise add minutes. tests/test_keys2.py checks
# the default cost without it.
os.environ["PBRIDGE_IDENTITY_MEMORY_MIB"] = "64"


# Where each aiodns resolver of this process was made. aiodns is installed (slixmpp needs
# it), aiohttp takes it by default, and its pycares keeps a thread running for good once a
# resolver ends: every later test of the worker would then find reads no longer forking
# (app/opening.py). The failure named only the thread, far from its cause; this names the
# test, and the stack, that made one.
_RESOLVERS: list[str] = []


def _record_resolvers() -> None:
    import aiodns

    made = aiodns.DNSResolver.__init__

    def recording(self: aiodns.DNSResolver, *args: object, **kwargs: object) -> None:
        _RESOLVERS.append("".join(traceback.format_stack(limit=14)))
        made(self, *args, **kwargs)  # type: ignore[arg-type]

    aiodns.DNSResolver.__init__ = recording  # type: ignore[method-assign]


_record_resolvers()


@pytest.fixture(autouse=True)
def no_aiodns_resolver() -> Iterator[None]:
    """Fail the test during which this process made an aiodns resolver, with its stack."""
    before = len(_RESOLVERS)
    yield
    made = _RESOLVERS[before:]
    assert not made, "an aiodns resolver (pycares: a thread for good) was made here:\n" + made[0]


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """An empty 0700 folder for a files carrier that the test's homes share."""
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o700)
    return folder


@pytest.fixture
def bot_api() -> Iterator[BotApiServer]:
    """A Telegram Bot API test server of this test's own, with Telegram's rate limits."""
    api = BotApiServer()
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture(scope="session")
def chat() -> ChatKey:
    return raw_chat("general")


@pytest.fixture(scope="session")
def other_chat() -> ChatKey:
    return raw_chat("other")


@pytest.fixture(scope="session")
def alice() -> Identity:
    return raw_identity("alice")


@pytest.fixture(scope="session")
def bob() -> Identity:
    return raw_identity("bob")
