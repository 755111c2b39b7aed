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
