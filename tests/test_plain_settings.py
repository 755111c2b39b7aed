"""Network carriers' settings taken without pydantic (bridges/plain_settings.py) are exactly
what the bridge's pydantic model makes of them, and anything the model would coerce or
refuse is left to it: table by table, each path's outcome compared."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pointerbridge.bridges.base import bridge_class
from pointerbridge.bridges.matrix import MatrixSettings
from pointerbridge.bridges.telegram import TelegramSettings
from pointerbridge.core import PointerBridgeError

TELEGRAM = {"token_env": "TG_TOKEN", "chat_id": -100123}
TELEGRAM_TABLES = [
    TELEGRAM,
    {"token_file": "/run/tg.token", "chat_id": 5},
    {**TELEGRAM, "private_from": [1, 2], "base_url": "http://127.0.0.1:9/bot", "base_file_url": "https://x/file/bot"},
    {**TELEGRAM, "max_pointer_chars": 500, "post_interval": 0, "timeout": 0.5, "max_retry_wait": 120},
    {**TELEGRAM, "max_pointer_chars": 4096, "post_interval": 60.0, "timeout": 300, "max_retry_wait": 0.0},
    {**TELEGRAM, "token_file": "/run/tg.token"},  # two credentials
    {"chat_id": 5},  # none
    {"token_env": "TG_TOKEN"},  # no chat
    {**TELEGRAM, "chat_id": "-100123"},  # pydantic coerces
    {**TELEGRAM, "chat_id": True},
    {**TELEGRAM, "chat_id": 1.0},
    {**TELEGRAM, "chat_id": 2**70},
    {**TELEGRAM, "private_from": [True]},
    {**TELEGRAM, "private_from": ["7"]},
    {**TELEGRAM, "private_from": 7},
    {**TELEGRAM, "base_url": "ftp://x/bot"},
    {**TELEGRAM, "base_url": "https://x/bot\n"},
    {**TELEGRAM, "base_url": 5},
    {**TELEGRAM, "max_pointer_chars": 499},
    {**TELEGRAM, "max_pointer_chars": 4097},
    {**TELEGRAM, "max_pointer_chars": 1000.0},
    {**TELEGRAM, "post_interval": -0.1},
    {**TELEGRAM, "post_interval": float("nan")},
    {**TELEGRAM, "post_interval": "1"},
    {**TELEGRAM, "post_interval": False},
    {**TELEGRAM, "timeout": 0},
    {**TELEGRAM, "timeout": 300.5},
    {**TELEGRAM, "max_retry_wait": float("inf")},
    {**TELEGRAM, "token_env": 5},
    {**TELEGRAM, "token_file": ""},
    {**TELEGRAM, "unknown": 1},
    {**TELEGRAM, "proxy": "socks5h://127.0.0.1:9050"},
    {**TELEGRAM, "proxy": "socks5h://[::1]:1080"},
    {**TELEGRAM, "proxy": "socks5h://localhost:9050"},
    {**TELEGRAM, "proxy": "socks5://127.0.0.1:9050"},  # names would be looked up here
    {**TELEGRAM, "proxy": "socks5h://tor.example:9050"},  # looking the proxy up goes around it
    {**TELEGRAM, "proxy": "socks5h://127.0.0.1:0"},
    {**TELEGRAM, "proxy": "socks5h://127.0.0.1:9050/"},  # pydantic writes it without the slash
    {**TELEGRAM, "proxy": "socks5h://[0:0::1]:1080"},  # and the address in its short form
    {**TELEGRAM, "proxy": "http://127.0.0.1:8080"},
    {**TELEGRAM, "proxy": 9050},
]
MATRIX = {
    "homeserver": "https://matrix.example.org",
    "user_id": "@bot:example.org",
    "device_id": "ABCDEF",
    "access_token_env": "MX_TOKEN",
    "room_id": "!room:example.org",
}
MATRIX_TABLES = [
    MATRIX,
    {**MATRIX, "homeserver": "http://127.0.0.1:8008", "room_id": "!opaque", "start": "history", "msgtype": "m.notice"},
    {**MATRIX, "max_pointer_chars": 1000, "post_interval": 2, "timeout": 1, "max_retry_wait": 0},
    {**{k: v for k, v in MATRIX.items() if k != "access_token_env"}, "access_token_file": "/run/mx.token"},
    {**MATRIX, "max_pointer_chars": 32_000, "post_interval": 60.0, "user_id": "@a b:c"},
    {**MATRIX, "access_token_file": "/run/mx.token"},
    {k: v for k, v in MATRIX.items() if k != "access_token_env"},
    {k: v for k, v in MATRIX.items() if k != "room_id"},
    {**MATRIX, "homeserver": "matrix.example.org"},
    {**MATRIX, "user_id": "bot:example.org"},
    {**MATRIX, "user_id": "@bot"},
    {**MATRIX, "user_id": "@bot:example.org\n"},
    {**MATRIX, "user_id": "@:example.org"},
    {**MATRIX, "device_id": ""},
    {**MATRIX, "device_id": 5},
    {**MATRIX, "room_id": "#alias:example.org"},
    {**MATRIX, "room_id": "!"},
    {**MATRIX, "start": "later"},
    {**MATRIX, "msgtype": "m.emote"},
    {**MATRIX, "max_pointer_chars": 999},
    {**MATRIX, "max_pointer_chars": 32_001},
    {**MATRIX, "max_pointer_chars": "2000"},
    {**MATRIX, "post_interval": True},
    {**MATRIX, "timeout": -1},
    {**MATRIX, "unknown": 1},
    {**MATRIX, "proxy": "socks5h://127.0.0.1:9050"},
    {**MATRIX, "proxy": "socks5h://user:pw@127.0.0.1:9050"},  # no password in config.toml
    {**MATRIX, "proxy": "socks5h://127.0.0.1"},
]
TABLES = [("telegram", t) for t in TELEGRAM_TABLES] + [("matrix", t) for t in MATRIX_TABLES]
PLAIN_TYPES: dict[str, type] = {"telegram": TelegramSettings, "matrix": MatrixSettings}


def _outcome(validate: Callable[[], object]) -> object:
    try:
        return validate()
    except (ValueError, PointerBridgeError) as exc:  # pydantic's ValidationError; the bridge's refusal
        return type(exc).__name__


@pytest.mark.parametrize(("kind", "table"), TABLES)
def test_plainly_valid_settings_are_what_pydantic_makes_of_them(kind: str, table: dict[str, Any]) -> None:
    bridge, plain_type = bridge_class(kind), PLAIN_TYPES[kind]
    through_pydantic = _outcome(lambda: plain_type(**bridge.Settings.model_validate(table).model_dump()))
    plain = bridge.plain_settings(table)
    if plain is not None:
        assert plain == through_pydantic
    assert _outcome(lambda: bridge.from_config("c", table).settings) in (through_pydantic, "ConfigurationError")


@pytest.mark.parametrize("kind", sorted({kind for kind, _ in TABLES}))
def test_the_tables_take_both_paths(kind: str) -> None:
    # Each type's list must exercise both paths, or it proves nothing about the plain one.
    tables = [t for k, t in TABLES if k == kind]
    plain = sum(bridge_class(kind).plain_settings(t) is not None for t in tables)
    assert 4 <= plain <= len(tables) - 10
