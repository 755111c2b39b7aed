"""The chat list sealed at rest (docs/AT-REST.md): the store key, the sealed records, and
the migration of every earlier schema."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from pointerbridge.core.store_key import SealedDataError, StoreKey
from pointerbridge.home.store import SCHEMA_VERSION, Store, StoreError, StoreLockedError, Verifier

NAME = "Family Chat Zanzibar"
MEMBER = "bobthebuilder"
MEMBER_KEY = bytes(range(32))


def _files_of(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.is_file())


def test_sealed_bytes_open_only_under_their_key_and_context() -> None:
    key = StoreKey(os.urandom(32))
    sealed = key.seal(b"hello", b"chat\x00one")
    assert key.open(sealed, b"chat\x00one") == b"hello"
    assert len(sealed) >= 1 + 12 + 240 + 16  # padded to a Padme bucket: a short record looks like any other
    assert len(key.seal(b"x" * 30, b"c")) == len(key.seal(b"y" * 200, b"c"))
    with pytest.raises(SealedDataError, match="does not open"):
        key.open(sealed, b"chat\x00two")  # moved to another row
    with pytest.raises(SealedDataError, match="does not open"):
        StoreKey(os.urandom(32)).open(sealed, b"chat\x00one")  # another identity's key
    altered = bytearray(sealed)
    altered[20] ^= 1
    with pytest.raises(SealedDataError):
        key.open(bytes(altered), b"chat\x00one")
    with pytest.raises(SealedDataError, match="version"):
        key.open(b"\x02" + sealed[1:], b"chat\x00one")
    with pytest.raises(SealedDataError, match="length"):
        key.open(sealed[:10], b"chat\x00one")


def test_lookups_are_keyed_and_the_key_never_leaves_ram() -> None:
    import pickle

    first, second = StoreKey(b"\x01" * 32), StoreKey(b"\x02" * 32)
    assert first.lookup("family") == StoreKey(b"\x01" * 32).lookup("family") != second.lookup("family")
    assert first.lookup("family") != first.lookup("family ")
    assert "\\x01" not in repr(first)
    with pytest.raises(TypeError):
        pickle.dumps(first)


def test_the_identity_gives_a_store_key_of_its_own() -> None:
    from pointerbridge.core.keys import Identity

    identity = Identity("alice", b"\x07" * 32)
    again = Identity("alice", b"\x07" * 32)
    assert identity.store_key().lookup("x") == again.store_key().lookup("x")
    assert identity.store_key().lookup("x") != StoreKey(b"\x07" * 32).lookup("x")  # never the seed itself
    assert identity.store_key().lookup("x") != Identity("alice", b"\x08" * 32).store_key().lookup("x")


def _home_store(tmp_path: Path) -> tuple[Store, StoreKey]:
    tmp_path.mkdir(exist_ok=True)
    store = Store.open(tmp_path / "store.db")
    key = StoreKey(os.urandom(32))
    store.unlock(key)
    return store, key


def test_a_locked_store_refuses_the_chat_list_but_not_the_bots_work(tmp_path: Path) -> None:
    store, key = _home_store(tmp_path)
    store.add_chat(NAME, NAME.casefold(), Verifier(b"s" * 16, b"v" * 32, b"k" * 16), ["shared"])
    store.close()
    with Store.open(tmp_path / "store.db") as locked:
        with pytest.raises(StoreLockedError, match="master phrase") as refused:
            locked.chats()
        assert refused.value.exit_code == 36
        assert locked.add_pointers([("pb1x", b"\x00" * 300)], "in", carrier="shared")  # the bot still stores
        locked.unlock(key)
        assert [c.name for c in locked.chats()] == [NAME]


def test_a_chat_sealed_under_another_key_or_moved_is_a_damaged_store(tmp_path: Path) -> None:
    store, _ = _home_store(tmp_path)
    one = store.add_chat("one", "one", Verifier(b"s" * 16, b"v" * 32, None), [])
    two = store.add_chat("two", "two", Verifier(b"s" * 16, b"w" * 32, None), [])
    db = sqlite3.connect(tmp_path / "store.db")
    sealed = db.execute("SELECT sealed FROM chats WHERE id = ?", (one.id,)).fetchone()[0]
    db.execute("UPDATE chats SET sealed = ? WHERE id = ?", (sealed, two.id))  # one's record moved to two's row
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="does not open") as damaged:
        store.chats()
    assert damaged.value.damaged
    store.unlock(StoreKey(os.urandom(32)))
    assert store.chat("one") is None  # another identity's key finds nothing by name
    store.close()


def test_every_change_to_a_chat_is_sealed_and_read_back(tmp_path: Path) -> None:
    store, _ = _home_store(tmp_path)
    row = store.add_chat(NAME, NAME.casefold(), Verifier(b"s" * 16, b"v" * 32, b"k" * 16), ["shared"])
    store.pin(row.id, MEMBER, MEMBER_KEY)
    store.pin(row.id, MEMBER, b"\xff" * 32)  # a pin is kept
    store.add_verifier(row.id, Verifier(b"t" * 16, b"w" * 32, b"n" * 16))
    store.add_rotation(row.id, MEMBER, MEMBER_KEY, b"\x09" * 32, 7, "notice")
    store.add_conflicts(row.id, [(MEMBER, b"\x09" * 32, b"\x0a" * 32, 9, True)])
    store.set_judged(row.id, 12)
    store.set_judged(row.id, 3)  # never moves back
    store.set_chat_carriers(row.id, ["shared", "other"])
    assert store.pins(row.id) == {MEMBER: MEMBER_KEY}
    assert [v.key_salt for v in store.verifiers(row.id)] == [b"n" * 16, b"k" * 16]
    assert store.chat(NAME.casefold()) == store.chats()[0]
    assert store.chats()[0].salt == b"n" * 16 and store.chats()[0].carriers == ["shared", "other"]
    assert [(r.username, r.at_pointer) for r in store.rotations(row.id)] == [(MEMBER, 7)]
    assert [(c.new_key, c.chosen) for c in store.conflicts(row.id)] == [(b"\x0a" * 32, False)]
    assert store.judged_through(row.id) == 12
    store.make_current(row.id, 1, Verifier(b"u" * 16, b"x" * 32, b"k" * 16))
    assert [v.salt for v in store.verifiers(row.id)] == [b"u" * 16, b"t" * 16]
    store.close()
    found = _files_of(tmp_path)
    for needle in (NAME.encode(), NAME.casefold().encode(), MEMBER.encode(), MEMBER_KEY, MEMBER_KEY.hex().encode()):
        assert needle not in found


def _earlier_store(path: Path, version: int) -> None:
    """A store of schema ``version`` holding one chat with a member, as that schema kept it."""
    from pointerbridge.home.store.schema import MIGRATIONS

    if version >= 10:  # schema 10 on: the chat waits in to_seal, as a bot's migration left it
        _earlier_store(path, 9)
        with sqlite3.connect(path) as db:
            db.executescript(";".join(MIGRATIONS[9:version]) + f"; PRAGMA user_version = {version};")
        db.close()
        return
    db = sqlite3.connect(path)
    db.executescript(";".join(MIGRATIONS[:version]) + f"; PRAGMA user_version = {version};")
    db.execute(
        "INSERT INTO chats (id, name, normalized_name, carriers, created_at) VALUES (3, ?, ?, '[\"shared\"]', 1)",
        (NAME, NAME.casefold()),
    )
    db.execute("INSERT INTO verifiers (chat_id, salt, verifier, created_at) VALUES (3, x'aa', x'bb', 2)")
    db.execute("INSERT INTO pins VALUES (3, ?, ?, 4)", (MEMBER, MEMBER_KEY))
    db.execute(
        "INSERT INTO pointers (id, digest, text, payload, direction, chat_id, received_at)"
        " VALUES (5, x'01', 'pb1old', x'00', 'in', 3, 0)"
    )
    if version >= 5:
        db.execute(
            "INSERT INTO rotations (chat_id, username, old_key, new_key, at_pointer) VALUES (3, ?, ?, ?, 5)",
            (MEMBER, MEMBER_KEY, b"\x09" * 32),
        )
        db.execute("INSERT INTO judged VALUES (3, 5)")
        db.execute("INSERT INTO chat_reads VALUES (3, 5)")
        db.execute("INSERT INTO rotation_out VALUES (3, 'waiting notice')")
    db.commit()
    db.close()


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_every_earlier_schema_is_sealed_at_the_first_unlock(tmp_path: Path, version: int) -> None:
    path = tmp_path / "store.db"
    _earlier_store(path, version)
    with Store.open(path) as bot:  # a bot opens it first: migrated, nothing sealed, its work goes on
        assert bot.schema_version == SCHEMA_VERSION and bot.waiting_to_seal() == 1
        assert [r.text for r in bot.unrouted()] == []  # the pointer kept its chat
        assert bot.add_pointers([("pb1new", b"\x01" * 300)], "in", carrier="shared")
        assert bot.schema_problems() == []
    with Store.open(path) as store:
        key = StoreKey(os.urandom(32))
        assert store.unlock(key) == 1 and store.waiting_to_seal() == 0
        (chat,) = store.chats()
        assert (chat.id, chat.name, chat.carriers, chat.salt) == (3, NAME, ["shared"], None)
        assert store.verifiers(3) == [Verifier(b"\xaa", b"\xbb", None)]
        assert store.pins(3) == {MEMBER: MEMBER_KEY}
        assert store.history(3)[0][0] == 5
        if version >= 5:
            assert [r.new_key for r in store.rotations(3)] == [b"\x09" * 32]
            assert store.judged_through(3) == 5 and store.seen_through(3) == 5
            assert store.pending_notices() == [NAME]
        assert store.unlock(key) == 0  # sealed once
    found = _files_of(tmp_path)
    for needle in (NAME.encode(), NAME.casefold().encode(), MEMBER.encode(), MEMBER_KEY, MEMBER_KEY.hex().encode()):
        assert needle not in found, (version, needle)


@pytest.mark.parametrize("value", ["'plain text'", "CAST(x'ff00fe' AS TEXT)", "NULL"])
def test_a_record_changed_by_hand_into_anything_but_sealed_bytes_is_a_store_error(tmp_path: Path, value: str) -> None:
    store, _ = _home_store(tmp_path)
    store.add_chat(NAME, NAME.casefold(), Verifier(b"s" * 16, b"v" * 32, None), [])
    db = sqlite3.connect(tmp_path / "store.db")
    db.execute(f"UPDATE chats SET sealed = {value}")
    db.commit()
    db.close()
    with pytest.raises(StoreError) as damaged:
        store.chats()
    assert damaged.value.damaged and "\n" not in str(damaged.value) and "\ufffd" not in str(damaged.value)
    store.close()


def test_a_checkpoint_a_reader_blocks_is_tried_again_at_the_next_unlock(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    _earlier_store(path, 9)
    reader = sqlite3.connect(path, isolation_level=None)
    with Store.open(path) as store:  # migrated: the chat's name went through the WAL in the clear
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM pointers").fetchone()  # a poll's read, mid-way
        store._db.execute("PRAGMA busy_timeout = 50")
        key = StoreKey(os.urandom(32))
        assert store.unlock(key) == 1
        assert NAME.encode() in (tmp_path / "store.db-wal").read_bytes()  # the reader kept the WAL
        assert store._wal_marked()
        reader.execute("COMMIT")
    reader.close()
    with Store.open(path) as store:
        store.unlock(key)  # nothing to seal, but the WAL is truncated now
        assert not store._wal_marked()
        assert store.unlock(key) == 0
    for needle in (NAME.encode(), NAME.casefold().encode(), MEMBER.encode(), MEMBER_KEY):
        assert needle not in _files_of(tmp_path)


def test_an_unlock_with_nothing_to_seal_takes_no_write_lock(tmp_path: Path) -> None:
    store, key = _home_store(tmp_path)
    store.add_chat(NAME, NAME.casefold(), Verifier(b"s" * 16, b"v" * 32, None), [])
    writer = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the bot, storing what it polled
    with Store.open(tmp_path / "store.db") as other:
        other._db.execute("PRAGMA busy_timeout = 50")
        assert other.unlock(key) == 0
        assert [c.name for c in other.chats()] == [NAME]
    writer.execute("ROLLBACK")
    writer.close()
    store.close()


def test_a_damaged_record_left_by_the_migration_does_not_keep_the_others_from_unlocking(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    _earlier_store(path, 10)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO chats (id) VALUES (4)")
        db.execute('INSERT INTO to_seal VALUES (4, \'{"name": "half a record"}\')')
    db.close()
    with Store.open(path) as store:
        assert store.unlock(StoreKey(os.urandom(32))) == 1
        assert [c.name for c in store.chats()] == [NAME]  # the damaged one is kept aside, out of the list
        assert [chat_id for chat_id, _ in store.damaged_to_seal()] == [4]
        assert store.waiting_to_seal() == 1


def test_the_migrations_lists_are_put_in_order_whatever_order_sqlite_gave(tmp_path: Path) -> None:
    from pointerbridge.home.store.record import ChatRecord

    raw = (
        '{"name": "n", "normalized_name": "n", "carriers": "[]", "created_at": 1, "notice_out": null,'
        ' "judged": 0, "seen": 0, "verifiers": ['
        '{"salt": "bb", "verifier": "02", "key_salt": null, "created_at": 5, "seq": 2},'
        '{"salt": "aa", "verifier": "01", "key_salt": null, "created_at": 5, "seq": 1},'
        '{"salt": "cc", "verifier": "00", "key_salt": null, "created_at": 3, "seq": 9}],'
        ' "pins": [{"username": "late", "public_key": "01", "first_seen": 9},'
        ' {"username": "early", "public_key": "02", "first_seen": 1}],'
        ' "rotations": [{"username": "u", "old_key": "01", "new_key": "02", "at_pointer": 9, "notice": null},'
        ' {"username": "u", "old_key": "00", "new_key": "01", "at_pointer": 2, "notice": null}],'
        ' "conflicts": null}'
    )
    record = ChatRecord.from_migration(raw)
    # the newest row is the current secret, though the clock stepped back before it was set
    assert [c.verifier.salt for c in record.checks] == [b"\xaa", b"\xbb", b"\xcc"]
    without_rows = ChatRecord.from_migration(raw.replace(', "seq": 2', "").replace(', "seq": 1', ""))
    assert [c.verifier.salt for c in without_rows.checks] == [b"\xcc", b"\xbb", b"\xaa"]  # by time, then as given
    assert list(record.pins) == ["early", "late"]
    assert [r.at_pointer for r in record.rotations] == [2, 9]


def test_a_migration_another_process_applied_since_the_version_was_read_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    _earlier_store(path, 10)
    # The bot and the user's first command open it at the same minute: the second migrated
    # first, the first read version 10 before it did.
    with Store.open(path) as first, Store.open(path) as second:
        first._migrate_from(10)  # was: "table marks already exists" (StoreError)
        assert first.schema_version == second.schema_version == SCHEMA_VERSION
        assert first.waiting_to_seal() == 1


def test_a_migration_spills_nothing_to_a_temporary_file(tmp_path: Path) -> None:
    with Store.open(tmp_path / "store.db") as store:
        assert store._db.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY: no etilqs_* file in /tmp


def test_a_rotation_the_checkpoint_could_not_finish_is_truncated_at_the_next_unlock(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    old, new = StoreKey(os.urandom(32)), StoreKey(os.urandom(32))
    store = Store.open(path)
    store.unlock(old)
    store.set_identity("alice", b"\x01" * 32)
    row = store.add_chat(NAME, NAME.casefold(), Verifier(b"s" * 16, b"v" * 32, None), [])
    store.pin(row.id, MEMBER, MEMBER_KEY)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM pointers").fetchone()  # a poll's read, mid-way
    store._db.execute("PRAGMA busy_timeout = 50")
    sealed_under_old = bytes(store._db.execute("SELECT sealed FROM chats").fetchone()[0])
    store.rotate_identity("alice", b"\x01" * 32, b"\x02" * 32, "notice", None, new)
    assert sealed_under_old in (tmp_path / "store.db-wal").read_bytes() and store._wal_marked()
    reader.execute("COMMIT")
    reader.close()
    store.close()
    with Store.open(path) as again:
        again.unlock(new)  # the next command
        assert not again._wal_marked()
    assert sealed_under_old not in _files_of(tmp_path)  # the old phrase (perhaps leaked) opens nothing left
