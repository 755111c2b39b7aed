"""Shared keys. Tests of derivation itself derive for real; the rest use raw keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import raw_chat, raw_identity
from pointerbridge.core import ChatKey, Identity
from servers.telegram import BotApiServer


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
