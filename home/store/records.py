"""Export and import: the whole store as plain records (bytes as hex), and adding such
records back without letting a file change what this home has judged.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from typing import Any

from .pointers import PointerTables
from .purged import PurgedStream, add_stream
from .record import ChatRecord, Conflict, Rotation, SecretCheck
from .rows import StoreError, Verifier, highest_pointer_id, pointer_digest, pointer_version

__all__ = ["Records"]


class Records(PointerTables):
    """Export every table but caches as records; import records in one transaction."""

    def export_records(self) -> Iterator[dict[str, Any]]:
        """Everything kept here but caches, as plain records (bytes as hex), oldest first:
        the identity; chats with their verifiers, pins, rotations, waiting notices,
        rotation conflicts and purged numbers (what the chat records hold: the key is needed); tombstones,
        pointers with their posts, cursors. Nothing in it is secret; what names a chat or
        its members is sealed here, and an export seals it again. One read transaction: a
        poll writing meanwhile is not half in it."""
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
                "username": known.username,
                "public_key": known.public_key.hex(),
                "recovery": recovery.hex() if recovery else None,
            }
        chats = self._all_records()
        names = {chat_id: record.normalized_name for chat_id, record in chats}
        for _, record in chats:
            yield {
                "kind": "chat",
                "name": record.name,
                "normalized_name": record.normalized_name,
                "carriers": record.carriers,
                "verifiers": [  # oldest first: the import keeps their order
                    {
                        "salt": c.verifier.salt.hex(),
                        "verifier": c.verifier.verifier.hex(),
                        "key_salt": c.verifier.key_salt.hex() if c.verifier.key_salt else None,
                    }
                    for c in record.checks
                ],
            }
        for _, record in chats:
            for username, (public_key, first_seen) in record.pins.items():
                yield {
                    "kind": "pin",
                    "chat": record.normalized_name,
                    "username": username,
                    "public_key": public_key.hex(),
                    "first_seen": first_seen,
                }
        # A rotation's place is a pointer id, which another store numbers differently: it
        # travels as the digest of the chat's first pointer from there on (the notice, or
        # the next one if the notice was purged); null: after every pointer of the chat.
        # Each carries the body of its signed notice (null: accepted before notices were
        # kept): an importer takes only a rotation whose notice its old key signed.
        for chat_id, record in chats:
            for r in sorted(record.rotations, key=lambda r: r.at_pointer):
                yield {**self._key_change("rotation", chat_id, record.normalized_name, r), "notice": r.notice}
        for _, record in chats:
            if record.notice_out is not None:
                yield {"kind": "rotation_out", "chat": record.normalized_name, "body": record.notice_out}
        for chat_id, record in chats:
            for c in sorted(record.conflicts, key=lambda c: c.at_pointer):
                yield {**self._key_change("rotation_conflict", chat_id, record.normalized_name, c), "chosen": c.chosen}
        for _, record in chats:
            for (key, stream), gone in record.purged.items():
                yield {
                    "kind": "purged",
                    "chat": record.normalized_name,
                    "sender_key": key.hex(),
                    "stream": stream.hex(),
                    "below": gone.below,
                    "runs": [[first, last] for first, last, _ in gone.runs],
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

    def _digest_from(self, chat_id: int, at_pointer: int) -> str | None:
        """The digest (hex) of the chat's first pointer from ``at_pointer`` on; None: none."""
        at = self._db.execute(
            "SELECT digest FROM pointers WHERE chat_id = ? AND id >= ? ORDER BY id LIMIT 1", (chat_id, at_pointer)
        ).fetchone()
        return at[0].hex() if at else None

    def import_records(self, records: Iterable[dict[str, Any]]) -> dict[str, int]:
        """Add exported records in one transaction; return how many of each kind were new.
        What is here already stays as it is (a pointer, a verifier, a cursor), so importing
        twice adds nothing. Pointer records carry their ``payload`` (bytes).

        Trust is not taken from a file (anyone can edit one): pin records add no pin (each
        name is pinned by its first message read here, as on a new machine), a rotation
        counts only with its signed notice (the caller verified it; one without is left
        out), and a conflict's ``chosen`` mark never counts (the name stays frozen until
        the user re-pins here)."""
        added = {
            "chats": 0,
            "verifiers": 0,
            "pointers": 0,
            "cursors": 0,
            "tombstones": 0,
            "rotations": 0,
            "rotation notices": 0,
            "rotation conflicts": 0,
            "purged numbers": 0,
        }
        chats = {record.normalized_name: chat_id for chat_id, record in self._all_records()}
        with self.transaction() as db:
            for record in records:
                kind = record["kind"]
                if kind == "identity":
                    self._import_identity(db, record)
                elif kind == "chat":
                    self._import_chat(db, record, chats, added)
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
                elif kind == "rotation" and record.get("notice") is not None:
                    added["rotations"] += self._import_rotation(db, record, chats)
                elif kind == "rotation_out":
                    added["rotation notices"] += self._import_notice_out(db, record, chats)
                elif kind == "rotation_conflict":
                    added["rotation conflicts"] += self._import_conflict(db, record, chats)
                elif kind == "purged":
                    added["purged numbers"] += self._import_purged(db, record, chats)
        return added

    def _import_notice_out(self, db: sqlite3.Connection, record: dict[str, Any], chats: dict[str, int]) -> int:
        chat_id = chats[record["chat"]]
        kept = self._load(chat_id, db)
        if kept.notice_out is not None:
            return 0
        kept.notice_out = record["body"]
        self._save(db, chat_id, kept)
        return 1

    def _import_purged(self, db: sqlite3.Connection, record: dict[str, Any], chats: dict[str, int]) -> int:
        """Add one stream's purged numbers to those the chat keeps (1 if any was new). Those
        taken have as ``at`` the highest pointer id stored once the file's pointers are in
        (purged records come last): no message stored here then is ever flagged by them as
        a replay, so a file can only count numbers as arrived (hide gaps). Numbers kept
        here already keep theirs (importing twice changes nothing)."""
        chat_id = chats[record["chat"]]
        kept = self._load(chat_id, db)
        where = (bytes.fromhex(record["sender_key"]), bytes.fromhex(record["stream"]))
        have = kept.purged.get(where) or PurgedStream()
        runs = have.not_covered(tuple(run) for run in record["runs"])
        below = record["below"] if record["below"] > have.below else 0
        if not runs and not below:
            return 0
        at = highest_pointer_id(db)
        add_stream(kept.purged, where, PurgedStream([(first, last, at) for first, last in runs], below))
        self._save(db, chat_id, kept)
        return 1

    def _import_conflict(self, db: sqlite3.Connection, record: dict[str, Any], chats: dict[str, int]) -> int:
        """Add a conflict row at the pointer its ``at`` digest names (a conflict freezes a
        name from its notice on, the notice included; a rotation applies after it). It can
        only freeze a name; its ``chosen`` mark is not taken: a file cannot say the user
        verified a key in person (the user re-pins here, ``pbridge chat trust``)."""
        chat_id = chats[record["chat"]]
        kept = self._load(chat_id, db)
        entry = (record["username"], bytes.fromhex(record["old_key"]), bytes.fromhex(record["new_key"]))
        if any((c.username, c.old_key, c.new_key) == entry for c in kept.conflicts):
            return 0
        kept.conflicts.append(Conflict(*entry, Records._place(db, record["at"]) + 1, False))
        self._save(db, chat_id, kept)
        return 1

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

    def _import_rotation(self, db: sqlite3.Connection, record: dict[str, Any], chats: dict[str, int]) -> int:
        """Add a rotation (with its notice) just before the pointer its ``at`` digest names
        (imported before it), or after every pointer stored if there is none."""
        chat_id = chats[record["chat"]]
        kept = self._load(chat_id, db)
        username, old_key = record["username"], bytes.fromhex(record["old_key"])
        if any(r.username == username and r.old_key == old_key for r in kept.rotations):
            return 0
        new_key = bytes.fromhex(record["new_key"])
        kept.rotations.append(Rotation(username, old_key, new_key, Records._place(db, record["at"]), record["notice"]))
        self._save(db, chat_id, kept)
        return 1

    def _key_change(self, kind: str, chat_id: int, chat: str, change: Rotation | Conflict) -> dict[str, Any]:
        """The fields a rotation and a rotation's conflict share in an export."""
        return {
            "kind": kind,
            "chat": chat,
            "username": change.username,
            "old_key": change.old_key.hex(),
            "new_key": change.new_key.hex(),
            "at": self._digest_from(chat_id, change.at_pointer),
        }

    @staticmethod
    def _import_identity(db: sqlite3.Connection, record: dict[str, Any]) -> None:
        key = bytes.fromhex(record["public_key"])
        recovery = bytes.fromhex(record["recovery"]) if record.get("recovery") else None
        here = db.execute("SELECT username, public_key FROM identity").fetchone()
        if here is None:
            db.execute("INSERT INTO identity VALUES (1, ?, ?, ?, ?)", (record["username"], key, time.time(), recovery))
        elif (here[0], here[1]) != (record["username"], key):
            raise StoreError(f"this home's identity is {here[0]!r}, the export's is {record['username']!r}")

    def _import_chat(
        self, db: sqlite3.Connection, record: dict[str, Any], chats: dict[str, int], added: dict[str, int]
    ) -> None:
        normalized = record["normalized_name"]
        now = time.time()
        if normalized not in chats:
            lookup = self._store_key().lookup(normalized)
            chats[normalized] = int(db.execute("INSERT INTO chats (lookup) VALUES (?)", (lookup,)).lastrowid or 0)
            self._save(db, chats[normalized], ChatRecord(record["name"], normalized, list(record["carriers"]), now))
            added["chats"] += 1
        kept = self._load(chats[normalized], db)
        have = {(c.verifier.salt, c.verifier.verifier) for c in kept.checks}
        for item in record["verifiers"]:
            pair = (bytes.fromhex(item["salt"]), bytes.fromhex(item["verifier"]))
            key_salt = bytes.fromhex(item["key_salt"]) if item.get("key_salt") else None
            if pair not in have:
                kept.checks.append(SecretCheck(Verifier(*pair, key_salt), now))
                have.add(pair)
                added["verifiers"] += 1
        self._save(db, chats[normalized], kept)

    @staticmethod
    def _import_pointer(db: sqlite3.Connection, record: dict[str, Any], chats: dict[str, int]) -> int:
        digest = pointer_digest(record["text"])
        chat_id = chats.get(record["chat"]) if record["chat"] is not None else None
        cur = db.execute(
            "INSERT OR IGNORE INTO pointers (digest, text, payload, direction, chat_id, carrier, carrier_ref,"
            " received_at, trashed, version) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
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
                pointer_version(record["text"], record["payload"]),
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
