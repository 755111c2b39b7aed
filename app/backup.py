"""``pbridge export`` and ``pbridge import``: a home's store as a file of JSON lines.

The file holds what the store holds but caches: the public identity, chats with their
slow verifiers, pinned sender keys, every pointer exactly as carried (ciphertext) with
where it was posted, carrier cursors, tombstones, and the rotations a chat accepted with
their signed notices. No plaintext, secret or derived key is in the store, so none is in
the file either (a thief learns what a thief of the store learns, docs/SPEC.md §9). The
format, and what an import may change, are in docs/EXPORT.md.

Anyone can edit such a file, so an import takes no trust from it: it never makes a pin
(each name is pinned by its first message read here), takes a rotation only with its
notice signed by the old key (verified here), and never takes a conflict's re-pinned key.

Importing streams the file line by line (a line is at most :data:`MAX_LINE` bytes: a
stream of zeros is refused at once, not read whole), checks every line before anything is
written, adds in one transaction, and keeps what the home has already: importing the same
file twice adds nothing."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, Literal, NamedTuple

from pointerbridge.core.armor import dearmor
from pointerbridge.core.errors import InvalidInputError, PointerError, UnknownVersionError
from pointerbridge.home.private_file import write_private_with
from pointerbridge.home.store import SCHEMA_VERSION, Direction, IdentityRow, Store
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .errors import ExportExistsError, IdentityExistsError

if TYPE_CHECKING:
    from pointerbridge.core.rotation import RotationNotice

__all__ = ["FORMAT", "MAX_LINE", "VERSION", "Imported", "export_store", "import_file", "import_store", "write_export"]

FORMAT = "pointerbridge-export"
VERSION = 2  # 2: rotations carry their signed notice; a version-1 file's rotations are left out
_READS = (1, 2)
MAX_LINE = 1 << 20  # bytes, newline included: a pointer line is under 64 KiB, a chat's 64 verifiers 13 KiB
_HEX = r"^([0-9a-f]{2})*$"
# tombstones before pointers; rotations after them (they name a pointer by its digest)
_ORDER = {
    "identity": 0,
    "chat": 1,
    "pin": 2,
    "tombstone": 3,
    "pointer": 4,
    "cursor": 5,
    "rotation": 6,
    "rotation_out": 7,
    "rotation_conflict": 8,
}


class Imported(NamedTuple):
    """What an import did: ``added``, how many of each kind were new; ``left_out``, what the
    file held that an import does not take (pins, rotations without their signed notice);
    ``identity``, the export's identity when this home had none and took it."""

    added: dict[str, int]
    left_out: dict[str, int]
    identity: IdentityRow | None


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


_Time = Annotated[float, Field(ge=0, le=1e11)]  # Unix seconds, up to year 5138


class _Identity(_Record):
    kind: Literal["identity"]
    username: str
    public_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    recovery: str | None = Field(default=None, pattern=r"^[0-9a-f]{20}$")  # absent before schema 7


class _Verifier(_Record):
    salt: str = Field(pattern=_HEX, min_length=32)
    verifier: str = Field(pattern=_HEX, min_length=64)
    key_salt: str | None = Field(default=None, pattern=r"^([0-9a-f]{2}){16,32}$")  # absent: an open chat


class _Chat(_Record):
    kind: Literal["chat"]
    name: str
    normalized_name: str
    carriers: list[str]
    # A chat has a verifier per secret it ever had; each salt among them costs an unlock an
    # Argon2id, so a file cannot bring more than a lifetime of rekeys.
    verifiers: list[_Verifier] = Field(min_length=1, max_length=64)


class _Pin(_Record):
    kind: Literal["pin"]
    chat: str
    username: str
    public_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    first_seen: _Time


class _Post(_Record):
    carrier: str
    carrier_ref: str | None
    posted_at: _Time | None


class _Pointer(_Record):
    kind: Literal["pointer"]
    text: str = Field(min_length=1)
    direction: Direction
    chat: str | None
    carrier: str | None
    carrier_ref: str | None
    received_at: _Time
    trashed: bool
    posts: list[_Post]


class _Cursor(_Record):
    kind: Literal["cursor"]
    carrier: str
    cursor: str
    updated_at: _Time


class _Tombstone(_Record):
    kind: Literal["tombstone"]
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")


class _Rotation(_Record):
    kind: Literal["rotation"]
    chat: str
    username: str
    old_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    new_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    at: str | None = Field(pattern=r"^[0-9a-f]{64}$")
    notice: str | None = Field(default=None, max_length=1000)  # absent before version 2


class _RotationOut(_Record):
    kind: Literal["rotation_out"]
    chat: str
    body: str = Field(max_length=1000)


class _RotationConflict(_Record):
    kind: Literal["rotation_conflict"]
    chat: str
    username: str
    old_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    new_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    at: str | None = Field(pattern=r"^[0-9a-f]{64}$")
    chosen: bool


