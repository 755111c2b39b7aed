"""A shared folder as carrier: Syncthing, Dropbox, NFS, a USB stick. The embedded default.

Posting writes one pointer per file, atomically (a dot-named temporary file, fsync,
rename), named ``<nanoseconds>-<random>.pb`` so names sort by send time and never collide.

Polling cannot trust those names' times: machines' clocks differ and sync tools deliver
files late and out of order. It uses each file's ctime instead, which the *local* kernel
sets when the file appears (or changes) here and no sync tool can back-date. The cursor
is the ctime high-water mark plus the names seen just below it, so a file that arrives
during a scan, or is rewritten after being seen partially, is read (again). The store
deduplicates whatever is read twice.

An idle poll costs one ``stat`` of the folder: if its mtime is the one recorded at the
last full scan (and that was not within the last few seconds), nothing was added or
renamed, and only files seen half-written are looked at again.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from pointerbridge.core.armor import MAX_POINTER_CHARS
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .base import Bridge, ConfigurationError, Limits, PollResult, RetryableError, extract

__all__ = ["FilesBridge"]

_MARGIN_NS = 5_000_000_000  # ctime granularity, scans and small clock steps all fit inside
_MAX_FILE_BYTES = 8 * 1024 * 1024
_CONFIG_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EROFS}


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path
    # Lower it to test splitting, or when the folder is also read by a tool with a limit.
    max_pointer_chars: int = Field(default=MAX_POINTER_CHARS, ge=1000, le=MAX_POINTER_CHARS)

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        path = path.expanduser()
        if not path.is_absolute():
            raise ValueError("must be an absolute path")
        return path


class FilesBridge(Bridge):
    """A folder that every member's machine syncs."""

    carrier_type = "files"
    Settings = _Settings
    shareable_settings = ("path", "max_pointer_chars")  # the path is a hint: each member has their own

    @property
    def folder(self) -> Path:
        """The shared folder."""
        path: Path = self.settings.path  # type: ignore[attr-defined]
        return path

    @property
    def limits(self) -> Limits:
        """Files hold any pointer the format allows; posting is not rate-limited."""
        return Limits(max_pointer_chars=self.settings.max_pointer_chars)  # type: ignore[attr-defined]

    def _fail(self, exc: OSError, doing: str) -> Exception:
        if exc.errno in _CONFIG_ERRNOS:
            return ConfigurationError(self.name, f"cannot {doing} {self.folder}: {exc.strerror}")
        return RetryableError(self.name, f"cannot {doing} {self.folder}: {exc.strerror}")

    def post(self, pointer: str) -> str:
        """Write the pointer to a new file; return the file's name."""
        name = f"{time.time_ns():020d}-{secrets.token_hex(6)}.pb"
        temp = self.folder / f".{name}.tmp"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(pointer + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.folder / name)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise self._fail(exc, "write to") from None
        return name

    def poll(self, cursor: str | None) -> PollResult:
        """Read every file that appeared or changed since ``cursor``."""
        state = _Cursor.parse(cursor)
        started = time.time_ns()
        if state.high > started + _MARGIN_NS:  # the local clock went back: trust nothing, rescan
            state = _Cursor()
        try:
            folder_mtime = os.stat(self.folder).st_mtime_ns
        except OSError as exc:
            raise self._fail(exc, "list") from None
        result = PollResult([], "")
        if state.folder_mtime == folder_mtime:
            # Nothing was added, renamed or removed since the last full scan: only files
            # seen half-written are looked at again (a sync tool may append in place).
            self._retry(state, result)
        else:
            self._scan(state, started, result)
            # A folder that changed within the margin may still be changing in this tick.
            state.folder_mtime = folder_mtime if folder_mtime < started - _MARGIN_NS else None
        result.cursor = state.dump()
        return result

    def _scan(self, state: _Cursor, started: int, result: PollResult) -> None:
        threshold = state.high - _MARGIN_NS
        latest = state.high
        kept: dict[str, int] = {}
        retry: dict[str, int] = {}
        try:
            entries = sorted(os.scandir(self.folder), key=lambda e: e.name)
        except OSError as exc:
            raise self._fail(exc, "list") from None
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                continue  # our temporaries and sync tools' partial downloads
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we looked
            ctime = stat.st_ctime_ns
            latest = max(latest, ctime)
            if ctime >= threshold:
                kept[entry.name] = ctime
            if entry.name in state.retry and state.retry[entry.name] == ctime:
                retry[entry.name] = ctime  # still half-written: keep watching it
            if ctime < threshold or state.seen.get(entry.name) == ctime:
                continue
            if self._read(entry.path, entry.name, stat.st_size, result):
                retry[entry.name] = ctime
        # A file renamed in during this scan has a ctime after `started`: never skipped next time.
        state.high = min(latest, started)
        state.seen = {n: c for n, c in kept.items() if c >= state.high - _MARGIN_NS}
        state.retry = retry

    def _retry(self, state: _Cursor, result: PollResult) -> None:
        for name, ctime in list(state.retry.items()):
            path = self.folder / name
            try:
                stat = path.stat()
            except FileNotFoundError:
                del state.retry[name]
                continue
            except OSError as exc:
                raise self._fail(exc, "read") from None
            if stat.st_ctime_ns == ctime:
                continue
            del state.retry[name]
            if self._read(str(path), name, stat.st_size, result):
                state.retry[name] = stat.st_ctime_ns

    def _read(self, path: str, name: str, size: int, result: PollResult) -> bool:
        """Add the file's pointers to ``result``; True if it holds a damaged or cut pointer."""
        if size > _MAX_FILE_BYTES:
            result.items += 1
            result.skipped_foreign += 1
            return False
        try:
            with open(path, "rb") as handle:
                data = handle.read(_MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._fail(exc, "read") from None
        before = result.skipped_malformed
        extract(data.decode("utf-8", errors="replace"), name, result)
        return result.skipped_malformed > before


@dataclass
class _Cursor:
    """ctime high-water mark, names seen just below it, files seen half-written, and the
    folder's mtime at the last full scan (None: the next poll must scan)."""

    high: int = 0
    seen: dict[str, int] = field(default_factory=dict)
    retry: dict[str, int] = field(default_factory=dict)
    folder_mtime: int | None = None

    @classmethod
    def parse(cls, text: str | None) -> _Cursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            return cls(
                int(data["ctime"]),
                {str(k): int(v) for k, v in dict(data["seen"]).items()},
                {str(k): int(v) for k, v in dict(data.get("retry", {})).items()},
                None if data.get("folder_mtime") is None else int(data["folder_mtime"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls()  # an unreadable cursor costs a full rescan, never a lost pointer

    def dump(self) -> str:
        data = {"v": 1, "ctime": self.high, "seen": self.seen, "retry": self.retry, "folder_mtime": self.folder_mtime}
        return json.dumps(data, separators=(",", ":"), sort_keys=True)
