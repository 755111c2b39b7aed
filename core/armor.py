"""Text armor: pointer bytes as letters and digits that chat apps leave alone.

A pointer reads ``pb`` + version character + three length characters + data, all in
the 62 characters ``0-9A-Za-z``. Markdown, Telegram, Matrix clients and e-mail quoting
change none of them; whitespace, ``>`` and zero-width characters that those systems
insert are ignored on decode, and the length field says exactly where a pointer ends.
Data is base62 in 32-byte blocks of 43 characters (a shorter last block takes the fewest
characters that can hold it), and only the canonical encoding is accepted. SPEC §4.
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

from .errors import (
    ArmorError,
    NonCanonicalError,
    PointerError,
    TooLargeError,
    TruncatedError,
    UnknownVersionError,
)

__all__ = [
    "ALPHABET",
    "MAX_PAYLOAD_BYTES",
    "PREFIX",
    "Scan",
    "armor",
    "dearmor",
    "encoded_length",
    "find_pointers",
    "max_payload_bytes",
    "scan_pointers",
]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIX = "pb"
VERSION = 1
MAX_PAYLOAD_BYTES = 32 * 1024
_LENGTH_CHARS = 3
_HEADER_CHARS = len(PREFIX) + 1 + _LENGTH_CHARS
_BLOCK_BYTES = 32
_BLOCK_CHARS = 43

# Fewest base62 characters that can hold r bytes: smallest c with 62**c >= 256**r.
_CHARS_FOR = [next(c for c in range(64) if 62**c >= 256**r) for r in range(_BLOCK_BYTES + 1)]
assert _CHARS_FOR[_BLOCK_BYTES] == _BLOCK_CHARS

_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]
# Decoding reads two ASCII characters as one native 16-bit word and looks its value up:
# no string objects are made or hashed per character (2-3x faster than a dict of pairs).
_DIGIT = [0] * 256
for _i, _ch in enumerate(ALPHABET):
    _DIGIT[ord(_ch)] = _i
_WORD_VALUE = [0] * 65536
for _i, _pair in enumerate(_PAIRS):
    _word = bytes(_pair, "ascii")
    _WORD_VALUE[int.from_bytes(_word, sys.byteorder)] = _i

_IGNORABLE_CLASS = r"\s>\u200b\u200c\u200d\u2060\ufeff\u00ad"
_IGNORABLE = re.compile(f"[{_IGNORABLE_CLASS}]+")
_NOT_ALPHABET = re.compile(r"[^0-9A-Za-z]")
_START = re.compile(f"p[{_IGNORABLE_CLASS}]*b[{_IGNORABLE_CLASS}]*[1-9]")
_CANDIDATE = re.compile(f"(?<![0-9A-Za-z]){_START.pattern}")
_RUN = re.compile(f"[0-9A-Za-z{_IGNORABLE_CLASS}]*")
_ALNUM_RUN = re.compile(r"[0-9A-Za-z]+")

MAX_POINTER_CHARS = (
    _HEADER_CHARS + (MAX_PAYLOAD_BYTES // _BLOCK_BYTES) * _BLOCK_CHARS + _CHARS_FOR[MAX_PAYLOAD_BYTES % _BLOCK_BYTES]
)
# Input larger than this is refused unread: room for a line break or quote after every char.
MAX_INPUT_CHARS = 4 * MAX_POINTER_CHARS


def encoded_length(payload_bytes: int) -> int:
    """Characters in the armor of a payload of this many bytes."""
    full, rest = divmod(payload_bytes, _BLOCK_BYTES)
    return _HEADER_CHARS + full * _BLOCK_CHARS + _CHARS_FOR[rest]


def max_payload_bytes(max_chars: int) -> int:
    """The largest payload whose armor fits in ``max_chars`` characters (0 if none)."""
    full, rest_chars = divmod(max(0, max_chars - _HEADER_CHARS), _BLOCK_CHARS)
    rest = max(r for r in range(_BLOCK_BYTES) if _CHARS_FOR[r] <= rest_chars)
    return min(MAX_PAYLOAD_BYTES, full * _BLOCK_BYTES + rest) if max_chars >= _HEADER_CHARS else 0


def _encode_number(value: int, chars: int) -> str:
    out = []
    for _ in range(chars // 2):
        value, pair = divmod(value, 3844)
        out.append(_PAIRS[pair])
    if chars % 2:
        value, digit = divmod(value, 62)
        out.append(ALPHABET[digit])
    return "".join(reversed(out))


def _decode_number(raw: bytes) -> int:
    """Value of base62 ASCII ``raw`` (already checked to be in the alphabet)."""
    odd = len(raw) % 2
    value = _DIGIT[raw[0]] if odd else 0
    for pair in map(_WORD_VALUE.__getitem__, memoryview(raw[odd:]).cast("H")):
        value = value * 3844 + pair
    return value


def armor(version: int, payload: bytes) -> str:
    """Encode payload bytes as pointer text (no line breaks)."""
    if not 1 <= len(payload) <= MAX_PAYLOAD_BYTES:
        raise TooLargeError(f"a payload is 1 to {MAX_PAYLOAD_BYTES} bytes, not {len(payload)}")
    parts = [PREFIX, ALPHABET[version], _encode_number(len(payload), _LENGTH_CHARS)]
    for start in range(0, len(payload), _BLOCK_BYTES):
        block = payload[start : start + _BLOCK_BYTES]
        parts.append(_encode_number(int.from_bytes(block, "big"), _CHARS_FOR[len(block)]))
    return "".join(parts)


def _read_header(compact: str) -> int:
    """Validate prefix, version and length of compact text; return the payload length."""
    if not compact.startswith(PREFIX):
        raise ArmorError("the text does not start with the pointer prefix 'pb'")
    if len(compact) < _HEADER_CHARS:
        raise TruncatedError("the text ends inside the pointer header")
    if compact[2] != ALPHABET[VERSION]:
        raise UnknownVersionError(f"pointer version {compact[2]!r} is not supported (this is pb1)")
    length = _decode_number(compact[3:_HEADER_CHARS].encode("ascii"))
    if length > MAX_PAYLOAD_BYTES:
        raise TooLargeError(f"the pointer declares {length} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    if length == 0:
        raise ArmorError("the pointer declares an empty payload")
    return length


def _decode_blocks(text: str, length: int) -> bytes:
    data = text.encode("ascii")
    out = bytearray()
    pos = 0
    for start in range(0, length, _BLOCK_BYTES):
        size = min(_BLOCK_BYTES, length - start)
        chars = _CHARS_FOR[size]
        value = _decode_number(data[pos : pos + chars])
        if value >> (8 * size):
            raise NonCanonicalError(f"block at byte {start} holds more than {size} bytes")
        out += value.to_bytes(size, "big")
        pos += chars
    return bytes(out)


def dearmor(text: str) -> tuple[int, bytes]:
    """Decode one pointer; return (version, payload).

    ``text`` must hold exactly one pointer; whitespace, ``>`` and zero-width characters
    anywhere are ignored. Raises an :class:`~pointerbridge.core.ArmorError` subclass,
    :class:`TruncatedError`, :class:`TooLargeError` or :class:`UnknownVersionError`.
    """
    if not isinstance(text, str):
        raise ArmorError("a pointer is text")
    if len(text) > MAX_INPUT_CHARS:
        raise TooLargeError(f"input of {len(text)} characters is refused unread")
    compact = text
    if not (text.isascii() and text.isalnum()):  # the common case skips both regexes
        compact = _IGNORABLE.sub("", text)
        bad = _NOT_ALPHABET.search(compact)
        if bad:
            raise ArmorError(f"character {bad.group()!r} is not in the pointer alphabet")
    length = _read_header(compact)
    expected = encoded_length(length)
    if len(compact) < expected:
        raise TruncatedError(f"the pointer has {len(compact)} of its {expected} characters")
    if len(compact) > expected:
        raise ArmorError(f"{len(compact) - expected} characters follow the end of the pointer")
    return VERSION, _decode_blocks(compact[_HEADER_CHARS:], length)


_MAX_REJECTED_KEPT = 100


@dataclass(frozen=True, slots=True)
class Scan:
    """What :func:`scan_pointers` found: pointers in order, and candidates it refused.

    ``rejected`` keeps the first 100 refusals; ``rejected_count`` counts them all.
    """

    pointers: list[str]
    rejected: list[PointerError]
    rejected_count: int


class _Run:
    """A maximal stretch of alphabet and ignorable characters, compacted once.

    Every candidate inside it is then located in O(log pieces), so scanning stays linear
    in the text however many pointer-like fragments a hostile text packs into one run.
    """

    __slots__ = ("comp_starts", "compact", "end", "orig_starts", "start")

    def __init__(self, text: str, start: int) -> None:
        self.start = start
        self.end = _RUN.match(text, start).end()  # type: ignore[union-attr]  # `*` always matches
        pieces = list(_ALNUM_RUN.finditer(text, start, self.end))
        self.orig_starts = [m.start() for m in pieces]
        self.comp_starts = list(accumulate((len(m.group()) for m in pieces), initial=0))
        self.compact = "".join(m.group() for m in pieces)

    def to_compact(self, index: int) -> int:
        """Compact index of the alphabet character at original ``index``."""
        piece = bisect_right(self.orig_starts, index) - 1
        return self.comp_starts[piece] + index - self.orig_starts[piece]

    def to_original(self, index: int) -> int:
        """Original index of the character at compact ``index``."""
        piece = bisect_right(self.comp_starts, index) - 1
        return self.orig_starts[piece] + index - self.comp_starts[piece]


def _candidate_length(header: str) -> int:
    """Payload length a candidate's header declares, for any version (§4 envelope)."""
    if header[2] == ALPHABET[VERSION]:
        return _read_header(header)
    length = _decode_number(header[3:].encode("ascii"))
    if not 1 <= length <= MAX_PAYLOAD_BYTES:
        raise ArmorError(f"a later-version candidate declares an impossible length {length}")
    return length