_ANY = TypeAdapter(
    Annotated[
        _Identity | _Chat | _Pin | _Pointer | _Cursor | _Tombstone | _Rotation | _RotationOut | _RotationConflict,
        Field(discriminator="kind"),
    ]
)


def export_store(store: Store, path: Path, *, replace: bool = False) -> int:
    """Write the store to ``path`` (0600, atomically); return the number of records. A file
    already at ``path`` is refused (:class:`ExportExistsError`) unless ``replace``."""
    if not replace and os.path.lexists(path):
        raise ExportExistsError(f"{path} exists: give --replace to replace it")
    count = 0

    def write(out: BinaryIO) -> None:
        nonlocal count
        count = write_export(store, out)

    try:
        write_private_with(path, write)
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be written ({exc.strerror})") from None
    return count


def write_export(store: Store, out: BinaryIO) -> int:
    """Write the store as an export to the open binary ``out`` (a file, or standard
    output); return the number of records."""
    count = 0
    header = {"format": FORMAT, "version": VERSION, "schema": SCHEMA_VERSION}
    out.write(json.dumps(header).encode("utf-8") + b"\n")
    for record in store.export_records():
        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")
        count += 1
    return count


def import_store(store: Store, path: Path) -> dict[str, int]:
    """Check every line of the file at ``path``, then add it to ``store`` (unlocked
    already: its identity's store key given); return what was new."""
    return import_file(store, path, unlock=lambda theirs: None).added


def import_file(
    store: Store,
    source: Path | BinaryIO,
    name: str | None = None,
    *,
    unlock: Callable[[tuple[str, bytes, bytes | None] | None], None],
) -> Imported:
    """Check every line of an export (a regular file at a path, or an open binary stream
    such as standard input, called ``name`` in messages), then add it to ``store``.
    ``unlock`` is given the export's identity (username, public key, recovery code; None:
    the file has none) once the file is checked, and unlocks the store's chat list."""
    where = str(source) if isinstance(source, Path) else name or "standard input"
    if isinstance(source, Path):
        with _open(source) as stream:
            records = list(_read(stream, where))
    else:
        records = list(_read(source, where))
    records.sort(key=lambda r: _ORDER[r["kind"]])  # stable: file order within a kind
    here = store.identity()
    theirs = next((r for r in records if r["kind"] == "identity"), None)
    if here is not None and theirs is not None and (here.username, here.public_key.hex()) != _who(theirs):
        raise IdentityExistsError(
            f"this home's identity is {here.username!r}, the export's is {theirs['username']!r}:"
            " import it into a new home (--home)"
        )
    unlock(_identity_of(theirs) if theirs is not None else None)
    chats = {r["normalized_name"] for r in records if r["kind"] == "chat"}
    chats |= {c.normalized_name for c in store.chats()}
    for record in records:
        wanted = record.get("chat")
        if wanted is not None and wanted not in chats:
            raise InvalidInputError(f"{where}: a {record['kind']} of chat {wanted!r}, which the file does not hold")
    _check_waiting(records, (here.username, here.public_key.hex()) if here else _who(theirs) if theirs else None, where)
    left_out = {
        "pins": _new_pins(store, records),
        "rotations without their signed notice": sum(r["kind"] == "rotation" and r["notice"] is None for r in records),
    }
    added = store.import_records(records)
    took = store.identity() if here is None and theirs is not None else None
    return Imported(added, left_out, took)


def _identity_of(record: dict[str, Any]) -> tuple[str, bytes, bytes | None]:
    recovery = record["recovery"]
    return record["username"], bytes.fromhex(record["public_key"]), bytes.fromhex(recovery) if recovery else None


def _who(identity: dict[str, Any]) -> tuple[str, str]:
    return identity["username"], identity["public_key"]


def _check_waiting(records: list[dict[str, Any]], identity: tuple[str, str] | None, where: str) -> None:
    """A notice waiting to be posted must be this home's own rotation (to its key): this
    home would post it under its name."""
    from pointerbridge.core.rotation import parse_notice

    for record in records:
        if record["kind"] != "rotation_out":
            continue
        notice = parse_notice(record["body"])  # checked already: a signed notice
        if notice is None or identity != (notice.username, notice.new_key.hex()):
            raise InvalidInputError(f"{where}: a rotation notice waiting in chat {record['chat']!r} is not this home's")


def _new_pins(store: Store, records: list[dict[str, Any]]) -> int:
    """How many of the file's pins this home does not hold (an import takes none)."""
    held: dict[str, dict[str, bytes]] = {}
    count = 0
    for record in records:
        if record["kind"] != "pin":
            continue
        if record["chat"] not in held:
            row = store.chat(record["chat"])
            held[record["chat"]] = store.pins(row.id) if row else {}
        count += held[record["chat"]].get(record["username"]) != bytes.fromhex(record["public_key"])
    return count


