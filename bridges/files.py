"""A shared folder as carrier: Syncthing, Dropbox, NFS, a USB stick. The embedded default.

Posting writes one pointer per file, atomically (a dot-named temporary file, fsync,
rename), named ``<nanoseconds>-<random>.pb`` so names sort by send time and never collide.
A post killed before its rename leaves its temporary file, and sync tools carry dot-files
to every member like any other. So a temporary file's name says whose it is: a digest of
this machine, user and folder path (no name or id in clear) and the posting process's id,
``.<name>.<owner>-<pid>.tmp``. A poll that lists the folder removes the ones of this owner
whose process is gone, or that are older than ten minutes (a post takes milliseconds; a
pid can be reused). Other members' temporary files are never touched: on their machine
they may be in flight.

Polling cannot trust those names' times: machines' clocks differ and sync tools deliver
files late and out of order. It uses each file's ctime instead, which the *local* kernel
sets when the file appears (or changes) here and no sync tool can back-date. The cursor
is the ctime high-water mark plus the names seen just below it, so a file that arrives
during a scan, or is rewritten after being seen partially, is read (again). The store
deduplicates whatever is read twice.

An idle poll costs one ``stat`` of the folder: if its mtime is the one recorded at the
last full scan (and that was not within the last few seconds), nothing was added or
renamed, and only files seen half-written are looked at again.

Two things make the poll read every file again (the store drops what it already has): the
local wall clock stepping back (seen as the gap between wall time and time since boot
shrinking), since files stamped in the stepped-back time would sort below the cursor; and
a day passing since the last full read, for filesystems whose ctime a copy can preserve
(FAT on a USB stick). A file that cannot be read (permissions, an I/O error on a network
mount) is noted and tried again on every poll; it never stops the carrier. A file that is
never read, a symbolic link or a file over 8 MiB, is named in a note when it appears (and
by ``pbridge doctor`` while it is there).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import math
import os
import re
import secrets
import socket
import stat as stat_mode
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pointerbridge.core.limits import MAX_POINTER_CHARS

from .base import Bridge, ConfigurationError, Finding, PollResult, RetryableError, SettingsModel, extract, printable
from .files_blobs import FilesBlobs, fsync_folder
from .files_watch import FolderWatch
from .plain_settings import REFUSED, number, take

__all__ = ["FilesBridge", "FilesSettings"]

_MARGIN_NS = 5_000_000_000  # ctime granularity, scans and small clock steps all fit inside
_MAX_FILE_BYTES = 8 * 1024 * 1024
# Retry marks: a partial file is read again when its ctime changes; an unreadable one
# (permissions, EIO on a network mount, a cloud placeholder) on every poll.
_PARTIAL = 0
_UNREADABLE = -1
_CONFIG_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EROFS}
_STALE_TEMP_NS = 600 * 1_000_000_000  # a temporary file of ours this old is no post's any more
_TEMP = re.compile(r"\.\d{20}-[0-9a-f]{12}\.pb\.(?P<owner>[0-9a-f]{16})-(?P<pid>\d{1,10})\.tmp")
_SKIP_NOTES = 10  # files named in one poll's notes; the rest are counted


@dataclass(frozen=True, slots=True)
class FilesSettings:
    """A files carrier's settings, as ``FilesBridge.Settings`` (files_settings.py) makes them."""

    path: Path
    max_pointer_chars: int = MAX_POINTER_CHARS
    full_scan_hours: float = 24.0
    max_blob_bytes: int = 100 * 2**20  # the largest blob (an attachment's encrypted file); 0: none


def _folder(value: Any) -> Any:
    """An absolute path, ``~`` expanded, as the model's validator keeps it."""
    try:  # pathlib raises RuntimeError for a ~ it cannot expand: the model says so
        folder = Path(value).expanduser() if type(value) is str and value and "\0" not in value else None
    except RuntimeError:
        return REFUSED
    return folder if folder is not None and folder.is_absolute() else REFUSED