def scan_pointers(text: str) -> Scan:
    """Find every pointer in arbitrary text, and say which pointer-like text was refused.

    Each pointer is returned compact (ignorable characters removed), in the order found.
    Pointers of later versions are returned too: :func:`unseal` names their version.
    Runs in time linear in ``len(text)``.
    """
    if not isinstance(text, str):
        raise ArmorError("pointers are found in text")
    if len(text) > 64 * MAX_INPUT_CHARS:
        raise TooLargeError(f"text of {len(text)} characters is refused unread")
    found: list[str] = []
    rejected: list[PointerError] = []
    count = 0
    run: _Run | None = None
    pos = 0
    glued = False  # a pointer may start right where the previous one ended
    while match := (glued and _START.match(text, pos)) or _CANDIDATE.search(text, pos):
        if run is None or not run.start <= match.start() < run.end:
            run = _Run(text, match.start())
        begin = run.to_compact(match.start())
        resume = match.end()
        try:
            header = run.compact[begin : begin + _HEADER_CHARS]
            if len(header) < _HEADER_CHARS:
                raise TruncatedError("the text ends inside a pointer header")
            stop = begin + encoded_length(_candidate_length(header))
            if stop > len(run.compact):
                raise TruncatedError("the text ends before the pointer does")
            candidate = run.compact[begin:stop]
            # A complete candidate is never re-scanned, valid or not: that keeps hostile
            # text from costing a full decode per character.
            resume = run.to_original(stop - 1) + 1
            if header[2] == ALPHABET[VERSION]:
                dearmor(candidate)
        except PointerError as exc:
            count += 1
            if len(rejected) < _MAX_REJECTED_KEPT:
                rejected.append(exc.with_traceback(None))
            pos, glued = resume, False
            continue
        found.append(candidate)
        pos, glued = resume, True
    return Scan(found, rejected, count)


def find_pointers(text: str) -> list[str]:
    """Every well-formed pointer inside ``text``, compact, in order of appearance."""
    return scan_pointers(text).pointers
