"""A shared folder as carrier: Syncthing, Dropbox, NFS, a USB stick. The embedded default.

Posting writes one pointer per file, atomically (a dot-named temporary file, fsync,
rename), named ``<nanoseconds>-<random>.pb`` so names sort by send time and never collide.

Polling cannot trust those names' times: machines' clocks differ and sync tools deliver
files late and out of order. It uses each file's ctime instead, which the *local* kernel
sets when the file appears (or changes) here and no sync tool can back-date. The cursor
is the ctime high-water mark plus the names seen just below it, so a file that arrives
during a scan, or is rewritten after being seen partially, is read (again). The store
deduplicates whatever is read twice.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import time
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
        high, seen = _parse_cursor(cursor)
        started = time.time_ns()
        if high > started + _MARGIN_NS:  # the local clock went back: trust nothing, rescan
            high, seen = 0, {}
        threshold = high - _MARGIN_NS
        result = PollResult([], "")
        latest = high
        kept: dict[str, int] = {}
        try:
            entries = list(os.scandir(self.folder))
        except OSError as exc:
            raise self._fail(exc, "list") from None
        for entry in sorted(entries, key=lambda e: e.name):
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
            if ctime < threshold or seen.get(entry.name) == ctime:
                continue
            self._read(entry.path, entry.name, stat.st_size, result)
        # A file renamed in during this scan has a ctime after `started`: never skipped next time.
        new_high = min(latest, started)
        result.cursor = json.dumps(
            {"v": 1, "ctime": new_high, "seen": {n: c for n, c in kept.items() if c >= new_high - _MARGIN_NS}},
            separators=(",", ":"),
            sort_keys=True,
        )
        return result

    def _read(self, path: str, name: str, size: int, result: PollResult) -> None:
        if size > _MAX_FILE_BYTES:
            result.items += 1
            result.skipped_foreign += 1
            return
        try:
            with open(path, "rb") as handle:
                data = handle.read(_MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._fail(exc, "read") from None
        extract(data.decode("utf-8", errors="replace"), name, result)


def _parse_cursor(cursor: str | None) -> tuple[int, dict[str, int]]:
    if not cursor:
        return 0, {}
    try:
        data = json.loads(cursor)
        high = int(data["ctime"])
        seen = {str(k): int(v) for k, v in dict(data["seen"]).items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return 0, {}  # an unreadable cursor costs a full rescan, never a lost pointer
    return high, seen