_PLAIN = {
    "path": _folder,
    "max_pointer_chars": number(int, 1000, MAX_POINTER_CHARS),
    "full_scan_hours": number(float, 0, math.inf),
    "max_blob_bytes": number(int, 0, 2**40),
}


class FilesBridge(FolderWatch, FilesBlobs, Bridge):
    """A folder that every member's machine syncs."""

    carrier_type = "files"
    Settings = SettingsModel("pointerbridge.bridges.files_settings", "FilesSettingsModel")
    shareable_settings = ("path", "max_pointer_chars")  # the path is a hint: each member has their own

    def __init__(self, name: str, settings: Any) -> None:
        """Use :meth:`from_config`; ``settings`` as the model or :meth:`plain_settings` made them."""
        plain = settings if isinstance(settings, FilesSettings) else FilesSettings(**settings.model_dump())
        super().__init__(name, plain)
        self.settings: FilesSettings = plain
        self.blob_limit = plain.max_blob_bytes or None

    @classmethod
    def plain_settings(cls, settings: dict[str, Any]) -> FilesSettings | None:
        """The settings without pydantic when they are plainly valid (an idle poll's case)."""
        return take(FilesSettings, settings, _PLAIN)

    @property
    def folder(self) -> Path:
        """The shared folder."""
        return self.settings.path

    def _fail(self, exc: OSError, doing: str) -> Exception:
        if exc.errno in _CONFIG_ERRNOS:
            return ConfigurationError(self.name, f"cannot {doing} {self.folder}: {exc.strerror}")
        return RetryableError(self.name, f"cannot {doing} {self.folder}: {exc.strerror}")

    @functools.cached_property
    def _owner(self) -> str:
        """Whose temporary files are this process's kind: a digest of the machine, the user
        and the folder path, so the name tells no one which machine or user wrote it."""
        machine = b""
        for source in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
            try:
                machine = Path(source).read_bytes().strip()
                break
            except OSError:
                continue  # not every system has one: the host name and user still tell
        parts = [b"pointerbridge files temporary", machine, socket.gethostname().encode(), str(os.getuid()).encode()]
        parts.append(os.fsencode(self.folder))
        return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]

    def post(self, pointer: str) -> str:
        """Write the pointer to a new file; return the file's name."""
        name = f"{time.time_ns():020d}-{secrets.token_hex(6)}.pb"
        temp = self.folder / f".{name}.{self._owner}-{os.getpid()}.tmp"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(pointer + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.folder / name)
            fsync_folder(self.folder)  # the rename itself must survive a power cut
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise self._fail(exc, "write to") from None
        return name

    def check(self) -> list[str]:
        """The folder exists and this user can list it and write to it (as doctor checks
        it); a carrier whose folder fails is refused, not saved."""
        found = self.diagnose(None)[0]
        if found.status == "fail":
            raise ConfigurationError(self.name, found.detail)
        return [found.detail]

    def diagnose(self, cursor: str | None) -> list[Finding]:
        """The folder exists and this user can list it and write to it."""
        if not self.folder.is_dir():
            return [Finding("folder", "fail", f"{self.folder} is not a folder (is it mounted, synced?)")]
        if not os.access(self.folder, os.R_OK | os.W_OK | os.X_OK):
            return [Finding("folder", "fail", f"cannot read and write {self.folder} (permissions)")]
        findings = [Finding("folder", "ok", f"{self.folder} can be read and written")]
        try:
            entries = list(os.scandir(self.folder))
        except OSError as exc:
            return [Finding("folder", "fail", f"cannot list {self.folder}: {exc.strerror}")]
        skips = []
        for entry in entries:
            try:
                why = "" if entry.name.startswith(".") else _never_read(entry.stat(follow_symlinks=False))
            except OSError:
                continue  # removed while we looked, or unreadable: a poll notes that
            if why and not entry.is_dir(follow_symlinks=False):
                skips.append(_skip_note(entry.name, why))
        if skips:
            findings.append(Finding("skipped files", "warn", "; ".join(_capped(sorted(skips)))))
        return findings

    def poll(self, cursor: str | None) -> PollResult:
        """Read every file that appeared or changed since ``cursor``."""
        state = _Cursor.parse(cursor)
        started = time.time_ns()
        offset = started - _since_boot_ns()
        if self._must_read_all(state, started, offset):
            state = _Cursor(full_at=started)
        state.offset = offset
        try:
            folder_mtime = os.stat(self.folder).st_mtime_ns
        except OSError as exc:
            raise self._fail(exc, "list") from None
        result = PollResult([], "")
        skips: list[str] = []
        if state.folder_mtime == folder_mtime:
            # Nothing was added, renamed or removed since the last full scan: only files
            # seen half-written or unreadable are looked at again.
            self._retry(state, result, skips)
        else:
            self._scan(state, started, result, skips)
            # A folder that changed within the margin may still be changing in this tick.
            state.folder_mtime = folder_mtime if folder_mtime < started - _MARGIN_NS else None
        result.notes += _capped(skips)
        result.cursor = state.dump()
        return result

    def _must_read_all(self, state: _Cursor, now: int, offset: int) -> bool:
        if state.high > now + _MARGIN_NS:
            return True  # the cursor is in this clock's future
        if state.offset is not None and offset < state.offset - _MARGIN_NS:
            return True  # the wall clock stepped back since the last poll
        every = self.settings.full_scan_hours * 3600 * 1_000_000_000
        return bool(every) and not state.full_at <= now < state.full_at + every

    def _scan(self, state: _Cursor, started: int, result: PollResult, skips: list[str]) -> None:
        threshold = state.high - _MARGIN_NS
        latest = state.high
        kept: dict[str, int] = {}
        retry: dict[str, int] = {}
        try:
            entries = sorted(os.scandir(self.folder), key=lambda e: e.name)
        except OSError as exc:
            raise self._fail(exc, "list") from None
        owner = self._owner
        for entry in entries:
            if entry.name.startswith("."):
                self._clean_temporary(entry, owner, started, result)
                continue  # our temporaries and sync tools' partial downloads
            if not (entry.is_file(follow_symlinks=False) or entry.is_symlink()):
                continue  # a folder
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we looked
            ctime = stat.st_ctime_ns
            latest = max(latest, ctime)
            if ctime >= threshold:
                kept[entry.name] = ctime
            watched = state.retry.get(entry.name)
            if watched == ctime:
                retry[entry.name] = ctime  # still half-written: keep watching it
            if watched != _UNREADABLE and (ctime < threshold or state.seen.get(entry.name) == ctime):
                continue
            again = self._read(entry.path, entry.name, stat, result, skips)
            if again is not None:
                retry[entry.name] = again if again == _UNREADABLE else ctime
        # A file renamed in during this scan has a ctime after `started`: never skipped next time.
        state.high = min(latest, started)
        state.seen = {n: c for n, c in kept.items() if c >= state.high - _MARGIN_NS}
        state.retry = retry

    def _clean_temporary(self, entry: os.DirEntry[str], owner: str, now: int, result: PollResult) -> None:
        """Remove a temporary file a post of this owner left (its process was killed), once
        that process is gone or the file is old; anything else is left alone."""
        match = _TEMP.fullmatch(entry.name)
        if match is None or match["owner"] != owner:
            return  # a sync tool's, or another member's: maybe in flight on their machine
        try:
            young = entry.stat(follow_symlinks=False).st_mtime_ns > now - _STALE_TEMP_NS
            if young and _alive(int(match["pid"])):
                return  # a post in flight
            os.unlink(entry.path)
        except FileNotFoundError:
            return  # its post renamed it, or another poll removed it
        except OSError as exc:
            result.notes.append(f"cannot remove {entry.name!r}, left by an interrupted post: {exc.strerror}")

    def _retry(self, state: _Cursor, result: PollResult, skips: list[str]) -> None:
        for name, ctime in list(state.retry.items()):
            path = self.folder / name
            try:
                stat = path.lstat()
            except FileNotFoundError:
                del state.retry[name]
                continue
            except OSError as exc:
                result.notes.append(f"cannot stat {name!r}: {exc.strerror}")
                continue
            if stat.st_ctime_ns == ctime:
                continue
            del state.retry[name]
            again = self._read(str(path), name, stat, result, skips)
            if again is not None:
                state.retry[name] = again if again == _UNREADABLE else stat.st_ctime_ns

    def _read(self, path: str, name: str, stat: os.stat_result, result: PollResult, skips: list[str]) -> int | None:
        """Add the file's pointers to ``result``. Return None when done with the file,
        ``_PARTIAL`` when it holds a damaged or cut pointer (read it again once it
        changes), ``_UNREADABLE`` when it could not be read (try again every poll). A file
        that is never read is counted and named in ``skips``."""
        why = _never_read(stat)
        if why:
            result.items += 1
            result.skipped_foreign += 1
            skips.append(_skip_note(name, why))
            return None
        try:
            with open(path, "rb", opener=_no_follow) as handle:
                data = handle.read(_MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # replaced by a symbolic link since it was listed
                result.items += 1
                result.skipped_foreign += 1
                skips.append(_skip_note(name, "a symbolic link"))
                return None
            result.notes.append(f"cannot read {name!r}: {exc.strerror}")
            return _UNREADABLE
        before = result.skipped_malformed
        text = data.decode("utf-8", errors="replace")
        del data  # scanning holds about 2x the text: the bytes need not stay beside it
        extract(text, name, result)
        return _PARTIAL if result.skipped_malformed > before else None


def _never_read(stat: os.stat_result) -> str:
    """Why a folder entry that is not a folder is never read ("": it is read)."""
    if stat_mode.S_ISLNK(stat.st_mode):
        return "a symbolic link (only regular files are read)"
    if stat.st_size > _MAX_FILE_BYTES:
        return f"{stat.st_size / 2**20:.1f} MiB, over the {_MAX_FILE_BYTES >> 20} MiB a pointer file may have"
    return ""


def _skip_note(name: str, why: str) -> str:
    return f"skipped {printable(name, 200)!r}: {why}"


def _capped(skips: list[str]) -> list[str]:
    """At most ``_SKIP_NOTES`` notes: anyone who can write to the folder can add files."""
    if len(skips) <= _SKIP_NOTES:
        return skips
    return [*skips[:_SKIP_NOTES], f"and {len(skips) - _SKIP_NOTES} more file(s) skipped"]


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0))


