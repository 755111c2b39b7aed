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
from dataclasses import dataclass

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
    _HEADER_CHARS
    + (MAX_PAYLOAD_BYTES // _BLOCK_BYTES) * _BLOCK_CHARS
    + _CHARS_FOR[MAX_PAYLOAD_BYTES % _BLOCK_BYTES]
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
    if not compact or not PREFIX.startswith(compact[: len(PREFIX)]):
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


@dataclass(frozen=True, slots=True)
class Scan:
    """What :func:`scan_pointers` found: pointers in order, and candidates it refused."""

    pointers: list[str]
    rejected: list[PointerError]


def _extent(text: str, start: int) -> tuple[str, int]:
    """The compact pointer starting at ``start`` and the index just past its last char."""
    run_end = _RUN.match(text, start).end()  # type: ignore[union-attr]  # `*` always matches
    pieces: list[str] = []
    have = 0
    need = _HEADER_CHARS
    header_read = False
    for m in _ALNUM_RUN.finditer(text, start, run_end):
        pieces.append(m.group())
        have += len(pieces[-1])
        if have >= need and not header_read:
            header = "".join(pieces)[:_HEADER_CHARS]
            if header[2] == ALPHABET[VERSION]:
                length = _read_header(header)
            else:  # every version keeps the pb1 envelope, so later ones can be delimited
                length = min(_decode_number(header[3:].encode("ascii")), MAX_PAYLOAD_BYTES)
            need = encoded_length(length)
            header_read = True
        if have >= need and header_read:
            cut = len(pieces[-1]) - (have - need)
            pieces[-1] = pieces[-1][:cut]
            return "".join(pieces), m.start() + cut
    raise TruncatedError("the text ends before the pointer does")


def scan_pointers(text: str) -> Scan:
    """Find every pointer in arbitrary text, and say which pointer-like text was refused.

    Each pointer is returned compact (ignorable characters removed), in the order found.
    Pointers of later versions are returned too: :func:`unseal` names their version.
    """
    if len(text) > 64 * MAX_INPUT_CHARS:
        raise TooLargeError(f"text of {len(text)} characters is refused unread")
    found: list[str] = []
    rejected: list[PointerError] = []
    pos = 0
    glued = False  # a pointer may start right where the previous one ended
    while match := (glued and _START.match(text, pos)) or _CANDIDATE.search(text, pos):
        try:
            compact, end = _extent(text, match.start())
            if compact[2] == ALPHABET[VERSION]:
                dearmor(compact)
        except PointerError as exc:
            rejected.append(exc)
            pos, glued = match.end(), False
            continue
        found.append(compact)
        pos, glued = end, True
    return Scan(found, rejected)


def find_pointers(text: str) -> list[str]:
    """Every well-formed pointer inside ``text``, compact, in order of appearance."""
    return scan_pointers(text).pointers
