"""Shared keys. Tests of derivation itself derive for real; the rest use raw keys."""

from __future__ import annotations

import os
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
