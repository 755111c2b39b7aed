"""Joining the parts of split messages into whole ones, in any order, within a memory bound.

A part that repeats an index with other data refuses its whole message for good: its
sender gave two texts under one id (SPEC §7), and which one a member saw would depend on
arrival order.

The bound on incomplete messages counts what they take in memory, not only their bytes:
each part's Python objects (the bytes object, its index, its dict entry) and each
message's first part, key and bookkeeping, as ``sys.getsizeof`` gives them. A part of one
byte holds ~80 bytes, a message of one such part ~900: counting data plus a flat 256 bytes
a part let memory reach 3.3 times the bound.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass

from .errors import MalformedError, TooLargeError
from .keys import normalize_chat_name
from .layout import MAX_MESSAGE_BYTES, MAX_PARTS, _format, _message_id
from .pointer import Message, Part

__all__ = ["Reassembler"]

# What a dict spends per entry at worst, just after it grew (CPython 3.11-3.13 make room
# for 3 times the entries, rounded up to a power of two, 2/3 of it usable): 60 bytes.
_DICT_SLOT = 64


def _heap(obj: object) -> int:
    """What ``obj`` takes on the heap: its size rounded up to the allocator's 16-byte blocks."""
    return -(-sys.getsizeof(obj) // 16) * 16


@dataclass(slots=True)
class _Pending:
    first: Part
    pieces: dict[int, bytes]
    size: int = 0  # bytes of data, for the limit of one message
    cost: int = 0  # memory held, for the bound on all incomplete messages


def _message_cost(key: tuple[str, bytes, str], item: Part) -> int:
    """Memory a new incomplete message holds besides its parts: its key (the normalized
    chat name is a string of its own), its entry, and its first part's fields."""
    fields = (
        item.chat,
        item.username,
        item.sender_key,
        item.sent_at,
        item.message_id,
        item.count,
        item.stream,
        item.seq,
    )
    first = _heap(item) + sum(_heap(value) for value in fields if value is not None)
    entry = _heap(_Pending(item, {})) + _heap({0: b""})  # the entry and its dict of pieces
    return _heap(key) + _heap(key[0]) + first + entry + _DICT_SLOT


def _part_cost(item: Part) -> int:
    """Memory one part holds while its message is incomplete: its data, index and slot."""
    return _heap(item.data) + _heap(item.index) + _DICT_SLOT


def _siblings(item: Part) -> tuple[object, ...]:
    """What every part of one message has alike (a pb1 part and a pb2 part never do)."""
    return item.count, item.sent_at, item.username, item.stream, item.seq


def _piece_digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:16]


class Reassembler:
    """Joins the parts of split messages, in any order, into whole messages.

    Parts are grouped by chat, sender key and message id; exact duplicates are ignored.
    Parts that disagree about the message (count, time, username; version, stream and
    seq) raise
    :class:`MalformedError`. A part that repeats an index with other data raises it too,
    and the whole message is refused from then on (:meth:`refuses`): its sender gave two
    texts under one id, and which one a member would see would depend on arrival order.
    """

    def __init__(self, max_pending_bytes: int = 4 * MAX_MESSAGE_BYTES) -> None:
        """Hold at most ``max_pending_bytes`` of incomplete messages, counted as the memory
        they take (their objects, not only their data)."""
        self._pending: dict[tuple[str, bytes, str], _Pending] = {}
        self._max_pending = max_pending_bytes
        self._pending_bytes = 0
        # Messages refused for equivocation: a key each (~100 bytes); only a member who
        # can sign makes one, and each costs them a signed pointer.
        self._refused: set[tuple[str, bytes, str]] = set()
        # Joined messages: their first part and a digest of each piece (16 bytes), so a
        # part that comes again later is known as a copy or as a different text.
        self._joined: dict[tuple[str, bytes, str], tuple[Part, dict[int, bytes]]] = {}

    def refuses(self, item: Part) -> bool:
        """Whether the message ``item`` belongs to was refused for good (two parts with
        the same index and different data): none of its parts will ever complete it."""
        return (normalize_chat_name(item.chat), item.sender_key, item.message_id) in self._refused

    @property
    def pending(self) -> int:
        """How many messages are waiting for more parts."""
        return len(self._pending)

    def add(self, item: Part | Message) -> Message | None:
        """Take an unsealed pointer; return a message once it is complete, else ``None``."""
        if isinstance(item, Message):
            return item
        if not 0 <= item.index < item.count <= MAX_PARTS:
            raise MalformedError(f"part {item.index} of {item.count} is impossible")
        key = (normalize_chat_name(item.chat), item.sender_key, item.message_id)
        if key in self._refused:
            raise MalformedError(f"message {item.message_id} was refused: two parts {item.index} differ")
        joined = self._joined.get(key)
        if joined is not None:
            first, digests = joined
            if _siblings(item) != _siblings(first):
                raise MalformedError(f"part {item.index} of message {item.message_id} does not match its siblings")
            if digests[item.index] == _piece_digest(item.data):
                return None  # a copy of a part of a message joined already
            del self._joined[key]
            self._refused.add(key)
            raise MalformedError(f"two parts {item.index} of message {item.message_id} differ")
        entry = self._pending.get(key)
        if entry is not None:
            first = entry.first
            if _siblings(item) != _siblings(first):
                raise MalformedError(f"part {item.index} of message {item.message_id} does not match its siblings")
            known = entry.pieces.get(item.index)
            if known is not None:
                if known == item.data:
                    return None  # the same part again (carriers echo, members repost)
                del self._pending[key]
                self._pending_bytes -= entry.cost
                self._refused.add(key)
                raise MalformedError(f"two parts {item.index} of message {item.message_id} differ")
        cost = _part_cost(item) + (0 if entry else _message_cost(key, item))
        if self._pending_bytes + cost > self._max_pending:
            raise TooLargeError(f"incomplete messages exceed {self._max_pending} bytes")
        if (entry.size if entry else 0) + len(item.data) > MAX_MESSAGE_BYTES:
            raise TooLargeError(f"message {item.message_id} grows beyond {MAX_MESSAGE_BYTES} bytes")
        if entry is None:
            entry = self._pending[key] = _Pending(item, {})
        entry.pieces[item.index] = item.data
        entry.size += len(item.data)
        entry.cost += cost
        self._pending_bytes += cost
        if len(entry.pieces) < item.count:
            return None
        del self._pending[key]
        self._pending_bytes -= entry.cost
        first = entry.first
        self._joined[key] = (first, {i: _piece_digest(piece) for i, piece in entry.pieces.items()})
        fmt = _format(first.version)
        content, body = fmt.read_body(b"".join(entry.pieces[i] for i in range(first.count)))
        message_id = _message_id(first.sender_key, bytes.fromhex(first.message_id), fmt.id_label)
        return Message(
            first.chat,
            first.username,
            first.sender_key,
            first.sent_at,
            body,
            message_id,
            content,
            first.stream,
            first.seq,
        )