def _open(path: Path) -> BinaryIO:
    """The export at ``path`` opened for reading; anything but a regular file (a device
    such as /dev/zero, a pipe, a folder) is refused before it is read."""
    refused = InvalidInputError(f"{path}: not a regular file (an export is a file 'pbridge export' wrote)")
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise refused  # before opening it: opening a named pipe waits for a writer
        stream = path.open("rb")
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):  # replaced since: still refused
        stream.close()
        raise refused
    return stream


def _lines(stream: BinaryIO, where: str) -> Iterator[tuple[int, str]]:
    """The stream's lines (numbered from 1, without their line end), each read with a
    bound: memory stays at :data:`MAX_LINE` however long a line is."""
    number = 0
    while True:
        try:
            line = stream.readline(MAX_LINE + 1)
        except OSError as exc:
            raise InvalidInputError(f"{where}: cannot be read ({exc.strerror})") from None
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE:
            raise InvalidInputError(f"{where}, line {number}: longer than {MAX_LINE} bytes (not an export)")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError(f"{where}, line {number}: not UTF-8 (not an export)") from None
        yield number, text.removesuffix("\n").removesuffix("\r")


def _read(stream: BinaryIO, where: str) -> Iterator[dict[str, Any]]:
    lines = _lines(stream, where)
    first = next(lines, None)
    version = _header(first[1]) if first else None
    if version not in _READS:
        raise InvalidInputError(f"{where}: not a {FORMAT} file of version {' or '.join(map(str, _READS))}")
    for number, line in lines:
        try:
            record = _ANY.validate_json(line).model_dump()
        except ValidationError as exc:
            first_error = exc.errors()[0]
            at = ".".join(str(p) for p in first_error["loc"])
            raise InvalidInputError(f"{where}, line {number}: {at}: {first_error['msg']}") from None
        _check(record, where, number)
        yield record


def _check(record: dict[str, Any], where: str, number: int) -> None:
    """What a record's fields alone cannot say: a pointer's armor, a chat's name, a
    rotation's signed notice, an identity's recovery code."""
    kind = record["kind"]
    if kind == "pointer":
        record["payload"] = _payload(record["text"], where, number)
    elif kind == "chat" and _normalized(record["name"]) != record["normalized_name"]:
        raise InvalidInputError(f"{where}, line {number}: normalized_name is not the chat name's")
    elif kind in ("rotation", "rotation_conflict") and record["old_key"] == record["new_key"]:
        raise InvalidInputError(f"{where}, line {number}: a rotation to the same key")
    if kind == "rotation" and record["notice"] is not None:
        _check_rotation(record, where, number)
    elif kind == "rotation_out":
        _check_notice(record["body"], where, number)
    elif kind == "identity" and record["recovery"] is not None:
        _check_recovery(record["recovery"], where, number)


def _check_rotation(record: dict[str, Any], where: str, number: int) -> None:
    """A rotation's notice must be signed by its old key and name its user and keys."""
    notice = _check_notice(record["notice"], where, number, field="notice")
    if (notice.username, notice.old_key.hex(), notice.new_key.hex()) != (
        record["username"],
        record["old_key"],
        record["new_key"],
    ):
        raise InvalidInputError(f"{where}, line {number}: notice: not the notice of this rotation")


def _check_recovery(text: str, where: str, number: int) -> None:
    from pointerbridge.core.keys import RecoveryCode

    try:
        RecoveryCode.from_bytes(bytes.fromhex(text))
    except InvalidInputError:
        raise InvalidInputError(f"{where}, line {number}: the identity's recovery code is damaged") from None


def _check_notice(body: str, where: str, number: int, field: str = "body") -> RotationNotice:
    from pointerbridge.core.rotation import RotationError, parse_notice

    try:
        notice = parse_notice(body)
    except RotationError as exc:
        raise InvalidInputError(f"{where}, line {number}: {field}: {exc}") from None
    if notice is None:
        raise InvalidInputError(f"{where}, line {number}: {field}: not a rotation notice")
    return notice


def _normalized(name: str) -> str | None:
    from pointerbridge.core.keys import normalize_chat_name

    try:
        return normalize_chat_name(name)
    except InvalidInputError:
        return None


def _header(line: str) -> object:
    """The header's version if the line is this format's header, else None."""
    try:
        header = json.loads(line)
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return None
    version = header.get("version")
    return version if type(version) is int else None


def _payload(text: str, where: str, number: int) -> bytes:
    try:
        return dearmor(text)[1]
    except UnknownVersionError:
        return b""  # kept by its text, as a poll keeps it: a later release opens it
    except PointerError as exc:
        raise InvalidInputError(f"{where}, line {number}: not a pointer ({exc})") from None
