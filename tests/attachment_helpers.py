"""What the attachment tests share (issue 21): a file with a plaintext marker in it, the
pointer that carries an attachment from one member to another, and the checks that nothing
plaintext or temporary is left in a home."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from console_helpers import PHRASES, opened
from pointerbridge.app.models import UnlockedChat
from pointerbridge.core.content import Attachment
from pointerbridge.core.pointer import Message, unseal
from pointerbridge.core.pointer2 import new_stream, seal_content
from pointerbridge.home.config import Home

__all__ = ["MARKER", "SIZE", "carried", "marked_file", "no_plaintext", "temp_empty"]

MARKER = b"PLAINTEXT-MARKER-7f3a9c"
SIZE = 5 * 1024 * 1024


def marked_file(folder: Path, name: str = "holiday photo.jpg", size: int = SIZE) -> Path:
    """A file of ``size`` random bytes with the marker in every 64 KiB."""
    data = bytearray(os.urandom(size))
    for at in range(0, size - len(MARKER), 65536):
        data[at : at + len(MARKER)] = MARKER
    path = folder / name
    path.write_bytes(bytes(data))
    return path


def _files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def no_plaintext(*roots: Path) -> None:
    """No file under ``roots`` holds the marker."""
    holding = [p for p in _files_under(*roots) if MARKER in p.read_bytes()]
    assert holding == []


def temp_empty(home: Home) -> None:
    """The home's tmp folder is absent, or empty and 0700."""
    folder = home.data_dir / "tmp"
    assert not folder.exists() or list(folder.iterdir()) == []
    if folder.exists():
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def carried(alice: Home, chat: UnlockedChat, attachment: Attachment, bob_chat: UnlockedChat) -> Attachment:
    """The attachment sealed by Alice into a pb2 pointer and opened under Bob's chat key."""
    with opened(alice) as app:
        sender = app.unlock_identity(PHRASES["alice"])
    (pointer,) = seal_content(chat.key, sender, attachment, stream=new_stream(), seq=1)
    message = unseal(bob_chat.key, pointer)
    assert isinstance(message, Message)
    assert isinstance(message.content, Attachment)
    return message.content
