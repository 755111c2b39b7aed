"""The local store: SQLite (WAL) holding pointers as carried, and nothing secret.

It keeps pointers (text and the decoded ciphertext), which chat each belongs to once it is
known, where each was posted or found, trash flags, chats with slow verifiers of their
secrets, the user's public identity, sender keys pinned per chat, and carrier cursors.
Plaintext, secrets and derived keys never enter it: history is decrypted on demand.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from .errors import PointerBridgeError

__all__ = ["SCHEMA_VERSION", "ChatRow", "PointerRow", "Store", "StoreError", "Verifier", "pointer_digest"]


def _chat_row(row: tuple[Any, ...]) -> ChatRow:
    return ChatRow(row[0], row[1], row[2], json.loads(row[3]), row[4])


# A chat's columns and the random key salt of its current (newest) secret: NULL for an open chat.
_CHAT_COLUMNS = (
    "id, name, normalized_name, carriers,"
    " (SELECT key_salt FROM verifiers v WHERE v.chat_id = chats.id ORDER BY v.id DESC LIMIT 1)"
)


class StoreError(PointerBridgeError):
    """The store cannot be opened, is from a newer version, or an operation conflicts."""


_MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE identity (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        username TEXT NOT NULL,
        public_key BLOB NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE chats (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        normalized_name TEXT NOT NULL UNIQUE,
        carriers TEXT NOT NULL DEFAULT '[]',
        created_at REAL NOT NULL
    );
    CREATE TABLE verifiers (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        salt BLOB NOT NULL,
        verifier BLOB NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE pointers (
        id INTEGER PRIMARY KEY,
        digest BLOB NOT NULL UNIQUE,
        text TEXT NOT NULL,
        payload BLOB NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
        chat_id INTEGER REFERENCES chats(id) ON DELETE CASCADE,
        carrier TEXT,
        carrier_ref TEXT,
        received_at REAL NOT NULL,
        trashed INTEGER NOT NULL DEFAULT 0,
        verified BLOB
    );
    CREATE INDEX pointers_by_chat ON pointers(chat_id, id);
    CREATE TABLE posts (
        pointer_id INTEGER NOT NULL REFERENCES pointers(id) ON DELETE CASCADE,
        carrier TEXT NOT NULL,
        carrier_ref TEXT,
        posted_at REAL,
        PRIMARY KEY (pointer_id, carrier)
    );
    CREATE TABLE pins (
        chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        username TEXT NOT NULL,
        public_key BLOB NOT NULL,
        first_seen REAL NOT NULL,
        PRIMARY KEY (chat_id, username)
    );
    CREATE TABLE cursors (
        carrier TEXT PRIMARY KEY,
        cursor TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 2: what was purged or deleted stays gone when a carrier brings it again
    """
    CREATE TABLE tombstones (digest BLOB PRIMARY KEY) WITHOUT ROWID;
    """,
    # 3: how each carrier's last runs went, for `pbridge status`
    """
    CREATE TABLE carrier_runs (
        carrier TEXT PRIMARY KEY,
        ok_at REAL,
        error TEXT,
        error_at REAL
    ) WITHOUT ROWID;
    """,
    # 4: a poll finds a carrier's outbox and its last post without reading every post
    """
    CREATE INDEX posts_by_carrier ON posts(carrier, posted_at);
    """,
    # 5: identity rotation: the notice each chat still waits for, and the rotations
    # accepted per chat (trust replays them even after their notice is trashed or purged);
    # how far a full read has judged each chat (a page of history beyond it is provisional);
    # how far each chat has been read, for unread counts
    """
    CREATE TABLE rotation_out (
        chat_id INTEGER PRIMARY KEY REFERENCES chats(id) ON DELETE CASCADE,
        body TEXT NOT NULL
    );
    CREATE TABLE rotations (
        chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        username TEXT NOT NULL,
        old_key BLOB NOT NULL,
        new_key BLOB NOT NULL,
        at_pointer INTEGER NOT NULL,
        PRIMARY KEY (chat_id, username, old_key)
    );
    CREATE TABLE judged (
        chat_id INTEGER PRIMARY KEY REFERENCES chats(id) ON DELETE CASCADE,
        through INTEGER NOT NULL
    );
    CREATE TABLE chat_reads (
        chat_id INTEGER PRIMARY KEY REFERENCES chats(id) ON DELETE CASCADE,
        seen_id INTEGER NOT NULL
    );
    """,
    # 6: a pointer id is never given twice (rotations, the judged mark and read marks hold
    # ids: a purged newest pointer's id handed to a new arrival would sort it before them).
    # The table is rebuilt with AUTOINCREMENT, its sequence set past every id any table holds.
    """
    CREATE TABLE pointers_v6 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        digest BLOB NOT NULL UNIQUE,
        text TEXT NOT NULL,
        payload BLOB NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
        chat_id INTEGER REFERENCES chats(id) ON DELETE CASCADE,
        carrier TEXT,
        carrier_ref TEXT,
        received_at REAL NOT NULL,
        trashed INTEGER NOT NULL DEFAULT 0,
        verified BLOB
    );
    INSERT INTO pointers_v6 SELECT id, digest, text, payload, direction, chat_id, carrier, carrier_ref,
        received_at, trashed, verified FROM pointers;
    DROP TABLE pointers;
    ALTER TABLE pointers_v6 RENAME TO pointers;
    CREATE INDEX pointers_by_chat ON pointers(chat_id, id);
    DELETE FROM sqlite_sequence WHERE name = 'pointers';
    INSERT INTO sqlite_sequence (name, seq) SELECT 'pointers', max(
        (SELECT coalesce(max(id), 0) FROM pointers), (SELECT coalesce(max(at_pointer), 0) FROM rotations),
        (SELECT coalesce(max(through), 0) FROM judged), (SELECT coalesce(max(seen_id), 0) FROM chat_reads));
    """,
    # 7: per-secret random salts of chat keys (NULL: an open chat's key, salted by name
    # alone) and the identity's recovery code (NULL: the first, username-salted schedule)
    """
    ALTER TABLE verifiers ADD COLUMN key_salt BLOB;
    ALTER TABLE identity ADD COLUMN recovery BLOB;
    """,
    # 8: rotation conflicts: an old key that signed notices naming different new
    # keys for one name in a chat froze that name there. One row per new key it named,
    # placed at its notice's first pointer id; ``chosen`` marks the key the user re-pinned
    # after verifying in person (at most one per name and old key). Kept after the
    # notices are trashed or purged, so the name stays frozen.
    """
    CREATE TABLE rotation_conflicts (
        chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        username TEXT NOT NULL,
        old_key BLOB NOT NULL,
        new_key BLOB NOT NULL,
        at_pointer INTEGER NOT NULL,
        chosen INTEGER NOT NULL DEFAULT 0 CHECK (chosen IN (0, 1)),
        PRIMARY KEY (chat_id, username, old_key, new_key)
    );
    """,
]
SCHEMA_VERSION = len(_MIGRATIONS)


def _trash_filter(include_trash: bool, trash_only: bool) -> str:
    return " AND trashed = 1" if trash_only else "" if include_trash else " AND trashed = 0"


def pointer_digest(text: str) -> bytes:
    """A pointer's identity in the store: SHA-256 of its compact text."""
    return hashlib.sha256(text.encode("ascii")).digest()


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


