"""Opening, closing, migrating and transactions: what every family of tables builds on."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Self

from .guard import connect, home_failure
from .rows import StoreError
from .schema import MIGRATIONS, SCHEMA_VERSION

if TYPE_CHECKING:
    from pointerbridge.core.store_key import StoreKey

__all__ = ["StoreBase"]

_TRUNCATE_WAL = "truncate_wal"  # the WAL may hold pages written in the clear (schema 11)


class StoreBase:
    """A connection to one user's store; the table families below add their methods."""

    def __init__(
        self, connection: sqlite3.Connection, path: Path, reopen: Callable[[], sqlite3.Connection] | None = None
    ) -> None:
        """Wrap an open connection; most callers want :meth:`open`. ``reopen`` makes a
        connection to the same database anew after :meth:`rest` (None: the store never
        rests); it also names the pool of resting connections the store shares."""
        self._connection = connection
        self._reopen = reopen
        self._resting = False
        if reopen is not None:
            _opened(reopen, +1)
        self.path = path
        self._key: StoreKey | None = None  # the chat list's key, given at the identity's unlock

    @property
    def _db(self) -> sqlite3.Connection:
        if self._resting:
            assert self._reopen is not None  # only a store that can reopen rests
            self._connection, self._resting = _take(self._reopen), False
        return self._connection

    @classmethod
    def open(cls, path: Path) -> Self:
        """Open (creating 0600 if needed) and migrate to the current schema."""
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        store = cls(_connect_file(path, path), path, _Opener(_existing(path), path))
        store._migrate()
        return store

    @classmethod
    def open_memory(cls, name: str) -> Self:
        """Open (creating and migrating it on first use) the store called ``name`` that lives
        in this process's RAM only: SQLite's ``memdb`` VFS, shared by every connection of
        the process that names it, with SQLite's own locking between them (a thread's
        connection waits for another's write, as on disk). Nothing of it touches the disk:
        one connection to it is open (:class:`~pointerbridge.home.memory.MemoryHome` keeps one)."""
        store = cls(_connect_memory(name), Path("(in memory)"))  # never rests: live sessions listen to few carriers
        store._migrate()
        return store

    def rest(self) -> None:
        """Give the connection back until the store is next used, which takes one of the
        same database's resting connections, or opens one. A listener waits on its carrier
        for 25-50 s: each SQLite connection holds ~100 KB, so 200 listeners held 20 MB,
        and opening one anew per round tripled an idle daemon's CPU; resting connections
        are shared by the process's stores of that database. Nothing happens inside a
        transaction, or for a store opened read-only."""
        if self._reopen is not None and not self._resting and not self._connection.in_transaction:
            _give(self._reopen, self._connection)
            self._resting = True

    @classmethod
    def open_readonly(cls, path: Path) -> Self:
        """Open an existing store only to read it: nothing is created, set or migrated
        (``pbridge doctor``). Reads of a damaged file raise :class:`StoreError` (home/store/guard.py)."""
        try:
            if not path.exists():
                raise StoreError(f"{path} does not exist")
        except OSError as exc:
            raise home_failure(exc) from None
        try:
            db = connect(f"{path.resolve().as_uri()}?mode=ro", path, uri=True, isolation_level=None, timeout=10)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot open the store ({exc})") from None
        return cls(db, path)

    def integrity_problems(self, most: int = 5) -> list[str]:
        """What ``PRAGMA integrity_check`` finds (at most ``most`` lines); empty: none."""
        rows = [str(row[0]) for row in self._db.execute(f"PRAGMA integrity_check({int(most)})")]
        return [] if rows == ["ok"] else rows

    def schema_problems(self) -> list[str]:
        """Tables and columns the current schema has and this file lacks (changed outside
        pbridge); empty: none. Compared with the migrations applied to an empty database."""
        reference = sqlite3.connect(":memory:")
        try:
            for migration in MIGRATIONS:
                reference.executescript(migration)
            expected = _columns(reference)
        finally:
            reference.close()
        found = _columns(self._db)
        problems = [f"no table {table}" for table in expected if table not in found]
        for table, columns in expected.items():
            if table in found:
                problems += [f"no column {table}.{c}" for c in columns if c not in found[table]]
        return problems

    def close(self) -> None:
        """Close the connection (for good: a closed store does not reopen)."""
        reopen, self._reopen = self._reopen, None
        if not self._resting:
            self._connection.close()
        if reopen is not None:
            _opened(reopen, -1)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic, durable unit of work. SQLite's own failures (another process holding
        the write lock past the timeout, a full disk) become :class:`StoreError`; nothing of
        the unit is kept."""
        self._db.execute("BEGIN IMMEDIATE")  # the connection raises StoreError (home/store/guard.py)
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
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
        self._migrate_from(version)

    def _migrate_from(self, version: int) -> None:
        # Off while tables are rebuilt (dropping the old pointers table must not cascade to
        # its posts); checked before each migration commits. It cannot change inside one.
        self._db.execute("PRAGMA foreign_keys=OFF")
        try:
            for number in range(version, SCHEMA_VERSION):
                with self.transaction() as db:
                    # Read again under the write lock: another process (the bot, at the same
                    # minute) may have applied it since this one read the version.
                    if self.schema_version > number:
                        continue
                    for statement in MIGRATIONS[number].split(";"):
                        if statement.strip():
                            db.execute(statement)
                    if db.execute("PRAGMA foreign_key_check").fetchone() is not None:
                        raise StoreError(f"{self.path}: migration {number + 1} broke a reference; nothing changed")
                    db.execute(f"PRAGMA user_version = {number + 1}")
        finally:
            self._db.execute("PRAGMA foreign_keys=ON")

    @staticmethod
    def _mark_wal(db: sqlite3.Connection) -> None:
        # Written in the same transaction as the pages the WAL must lose: a process killed
        # before its checkpoint leaves the mark, and the next unlock truncates.
        db.execute("INSERT OR IGNORE INTO marks VALUES (?)", (_TRUNCATE_WAL,))

    def _wal_marked(self) -> bool:
        return self._db.execute("SELECT 1 FROM marks WHERE name = ?", (_TRUNCATE_WAL,)).fetchone() is not None

    def _checkpoint(self) -> bool:
        """Copy the WAL into the database file and truncate it; True if done. secure_delete
        zeroes freed pages in the database file, but the WAL holds the old pages until then.
        A reader in the way (the bot, mid-poll, past the busy timeout) keeps them there: the
        mark stays, and the next unlock tries again (:meth:`ChatTables.unlock`)."""
        busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            return False
        with self.transaction() as db:
            db.execute("DELETE FROM marks WHERE name = ?", (_TRUNCATE_WAL,))
        return True


def _columns(db: sqlite3.Connection) -> dict[str, set[str]]:
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {
        t: {row[1] for row in db.execute(f"PRAGMA table_info({t!r})")} for t in tables if not t.startswith("sqlite_")
    }


def _existing(path: Path) -> str:
    # A reopened store must find its file: a home moved or deleted meanwhile is an error,
    # never a new empty store created with the process's umask.
    return f"{path.resolve().as_uri()}?mode=rw"


def _connect_file(database: str | Path, path: Path) -> sqlite3.Connection:
    uri = isinstance(database, str)
    try:
        # A resting connection may be taken up by another thread's store (rest()).
        db = connect(database, path, uri=uri, isolation_level=None, timeout=30, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a saved cursor must never outlive what it covers
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA secure_delete=ON")  # purged pointers are overwritten, not left in free pages
        # Statement journals and sorts in RAM: a migration copies clear pages into them,
        # which SQLite would otherwise spill to a file in /tmp (docs/AT-REST.md §6).
        db.execute("PRAGMA temp_store=MEMORY")
    except sqlite3.DatabaseError as exc:  # connecting, before the guard is in place
        raise StoreError(f"{path}: cannot open the store ({exc})") from None
    return db


def _connect_memory(name: str) -> sqlite3.Connection:
    where = Path("(in memory)")
    try:
        db = connect(f"file:/{name}?vfs=memdb", where, uri=True, isolation_level=None, timeout=30)
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA secure_delete=ON")
        db.execute("PRAGMA temp_store=MEMORY")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{where}: cannot open the store ({exc})") from None
    return db


@dataclass(frozen=True)
class _Opener:
    """Opens a connection to one database file; equal openers are the same database (rest()'s pool)."""

    database: str  # the file's URI (mode=rw)
    path: Path

    def __call__(self) -> sqlite3.Connection:
        return _connect_file(self.database, self.path)


# rest()'s pool: a database's opener -> its idle connections
_RESTING: dict[Callable[[], sqlite3.Connection], list[sqlite3.Connection]] = {}
_OPEN: dict[Callable[[], sqlite3.Connection], int] = {}  # stores of each database not closed yet
_RESTING_LOCK = threading.Lock()
_MOST_RESTING = 4  # idle connections kept per database; more are closed


def _give(reopen: Callable[[], sqlite3.Connection], connection: sqlite3.Connection) -> None:
    with _RESTING_LOCK:
        idle = _RESTING.setdefault(reopen, [])
        if len(idle) < _MOST_RESTING:
            idle.append(connection)
            return
    connection.close()


def _take(reopen: Callable[[], sqlite3.Connection]) -> sqlite3.Connection:
    with _RESTING_LOCK:
        idle = _RESTING.get(reopen)
        if idle:
            return idle.pop()
    return reopen()


def _opened(reopen: Callable[[], sqlite3.Connection], change: int) -> None:
    """Count a database's open stores; the last one closed closes its resting connections."""
    with _RESTING_LOCK:
        _OPEN[reopen] = _OPEN.get(reopen, 0) + change
        if _OPEN[reopen] > 0:
            return
        del _OPEN[reopen]
        idle = _RESTING.pop(reopen, [])
    for connection in idle:
        connection.close()
