"""Pointers as carried, where each is to be posted, trash, read marks and tombstones."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable

from .members import MemberTables
from .purged import Number, note_purged
from .record import SendStream
from .rows import (
    _POINTER_COLUMNS,
    _READ_COLUMNS,
    Direction,
    PointerRow,
    StreamMovedError,
    _trash_filter,
    highest_pointer_id,
    pointer_digest,
    pointer_version,
)

__all__ = ["KEEP_LATER_VERSION_BYTES", "KEEP_LATER_VERSION_POINTERS", "PointerTables"]

# How much is kept of pointers of a later version (stored with an empty payload: this build
# cannot open them): anyone who can post to a carrier can post those, so the oldest beyond
# these bounds are dropped (issue 17, item 7).
KEEP_LATER_VERSION_POINTERS = 1000
KEEP_LATER_VERSION_BYTES = 4 * 1024 * 1024
_LATER = "chat_id IS NULL AND direction = 'in' AND length(payload) = 0"
_JUNK = "chat_id IS NULL AND direction = 'in' AND length(payload) < ?"  # ? the shortest payload that opens


def _bound_later_versions(db: sqlite3.Connection) -> None:
    """Drop the oldest pointers of a later version beyond the bounds (newest kept first)."""
    db.execute(
        "DELETE FROM pointers WHERE id IN (SELECT id FROM (SELECT id,"  # noqa: S608
        " row_number() OVER newest AS n, sum(length(text)) OVER newest AS total"
        f" FROM pointers WHERE {_LATER} WINDOW newest AS (ORDER BY id DESC)) WHERE n > ? OR total > ?)",
        (KEEP_LATER_VERSION_POINTERS, KEEP_LATER_VERSION_BYTES),
    )


class PointerTables(MemberTables):
    """The pointers, posts and tombstones tables (and the marks chats keep of them)."""

    def add_pointers(
        self,
        items: Iterable[tuple[str, bytes]],
        direction: Direction,
        *,
        carrier: str | None = None,
        chat_id: int | None = None,
        post_to: Iterable[str] = (),
        posts_notice: bool = False,
        stream: SendStream | None = None,
    ) -> list[int]:
        """Store (text, payload) pointers in one transaction; return the ids of new ones.
        Each is kept with the version its armor names (:func:`pointer_version`).

        A pointer already stored (same text) is left as it is: carriers echo, crashes
        repeat polls, and several carriers bring the same pointer. ``posts_notice``: these
        pointers carry the chat's pending rotation notice, which the same transaction
        clears (a crash cannot post it twice, or lose it). ``stream``: the chat's sending
        stream as it is after these pointers (their seq its last), saved in the same
        transaction: a seq is used once, and never skipped by a crash. If the saved stream
        is no longer the one ``stream`` follows (another process sent in the chat since it
        was read), nothing is stored: :class:`StreamMovedError`.
        """
        now = time.time()
        targets = list(post_to)
        new: list[int] = []
        with self.transaction() as db:
            for text, payload in items:
                digest = pointer_digest(text)
                cur = db.execute(
                    "INSERT OR IGNORE INTO pointers (digest, text, payload, direction, chat_id, carrier, received_at,"
                    " version) SELECT ?, ?, ?, ?, ?, ?, ?, ?"
                    " WHERE NOT EXISTS (SELECT 1 FROM tombstones WHERE digest = ?)",
                    (digest, text, payload, direction, chat_id, carrier, now, pointer_version(text, payload), digest),
                )
                if cur.rowcount:
                    pid = int(cur.lastrowid or 0)
                    new.append(pid)
                    db.executemany("INSERT INTO posts (pointer_id, carrier) VALUES (?, ?)", ((pid, c) for c in targets))
            if (posts_notice or stream is not None) and chat_id is not None:
                record = self._load(chat_id, db)
                if posts_notice:
                    record.notice_out = None
                if stream is not None:
                    _check_next(record.stream, stream)
                    record.stream = stream
                self._save(db, chat_id, record)
            if new and direction == Direction.IN:
                _bound_later_versions(db)
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

    def unopened(self) -> list[tuple[int, str]]:
        """(id, text) of the pointers kept by their text alone (version 0: a build that could
        not read their version stored them), for a build that reads more to fill in."""
        query = "SELECT id, text FROM pointers WHERE version = 0 AND chat_id IS NULL"
        return [(int(pid), str(text)) for pid, text in self._db.execute(query)]

    def fill_payloads(self, filled: Iterable[tuple[int, bytes, int]]) -> None:
        """Give pointers kept unopened their (id, payload, version), now that they can be read."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE pointers SET payload = ?, version = ? WHERE id = ? AND version = 0",
                ((payload, version, pid) for pid, payload, version in filled),
            )

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
    ) -> list[tuple[int, bytes, int, bytes | None, float, int]]:
        """(id, payload, trashed, verified, received_at, version) of a chat's pointers with an id
        above ``after``, in stored order: only what reading needs, as plain tuples (a
        re-read of 100,000 pointers builds each one)."""
        where = "chat_id = ? AND id > ?" + _trash_filter(include_trash, trash_only)
        query = f"SELECT {_READ_COLUMNS} FROM pointers WHERE {where} ORDER BY id"  # noqa: S608
        return self._db.execute(query, (chat_id, after)).fetchall()

    def history_page(
        self, chat_id: int, before: int | None, limit: int, *, include_trash: bool = False, trash_only: bool = False
    ) -> list[tuple[int, bytes, int, bytes | None, float, int]]:
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

    def set_trashed(self, pointer_ids: Iterable[int], trashed: bool) -> None:
        """Move pointers to the trash or back."""
        with self.transaction() as db:
            db.executemany("UPDATE pointers SET trashed = ? WHERE id = ?", ((int(trashed), pid) for pid in pointer_ids))

    def purge(self, pointer_ids: Iterable[int], chat_id: int = 0, numbers: Iterable[Number] = ()) -> None:
        """Delete pointers for good: a carrier that brings them again is ignored.
        ``numbers``: the (sender key, stream, seq) of the pb2 messages they are, noted in
        chat ``chat_id``'s sealed record (:mod:`.purged`) in the same transaction: a crash
        neither loses the note nor leaves the pointers."""
        ids = [(pid,) for pid in pointer_ids]
        with self.transaction() as db:
            numbers = list(numbers)
            if numbers:
                record = self._load(chat_id, db)
                note_purged(record.purged, numbers, highest_pointer_id(db))
                self._save(db, chat_id, record)
            db.executemany("INSERT OR IGNORE INTO tombstones SELECT digest FROM pointers WHERE id = ?", ids)
            db.executemany("DELETE FROM pointers WHERE id = ?", ids)
        self._checkpoint()

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
            "SELECT count(*) FROM pointers WHERE chat_id = ? AND direction = 'in' AND trashed = 0 AND id > ?",
            (chat_id, self.seen_through(chat_id)),
        ).fetchone()[0]
        return unread, (float(newest[0]) if newest else None)

    def junk(self, min_payload: int) -> tuple[int, int]:
        """(how many, bytes of text) of the unrouted pointers no chat can ever open here: a
        payload shorter than ``min_payload`` (stored by a build before issue 17, item 7), or
        of a later version (an empty payload)."""
        query = f"SELECT count(*), coalesce(sum(length(text)), 0) FROM pointers WHERE {_JUNK}"  # noqa: S608
        count, size = self._db.execute(query, (min_payload,)).fetchone()
        return int(count), int(size)

    def delete_junk(self, min_payload: int) -> tuple[int, int]:
        """Delete what :meth:`junk` counts (no tombstones: a carrier that brings such a
        pointer again is judged again); return (how many, bytes of text)."""
        with self.transaction():
            found = self.junk(min_payload)
            self._db.execute(f"DELETE FROM pointers WHERE {_JUNK}", (min_payload,))  # noqa: S608
        self._checkpoint()
        return found

    def unrouted_bytes(self) -> int:
        """Bytes of text of the pointers no chat has claimed yet."""
        query = "SELECT coalesce(sum(length(text)), 0) FROM pointers WHERE chat_id IS NULL"
        return int(self._db.execute(query).fetchone()[0])

    def unrouted_count(self) -> int:
        """How many pointers no chat has claimed yet (an index range)."""
        return int(self._db.execute("SELECT count(*) FROM pointers WHERE chat_id IS NULL").fetchone()[0])

    def arrived_after(self, chat_id: int, after: int) -> tuple[int, int, int]:
        """(how many of the chat's pointers have an id above ``after``, how many of those came in
        (not sent from here), their highest id or ``after`` if none): an index range read."""
        query = "SELECT count(*), coalesce(sum(direction = 'in'), 0), coalesce(max(id), ?) FROM pointers"
        row = self._db.execute(query + " WHERE chat_id = ? AND id > ?", (after, chat_id, after)).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

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

    def received_at(self, pointer_id: int) -> float | None:
        """When a pointer reached this store (Unix seconds), if it is stored."""
        row = self._db.execute("SELECT received_at FROM pointers WHERE id = ?", (pointer_id,)).fetchone()
        return float(row[0]) if row else None

    def opened_any(self, chat_id: int, since: float = 0.0) -> bool:
        """Whether a received pointer that reached this store at or after ``since`` was
        ever routed to a chat: if not, its secrets opened nothing that arrived then (stops
        at the first, on the chat's index)."""
        query = "SELECT 1 FROM pointers WHERE chat_id = ? AND direction = 'in' AND received_at >= ? LIMIT 1"
        return self._db.execute(query, (chat_id, since)).fetchone() is not None

    def opened_since(self, chat_id: int, since: float) -> list[bytes]:
        """The payloads of the received pointers routed to a chat that reached this store
        at or after ``since``."""
        query = "SELECT payload FROM pointers WHERE chat_id = ? AND direction = 'in' AND received_at >= ?"
        return [r[0] for r in self._db.execute(query, (chat_id, since))]

    def unrouted_from(self, carriers: Iterable[str], since: float = 0.0) -> list[bytes]:
        """The payloads of the pointers that arrived on any of ``carriers`` at or after
        ``since`` and that no chat has claimed yet (a later version's left out)."""
        names = list(carriers)
        if not names:
            return []
        query = (
            "SELECT payload FROM pointers WHERE chat_id IS NULL AND length(payload) > 0"  # noqa: S608
            f" AND received_at >= ? AND carrier IN ({', '.join('?' * len(names))})"
        )
        return [r[0] for r in self._db.execute(query, (since, *names))]


def _check_next(saved: SendStream | None, following: SendStream) -> None:
    """Refuse ``following`` unless it is the saved stream's next number (or a new stream,
    which needs nothing before it): two processes must never seal two messages under one
    number, which every receiver would flag as a replay."""
    if following.seq == 1:
        return
    if saved is None or saved.stream != following.stream or saved.seq != following.seq - 1:
        raise StreamMovedError("the chat's sending stream moved on meanwhile (another process sent in it)")
