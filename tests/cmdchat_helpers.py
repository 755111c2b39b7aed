"""What the CMD-CHAT tests share: the room's password, a faithful server of each test's own
(a module's ``server`` fixture) and a bot's settings on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pointerbridge.bridges.base import bridge_class
from pointerbridge.bridges.cmdchat import CmdChatBridge
from servers.cmdchat import CmdChatServer

PASSWORD = "room password"
PASSWORD_ENV = "CMDCHAT_TEST_PASSWORD"  # the tests set it to PASSWORD (monkeypatch)


def server_fixture() -> Callable[[], Iterator[CmdChatServer]]:
    """A test module's ``server`` fixture (``server = server_fixture()``): a CMD-CHAT
    server on 127.0.0.1 of each test's own, its room's password ``PASSWORD``."""

    @pytest.fixture
    def server() -> Iterator[CmdChatServer]:
        made = CmdChatServer(PASSWORD).start()
        yield made
        made.close()

    return server


def bot_settings(port: int, username: str) -> dict[str, Any]:
    """A CMD-CHAT carrier's settings: ``username``'s bot in the room on ``port``, its
    password read from ``PASSWORD_ENV``."""
    return {"host": "127.0.0.1", "port": port, "username": username, "password_env": PASSWORD_ENV}


def bot(port: int, username: str, /, **settings: Any) -> CmdChatBridge:
    """``username``'s bot as carrier ``c``, with :func:`bot_settings` changed by ``settings``
    (any of them: ``port`` too)."""
    built = bridge_class("cmdchat").from_config("c", bot_settings(port, username) | settings)
    assert isinstance(built, CmdChatBridge)
    return built
