"""SQLite's own failures as :class:`StoreError`, naming the store's file.

A store whose schema was tampered with (a table dropped, a column renamed) or whose pages
are damaged fails inside SQLite (``no such table``, ``database disk image is malformed``) at
whichever statement first touches the damage, in any of the table families. Rather than a
``try`` around each of them, the store's connection and its cursors are these subclasses:
every statement and every fetch turns ``sqlite3``'s errors into one-line
:class:`StoreError`\\ s with the path (exit 8), never an internal error with a traceback.

:class:`sqlite3.IntegrityError` passes through unchanged: the table families catch it where
a constraint is how they tell a duplicate (and anywhere else it is a bug to see).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from .rows import StoreError

__all__ = ["GuardedConnection", "connect", "home_failure", "unwritable"]

_T = TypeVar("_T")


def _guarded(path: Path, call: Callable[[], _T]) -> _T:
    try:
        return call()
    except sqlite3.IntegrityError:
        raise
    except sqlite3.OperationalError as exc:
        # "no such table/column": the schema was changed by hand; "locked", "readonly": not damage
        if str(exc).startswith("no such"):
            raise StoreError(f"{path}: {exc} (changed outside pbridge: pbridge doctor)", damaged=True) from None
        if str(exc).startswith("Could not decode"):  # its message quotes the bytes: never shown
            raise StoreError(
                f"{path}: a stored value is not text where text belongs (changed outside pbridge: pbridge doctor)",
                damaged=True,
            ) from None
        raise StoreError(f"{path}: {_plain(exc, path)}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: {exc} (damaged: pbridge doctor)", damaged=True) from None


def _plain(exc: sqlite3.OperationalError, path: Path) -> str:
    """SQLite's words for a store it may not write, said as what to check."""
    text = str(exc)
    if "readonly" in text or "unable to open" in text:
        return f"{text}: {unwritable(path) or 'check its folder'}"
    return text


def home_failure(exc: OSError) -> StoreError:
    """An ``OSError`` met opening the home's folders or files, as one line naming the path."""
    where = Path(exc.filename) if exc.filename else None
    why = unwritable(where) if where is not None else None
    return StoreError(f"{where or 'the home'}: {exc.strerror or exc}" + (f" ({why})" if why else ""))


def unwritable(path: Path) -> str | None:
    """Why this process cannot write ``path`` (a file, or one to be made), or None."""
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"{folder} is on a read-only file system"
    except OSError as exc:
        return f"{folder}: {exc.strerror}"
    if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        return f"this user may not use {folder} (its owner or mode)"
    if path.exists() and not os.access(path, os.W_OK):
        return f"this user may not write {path} (its owner or mode)"
    return None


class _GuardedCursor(sqlite3.Cursor):
    """A cursor whose statements and fetches raise :class:`StoreError`."""

    _path: Path

    def execute(self, sql: str, parameters: Any = (), /) -> _GuardedCursor:
        _guarded(self._path, lambda: super(_GuardedCursor, self).execute(sql, parameters))
        return self

    def executemany(self, sql: str, seq: Iterable[Any], /) -> _GuardedCursor:
        _guarded(self._path, lambda: super(_GuardedCursor, self).executemany(sql, seq))
        return self

    def fetchone(self) -> Any:
        return _guarded(self._path, super().fetchone)

    def fetchmany(self, size: int | None = 1) -> list[Any]:
        return _guarded(self._path, lambda: super(_GuardedCursor, self).fetchmany(size or self.arraysize))

    def fetchall(self) -> list[Any]:
        return _guarded(self._path, super().fetchall)

    def __next__(self) -> Any:
        return _guarded(self._path, super().__next__)


class GuardedConnection(sqlite3.Connection):
    """A connection whose statements (and their cursors' fetches) raise :class:`StoreError`."""

    path: Path

    def cursor(self, factory: Any = None) -> _GuardedCursor:  # type: ignore[override]
        made: _GuardedCursor = super().cursor(_GuardedCursor)
        made._path = self.path
        return made

    def execute(self, sql: str, parameters: Any = (), /) -> _GuardedCursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq: Iterable[Any], /) -> _GuardedCursor:
        return self.cursor().executemany(sql, seq)


def connect(database: str | Path, path: Path, **options: Any) -> GuardedConnection:
    """``sqlite3.connect(database, **options)`` as a :class:`GuardedConnection` for ``path``."""
    db = sqlite3.connect(database, factory=GuardedConnection, **options)
    assert isinstance(db, GuardedConnection)
    db.path = path
    return db