_POINTER_COLUMNS = "id, text, payload, direction, chat_id, carrier, received_at, trashed, verified"
_READ_COLUMNS = "id, payload, trashed, verified, received_at"  # what reading a chat's history needs


class Store:
    """One user's store. Open with :meth:`open`; use as a context manager to close it."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        """Wrap an open connection; most callers want :meth:`open`."""
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating 0600 if needed) and migrate to the current schema."""
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        try:
            db = sqlite3.connect(path, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a saved cursor must never outlive what it covers
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA secure_delete=ON")  # purged pointers are overwritten, not left in free pages
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot open the store ({exc})") from None
        store = cls(db, path)
        store._migrate()
        return store

    @classmethod
    def open_readonly(cls, path: Path) -> Store:
        """Open an existing store only to read it: nothing is created, set or migrated
        (``pbridge doctor``). Reads of a damaged file raise ``sqlite3.DatabaseError``."""
        if not path.exists():
            raise StoreError(f"{path} does not exist")
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=10)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot open the store ({exc})") from None
        return cls(db, path)

    def integrity_problems(self, most: int = 5) -> list[str]:
        """What ``PRAGMA integrity_check`` finds (at most ``most`` lines); empty: none."""
        rows = [str(row[0]) for row in self._db.execute(f"PRAGMA integrity_check({int(most)})")]
        return [] if rows == ["ok"] else rows

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic, durable unit of work. SQLite's own failures (another process holding
        the write lock past the timeout, a full disk) become :class:`StoreError`; nothing of
        the unit is kept."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise StoreError(f"{self.path}: {exc}") from None
            raise

    @property
    def schema_version(self) -> int:
        """The schema version the file is at."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: schema {version} is newer than this pbridge ({SCHEMA_VERSION})")
        if version == SCHEMA_VERSION:
            return
        # Off while tables are rebuilt (dropping the old pointers table must not cascade to
        # its posts); checked before each migration commits. It cannot change inside one.
        self._db.execute("PRAGMA foreign_keys=OFF")
        try:
            for number in range(version, SCHEMA_VERSION):
                with self.transaction() as db:
                    for statement in _MIGRATIONS[number].split(";"):
                        if statement.strip():
                            db.execute(statement)
                    if db.execute("PRAGMA foreign_key_check").fetchone() is not None:
                        raise StoreError(f"{self.path}: migration {number + 1} broke a reference; nothing changed")
                    db.execute(f"PRAGMA user_version = {number + 1}")
        finally:
            self._db.execute("PRAGMA foreign_keys=ON")

    # identity ---------------------------------------------------------------------------

    def identity(self) -> tuple[str, bytes] | None:
        """(username, public key) of this home's user, if initialised."""
        row = self._db.execute("SELECT username, public_key FROM identity").fetchone()
        return (row[0], row[1]) if row else None

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

    # chats ------------------------------------------------------------------------------

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

    # pointers ---------------------------------------------------------------------------

    def add_pointers(
        self,
        items: Iterable[tuple[str, bytes]],
        direction: str,
        *,
        carrier: str | None = None,
        chat_id: int | None = None,
        post_to: Iterable[str] = (),
        posts_notice: bool = False,
    ) -> list[int]:
        """Store (text, payload) pointers in one transaction; return the ids of new ones.

        A pointer already stored (same text) is left as it is: carriers echo, crashes
        repeat polls, and several carriers bring the same pointer. ``posts_notice``: these
        pointers carry the chat's pending rotation notice, which the same transaction
        clears (a crash cannot post it twice, or lose it).
        """
        now = time.time()
        targets = list(post_to)
        new: list[int] = []
        with self.transaction() as db:
            for text, payload in items:
                digest = pointer_digest(text)
                cur = db.execute(
                    "INSERT OR IGNORE INTO pointers (digest, text, payload, direction, chat_id, carrier, received_at)"
                    " SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM tombstones WHERE digest = ?)",
                    (digest, text, payload, direction, chat_id, carrier, now, digest),
                )
                if cur.rowcount:
                    pid = int(cur.lastrowid or 0)
                    new.append(pid)
                    db.executemany("INSERT INTO posts (pointer_id, carrier) VALUES (?, ?)", ((pid, c) for c in targets))
            if posts_notice:
                db.execute("DELETE FROM rotation_out WHERE chat_id = ?", (chat_id,))
        return new

    def outbox(self, carrier: str) -> list[tuple[int, str]]:
        """(pointer id, text) waiting to be posted to ``carrier``, oldest first."""
        rows = self._db.execute(
            "SELECT p.id, p.text FROM posts o JOIN pointers p ON p.id = o.pointer_id"
            " WHERE o.carrier = ? AND o.posted_at IS NULL ORDER BY p.id",
            (carrier,),
        )
        return [(r[0], r[1]) for r in rows]

    def waiting(self, carrier: str) -> int:
        """How many pointers wait to be posted to ``carrier``."""
        query = "SELECT count(*) FROM posts WHERE carrier = ? AND posted_at IS NULL"
        return int(self._db.execute(query, (carrier,)).fetchone()[0])

    def outbox_depth(self) -> int:
        """How many posts are waiting, over all carriers."""
        return int(self._db.execute("SELECT count(*) FROM posts WHERE posted_at IS NULL").fetchone()[0])

    def mark_posted(self, pointer_id: int, carrier: str, reference: str) -> None:
        """Record that a pointer reached a carrier (durably, before the next post)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE posts SET carrier_ref = ?, posted_at = ? WHERE pointer_id = ? AND carrier = ?",
                (reference, time.time(), pointer_id, carrier),
            )

    def last_posted(self, carrier: str) -> float | None:
        """When this home last posted to ``carrier`` (Unix seconds), if it ever did."""
        row = self._db.execute("SELECT max(posted_at) FROM posts WHERE carrier = ?", (carrier,)).fetchone()
        return float(row[0]) if row[0] is not None else None

    def repost_since(self, carrier: str, since: float, until: float) -> int:
        """Put this home's pointers posted to ``carrier`` from ``since`` to ``until`` back
        into the outbox (a member whose carrier lost them asked); return how many."""
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE posts SET posted_at = NULL, carrier_ref = NULL WHERE carrier = ? AND posted_at BETWEEN ? AND ?",
                (carrier, since, until),
            ).rowcount
        return int(changed)

    def unrouted(self, after: int = 0) -> list[PointerRow]:
        """Inbound pointers whose chat is not known yet (with an id above ``after``)."""
        rows = self._db.execute(
            f"SELECT {_POINTER_COLUMNS} FROM pointers WHERE chat_id IS NULL AND id > ? ORDER BY id",  # noqa: S608
            (after,),
        )
        return list(map(PointerRow._make, rows))

    def assign(self, pointer_ids: Iterable[int], chat_id: int) -> None:
        """Record which chat pointers belong to (found by their routing tags)."""
        with self.transaction() as db:
            db.executemany("UPDATE pointers SET chat_id = ? WHERE id = ?", ((chat_id, pid) for pid in pointer_ids))

    def history(
        self, chat_id: int, *, include_trash: bool = False, trash_only: bool = False, after: int = 0
    ) -> list[tuple[int, bytes, int, bytes | None, float]]:
        """(id, payload, trashed, verified, received_at) of a chat's pointers with an id
        above ``after``, in stored order: only what reading needs, as plain tuples (a
        re-read of 100,000 pointers builds each one)."""
        where = "chat_id = ? AND id > ?" + _trash_filter(include_trash, trash_only)
        query = f"SELECT {_READ_COLUMNS} FROM pointers WHERE {where} ORDER BY id"  # noqa: S608
        return self._db.execute(query, (chat_id, after)).fetchall()

    def history_page(
        self, chat_id: int, before: int | None, limit: int, *, include_trash: bool = False, trash_only: bool = False
    ) -> list[tuple[int, bytes, int, bytes | None, float]]:
        """The last ``limit`` rows of :meth:`history` with an id below ``before`` (None: all),
        in stored order: an index range scan, however long the history."""
        where = "chat_id = ? AND id < ?" + _trash_filter(include_trash, trash_only)
        query = (
            f"SELECT {_READ_COLUMNS} FROM pointers WHERE {where}"  # noqa: S608
            " ORDER BY id DESC LIMIT ?"
        )
        rows = self._db.execute(query, (chat_id, (1 << 63) - 1 if before is None else before, limit)).fetchall()
        rows.reverse()
        return rows

    def received_before(self, chat_id: int, before: int, until: float) -> float | None:
        """When the newest of the chat's pointers below id ``before`` that arrived before
        ``until`` was received (None: none did). A pointer's id is given as it is stored,
        so receipt times grow with ids (but for a clock set back): a binary search over
        ids, ~17 index lookups for 100,000 pointers, where a scan for ``received_at <
        until`` would read every row of a history that arrived within the hour."""
        query = "SELECT id, received_at FROM pointers WHERE chat_id = ? AND id <= ? ORDER BY id DESC LIMIT 1"
        low, high, found = 0, before - 1, None
        while low <= high:
            middle = (low + high) // 2
            row = self._db.execute(query, (chat_id, middle)).fetchone()
            if row is None:
                low = middle + 1  # no pointer of the chat at or below middle
            elif row[1] < until:
                found = float(row[1])
                low = middle + 1
            else:
                high = row[0] - 1
        return found

    def judged_through(self, chat_id: int) -> int:
        """The highest pointer id a full read of the chat has judged (0: none)."""
        row = self._db.execute("SELECT through FROM judged WHERE chat_id = ?", (chat_id,)).fetchone()
        return int(row[0]) if row else 0

    def set_judged(self, chat_id: int, through: int) -> None:
        """Record that a full read judged (pinned, rotated) the chat up to pointer ``through``."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO judged VALUES (?, ?) ON CONFLICT (chat_id) DO UPDATE"
                " SET through = max(through, excluded.through)",
                (chat_id, through),
            )

    def set_trashed(self, pointer_ids: Iterable[int], trashed: bool) -> None:
        """Move pointers to the trash or back."""
        with self.transaction() as db:
            db.executemany("UPDATE pointers SET trashed = ? WHERE id = ?", ((int(trashed), pid) for pid in pointer_ids))

    def purge(self, pointer_ids: Iterable[int]) -> None:
        """Delete pointers for good: a carrier that brings them again is ignored."""
        ids = [(pid,) for pid in pointer_ids]
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO tombstones SELECT digest FROM pointers WHERE id = ?", ids)
            db.executemany("DELETE FROM pointers WHERE id = ?", ids)
        self._checkpoint()

    def _checkpoint(self) -> None:
        # secure_delete zeroes freed pages in the database file; the WAL still holds the
        # old pages until a checkpoint copies them over and truncates it.
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    def set_verified(self, marks: Iterable[tuple[int, bytes]]) -> None:
        """Cache full checks as (pointer id, MAC under the reader's proof key: see
        ``app/opening.py``)."""
        with self.transaction() as db:
            db.executemany("UPDATE pointers SET verified = ? WHERE id = ?", ((mac, pid) for pid, mac in marks))

    def counts(self) -> dict[str, int]:
        """Pointers by state, for status output."""
        row = self._db.execute(
            "SELECT count(*), sum(direction = 'in'), sum(chat_id IS NULL), sum(trashed) FROM pointers"
        ).fetchone()
        return {
            "pointers": row[0] or 0,
            "inbox": row[1] or 0,
            "unrouted": row[2] or 0,
            "trashed": row[3] or 0,
            "outbox": self.outbox_depth(),
        }

    def activity(self, chat_id: int) -> tuple[int, float | None]:
        """(pointers received since the chat was last read, when its newest arrived): two
        range reads of the chat's index, however long its history."""
        newest = self._db.execute(
            "SELECT received_at FROM pointers WHERE chat_id = ? ORDER BY id DESC LIMIT 1", (chat_id,)
        ).fetchone()
        unread = self._db.execute(
            "SELECT count(*) FROM pointers WHERE chat_id = ? AND direction = 'in' AND trashed = 0 AND id > "
            "coalesce((SELECT seen_id FROM chat_reads WHERE chat_id = ?), 0)",
            (chat_id, chat_id),
        ).fetchone()[0]
        return unread, (float(newest[0]) if newest else None)

    def unrouted_count(self) -> int:
        """How many pointers no chat has claimed yet (an index range)."""
        return int(self._db.execute("SELECT count(*) FROM pointers WHERE chat_id IS NULL").fetchone()[0])

    def mark_seen(self, chat_id: int) -> None:
        """Note that a chat has been read up to its newest pointer (written only when that
        moved: a chat on screen is marked after every poll)."""
        newest, seen = self._db.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM pointers WHERE chat_id = ?),"
            " (SELECT seen_id FROM chat_reads WHERE chat_id = ?)",
            (chat_id, chat_id),
        ).fetchone()
        if seen != newest:
            with self.transaction() as db:
                db.execute("INSERT OR REPLACE INTO chat_reads VALUES (?, ?)", (chat_id, newest))

    def all_in_chat(self, chat_id: int, pointer_ids: Iterable[int]) -> bool:
        """Whether every one of ``pointer_ids`` is a pointer of this chat (reads only those)."""
        ids = set(pointer_ids)
        found = 0
        for pid in ids:
            found += self._db.execute(
                "SELECT count(*) FROM pointers WHERE id = ? AND chat_id = ?", (pid, chat_id)
            ).fetchone()[0]
        return found == len(ids)

    def chat_pointer_ids(self, chat_id: int, *, waiting: bool = False) -> set[int]:
        """Every pointer id of a chat, trash included (``waiting``: only those some carrier
        has still to post)."""
        query = "SELECT id FROM pointers WHERE chat_id = ?"
        if waiting:
            query += " AND id IN (SELECT pointer_id FROM posts WHERE posted_at IS NULL)"
        return {r[0] for r in self._db.execute(query, (chat_id,))}

    # export and import -------------------------------------------------------------------

    def export_records(self) -> Iterator[dict[str, Any]]:
        """Everything kept here but caches, as plain records (bytes as hex), oldest first:
        the identity, chats with their verifiers, pins, pointers with their posts, cursors,
        tombstones, rotations, waiting notices and rotation conflicts. Nothing in it is
        secret; it is what a thief of the store has. One read transaction: a poll writing
        meanwhile is not half in it."""
        self._db.execute("BEGIN")
        try:
            yield from self._records()
        finally:
            self._db.execute("COMMIT")

    def _records(self) -> Iterator[dict[str, Any]]:
        known = self.identity()
        if known is not None:
            recovery = self.recovery()
            yield {
                "kind": "identity",
                "username": known[0],
                "public_key": known[1].hex(),
                "recovery": recovery.hex() if recovery else None,
            }
        names = {}
        for row in self._db.execute("SELECT id, name, normalized_name, carriers FROM chats ORDER BY id").fetchall():
            names[row[0]] = row[2]
            verifiers = reversed(self.verifiers(row[0]))  # oldest first: the import keeps their order
            yield {
                "kind": "chat",
                "name": row[1],
                "normalized_name": row[2],
                "carriers": json.loads(row[3]),
                "verifiers": [
                    {
                        "salt": v.salt.hex(),
                        "verifier": v.verifier.hex(),
                        "key_salt": v.key_salt.hex() if v.key_salt else None,
                    }
                    for v in verifiers
                ],
            }
        for row in self._db.execute("SELECT chat_id, username, public_key, first_seen FROM pins").fetchall():
            yield {
                "kind": "pin",
                "chat": names[row[0]],
                "username": row[1],
                "public_key": row[2].hex(),
                "first_seen": row[3],
            }
        for (digest,) in self._db.execute("SELECT digest FROM tombstones").fetchall():
            yield {"kind": "tombstone", "digest": digest.hex()}
        posts: dict[int, list[dict[str, Any]]] = {}
        for row in self._db.execute("SELECT pointer_id, carrier, carrier_ref, posted_at FROM posts"):
            posts.setdefault(row[0], []).append({"carrier": row[1], "carrier_ref": row[2], "posted_at": row[3]})
        columns = "id, text, direction, chat_id, carrier, carrier_ref, received_at, trashed"
        for row in self._db.execute(f"SELECT {columns} FROM pointers ORDER BY id"):  # noqa: S608
            yield {
                "kind": "pointer",
                "text": row[1],
                "direction": row[2],
                "chat": names.get(row[3]),
                "carrier": row[4],
                "carrier_ref": row[5],
                "received_at": row[6],
                "trashed": bool(row[7]),
                "posts": posts.get(row[0], []),
            }
        for row in self._db.execute("SELECT carrier, cursor, updated_at FROM cursors ORDER BY carrier"):
            yield {"kind": "cursor", "carrier": row[0], "cursor": row[1], "updated_at": row[2]}
        # A rotation's place is a pointer id, which another store numbers differently: it
        # travels as the digest of the chat's first pointer from there on (the notice, or
        # the next one if the notice was purged); null: after every pointer of the chat.
        rotations = self._db.execute(
            "SELECT chat_id, username, old_key, new_key, at_pointer FROM rotations ORDER BY chat_id, at_pointer"
        ).fetchall()
        for chat_id, username, old_key, new_key, at_pointer in rotations:
            yield {
                "kind": "rotation",
                "chat": names[chat_id],
                "username": username,
                "old_key": old_key.hex(),
                "new_key": new_key.hex(),
                "at": self._digest_from(chat_id, at_pointer),
            }
        for chat_id, body in self._db.execute("SELECT chat_id, body FROM rotation_out ORDER BY chat_id").fetchall():
            yield {"kind": "rotation_out", "chat": names[chat_id], "body": body}
        conflicts = self._db.execute(
            "SELECT chat_id, username, old_key, new_key, at_pointer, chosen FROM"
            " rotation_conflicts ORDER BY chat_id, at_pointer"
        ).fetchall()
        for chat_id, username, old_key, new_key, at_pointer, chosen in conflicts:
            yield {
                "kind": "rotation_conflict",
                "chat": names[chat_id],
                "username": username,
                "old_key": old_key.hex(),
                "new_key": new_key.hex(),
                "at": self._digest_from(chat_id, at_pointer),
                "chosen": bool(chosen),
            }

    def _digest_from(self, chat_id: int, at_pointer: int) -> str | None:
        """The digest (hex) of the chat's first pointer from ``at_pointer`` on; None: none."""
        at = self._db.execute(
            "SELECT digest FROM pointers WHERE chat_id = ? AND id >= ? ORDER BY id LIMIT 1", (chat_id, at_pointer)
        ).fetchone()
        return at[0].hex() if at else None

    def import_records(self, records: Iterable[dict[str, Any]]) -> dict[str, int]:
        """Add exported records in one transaction; return how many of each kind were new.
        What is here already stays as it is (a pointer, a verifier, a pin, a cursor), so
        importing twice adds nothing. Pointer records carry their ``payload`` (bytes)."""
        added = {
            "chats": 0,
            "verifiers": 0,
            "pins": 0,
            "pointers": 0,
            "cursors": 0,
            "tombstones": 0,
            "rotations": 0,
            "rotation notices": 0,
            "rotation conflicts": 0,
        }
        chats = {r[1]: r[0] for r in self._db.execute("SELECT id, normalized_name FROM chats")}
        # (chat, name, old key) this home has judged already: a file cannot choose for it.
        judged = {
            (r[0], r[1], bytes(r[2]))
            for r in self._db.execute(
                "SELECT chat_id, username, old_key FROM rotations UNION SELECT chat_id, username, old_key"
                " FROM rotation_conflicts"
            )
        }
        with self.transaction() as db:
            for record in records:
                kind = record["kind"]
                if kind == "identity":
                    self._import_identity(db, record)
                elif kind == "chat":
                    self._import_chat(db, record, chats, added)
                elif kind == "pin":
                    cur = db.execute(
                        "INSERT OR IGNORE INTO pins VALUES (?, ?, ?, ?)",
                        (
                            chats[record["chat"]],
                            record["username"],
                            bytes.fromhex(record["public_key"]),
                            record["first_seen"],
                        ),
                    )
                    added["pins"] += cur.rowcount
                elif kind == "pointer":
                    added["pointers"] += self._import_pointer(db, record, chats)
                elif kind == "cursor":
                    cur = db.execute(
                        "INSERT OR IGNORE INTO cursors VALUES (?, ?, ?)",
                        (record["carrier"], record["cursor"], record["updated_at"]),
                    )
                    added["cursors"] += cur.rowcount
                elif kind == "tombstone":
                    added["tombstones"] += db.execute(
                        "INSERT OR IGNORE INTO tombstones VALUES (?)", (bytes.fromhex(record["digest"]),)
                    ).rowcount
                elif kind == "rotation":
                    added["rotations"] += self._import_rotation(db, record, chats)
                elif kind == "rotation_out":
                    added["rotation notices"] += db.execute(
                        "INSERT OR IGNORE INTO rotation_out VALUES (?, ?)", (chats[record["chat"]], record["body"])
                    ).rowcount
                elif kind == "rotation_conflict":
                    added["rotation conflicts"] += self._import_conflict(db, record, chats, judged)
        return added

    @staticmethod
    def _import_conflict(
        db: sqlite3.Connection, record: dict[str, Any], chats: dict[str, int], judged: set[tuple[int, str, bytes]]
    ) -> int:
        """Add a conflict row at the pointer its ``at`` digest names (a conflict freezes a
        name from its notice on, the notice included; a rotation applies after it). Its ``chosen``
        mark counts only where this home had neither a rotation nor a conflict for that
        name and old key, as a rotation is imported only where the home has none: a file
        cannot pick a key this home judged otherwise."""
        chat_id, old_key = chats[record["chat"]], bytes.fromhex(record["old_key"])
        chosen = int(record["chosen"] and (chat_id, record["username"], old_key) not in judged)
        cur = db.execute(
            "INSERT OR IGNORE INTO rotation_conflicts SELECT ?, ?, ?, ?, ?, ? * NOT EXISTS (SELECT 1 FROM"
            " rotation_conflicts WHERE chat_id = ? AND username = ? AND old_key = ? AND chosen = 1)",
            (
                chat_id,
                record["username"],
                old_key,
                bytes.fromhex(record["new_key"]),
                Store._place(db, record["at"]) + 1,
                chosen,
                chat_id,
                record["username"],
                old_key,
            ),
        )
        return int(cur.rowcount)

    @staticmethod
    def _place(db: sqlite3.Connection, digest: str | None) -> int:
        """The pointer id just below the pointer ``digest`` names, or the highest stored
        (it names none here): what a rotation's or a conflict's at_pointer is."""
        # A rotation applies to the messages whose first pointer id is above at_pointer:
        # one below the named pointer puts it just before that one.
        found = None
        if digest is not None:
            found = db.execute("SELECT id - 1 FROM pointers WHERE digest = ?", (bytes.fromhex(digest),)).fetchone()
        if found is None:
            found = db.execute("SELECT coalesce(max(id), 0) FROM pointers").fetchone()
        return int(found[0])

    @staticmethod
    def _import_rotation(db: sqlite3.Connection, record: dict[str, Any], chats: dict[str, int]) -> int:
        """Add a rotation just before the pointer its ``at`` digest names (imported before
        it), or after every pointer stored if there is none."""
        cur = db.execute(
            "INSERT OR IGNORE INTO rotations VALUES (?, ?, ?, ?, ?)",
            (
                chats[record["chat"]],
                record["username"],
                bytes.fromhex(record["old_key"]),
                bytes.fromhex(record["new_key"]),
                Store._place(db, record["at"]),
            ),
        )
        return int(cur.rowcount)

    @staticmethod
    def _import_identity(db: sqlite3.Connection, record: dict[str, Any]) -> None:
        key = bytes.fromhex(record["public_key"])
        recovery = bytes.fromhex(record["recovery"]) if record.get("recovery") else None
        here = db.execute("SELECT username, public_key FROM identity").fetchone()
        if here is None:
            db.execute("INSERT INTO identity VALUES (1, ?, ?, ?, ?)", (record["username"], key, time.time(), recovery))
        elif (here[0], here[1]) != (record["username"], key):
            raise StoreError(f"this home is {here[0]!r}'s, the export is {record['username']!r}'s (another identity)")

    @staticmethod
    def _import_chat(
        db: sqlite3.Connection, record: dict[str, Any], chats: dict[str, int], added: dict[str, int]
    ) -> None:
        normalized = record["normalized_name"]
        if normalized not in chats:
            cur = db.execute(
                "INSERT INTO chats (name, normalized_name, carriers, created_at) VALUES (?, ?, ?, ?)",
                (record["name"], normalized, json.dumps(record["carriers"]), time.time()),
            )
            chats[normalized] = int(cur.lastrowid or 0)
            added["chats"] += 1
        have = {
            (bytes(r[0]), bytes(r[1]))
            for r in db.execute("SELECT salt, verifier FROM verifiers WHERE chat_id = ?", (chats[normalized],))
        }
        for item in record["verifiers"]:
            pair = (bytes.fromhex(item["salt"]), bytes.fromhex(item["verifier"]))
            key_salt = bytes.fromhex(item["key_salt"]) if item.get("key_salt") else None
            if pair not in have:
                db.execute(
                    "INSERT INTO verifiers (chat_id, salt, verifier, key_salt, created_at) VALUES (?, ?, ?, ?, ?)",
                    (chats[normalized], *pair, key_salt, time.time()),
                )
                have.add(pair)
                added["verifiers"] += 1

    @staticmethod
    def _import_pointer(db: sqlite3.Connection, record: dict[str, Any], chats: dict[str, int]) -> int:
        digest = pointer_digest(record["text"])
        chat_id = chats.get(record["chat"]) if record["chat"] is not None else None
        cur = db.execute(
            "INSERT OR IGNORE INTO pointers (digest, text, payload, direction, chat_id, carrier, carrier_ref,"
            " received_at, trashed) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?"
            " WHERE NOT EXISTS (SELECT 1 FROM tombstones WHERE digest = ?)",
            (
                digest,
                record["text"],
                record["payload"],
                record["direction"],
                chat_id,
                record["carrier"],
                record["carrier_ref"],
                record["received_at"],
                int(record["trashed"]),
                digest,
            ),
        )
        if not cur.rowcount:
            return 0
        pid = int(cur.lastrowid or 0)
        db.executemany(
            "INSERT OR IGNORE INTO posts VALUES (?, ?, ?, ?)",
            ((pid, p["carrier"], p["carrier_ref"], p["posted_at"]) for p in record["posts"]),
        )
        return 1

    # pins -------------------------------------------------------------------------------

    def pins(self, chat_id: int) -> dict[str, bytes]:
        """username -> pinned public key, for one chat."""
        rows = self._db.execute("SELECT username, public_key FROM pins WHERE chat_id = ?", (chat_id,))
        return {r[0]: r[1] for r in rows}

    def pin(self, chat_id: int, username: str, public_key: bytes) -> None:
        """Pin a sender's key on first use (an existing pin is kept)."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO pins VALUES (?, ?, ?, ?)", (chat_id, username, public_key, time.time()))

    # identity rotation ------------------------------------------------------------------

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

    def rotations(self, chat_id: int) -> list[tuple[str, bytes, bytes, int]]:
        """(username, old key, new key, first pointer id of the notice) of the rotations
        accepted in a chat, in arrival order."""
        rows = self._db.execute(
            "SELECT username, old_key, new_key, at_pointer FROM rotations WHERE chat_id = ? ORDER BY at_pointer",
            (chat_id,),
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def add_rotation(self, chat_id: int, username: str, old_key: bytes, new_key: bytes, at_pointer: int) -> None:
        """Record an accepted rotation (one per chat, username and old key)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO rotations VALUES (?, ?, ?, ?, ?)",
                (chat_id, username, old_key, new_key, at_pointer),
            )

    def conflicts(self, chat_id: int) -> list[tuple[str, bytes, bytes, int, bool]]:
        """(username, old key, new key, first pointer id of its notice, chosen) of every new
        key an equivocating old key named in a chat, in arrival order."""
        rows = self._db.execute(
            "SELECT username, old_key, new_key, at_pointer, chosen FROM rotation_conflicts"
            " WHERE chat_id = ? ORDER BY at_pointer",
            (chat_id,),
        )
        return [(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

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

    def received_at(self, pointer_id: int) -> float | None:
        """When a pointer reached this store (Unix seconds), if it is stored."""
        row = self._db.execute("SELECT received_at FROM pointers WHERE id = ?", (pointer_id,)).fetchone()
        return float(row[0]) if row else None

    # cursors ----------------------------------------------------------------------------

    def cursor(self, carrier: str) -> str | None:
        """The saved poll cursor of a carrier."""
        row = self._db.execute("SELECT cursor FROM cursors WHERE carrier = ?", (carrier,)).fetchone()
        return str(row[0]) if row else None

    def record_run(self, carrier: str, error: str | None) -> None:
        """Note how a run of ``carrier`` ended: well, or with this one-line error."""
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO carrier_runs (carrier) VALUES (?)", (carrier,))
            if error is None:
                db.execute("UPDATE carrier_runs SET ok_at = ? WHERE carrier = ?", (now, carrier))
            else:
                db.execute("UPDATE carrier_runs SET error = ?, error_at = ? WHERE carrier = ?", (error, now, carrier))

    def runs(self) -> dict[str, tuple[float | None, str | None, float | None]]:
        """carrier -> (last good run, last error, when it happened)."""
        rows = self._db.execute("SELECT carrier, ok_at, error, error_at FROM carrier_runs")
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def newest_time(self) -> float | None:
        """The latest time this store wrote anywhere (a received pointer, a post, a cursor)."""
        row = self._db.execute(
            "SELECT max(t) FROM (SELECT max(received_at) AS t FROM pointers UNION ALL SELECT max(posted_at) FROM posts"
            " UNION ALL SELECT max(updated_at) FROM cursors)"
        ).fetchone()
        return float(row[0]) if row[0] is not None else None

    def polled_at(self, carrier: str) -> float | None:
        """When a poll of ``carrier`` last completed (its cursor was saved), if ever."""
        row = self._db.execute("SELECT updated_at FROM cursors WHERE carrier = ?", (carrier,)).fetchone()
        return float(row[0]) if row else None

    def save_cursor(self, carrier: str, cursor: str) -> None:
        """Save a cursor; call only after what it covers is stored."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?, ?)", (carrier, cursor, time.time()))
