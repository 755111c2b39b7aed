"""The sealed lines of an export (docs/EXPORT.md): from version 4, one per chat, each
bound to its place in its own file.

A sealed line's plaintext is a JSON array of one chat's records: its chat record (with its
verifiers), then its pins, rotations, waiting rotation notice and rotation conflicts. The
file's sealed lines therefore count chats, not members or rotations, and the store key
pads each to a Padmé bucket as it pads a chat's row. A chat whose records pass
:data:`LINE_BUDGET` (hundreds of members) goes on in the next lines, each full but the last.

Each line's associated data binds the format version, the export's random id (in its
header), the line's index among the sealed lines and their count (in the header too), so
a line dropped, moved, repeated or taken from another export of the same identity, or a
header whose id or count was changed, does not open and the import refuses the file.
A version-3 file sealed each record alone, bound to nothing but "an export"; it is still read."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from pointerbridge.core.errors import InvalidInputError
from pointerbridge.core.store_key import SealedDataError

from .export_format import parse_record, parse_sealed_line

if TYPE_CHECKING:
    from pointerbridge.home.store import Store

__all__ = ["EXPORT_ID_BYTES", "LINE_BUDGET", "Header", "chat_lines", "opened", "place"]

EXPORT_ID_BYTES = 16
LINE_BUDGET = 64 << 10
"""Bytes of a sealed line's plaintext at most (unless one record alone is longer): a chat
of about 300 members, or 50 rotations with their notices; its line is under 90 KiB."""


class Header(NamedTuple):
    """An export's first line: its version and, from version 4, its random id and how many
    sealed lines it has."""

    version: int
    export_id: bytes = b""
    sealed: int = 0


def place(version: int, export_id: bytes, index: int, count: int) -> bytes:
    """Where a sealed line is, as its associated data binds it (after ``"export" 0x00``):
    the version (1 byte), the export's id (16), the line's index among the sealed lines
    and their count (4 each, big-endian)."""
    return bytes([version]) + export_id + index.to_bytes(4, "big") + count.to_bytes(4, "big")


def chat_lines(records: Iterable[dict[str, Any]]) -> list[bytes]:
    """The plaintexts of the sealed lines for ``records`` (the chats' records, each chat's
    record before its others): each chat's records in one JSON array, in the order given,
    on as few lines as :data:`LINE_BUDGET` lets."""
    chats: dict[str, list[bytes]] = {}
    for record in records:
        chat = record["normalized_name"] if record["kind"] == "chat" else record["chat"]
        chats.setdefault(chat, []).append(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode())
    lines = []
    for encoded in chats.values():
        line: list[bytes] = []
        size = 1  # "[" and, after each item, "," or "]"
        for item in encoded:
            if line and size + len(item) + 1 > LINE_BUDGET:
                lines.append(b"[" + b",".join(line) + b"]")
                line, size = [], 1
            line.append(item)
            size += len(item) + 1
        lines.append(b"[" + b",".join(line) + b"]")
    return lines


def opened(store: Store, records: list[dict[str, Any]], where: str, header: Header) -> list[dict[str, Any]]:
    """A file's records (of version 3 or later) with each sealed line opened under the
    store key (the identity's, unlocked) at its place and checked as a plain record is,
    and each pointer's chat lookup turned back into the chat's name (of the file's chats
    or this home's). A sealed line that does not open raises :class:`SealedDataError`."""
    result: list[dict[str, Any]] = []
    index = 0
    for record in records:
        if record["kind"] != "sealed":
            result.append(record)
            continue
        at = b"" if header.version == 3 else place(header.version, header.export_id, index, header.sealed)
        index += 1
        try:
            plain = store.open_from_export(record["sealed"], at)
        except SealedDataError:
            moved = "" if header.version == 3 else " (a line edited, dropped, moved, or taken from another export)"
            raise SealedDataError(
                f"{where}, line {record['line']}: a sealed record does not open: the file was sealed under"
                f" another identity's master phrase, or changed{moved}"
            ) from None
        if header.version == 3:
            result.append(parse_record(plain, where, record["line"], header.version, sealed=True))
        else:
            result += parse_sealed_line(plain, where, record["line"])
    names = {r["normalized_name"] for r in result if r["kind"] == "chat"} | {c.normalized_name for c in store.chats()}
    lookups = {store.chat_lookup(name).hex(): name for name in names}
    for record in result:
        if record["kind"] == "pointer" and record["chat"] is not None:
            if record["chat"] not in lookups:
                raise InvalidInputError(f"{where}: a pointer of a chat which the file does not hold")
            record["chat"] = lookups[record["chat"]]
    return result
