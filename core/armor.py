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
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from operator import add

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
    "declared_length",
    "encoded_length",
    "find_pointers",
    "max_payload_bytes",
    "scan",
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

# The ignorables: every character str.isspace() calls whitespace (what \s matches in a str
# pattern; a test checks the list), and these. A window splits a run with str.split.
_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_NOT_WHITESPACE = ">\u200b\u200c\u200d\u2060\ufeff\u00ad"
_IGNORABLE_CLASS = r"\s" + _NOT_WHITESPACE
_IGNORABLE_TO_SPACE = str.maketrans(dict.fromkeys(_NOT_WHITESPACE, " "))
_GAP_MARKS = str.maketrans({**dict.fromkeys(ALPHABET, " "), **dict.fromkeys(_WHITESPACE + _NOT_WHITESPACE, "g")})
_IGNORABLE = re.compile(f"[{_IGNORABLE_CLASS}]+")
_NOT_ALPHABET = re.compile(r"[^0-9A-Za-z]")
# A candidate (SPEC §4): the prefix and a version digit, then a length field whose first
# digit can start a length of at most 32768 (0-8), or the end of the run (a cut pointer).
# Anything else (`pb1 pencils`, `pb1 pb1 pb1`) is skipped by the regex engine without a
# Python step: junk text of any size is scanned at the engine's speed. The look-behind
# follows the `p`, so the engine looks for the literal `p` first.
_I = f"[{_IGNORABLE_CLASS}]*+"
_HEAD = f"{_I}b{_I}[1-9]{_I}(?![9A-Za-z])"
_CANDIDATE = re.compile(f"p(?<![0-9A-Za-z]p){_HEAD}")
_GLUED = re.compile(f"p{_HEAD}")  # right where a pointer just found ends
_RUN = re.compile(f"[0-9A-Za-z{_IGNORABLE_CLASS}]*")

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


# The armor of the largest value of r bytes, for r = 0..32.
_LARGEST = [_encode_number(256**r - 1, _CHARS_FOR[r]) for r in range(_BLOCK_BYTES + 1)]


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


def declared_length(pointer: str) -> int:
    """The payload length a found pointer's header declares, whatever its version (§4:
    later versions keep the envelope)."""
    return _decode_number(pointer[3:_HEADER_CHARS].encode("ascii"))


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


# A window holds at least this many compact characters of a run (fewer only where the run
# ends): four times the longest pointer, so a candidate in its first three quarters always
# fits, and a window is built again only after scanning moved that far on.
_WINDOW_CHARS = 4 * MAX_POINTER_CHARS
_CHUNK_CHARS = 1 << 15  # original characters a window reads at a time


class _Window:
    """A stretch of one run from ``start``, compacted: ``_WINDOW_CHARS`` alphabet
    characters and up to one chunk more, or the rest of the run if it ends sooner
    (``run_ends``).

    Bounded, so scanning holds a few megabytes at most whatever the text, and every
    candidate inside is located in O(log pieces). Built a chunk at a time by str.split and
    itertools, with no Python step per piece: hostile text can hold one every two characters.
    """

    __slots__ = ("comp_starts", "compact", "end", "orig_starts", "run_ends", "start")

    def __init__(self, text: str, start: int) -> None:
        self.start = start
        self.orig_starts = array("q")  # where each piece of alphabet characters starts
        self.comp_starts = array("q", [0])  # where each starts in `compact`, and its length
        parts: list[str] = []
        pos = start
        while True:
            limit = min(len(text), pos + _CHUNK_CHARS)
            end = _RUN.match(text, pos, limit).end()  # type: ignore[union-attr]  # `*` always matches
            chunk = text[pos:end]
            # str.split splits on exactly the whitespace the regexes' \s matches (a test checks).
            pieces = chunk.translate(_IGNORABLE_TO_SPACE).split()
            if pieces:
                gaps = list(map(len, chunk.translate(_GAP_MARKS).split()))  # the ignorables between
                if chunk[0] in ALPHABET:
                    gaps.insert(0, 0)
                lengths = list(map(len, pieces))
                after = list(accumulate(map(add, gaps, lengths), initial=pos))
                self.orig_starts.fromlist(list(map(add, after[:-1], gaps)))
                self.comp_starts.fromlist(list(accumulate(lengths, initial=self.comp_starts[-1]))[1:])
                parts.append("".join(pieces))
                pos = after[-1]  # ignorables after the last piece are read again with the next chunk
            self.run_ends = end < limit or limit == len(text)
            if self.run_ends or not pieces:
                pos = end
            if self.run_ends or self.comp_starts[-1] >= _WINDOW_CHARS:
                break
        self.end = pos
        self.compact = "".join(parts)

    def to_compact(self, index: int) -> int:
        """Compact index of the alphabet character at original ``index``."""
        piece = bisect_right(self.orig_starts, index) - 1
        return self.comp_starts[piece] + index - self.orig_starts[piece]

    def to_original(self, index: int) -> int:
        """Original index of the character at compact ``index``."""
        piece = bisect_right(self.comp_starts, index) - 1
        return self.orig_starts[piece] + index - self.comp_starts[piece]


