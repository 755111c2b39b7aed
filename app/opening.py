"""Opening a chat's stored pointers: the per-pointer work of a read, on every core.

The first time a pointer is read it is opened fully (routing tag, AEAD, layout,
signature) and a proof is kept beside it: a keyed BLAKE2b of the whole payload under a
key derived from the chat key, which no one without the chat key can make. Later reads
that find a matching proof skip the checks it stands for; the AEAD runs every time.

A long history (``PARALLEL_FROM`` pointers or more, on Linux, more than one core, and no
other thread running) is opened in chunks by forked worker processes: the chat key
reaches them by ``fork``, in memory, never through a pipe or a file, and only the opened
messages travel back. The caller gets the chunks in stored order either way.
"""

from __future__ import annotations

import hmac
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterator
from hashlib import blake2b
from typing import TYPE_CHECKING

from pointerbridge.core.errors import PointerError

if TYPE_CHECKING:
    from pointerbridge.core.keys import ChatKey
    from pointerbridge.core.pointer import MessageFields, Part

__all__ = ["CHUNK", "PARALLEL_FROM", "Row", "open_chunks"]

Row = tuple[int, bytes, int, "bytes | None"]  # pointer id, payload, trashed, proof
# (a message's fields, a Part, or None: refused; the proof to store, if new)
Opened = tuple["MessageFields | Part | None", "bytes | None"]
CHUNK = 4000
PARALLEL_FROM = 20_000

# What the workers open, set just before they are forked (and so inherited, not sent).
_job: tuple[ChatKey, bytes, list[Row]] | None = None


def open_chunks(key: ChatKey, proof_key: bytes, rows: list[Row]) -> Iterator[list[Opened]]:
    """The rows opened, chunk by chunk of ``CHUNK``, in order; each row becomes (a whole
    message's fields, a Part, or None if refused; the proof to store if the row had none
    that matched). Fields, not Message objects, because they cross processes ten times
    cheaper (a datetime pickles slowly)."""
    starts = range(0, len(rows), CHUNK)
    workers = _workers(len(rows))
    if workers < 2:
        for start in starts:
            yield _open_range(key, proof_key, rows, start)
        return
    global _job
    _job = (key, proof_key, rows)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            yield from pool.imap(_open_forked, starts)
    finally:
        _job = None


def _workers(count: int) -> int:
    if count < PARALLEL_FROM or not sys.platform.startswith("linux") or threading.active_count() > 1:
        return 1  # forking a threaded process (the daemon) is unsafe; a short history is not worth it
    return min(len(os.sched_getaffinity(0)), 4)


def _open_forked(start: int) -> list[Opened]:
    if _job is None:
        raise RuntimeError("a worker started without a job")
    return _open_range(*_job, start)


def _open_range(key: ChatKey, proof_key: bytes, rows: list[Row], start: int) -> list[Opened]:
    from pointerbridge.core.pointer import Message, _fields, _known_fields, _open

    out: list[Opened] = []
    for _, payload, _, proof in rows[start : start + CHUNK]:
        # Over the whole payload: a chat member knows the AEAD key, so nonce and tag alone
        # would not pin the ciphertext.
        mac = blake2b(payload, key=proof_key, digest_size=32).digest()
        known = proof is not None and hmac.compare_digest(mac, proof)
        try:
            if known:
                out.append((_known_fields(key, payload), None))
                continue
            item = _open(key, payload)
        except PointerError:
            out.append((None, None))
            continue
        out.append((_fields(item) if isinstance(item, Message) else item, mac))
    return out
