"""``pbridge export`` and ``pbridge import``: a home's store as a file of JSON lines.

The file holds what the store holds but caches: the public identity, chats with their
slow verifiers, pinned sender keys, every pointer exactly as carried (ciphertext) with
where it was posted, carrier cursors and tombstones. No plaintext, secret or derived key
is in the store, so none is in the file either: it is safe to keep anywhere (a thief learns
what a thief of the store learns, docs/SPEC.md §9). The format is in docs/EXPORT.md.

Importing checks every line before anything is written, adds in one transaction, and
keeps what the home has already: importing the same file twice adds nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal

from pointerbridge.core.armor import dearmor
from pointerbridge.core.errors import InvalidInputError, PointerError, UnknownVersionError
from pointerbridge.home.private_file import write_private_with
from pointerbridge.home.store import SCHEMA_VERSION, Direction, Store
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

__all__ = ["FORMAT", "export_store", "import_store"]

FORMAT = "pointerbridge-export"
VERSION = 1
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


def export_store(store: Store, path: Path) -> int:
    """Write the store to ``path`` (0600, atomically); return the number of records."""
    count = 0

    def write(out: BinaryIO) -> None:
        nonlocal count
        header = {"format": FORMAT, "version": VERSION, "schema": SCHEMA_VERSION}
        out.write(json.dumps(header).encode("utf-8") + b"\n")
        for record in store.export_records():
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")
            count += 1

    try:
        write_private_with(path, write)
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be written ({exc.strerror})") from None
    return count


def import_store(store: Store, path: Path) -> dict[str, int]:
    """Check every line of the file at ``path``, then add it to ``store``; return what was new."""
    records = sorted(_read(path), key=lambda r: _ORDER[r["kind"]])  # stable: file order within a kind
    chats = {r["normalized_name"] for r in records if r["kind"] == "chat"}
    chats |= {c.normalized_name for c in store.chats()}
    for record in records:
        wanted = record.get("chat")
        if wanted is not None and wanted not in chats:
            raise InvalidInputError(f"{path}: a {record['kind']} of chat {wanted!r}, which the file does not hold")
    return store.import_records(records)


def _read(path: Path) -> Iterator[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc})") from None
    if not lines or _header(lines[0]) != (FORMAT, VERSION):
        raise InvalidInputError(f"{path}: not a {FORMAT} file of version {VERSION}")
    for number, line in enumerate(lines[1:], start=2):
        try:
            record = _ANY.validate_json(line).model_dump()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInputError(f"{path}, line {number}: {where}: {first['msg']}") from None
        if record["kind"] == "pointer":
            record["payload"] = _payload(record["text"], path, number)
        if record["kind"] == "chat" and _normalized(record["name"]) != record["normalized_name"]:
            raise InvalidInputError(f"{path}, line {number}: normalized_name is not the chat name's")
        if record["kind"] in ("rotation", "rotation_conflict") and record["old_key"] == record["new_key"]:
            raise InvalidInputError(f"{path}, line {number}: a rotation to the same key")
        if record["kind"] == "rotation_out":
            _check_notice(record["body"], path, number)
        if record["kind"] == "identity" and record["recovery"] is not None:
            _check_recovery(record["recovery"], path, number)
        yield record


def _check_recovery(text: str, path: Path, number: int) -> None:
    from pointerbridge.core.keys import RecoveryCode

    try:
        RecoveryCode.from_bytes(bytes.fromhex(text))
    except InvalidInputError:
        raise InvalidInputError(f"{path}, line {number}: the identity's recovery code is damaged") from None


def _check_notice(body: str, path: Path, number: int) -> None:
    from pointerbridge.core.rotation import RotationError, parse_notice

    try:
        if parse_notice(body) is not None:
            return
    except RotationError as exc:
        raise InvalidInputError(f"{path}, line {number}: body: {exc}") from None
    raise InvalidInputError(f"{path}, line {number}: body: not a rotation notice")


def _normalized(name: str) -> str | None:
    from pointerbridge.core.keys import normalize_chat_name

    try:
        return normalize_chat_name(name)
    except InvalidInputError:
        return None


def _header(line: str) -> tuple[Any, Any]:
    try:
        header = json.loads(line)
    except ValueError:
        return None, None
    return (header.get("format"), header.get("version")) if isinstance(header, dict) else (None, None)


def _payload(text: str, path: Path, number: int) -> bytes:
    try:
        return dearmor(text)[1]
    except UnknownVersionError:
        return b""  # kept by its text, as a poll keeps it: a later release opens it
    except PointerError as exc:
        raise InvalidInputError(f"{path}, line {number}: not a pointer ({exc})") from None