def _judge(compact: str, begin: int) -> tuple[int, PointerError | None]:
    """The compact end of the candidate at ``begin`` and why it is refused (None: it is a
    pointer), or (-1, why) when the text ends before it does. Returns the refusal rather
    than raising it: hostile text can hold a million candidates."""
    header = compact[begin : begin + _HEADER_CHARS]
    if len(header) < _HEADER_CHARS:
        return -1, TruncatedError("the text ends inside a pointer header")
    length = _decode_number(header[3:].encode("ascii"))
    if length > MAX_PAYLOAD_BYTES:
        return -1, TooLargeError(f"the pointer declares {length} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    if length == 0:
        return -1, ArmorError("the pointer declares an empty payload")
    stop = begin + encoded_length(length)
    if stop > len(compact):
        return -1, TruncatedError("the text ends before the pointer does")
    if header[2] == ALPHABET[VERSION]:
        bad = _first_noncanonical(compact[begin + _HEADER_CHARS : stop], length)
        if bad is not None:
            return stop, NonCanonicalError(f"block at byte {bad} holds more than its bytes")
    return stop, None


def _first_noncanonical(text: str, length: int) -> int | None:
    """The byte offset of the first block of ``text`` whose value does not fit its size.

    Compares text, not numbers: the alphabet is in ASCII order, so a block of ``size``
    bytes is canonical exactly when its characters sort at most as high as the armor of
    the largest ``size``-byte value.
    """
    full, rest = divmod(length, _BLOCK_BYTES)
    top = _LARGEST[_BLOCK_BYTES]
    for block in range(full):
        start = block * _BLOCK_CHARS
        if text[start : start + _BLOCK_CHARS] > top:
            return block * _BLOCK_BYTES
    if rest and text[full * _BLOCK_CHARS :] > _LARGEST[rest]:
        return full * _BLOCK_BYTES
    return None


def scan(text: str) -> Iterator[str | PointerError]:
    """Find pointers in arbitrary text as a stream: each pointer (compact, ignorable
    characters removed), and each candidate refused (its error, not raised), in order.

    A candidate is ``pb``, a version digit and a length field that can declare 1 to 32768
    bytes (SPEC §4): other ``pb1``-like words are not reported. Pointers of later versions
    are returned too: :func:`unseal` names their version. Runs in time linear in
    ``len(text)`` and holds a bounded window of it (a few megabytes at most) beside what it
    yields.
    """
    if not isinstance(text, str):
        raise ArmorError("pointers are found in text")
    if len(text) > 64 * MAX_INPUT_CHARS:
        raise TooLargeError(f"text of {len(text)} characters is refused unread")
    window: _Window | None = None
    pos = 0
    glued = False  # a pointer may start right where the previous one ended
    while match := (glued and _GLUED.match(text, pos)) or _CANDIDATE.search(text, pos):
        start = match.start()
        if window is None or not window.start <= start < window.end:
            window = _Window(text, start)
        begin = window.to_compact(start)
        if begin + MAX_POINTER_CHARS > len(window.compact) and not window.run_ends:
            window = _Window(text, start)  # the candidate may reach past this window
            begin = 0
        stop, refused = _judge(window.compact, begin)
        # A complete candidate is never re-scanned, valid or not: that keeps hostile text
        # from costing a full decode per character. An incomplete one resumes after `pb1`.
        pos, glued = (match.end() if stop < 0 else window.to_original(stop - 1) + 1), refused is None
        yield window.compact[begin:stop] if refused is None else refused


def scan_pointers(text: str) -> Scan:
    """Every pointer in ``text`` (see :func:`scan`), the first 100 candidates refused and
    how many were."""
    found: list[str] = []
    rejected: list[PointerError] = []
    count = 0
    for item in scan(text):
        if isinstance(item, str):
            found.append(item)
        else:
            count += 1
            if len(rejected) < _MAX_REJECTED_KEPT:
                rejected.append(item)
    return Scan(found, rejected, count)


def find_pointers(text: str) -> list[str]:
    """Every well-formed pointer inside ``text``, compact, in order of appearance."""
    return [item for item in scan(text) if isinstance(item, str)]
