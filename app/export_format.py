"""The records of an export (docs/EXPORT.md): each kind's fields, checked strictly, and
what its fields alone cannot say (a pointer's armor, a chat's name, a rotation's signed
notice, an identity's recovery code). :mod:`.backup` reads and writes the file."""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pointerbridge.core.armor import dearmor
from pointerbridge.core.errors import InvalidInputError, PointerError, UnknownVersionError
from pointerbridge.home.store import Direction
from pointerbridge.home.store.purged import MAX_RUNS, MAX_SEQ
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

if TYPE_CHECKING:
    from pointerbridge.core.rotation import RotationNotice

__all__ = ["ORDER", "SEALED_KINDS", "parse_record", "parse_sealed_line"]

_HEX = r"^([0-9a-f]{2})*$"
# tombstones before pointers; rotations after them (they name a pointer by its digest)
ORDER = {
    "identity": 0,
    "chat": 1,
    "pin": 2,
    "tombstone": 3,
    "pointer": 4,
    "cursor": 5,
    "rotation": 6,
    "rotation_out": 7,
    "rotation_conflict": 8,
    "purged": 9,  # after the pointers: what is stored by then was there before the purge
}
SEALED_KINDS = frozenset({"chat", "pin", "rotation", "rotation_out", "rotation_conflict", "purged"})
"""The kinds a file seals from version 3 (what names a chat or its members): only inside a sealed line."""
_LOOKUP = re.compile(r"[0-9a-f]{64}")  # a pointer's chat in version 3: hex of StoreKey.lookup


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


class _KeyChange(_Record):
    """What a rotation and a rotation's conflict both say: in a chat, a name's old key and
    new key, from a pointer (its digest; null: after every pointer of the chat)."""

    chat: str
    username: str
    old_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    new_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    at: str | None = Field(pattern=r"^[0-9a-f]{64}$")


class _Rotation(_KeyChange):
    kind: Literal["rotation"]
    notice: str | None = Field(default=None, max_length=1000)  # absent before version 2


class _RotationOut(_Record):
    kind: Literal["rotation_out"]
    chat: str
    body: str = Field(max_length=1000)


class _RotationConflict(_KeyChange):
    kind: Literal["rotation_conflict"]
    chosen: bool


_Seq = Annotated[int, Field(ge=1, le=MAX_SEQ)]


class _Purged(_Record):
    """The numbers of one stream's purged pb2 messages (home/store/purged.py): runs of
    (first, last), and every number up to ``below``."""

    kind: Literal["purged"]
    chat: str
    sender_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    stream: str = Field(pattern=r"^[0-9a-f]{16}$")
    below: int = Field(ge=0, le=MAX_SEQ)
    runs: list[tuple[_Seq, _Seq]] = Field(max_length=MAX_RUNS)


class _Sealed(_Record):
    kind: Literal["sealed"]
    data: str = Field(pattern=r"^[A-Za-z0-9+/]*={0,2}$")  # base64 of StoreKey.seal(a record's JSON)


_KIND = Annotated[
    _Identity
    | _Chat
    | _Pin
    | _Pointer
    | _Cursor
    | _Tombstone
    | _Rotation
    | _RotationOut
    | _RotationConflict
    | _Purged
    | _Sealed,
    Field(discriminator="kind"),
]
_ANY: TypeAdapter[Any] = TypeAdapter(_KIND)
_LINE: TypeAdapter[list[Any]] = TypeAdapter(Annotated[list[_KIND], Field(min_length=1)])  # a sealed line, version 4


def parse_record(line: str | bytes, where: str, number: int, version: int, *, sealed: bool = False) -> dict[str, Any]:
    """The record on line ``number`` of a file of ``version`` (``sealed``: the JSON a sealed
    record on that line held, in version 3), checked; raise :class:`InvalidInputError`
    naming the line. From version 3 a file has chat records only sealed, and names a
    pointer's chat by its lookup; a sealed record of version 3 holds one chat record."""
    at_line = f"{where}, line {number}{' (sealed)' if sealed else ''}"
    record: dict[str, Any] = _validated(_ANY, line, at_line).model_dump()
    kind = record["kind"]
    if sealed and kind not in SEALED_KINDS:
        raise InvalidInputError(f"{at_line}: a sealed record holds a chat's records, not one of kind {kind!r}")
    if not sealed and version >= 3 and kind in SEALED_KINDS:
        raise InvalidInputError(f"{at_line}: a {kind} record in the clear (version {version} seals them)")
    if version < 3 and kind == "sealed":
        raise InvalidInputError(f"{at_line}: a sealed record in a file of version {version}")
    if version >= 3 and kind == "pointer" and record["chat"] is not None and not _is_lookup(record["chat"]):
        raise InvalidInputError(f"{at_line}: chat: not a chat's lookup (64 hex digits)")
    _check(record, at_line)
    return record


