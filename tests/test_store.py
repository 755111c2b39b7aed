"""The store: schema versioning, permissions, deduplication, and the poll lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pointerbridge.app.service import App, PollBusyError
from pointerbridge.home.config import Home
from pointerbridge.home.store import SCHEMA_VERSION, Store, StoreError


def test_new_store_is_private_wal_and_current(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        assert store.schema_version == SCHEMA_VERSION
        assert (tmp_path / "s.db").stat().st_mode & 0o777 == 0o600
        mode = sqlite3.connect(tmp_path / "s.db").execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.execute("CREATE TABLE keep (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError):
        Store.open(path)
    assert sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall() == [("keep",)]


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Store.open(path)


def test_duplicates_are_ignored(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        assert len(store.add_pointers([("pb1abc", b"x"), ("pb1abc", b"x")], "in")) == 1
        assert store.add_pointers([("pb1abc", b"x")], "in") == []
        assert store.counts()["pointers"] == 1


def test_second_poll_of_a_home_is_refused(tmp_path: Path) -> None:
    home = Home(tmp_path, tmp_path)
    with App(home) as first, App(home) as second, first._poll_lock(), pytest.raises(PollBusyError):
        second.poll()


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_a_store_of_every_earlier_schema_is_migrated_keeping_its_data(tmp_path: Path, version: int) -> None:
    from pointerbridge.home.store.schema import MIGRATIONS

    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.executescript(";".join(MIGRATIONS[:version]) + f"; PRAGMA user_version = {version};")
    db.execute(
        "INSERT INTO pointers (digest, text, payload, direction, received_at) VALUES (x'01', 'pb1old', x'00', 'in', 0)"
    )
    db.execute("INSERT INTO cursors VALUES ('c', '{\"at\": 1}', 5)")
    db.commit()
    db.close()
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 12
        assert store._wal_marked()  # schema 11: the next unlock truncates whatever the WAL kept
        assert [r.text for r in store.unrouted()] == ["pb1old"] and store.cursor("c") == '{"at": 1}'
        assert [r.version for r in store.unrouted()] == [1]  # schema 12: every earlier pointer is pb1
        store.record_run("c", None)  # what the newer schema added works
        store.record_run("c", "carrier 'c': down")
        ok_at, error, error_at = store.runs()["c"]
        assert ok_at is not None and error == "carrier 'c': down" and error_at is not None


def test_schema_6_keeps_posts_through_the_rebuild_and_never_gives_an_id_twice(tmp_path: Path) -> None:
    from pointerbridge.home.store.schema import MIGRATIONS

    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.executescript(";".join(MIGRATIONS[:5]) + "; PRAGMA user_version = 5;")
    db.execute("INSERT INTO chats (id, name, normalized_name, created_at) VALUES (1, 'c', 'c', 0)")
    for pid in (1, 2, 3):
        db.execute(
            "INSERT INTO pointers (id, digest, text, payload, direction, chat_id, received_at)"
            " VALUES (?, ?, ?, x'00', 'out', 1, 0)",
            (pid, bytes([pid]), f"pb1p{pid}"),
        )
        db.execute("INSERT INTO posts (pointer_id, carrier) VALUES (?, 'shared')", (pid,))
    db.execute("DELETE FROM posts WHERE pointer_id = 3")  # purged before the upgrade (as the cascade would)
    db.execute("DELETE FROM pointers WHERE id = 3")  # and its id still held here:
    db.execute("INSERT INTO judged VALUES (1, 3)")
    db.commit()
    db.close()
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION  # migrated on past 6
        assert store.outbox("shared") == [(1, "pb1p1"), (2, "pb1p2")]  # the rebuild did not cascade to posts
        (new,) = store.add_pointers([("pb1next", b"x")], "in")
        assert new == 4  # past the judged mark, not 3
        store.purge([new])
        assert store.add_pointers([("pb1again", b"x")], "in") == [5]  # a purged newest id is not given again


def test_purged_pointers_stay_gone_and_leave_no_trace(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    text = "pb1" + "Q" * 400
    with Store.open(path) as store:
        (pid,) = store.add_pointers([(text, b"payload")], "in")
        store.add_pointers([(f"pb1other{i}", b"x") for i in range(50)], "in")
        store.purge([pid])
        assert store.add_pointers([(text, b"payload")], "in") == []  # a carrier brings it again
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert text.encode() not in data


def test_a_write_lock_held_elsewhere_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store.open(path) as store:
        store._db.execute("PRAGMA busy_timeout = 50")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="locked"):
                store.add_pointers([("pb1abc", b"x")], "in")
        finally:
            other.execute("ROLLBACK")
        assert store.add_pointers([("pb1abc", b"x")], "in") != []


def test_published_migrations_are_never_edited() -> None:
    import hashlib

    from pointerbridge.home.store.schema import MIGRATIONS

    # Stores in the wild were made by these texts: change the schema by adding a migration.
    pinned = ["1cc4732c", "7259fd41", "40dd43c4", "d88f581c", "63b0493e", "9b2dbb34", "dc511cee", "28da1304"]
    pinned += ["8596ff07"]
    assert [hashlib.sha256(m.encode()).hexdigest()[:8] for m in MIGRATIONS[: len(pinned)]] == pinned


def test_a_resting_store_holds_no_connection_and_reopens_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store.open(path) as store, Store.open(path) as other:
        store.save_cursor("c", "before")
        store.rest()
        assert store._resting  # its connection waits in the pool while a listener waits
        mine, theirs = store._connection, other._connection
        other.rest()
        assert store.cursor("c") == "before"  # reopened on use: a resting connection taken up
        assert other.cursor("c") == "before"
        assert (store._connection, other._connection) == (theirs, mine)  # shared: none opened anew
        store.rest()
        other.rest()
        with Store.open(path) as third:
            assert third.cursor("c") == "before"
        assert store._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        with store.transaction():
            store.rest()  # never inside a transaction
            assert not store._resting
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_last_store_closed_closes_its_databases_resting_connections(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    first, second = Store.open(path), Store.open(path)
    first.rest()
    idle = first._connection
    first.close()
    idle.execute("SELECT 1")  # still resting: the second store is open
    second.close()
    with pytest.raises(sqlite3.ProgrammingError):  # closed with the last store
        idle.execute("SELECT 1")


def test_a_store_reopened_after_its_file_went_away_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    from pointerbridge.home.store.base import _existing, _Opener

    path = tmp_path / "s.db"
    Store.open(path).close()
    opener = _Opener(_existing(path), path)
    opener().close()
    path.unlink()
    with pytest.raises(StoreError, match="cannot open the store"):
        opener()
    assert not path.exists()
