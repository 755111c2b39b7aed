"""A CMD-CHAT room keeps no files (issue 21): sending one through it is refused with one
line that names the carrier and says what to do instead."""

from __future__ import annotations

from pathlib import Path

import pytest
from pointerbridge.bridges.base import ConfigurationError, bridge_class
from pointerbridge.cli.errors import exit_code


def test_a_cmdchat_carrier_refuses_files_and_says_what_to_do(tmp_path: Path) -> None:
    room = bridge_class("cmdchat").from_config("room", {"host": "127.0.0.1", "port": 9, "username": "alice-bot"})
    assert room.blob_limit is None
    source = tmp_path / "blob"
    source.write_bytes(b"ciphertext")
    with pytest.raises(ConfigurationError) as refused:
        room.put_blob(source, 10)  # refused at once: nothing connects (port 9 listens to no one)
    said = str(refused.value)
    assert said.startswith("carrier 'room': a cmdchat carrier keeps no files")
    assert "pbridge chat carriers CHAT --carrier room --carrier OTHER" in said
    assert "\n" not in said and exit_code(refused.value) == 24
    with pytest.raises(ConfigurationError, match="keeps no files"):
        room.get_blob("anything", tmp_path / "dest", 10)
    assert not (tmp_path / "dest").exists()
