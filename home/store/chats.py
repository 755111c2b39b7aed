"""Chats, sealed: the user's identity (in the clear: it is the home's own), and one sealed
record per chat (:mod:`.record`) holding its name, carriers, verifiers, pins, rotations,
conflicts and marks, found by a keyed hash of its name (docs/AT-REST.md).

Everything here but the identity needs the store key (:meth:`ChatTables.unlock`, given at
the identity's unlock); without it a call raises :class:`StoreLockedError`. The bot's
tables (pointers, posts, cursors, runs) never need it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .base import StoreBase
from .record import ChatRecord, SecretCheck
from .rows import ChatRow, IdentityRow, StoreError, StoreLockedError, Verifier

if TYPE_CHECKING:
    from pointerbridge.core.store_key import StoreKey

__all__ = ["ChatTables"]


_EXPORT = b"export\x00"  # where an export's sealed records are kept (docs/EXPORT.md)


def _context(lookup: bytes) -> bytes:
    return b"chat\x00" + lookup


def _waiting(db: sqlite3.Connection, chat_id: int | None, live: Collection[str]) -> int:
    """Posts still waiting for one of the ``live`` carriers, of one chat (None: of any)."""
    row = db.execute(
        "SELECT count(*) FROM posts o JOIN pointers p ON p.id = o.pointer_id WHERE o.posted_at IS NULL"
        " AND p.chat_id IS NOT NULL AND (? IS NULL OR p.chat_id = ?)"
        " AND o.carrier IN (SELECT value FROM json_each(?))",
        (chat_id, chat_id, json.dumps(sorted(live))),
    ).fetchone()
    return int(row[0])


def _row(chat_id: int, record: ChatRecord) -> ChatRow:
    current = record.checks[-1].verifier.key_salt if record.checks else None
    return ChatRow(chat_id, record.name, record.normalized_name, list(record.carriers), current)


class ChatTables(StoreBase):
    """The identity, and the chats with everything known of them, sealed."""

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

    # -- the store key ---------------------------------------------------------------

    def unlock(self, key: StoreKey) -> int:
        """Use ``key`` (the unlocked identity's :meth:`~pointerbridge.core.keys.Identity.store_key`)
        from now on, and seal what schema 10's migration left in the clear (a store last
        opened before it, or by the bot alone since); return how many chats were sealed now.
        A record that does not parse stays aside, its chat out of the list (pbridge doctor
        names it); the others are sealed. With nothing to seal and no WAL to truncate again,
        nothing is written (the bot may hold the write lock)."""
        self._key = key
        sealable = []
        for chat_id, raw in self._db.execute("SELECT chat_id, record FROM to_seal ORDER BY chat_id").fetchall():
            try:
                sealable.append((int(chat_id), ChatRecord.from_migration(raw)))
            except StoreError:
                continue  # kept aside: doctor's "chat list" finding names it
        sealed = 0
        if sealable or self._wal_marked():
            with self.transaction() as db:
                for chat_id, record in sealable:
                    # another process's unlock may have sealed it since it was read
                    if db.execute("DELETE FROM to_seal WHERE chat_id = ?", (chat_id,)).rowcount:
                        self._save(db, chat_id, record)
                        sealed += 1
                self._mark_wal(db)
        if sealable or self._wal_marked():
            self._checkpoint()
        return sealed

    def damaged_to_seal(self) -> list[tuple[int, str]]:
        """The chats schema 10's migration left whose record does not parse: (chat id, what
        is wrong). They stay in the clear, out of the chat list, their pointers kept."""
        found = []
        for chat_id, raw in self._db.execute("SELECT chat_id, record FROM to_seal ORDER BY chat_id"):
            try:
                ChatRecord.from_migration(raw)
            except StoreError as exc:
                found.append((int(chat_id), str(exc)))
        return found

    def unlock_like(self, other: ChatTables) -> None:
        """Use the key ``other`` (another connection to this store, in another thread) was
        given, if any: nothing to seal, that unlock did it."""
        self._key = other._key

    @property
    def unlocked(self) -> bool:
        """Whether the store key was given (the chat list can be read)."""
        return self._key is not None

    def waiting_to_seal(self) -> int:
        """How many chats a migration left in the clear until the next unlock."""
        return int(self._db.execute("SELECT count(*) FROM to_seal").fetchone()[0])

    def chat_count(self) -> int:
        """How many chats this home has (their rows; no key needed: a thief can count them)."""
        return int(self._db.execute("SELECT count(*) FROM chats").fetchone()[0])

    def chat_lookup(self, normalized_name: str) -> bytes:
        """The keyed hash this store finds the chat ``normalized_name`` by (an export names
        a pointer's chat by it)."""
        return self._store_key().lookup(normalized_name)

    def seal_for_export(self, data: bytes, place: bytes = b"") -> bytes:
        """``data`` (a line of an export) sealed under the store key, bound to ``place``
        (where in which export it is: docs/EXPORT.md; empty in version 3)."""
        return self._store_key().seal(data, _EXPORT + place)

    def open_from_export(self, sealed: bytes, place: bytes = b"") -> bytes:
        """What :meth:`seal_for_export` sealed with the same ``place``; raise
        :class:`~pointerbridge.core.store_key.SealedDataError` for anything else (sealed
        under another identity's key, changed, or bound to another place)."""
        return self._store_key().open(sealed, _EXPORT + place)

    def _store_key(self) -> StoreKey:
        if self._key is None:
            raise StoreLockedError("the chat list is sealed under the master phrase: unlock the identity first")
        return self._key

    def _open(self, lookup: bytes | None, sealed: bytes | None) -> ChatRecord:
        from pointerbridge.core.store_key import SealedDataError

        if not isinstance(lookup, bytes) or not isinstance(sealed, bytes):  # NULL, or changed to text by hand
            raise StoreError(
                "a chat's record is not sealed data (changed outside pbridge: pbridge doctor)", damaged=True
            )
        try:
            return ChatRecord.from_bytes(self._store_key().open(bytes(sealed), _context(bytes(lookup))))
        except SealedDataError as exc:
            raise StoreError(f"a chat's record does not open: {exc} (pbridge doctor)", damaged=True) from None

    def _load(self, chat_id: int, db: sqlite3.Connection | None = None) -> ChatRecord:
        row = (db or self._db).execute("SELECT lookup, sealed FROM chats WHERE id = ?", (chat_id,)).fetchone()
        if row is None:
            raise StoreError(f"no chat {chat_id} in the store")
        return self._open(row[0], row[1])

    def _save(self, db: sqlite3.Connection, chat_id: int, record: ChatRecord, key: StoreKey | None = None) -> None:
        key = key or self._store_key()
        lookup = key.lookup(record.normalized_name)
        sealed = key.seal(record.to_bytes(), _context(lookup))
        db.execute("UPDATE chats SET lookup = ?, sealed = ? WHERE id = ?", (lookup, sealed, chat_id))

    @contextmanager
    def _editing(self, chat_id: int) -> Iterator[ChatRecord]:
        """A chat's record to change in place, sealed again in the same transaction."""
        with self.transaction() as db:
            record = self._load(chat_id, db)
            yield record
            self._save(db, chat_id, record)

    def _all_records(self) -> list[tuple[int, ChatRecord]]:
        self._store_key()
        rows = self._db.execute(
            "SELECT id, lookup, sealed FROM chats WHERE id NOT IN (SELECT chat_id FROM to_seal) ORDER BY id"
        ).fetchall()
        return [(r[0], self._open(r[1], r[2])) for r in rows]

    # -- chats -----------------------------------------------------------------------

    def add_chat(self, name: str, normalized_name: str, check: Verifier, carriers: list[str]) -> ChatRow:
        """Create a chat with the verifier of its secret."""
        now = time.time()
        record = ChatRecord(name, normalized_name, list(carriers), now, [SecretCheck(check, now)])
        lookup = self._store_key().lookup(normalized_name)
        with self.transaction() as db:
            try:
                chat_id = int(db.execute("INSERT INTO chats (lookup) VALUES (?)", (lookup,)).lastrowid or 0)
            except sqlite3.IntegrityError:
                raise StoreError(f"a chat named {name!r} exists already") from None
            self._save(db, chat_id, record)
        return _row(chat_id, record)

    def chat(self, normalized_name: str) -> ChatRow | None:
        """The chat with this normalized name."""
        lookup = self._store_key().lookup(normalized_name)
        row = self._db.execute("SELECT id, sealed FROM chats WHERE lookup = ?", (lookup,)).fetchone()
        return _row(row[0], self._open(lookup, row[1])) if row else None

    def chats(self) -> list[ChatRow]:
        """Every chat, by name."""
        return sorted((_row(i, r) for i, r in self._all_records()), key=lambda c: c.normalized_name)

    def verifiers(self, chat_id: int) -> list[Verifier]:
        """The verifiers of a chat's secrets, newest (the current secret's) first."""
        return self._load(chat_id).verifiers

    def add_verifier(self, chat_id: int, check: Verifier) -> None:
        """Add a verifier of a new secret of a chat (a rekey): the newest is the current one."""
        with self._editing(chat_id) as record:
            record.checks.append(SecretCheck(check, time.time()))

    def make_current(self, chat_id: int, position: int, check: Verifier) -> None:
        """Make an earlier secret of a chat its current one again: the verifier at
        ``position`` (newest first, as :meth:`verifiers` lists them) is replaced by
        ``check`` (a new verifier of the same key), stored as the newest. Nothing is
        dropped: the secret current until now stays as an earlier one."""
        with self._editing(chat_id) as record:
            if not 0 <= position < len(record.checks):
                raise StoreError(f"chat {chat_id} has no secret number {position}")
            del record.checks[len(record.checks) - 1 - position]
            record.checks.append(SecretCheck(check, time.time()))

    def secret_set_at(self, chat_id: int) -> float:
        """When the chat's current (newest) secret was set (Unix seconds): its join,
        creation, rekey or correction."""
        checks = self._load(chat_id).checks
        return checks[-1].created_at if checks else 0.0

    def set_chat_carriers(self, chat_id: int, carriers: list[str]) -> ChatRow:
        """Replace a chat's carriers; return the updated row."""
        with self._editing(chat_id) as record:
            record.carriers = list(carriers)
        return _row(chat_id, record)

    def delete_chat(self, chat_id: int) -> None:
        """Delete a chat and every pointer of it; its pointers are never stored again."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO tombstones SELECT digest FROM pointers WHERE chat_id = ?", (chat_id,))
            db.execute("DELETE FROM chats WHERE id = ?", (chat_id,))
            self._mark_wal(db)
        self._checkpoint()

    def rotate_identity(
        self, username: str, old_key: bytes, new_key: bytes, notice: str, recovery: bytes | None, store_key: StoreKey
    ) -> None:
        """In one transaction: pin ``old_key`` for ``username`` in every chat that has no
        pin for it yet (their old messages stay pinned), queue ``notice`` for every chat,
        seal every chat again under the new identity's ``store_key``, and make ``new_key``
        (with its recovery code) this home's identity."""
        now = time.time()
        with self.transaction() as db:
            for chat_id, record in self._all_records():
                record.pins.setdefault(username, (old_key, now))
                record.notice_out = notice
                self._save(db, chat_id, record, store_key)
            db.execute("INSERT OR REPLACE INTO identity VALUES (1, ?, ?, ?, ?)", (username, new_key, now, recovery))
            self._mark_wal(db)  # the records sealed under the old key: a leaked old phrase opens them
        self._key = store_key
        self._checkpoint()

    def replace_identity(
        self, username: str, public_key: bytes, recovery: bytes | None, store_key: StoreKey, live: Collection[str]
    ) -> tuple[int, int]:
        """Make another identity this home's without a rotation (``init --force``), in one
        transaction. Unlocked (the identity it replaces was unlocked here), every chat is
        sealed again under the new identity's ``store_key`` and this home's pins of
        ``username`` move to the new key, so its own new messages are not shown to it as a
        changed key (no other member is told: theirs are). Locked (only the new phrase is
        known), the chats cannot be opened: each is hidden as :meth:`hide_chat` does (its
        pointers stay, unrouted, and come back when the chat is joined again). Returns
        (chats hidden, posts waiting): while a post to a ``live`` carrier waits, a locked
        replace changes nothing (0 hidden): hidden, it would go out as a received pointer."""
        now = time.time()
        hidden = 0
        with self.transaction() as db:
            if self._key is not None:
                for chat_id, record in self._all_records():
                    if username in record.pins:
                        record.pins[username] = (public_key, now)
                    self._save(db, chat_id, record, store_key)
            else:
                waiting = _waiting(db, None, live)
                if waiting:
                    return 0, waiting
                for (chat_id,) in db.execute("SELECT id FROM chats").fetchall():
                    self._unlink(db, chat_id)
                    hidden += 1
                db.execute("DELETE FROM to_seal")
            db.execute("INSERT OR REPLACE INTO identity VALUES (1, ?, ?, ?, ?)", (username, public_key, now, recovery))
            self._mark_wal(db)
        self._key = store_key
        self._checkpoint()
        return hidden, 0

    # -- hiding -----------------------------------------------------------------------

    def hide_chat(self, chat_id: int, live: Collection[str]) -> tuple[int, int]:
        """Forget a chat but keep its pointers, as a carrier's unrouted junk is kept: each
        is unlinked from the chat, marked received, out of the trash, its posts and proofs
        dropped; the chat's sealed record is deleted (and overwritten: secure_delete). The
        pointers come back when the chat is made again with its name and secret. Returns
        (pointers kept, posts waiting): a chat with posts still waiting for a ``live``
        carrier (one configured: a removed one's never go) is left as it was (0 kept), in
        the same transaction that counted them."""
        with self.transaction() as db:
            waiting = _waiting(db, chat_id, live)
            if waiting:
                return 0, waiting
            if db.execute("SELECT 1 FROM chats WHERE id = ?", (chat_id,)).fetchone() is None:
                raise StoreError(f"no chat {chat_id} in the store")
            kept = self._unlink(db, chat_id)
            self._mark_wal(db)
        self._checkpoint()
        return kept, 0

    def posts_waiting(self, chat_id: int, live: Collection[str]) -> int:
        """How many posts of a chat's pointers still wait for a ``live`` carrier."""
        return _waiting(self._db, chat_id, live)

    @staticmethod
    def _unlink(db: sqlite3.Connection, chat_id: int) -> int:
        # An outgoing pointer becomes what an incoming one looks like: the carrier it was
        # posted to (the first) as the carrier it came from, no posts, no marks.
        db.execute(
            "UPDATE pointers SET carrier = coalesce(carrier, (SELECT min(carrier) FROM posts o"
            " WHERE o.pointer_id = pointers.id)) WHERE chat_id = ? AND direction = 'out'",
            (chat_id,),
        )
        # Its callers refused while a post waits for a live carrier: what is left waits for none.
        db.execute("DELETE FROM posts WHERE pointer_id IN (SELECT id FROM pointers WHERE chat_id = ?)", (chat_id,))
        kept = db.execute(
            "UPDATE pointers SET chat_id = NULL, direction = 'in', trashed = 0, verified = NULL, carrier_ref = NULL"
            " WHERE chat_id = ?",
            (chat_id,),
        ).rowcount
        db.execute("DELETE FROM chats WHERE id = ?", (chat_id,))
        return int(kept)