def parse_sealed_line(plain: bytes, where: str, number: int) -> list[dict[str, Any]]:
    """The records a sealed line of version 4 held (line ``number``, opened: a JSON array
    of one chat's records, its chat record first if any), each checked as
    :func:`parse_record` checks it; raise :class:`InvalidInputError` naming the line."""
    at_line = f"{where}, line {number} (sealed)"
    records = [item.model_dump() for item in _validated(_LINE, plain, at_line)]
    first = records[0]
    chat = first["normalized_name"] if first["kind"] == "chat" else first.get("chat")
    for at, record in enumerate(records):
        kind = record["kind"]
        if kind not in SEALED_KINDS:
            raise InvalidInputError(f"{at_line}: {at}: a sealed line holds a chat's records, not one of kind {kind!r}")
        if at > 0 and (kind == "chat" or record["chat"] != chat):
            raise InvalidInputError(f"{at_line}: {at}: a sealed line holds one chat's records, its chat record first")
        _check(record, f"{at_line}: {at}")
    return records


def _validated(adapter: TypeAdapter[Any], data: str | bytes, at_line: str) -> Any:
    try:
        return adapter.validate_json(data)
    except ValidationError as exc:
        first_error = exc.errors()[0]
        at = ".".join(str(p) for p in first_error["loc"])
        raise InvalidInputError(f"{at_line}: {at}: {first_error['msg']}") from None


def _is_lookup(text: str) -> bool:
    return _LOOKUP.fullmatch(text) is not None


def _check(record: dict[str, Any], at: str) -> None:
    """What a record's fields alone cannot say: a pointer's armor, a chat's name, a
    rotation's signed notice, an identity's recovery code."""
    kind = record["kind"]
    if kind == "pointer":
        record["payload"] = _payload(record["text"], at)
    elif kind == "chat" and _normalized(record["name"]) != record["normalized_name"]:
        raise InvalidInputError(f"{at}: normalized_name is not the chat name's")
    elif kind in ("rotation", "rotation_conflict") and record["old_key"] == record["new_key"]:
        raise InvalidInputError(f"{at}: a rotation to the same key")
    elif kind == "purged" and any(first > last for first, last in record["runs"]):
        raise InvalidInputError(f"{at}: runs: a run that ends before it starts")
    if kind == "rotation" and record["notice"] is not None:
        _check_rotation(record, at)
    elif kind == "rotation_out":
        _check_notice(record["body"], at)
    elif kind == "identity" and record["recovery"] is not None:
        _check_recovery(record["recovery"], at)
    elif kind == "sealed":
        try:
            record["sealed"] = base64.b64decode(record["data"], validate=True)
        except binascii.Error:
            raise InvalidInputError(f"{at}: data: not base64") from None


def _check_rotation(record: dict[str, Any], at: str) -> None:
    """A rotation's notice must be signed by its old key and name its user and keys."""
    notice = _check_notice(record["notice"], at, field="notice")
    if (notice.username, notice.old_key.hex(), notice.new_key.hex()) != (
        record["username"],
        record["old_key"],
        record["new_key"],
    ):
        raise InvalidInputError(f"{at}: notice: not the notice of this rotation")


def _check_recovery(text: str, at: str) -> None:
    from pointerbridge.core.keys import RecoveryCode

    try:
        RecoveryCode.from_bytes(bytes.fromhex(text))
    except InvalidInputError:
        raise InvalidInputError(f"{at}: the identity's recovery code is damaged") from None


def _check_notice(body: str, at: str, field: str = "body") -> RotationNotice:
    from pointerbridge.core.rotation import RotationError, parse_notice

    try:
        notice = parse_notice(body)
    except RotationError as exc:
        raise InvalidInputError(f"{at}: {field}: {exc}") from None
    if notice is None:
        raise InvalidInputError(f"{at}: {field}: not a rotation notice")
    return notice


def _normalized(name: str) -> str | None:
    from pointerbridge.core.keys import normalize_chat_name

    try:
        return normalize_chat_name(name)
    except InvalidInputError:
        return None


def _payload(text: str, at: str) -> bytes:
    try:
        return dearmor(text)[1]
    except UnknownVersionError:
        return b""  # kept by its text, as a poll keeps it: a later release opens it
    except PointerError as exc:
        raise InvalidInputError(f"{at}: not a pointer ({exc})") from None
