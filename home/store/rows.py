"""What the store hands out: typed rows, the store's error, and the SQL column lists its
queries share.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from pointerbridge.core.errors import PointerBridgeError

__all__ = [
    "ChatRow",
    "ConflictRow",
    "Direction",
    "IdentityRow",
    "PointerRow",
    "RotationRow",
    "RunRow",
    "StoreError",
    "StoreLockedError",
    "StreamMovedError",
    "Verifier",
    "highest_pointer_id",
    "pointer_digest",
]


class StoreError(PointerBridgeError):
    """The store cannot be opened, is from a newer version, or an operation conflicts.

    ``damaged``: the file itself is damaged or was changed outside pbridge (restoring a
    backup helps), as opposed to a problem around it (permissions, a lock, a full disk)
    that moving the store away would only make worse.
    """

    exit_code = 8

    def __init__(self, message: str, *, damaged: bool = False) -> None:
        super().__init__(message)
        self.damaged = damaged


class StreamMovedError(StoreError):
    """A chat's pb2 sending stream moved on while a message was sealed with its next
    number: another process of this home sent in the chat meanwhile. Nothing was stored;
    the sender seals again with the number after theirs (app/outbox.py does), and reports
    this only when it lost that race many times in a row (send again)."""

    exit_code = 67


class StoreLockedError(StoreError):
    """What was asked needs the chat list, which is sealed under the master phrase: unlock
    the identity first (the bot, with no secret, never needs it)."""

    exit_code = 36


class Direction(StrEnum):
    """Which way a stored pointer went: one this home received, or one it sealed."""

    IN = "in"
    OUT = "out"


@dataclass(frozen=True, slots=True)
class ChatRow:
    """A chat as stored: no key, only what is needed to check one."""

    id: int
    name: str
    normalized_name: str
    carriers: list[str]
    salt: bytes | None  # the current secret's random key salt; None: an open chat

    @property
    def is_open(self) -> bool:
        """Whether the chat's current key is an open chat's (salted by its name alone)."""
        return self.salt is None


class Verifier(NamedTuple):
    """A check of one of a chat's secrets: a salted slow hash of the key, and the random
    salt that key was derived with (None: an open chat's key)."""

    salt: bytes
    verifier: bytes
    key_salt: bytes | None


class PointerRow(NamedTuple):
    """A stored pointer (a tuple: history reads build 100,000 of these)."""

    id: int
    text: str
    payload: bytes
    direction: str
    chat_id: int | None
    carrier: str | None
    received_at: float
    trashed: int
    verified: bytes | None
    version: int = 1
    """The pointer version its armor names (1, 2); 0: a later version kept by its text, unopened."""


class IdentityRow(NamedTuple):
    """This home's user as stored: a name and a public key (never the phrase or a key)."""

    username: str
    public_key: bytes


class RotationRow(NamedTuple):
    """An accepted identity rotation in a chat: from the notice's first pointer on, ``username``
    signs with ``new_key`` instead of ``old_key``."""

    username: str
    old_key: bytes
    new_key: bytes
    at_pointer: int


class ConflictRow(NamedTuple):
    """A new key an equivocating old key named in a chat, and whether the user chose it."""

    username: str
    old_key: bytes
    new_key: bytes
    at_pointer: int
    chosen: bool


class RunRow(NamedTuple):
    """How a carrier's runs went: the last good one, the last error and when it happened."""

    ok_at: float | None
    error: str | None
    error_at: float | None


def pointer_digest(text: str) -> bytes:
    """A pointer's identity in the store: SHA-256 of its compact text."""
    return hashlib.sha256(text.encode("ascii")).digest()


_POINTER_COLUMNS = "id, text, payload, direction, chat_id, carrier, received_at, trashed, verified, version"

_READ_COLUMNS = "id, payload, trashed, verified, received_at, version"  # what reading a chat's history needs


def highest_pointer_id(db: sqlite3.Connection) -> int:
    """The highest pointer id stored (0: none). Ids are never given twice (AUTOINCREMENT,
    schema 6): every pointer stored later has a higher one, whatever was purged."""
    return int(db.execute("SELECT coalesce(max(id), 0) FROM pointers").fetchone()[0])


def pointer_version(text: str, payload: bytes) -> int:
    """The version a stored pointer opens under: its armor's version character (SPEC §4: a
    compact pointer reads ``pb`` + version + ...), 0 for one kept unopened (empty payload)."""
    if not payload:
        return 0
    return int(text[2]) if text[2:3].isdigit() else 0


def _trash_filter(include_trash: bool, trash_only: bool) -> str:
    return " AND trashed = 1" if trash_only else "" if include_trash else " AND trashed = 0"