def _alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False  # no such process can exist
    return True


def _since_boot_ns() -> int:
    # CLOCK_BOOTTIME counts suspend too (Linux); elsewhere the monotonic clock will do:
    # it only has to move at the wall clock's pace between two polls.
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime_ns(clock) if clock is not None else time.monotonic_ns()


@dataclass
class _Cursor:
    """ctime high-water mark, names seen just below it, files to read again when they
    change, the folder's mtime at the last scan (None: the next poll must scan), the
    wall-clock minus boot-clock offset at the last poll, and when every file was last read."""

    high: int = 0
    seen: dict[str, int] = field(default_factory=dict)
    retry: dict[str, int] = field(default_factory=dict)
    folder_mtime: int | None = None
    offset: int | None = None
    full_at: int = 0

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
                None if data.get("offset") is None else int(data["offset"]),
                int(data.get("full_at", 0)),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls()  # an unreadable cursor costs a full rescan, never a lost pointer

    def dump(self) -> str:
        data = {
            "v": 1,
            "ctime": self.high,
            "seen": self.seen,
            "retry": self.retry,
            "folder_mtime": self.folder_mtime,
            "offset": self.offset,
            "full_at": self.full_at,
        }
        return json.dumps(data, separators=(",", ":"), sort_keys=True)
