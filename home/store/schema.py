"""The store's schema: every migration ever published, in order.

A published migration never changes (``tests/test_store.py`` pins each by its hash); a
change of schema is a new migration at the end.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

MIGRATIONS: list[str] = [
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
    # 9: the signed notice (its message body) of each accepted rotation, kept so that an
    # export can carry it and an import can verify it: a rotation from a file without its
    # notice could move a name to any key (issue 17, item 8). NULL: accepted before this
    # migration, and its notice not read again since.
    """
    ALTER TABLE rotations ADD COLUMN notice TEXT;
    """,
    # 10: the chat list sealed at rest (issue 18, docs/AT-REST.md). What was kept in the clear
    # about each chat (name, carriers, verifiers, pins, rotations, conflicts, the notice to
    # send, the judged and read marks) becomes one record per chat, sealed under the store
    # key, found by a keyed hash of its name. A migration has no key, so it moves each
    # chat's record to to_seal (JSON, the sealed record's own format) and the first unlock
    # with the master phrase seals it there (home/store/chats.py). The chats table keeps
    # only ids, so the pointers keep their (opaque) chat. json_group_array keeps no promised
    # order: each list is sorted again when its record is read (ChatRecord.from_migration).
    """
    CREATE TABLE to_seal (chat_id INTEGER PRIMARY KEY, record TEXT NOT NULL);
    INSERT INTO to_seal SELECT c.id, json_object(
        'name', c.name, 'normalized_name', c.normalized_name, 'carriers', c.carriers, 'created_at', c.created_at,
        'verifiers', (SELECT json_group_array(json_object('salt', lower(hex(salt)), 'verifier', lower(hex(verifier)),
            'key_salt', iif(key_salt IS NULL, NULL, lower(hex(key_salt))), 'created_at', created_at, 'seq', id))
            FROM (SELECT * FROM verifiers v WHERE v.chat_id = c.id ORDER BY v.id)),
        'pins', (SELECT json_group_array(json_object('username', username, 'public_key', lower(hex(public_key)),
            'first_seen', first_seen)) FROM (SELECT * FROM pins p WHERE p.chat_id = c.id ORDER BY p.first_seen)),
        'rotations', (SELECT json_group_array(json_object('username', username, 'old_key', lower(hex(old_key)),
            'new_key', lower(hex(new_key)), 'at_pointer', at_pointer, 'notice', notice))
            FROM (SELECT * FROM rotations r WHERE r.chat_id = c.id ORDER BY r.at_pointer)),
        'conflicts', (SELECT json_group_array(json_object('username', username, 'old_key', lower(hex(old_key)),
            'new_key', lower(hex(new_key)), 'at_pointer', at_pointer, 'chosen', chosen))
            FROM (SELECT * FROM rotation_conflicts k WHERE k.chat_id = c.id ORDER BY k.at_pointer)),
        'notice_out', (SELECT body FROM rotation_out o WHERE o.chat_id = c.id),
        'judged', coalesce((SELECT through FROM judged j WHERE j.chat_id = c.id), 0),
        'seen', coalesce((SELECT seen_id FROM chat_reads s WHERE s.chat_id = c.id), 0)
    ) FROM chats c;
    DROP TABLE verifiers;
    DROP TABLE pins;
    DROP TABLE rotation_out;
    DROP TABLE rotations;
    DROP TABLE rotation_conflicts;
    DROP TABLE judged;
    DROP TABLE chat_reads;
    CREATE TABLE chats_v10 (id INTEGER PRIMARY KEY, lookup BLOB UNIQUE, sealed BLOB);
    INSERT INTO chats_v10 (id) SELECT id FROM chats;
    DROP TABLE chats;
    ALTER TABLE chats_v10 RENAME TO chats;
    """,
    # 11: marks the store keeps across runs. 'truncate_wal': the write-ahead log may still
    # hold pages written in the clear (the chat list before it was sealed, a hidden or
    # deleted chat's pages) because the last checkpoint found a reader in the way; the next
    # unlock truncates it again (home/store/base.py). Set here once for every store: schema
    # 10's migration and an unlock before this one may have left such pages.
    """
    CREATE TABLE marks (name TEXT PRIMARY KEY) WITHOUT ROWID;
    INSERT INTO marks VALUES ('truncate_wal');
    """,
    # 12: each pointer's version (issue 21: pb2 opens only under the version its armor names,
    # so the payload alone does not say how to open it). 1 for every pointer so far; 0 for a
    # pointer kept by its text with an empty payload (a later version than its build read):
    # the app dearmors those it now reads (pb2) and fills in their payload and version.
    """
    ALTER TABLE pointers ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    UPDATE pointers SET version = 0 WHERE length(payload) = 0;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
