"""The store: schema versioning, permissions, deduplication, and the poll lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pointerbridge.app.service import App, PollBusyError
from pointerbridge.core.config import Home
from pointerbridge.core.store import SCHEMA_VERSION, Store, StoreError


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
