"""Chats, their secrets' verifiers, the user's identity, pinned sender keys, rotations and
rotation conflicts: what the store knows about who is in a chat.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable

from .base import StoreBase
from .rows import _CHAT_COLUMNS, ChatRow, ConflictRow, IdentityRow, RotationRow, StoreError, Verifier, _chat_row

__all__ = ["ChatTables"]


class ChatTables(StoreBase):
    """The chats, verifiers, identity, pins, rotations and conflicts tables."""

    def identity(self) -> IdentityRow | None:
        """This home's user (name and public key), if initialised."""
        row = self._db.execute("SELECT username, public_key FROM identity").fetchone()
        return IdentityRow(row[0], row[1]) if row else None

    def recovery(self) -> bytes | None:
        """The identity's recovery code as bytes (None: the first schedule, or no identity)."""
        row = self._db.execute("SELECT recovery FROM identity").fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def set_identity(self, username: str, public_key: bytes, recovery: bytes | None = None) -> None:
        """Record the user's public identity and its recovery code (replacing an earlier one)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO identity VALUES (1, ?, ?, ?, ?)", (username, public_key, time.time(), recovery)
            )

    def replace_identity(self, username: str, public_key: bytes, recovery: bytes | None) -> None:
        """Make another identity this home's without a rotation (``init --force``): in one
        transaction the identity is replaced and this home's pins of ``username`` move to the
        new key, so its own new messages are not shown to it as a changed key (no other
        member is told: theirs are)."""
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO identity VALUES (1, ?, ?, ?, ?)", (username, public_key, now, recovery))
            db.execute("UPDATE pins SET public_key = ?, first_seen = ? WHERE username = ?", (public_key, now, username))

    def add_chat(self, name: str, normalized_name: str, check: Verifier, carriers: list[str]) -> ChatRow:
        """Create a chat with the verifier of its secret."""
        now = time.time()
        with self.transaction() as db:
            try:
                cur = db.execute(
                    "INSERT INTO chats (name, normalized_name, carriers, created_at) VALUES (?, ?, ?, ?)",
                    (name, normalized_name, json.dumps(carriers), now),
                )
            except sqlite3.IntegrityError:
                raise StoreError(f"a chat named {name!r} exists already") from None
            chat_id = int(cur.lastrowid or 0)
            db.execute(
                "INSERT INTO verifiers (chat_id, salt, verifier, key_salt, created_at) VALUES (?, ?, ?, ?, ?)",
                (chat_id, *check, now),
            )
        return ChatRow(chat_id, name, normalized_name, carriers, check.key_salt)

    def chat(self, normalized_name: str) -> ChatRow | None:
        """The chat with this normalized name."""
        row = self._db.execute(
            f"SELECT {_CHAT_COLUMNS} FROM chats WHERE normalized_name = ?",  # noqa: S608
            (normalized_name,),
        ).fetchone()
        return _chat_row(row) if row else None

    def chats(self) -> list[ChatRow]:
        """Every chat, by name."""
        rows = self._db.execute(f"SELECT {_CHAT_COLUMNS} FROM chats ORDER BY normalized_name")  # noqa: S608
        return [_chat_row(r) for r in rows]

    def verifiers(self, chat_id: int) -> list[Verifier]:
        """The verifiers of a chat's secrets, newest (the current secret's) first."""
        rows = self._db.execute(
            "SELECT salt, verifier, key_salt FROM verifiers WHERE chat_id = ? ORDER BY id DESC", (chat_id,)
        )
        return [Verifier(r[0], r[1], r[2]) for r in rows]

    def add_verifier(self, chat_id: int, check: Verifier) -> None:
        """Add a verifier of a new secret of a chat (a rekey): the newest is the current one."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO verifiers (chat_id, salt, verifier, key_salt, created_at) VALUES (?, ?, ?, ?, ?)",
                (chat_id, *check, time.time()),
            )

    def make_current(self, chat_id: int, position: int, check: Verifier) -> None:
        """Make an earlier secret of a chat its current one again: the verifier at
        ``position`` (newest first, as :meth:`verifiers` lists them) is replaced by
        ``check`` (a new verifier of the same key), stored as the newest. Nothing is
        dropped: the secret current until now stays as an earlier one."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT id FROM verifiers WHERE chat_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?", (chat_id, position)
            ).fetchone()
            if row is None:
                raise StoreError(f"chat {chat_id} has no secret number {position}")
            db.execute("DELETE FROM verifiers WHERE id = ?", (row[0],))
            db.execute(
                "INSERT INTO verifiers (chat_id, salt, verifier, key_salt, created_at) VALUES (?, ?, ?, ?, ?)",
                (chat_id, *check, time.time()),
            )

    def secret_set_at(self, chat_id: int) -> float:
        """When the chat's current (newest) secret was set (Unix seconds): its join,
        creation, rekey or correction."""
        row = self._db.execute(
            "SELECT created_at FROM verifiers WHERE chat_id = ? ORDER BY id DESC LIMIT 1", (chat_id,)
        ).fetchone()
        return float(row[0]) if row else 0.0

    def set_chat_carriers(self, chat_id: int, carriers: list[str]) -> ChatRow:
        """Replace a chat's carriers; return the updated row."""
        with self.transaction() as db:
            db.execute("UPDATE chats SET carriers = ? WHERE id = ?", (json.dumps(carriers), chat_id))
        row = self._db.execute(f"SELECT {_CHAT_COLUMNS} FROM chats WHERE id = ?", (chat_id,))  # noqa: S608
        return _chat_row(row.fetchone())

    def delete_chat(self, chat_id: int) -> None:
        """Delete a chat and every pointer, pin and verifier of it; its pointers are never
        stored again."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO tombstones SELECT digest FROM pointers WHERE chat_id = ?", (chat_id,))
            db.execute("DELETE FROM chats WHERE id = ?", (chat_id,))
        self._checkpoint()

    def pins(self, chat_id: int) -> dict[str, bytes]:
        """username -> pinned public key, for one chat."""
        rows = self._db.execute("SELECT username, public_key FROM pins WHERE chat_id = ?", (chat_id,))
        return {r[0]: r[1] for r in rows}

    def pin(self, chat_id: int, username: str, public_key: bytes) -> None:
        """Pin a sender's key on first use (an existing pin is kept)."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO pins VALUES (?, ?, ?, ?)", (chat_id, username, public_key, time.time()))

    def rotate_identity(
        self, username: str, old_key: bytes, new_key: bytes, notice: str, recovery: bytes | None
    ) -> None:
        """In one transaction: pin ``old_key`` for ``username`` in every chat that has no
        pin for it yet (their old messages stay pinned), queue ``notice`` for every chat,
        and make ``new_key`` (with its recovery code) this home's identity."""
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO pins SELECT id, ?, ?, ? FROM chats", (username, old_key, now))
            db.execute("INSERT OR REPLACE INTO rotation_out SELECT id, ? FROM chats", (notice,))
            db.execute("INSERT OR REPLACE INTO identity VALUES (1, ?, ?, ?, ?)", (username, new_key, now, recovery))

    def pending_notice(self, chat_id: int) -> str | None:
        """The rotation notice body a chat still waits for, if any."""
        row = self._db.execute("SELECT body FROM rotation_out WHERE chat_id = ?", (chat_id,)).fetchone()
        return str(row[0]) if row else None

    def pending_notices(self) -> list[str]:
        """Names of the chats whose rotation notice is not posted yet."""
        rows = self._db.execute("SELECT c.name FROM rotation_out r JOIN chats c ON c.id = r.chat_id ORDER BY c.name")
        return [r[0] for r in rows]

    def rotations(self, chat_id: int) -> list[RotationRow]:
        """(username, old key, new key, first pointer id of the notice) of the rotations
        accepted in a chat, in arrival order."""
        rows = self._db.execute(
            "SELECT username, old_key, new_key, at_pointer FROM rotations WHERE chat_id = ? ORDER BY at_pointer",
            (chat_id,),
        )
        return [RotationRow(r[0], r[1], r[2], r[3]) for r in rows]

    def add_rotation(
        self, chat_id: int, username: str, old_key: bytes, new_key: bytes, at_pointer: int, notice: str | None = None
    ) -> None:
        """Record an accepted rotation (one per chat, username and old key) with the body of
        its signed notice."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO rotations VALUES (?, ?, ?, ?, ?, ?)",
                (chat_id, username, old_key, new_key, at_pointer, notice),
            )

    def keep_notices(self, chat_id: int, notices: dict[tuple[str, bytes, bytes], str]) -> None:
        """Keep the notice bodies of rotations accepted before notices were kept (a full read
        met their notice again): (username, old key, new key) -> body."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE rotations SET notice = ? WHERE chat_id = ? AND username = ? AND old_key = ?"
                " AND new_key = ? AND notice IS NULL",
                ((body, chat_id, *key) for key, body in notices.items()),
            )

    def conflicts(self, chat_id: int) -> list[ConflictRow]:
        """(username, old key, new key, first pointer id of its notice, chosen) of every new
        key an equivocating old key named in a chat, in arrival order."""
        rows = self._db.execute(
            "SELECT username, old_key, new_key, at_pointer, chosen FROM rotation_conflicts"
            " WHERE chat_id = ? ORDER BY at_pointer",
            (chat_id,),
        )
        return [ConflictRow(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    def add_conflicts(self, chat_id: int, rows: Iterable[tuple[str, bytes, bytes, int, bool]]) -> None:
        """Record rotation conflicts (a row already stored stays as it is)."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO rotation_conflicts VALUES (?, ?, ?, ?, ?, 0)",
                ((chat_id, *row[:4]) for row in rows),
            )

    def conflict_keys(self, chat_id: int, username: str) -> list[bytes]:
        """The new keys conflicting notices named for ``username`` in a chat."""
        rows = self._db.execute(
            "SELECT new_key FROM rotation_conflicts WHERE chat_id = ? AND username = ? ORDER BY at_pointer",
            (chat_id, username),
        )
        return [r[0] for r in rows]

    def choose_conflict_key(self, chat_id: int, username: str, new_key: bytes) -> None:
        """Mark ``new_key`` the chosen one of the conflicts naming it (and no other of the
        same old key)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE rotation_conflicts SET chosen = (new_key = ?) WHERE chat_id = ? AND username = ?"
                " AND old_key IN (SELECT old_key FROM rotation_conflicts WHERE chat_id = ? AND username = ?"
                " AND new_key = ?)",
                (new_key, chat_id, username, chat_id, username, new_key),
            )
