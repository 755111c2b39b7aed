"""``pbridge export`` and ``pbridge import``: a home's store as a file of JSON lines.

The file holds what the store holds but caches: the public identity, chats with their
slow verifiers, pinned sender keys, every pointer exactly as carried (ciphertext) with
where it was posted, carrier cursors, tombstones, and the rotations a chat accepted with
their signed notices. No plaintext, secret or derived key is in the store, so none is in
the file either. As in the store (docs/AT-REST.md), what names a chat or its members is
sealed under the identity's store key: everything about a chat is one sealed line, bound
to its place in this export (:mod:`.export_seal`), and a pointer names its chat by the
chat's lookup, so a reader of the file learns what a thief of the store learns. The
format, and what an import may change, are in docs/EXPORT.md.

Anyone can edit such a file, so an import takes no trust from it: it never makes a pin
(each name is pinned by its first message read here), takes a rotation only with its
notice signed by the old key (verified here), and never takes a conflict's re-pinned key.

Importing streams the file line by line (a line is at most :data:`MAX_LINE` bytes: a
stream of zeros is refused at once, not read whole), checks every line before anything is
written (the header's count of sealed lines among them), opens the sealed lines once the
identity is unlocked (one that does not open at its place refuses the file), adds in one
transaction, and keeps what the home has already:
importing the same file twice adds nothing."""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from pointerbridge.core.errors import InvalidInputError
from pointerbridge.home.private_file import write_private_with
from pointerbridge.home.store import SCHEMA_VERSION, IdentityRow, Store

from .errors import ExportExistsError, IdentityExistsError
from .export_format import ORDER, SEALED_KINDS, parse_record
from .export_seal import EXPORT_ID_BYTES, Header, chat_lines, opened, place

__all__ = ["FORMAT", "MAX_LINE", "VERSION", "Imported", "export_store", "import_file", "import_store", "write_export"]

FORMAT = "pointerbridge-export"
# 2: rotations carry their signed notice (a version-1 file's rotations are left out);
# 3: chat records sealed under the store key, pointers name their chat by its lookup;
# 4: one sealed line per chat, bound to its place in its own export (id and count in the header)
VERSION = 4
_READS = (1, 2, 3, 4)
MAX_LINE = 1 << 20  # bytes, newline included: a pointer line is under 64 KiB, a sealed line under 90 KiB


class Imported(NamedTuple):
    """What an import did: ``added``, how many of each kind were new; ``left_out``, what the
    file held that an import does not take (pins, rotations without their signed notice);
    ``identity``, the export's identity when this home had none and took it."""

    added: dict[str, int]
    left_out: dict[str, int]
    identity: IdentityRow | None


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
    """Write the store (unlocked: its key given) as an export to the open binary ``out``
    (a file, or standard output); return the number of lines after the header. Each
    chat's records are one sealed line (:mod:`.export_seal`); a pointer names its chat by
    the chat's lookup."""
    records = store.export_records()  # one read transaction, until the last is read
    head: list[dict[str, Any]] = []
    chats: list[dict[str, Any]] = []
    for record in records:  # the identity, then the chats' records, then the rest
        if record["kind"] not in SEALED_KINDS and record["kind"] != "identity":
            records = itertools.chain([record], records)
            break
        (chats if record["kind"] in SEALED_KINDS else head).append(record)
    plain = chat_lines(chats)
    export_id = os.urandom(EXPORT_ID_BYTES)
    header = {"format": FORMAT, "version": VERSION, "schema": SCHEMA_VERSION, "id": export_id.hex()}
    out.write(json.dumps({**header, "sealed": len(plain)}).encode("utf-8") + b"\n")
    for record in head:
        out.write(_json(record) + b"\n")
    for index, line in enumerate(plain):
        sealed = store.seal_for_export(line, place(VERSION, export_id, index, len(plain)))
        out.write(_json({"kind": "sealed", "data": base64.b64encode(sealed).decode("ascii")}) + b"\n")
    lookups: dict[str, str] = {}
    count = len(head) + len(plain)
    for record in records:
        if record["kind"] == "pointer" and record["chat"] is not None:
            if record["chat"] not in lookups:
                lookups[record["chat"]] = store.chat_lookup(record["chat"]).hex()
            record["chat"] = lookups[record["chat"]]
        out.write(_json(record) + b"\n")
        count += 1
    return count


def _json(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


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
    the file has none) once the file is checked, and unlocks the store's chat list; then
    the sealed lines (from version 3) are opened and checked (one that does not open raises
    :class:`~pointerbridge.core.store_key.SealedDataError`), all before anything is added."""
    where = str(source) if isinstance(source, Path) else name or "standard input"
    if isinstance(source, Path):
        with _open(source) as stream:
            header, records = _read(stream, where)
    else:
        header, records = _read(source, where)
    here = store.identity()
    theirs = next((r for r in records if r["kind"] == "identity"), None)
    if here is not None and theirs is not None and (here.username, here.public_key.hex()) != _who(theirs):
        raise IdentityExistsError(
            f"this home's identity is {here.username!r}, the export's is {theirs['username']!r}:"
            " import it into a new home (--home)"
        )
    unlock(_identity_of(theirs) if theirs is not None else None)
    if header.version >= 3:
        records = opened(store, records, where, header)
    records.sort(key=lambda r: ORDER[r["kind"]])  # stable: file order within a kind
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


def _read(stream: BinaryIO, where: str) -> tuple[Header, list[dict[str, Any]]]:
    """The file's header and its records, each checked (a sealed one as far as it can be
    without the key: it remembers its ``line``); from version 4, the sealed lines counted."""
    lines = _lines(stream, where)
    first = next(lines, None)
    header = _header(first[1], where) if first else None
    if header is None:
        raise InvalidInputError(f"{where}: not a {FORMAT} file of version {' or '.join(map(str, _READS))}")
    records = []
    for number, line in lines:
        record = parse_record(line, where, number, header.version)
        if record["kind"] == "sealed":
            record["line"] = number
        records.append(record)
    held = sum(r["kind"] == "sealed" for r in records)
    if header.version >= 4 and held != header.sealed:
        raise InvalidInputError(
            f"{where}: the header counts {header.sealed} sealed lines, the file holds {held}:"
            " lines were dropped or added"
        )
    return header, records


def _header(line: str, where: str) -> Header | None:
    """The header if the line is this format's header of a version read here, else None;
    one of version 4 must name its id and its count of sealed lines."""
    try:
        header = json.loads(line)
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return None
    version = header.get("version")
    if type(version) is not int or version not in _READS:
        return None
    if version < 4:
        return Header(version)
    export_id, sealed = header.get("id"), header.get("sealed")
    if not isinstance(export_id, str) or re.fullmatch(f"[0-9a-f]{{{2 * EXPORT_ID_BYTES}}}", export_id) is None:
        raise InvalidInputError(f"{where}, line 1: id: not {EXPORT_ID_BYTES} bytes in hex")
    if type(sealed) is not int or not 0 <= sealed < 1 << 32:
        raise InvalidInputError(f"{where}, line 1: sealed: not a count of sealed lines")
    return Header(version, bytes.fromhex(export_id), sealed)
