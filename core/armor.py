"""Text armor: pointer bytes as letters and digits that chat apps leave alone.

A pointer reads ``pb`` + version character + three length characters + data, all in
the 62 characters ``0-9A-Za-z``. Markdown, Telegram, Matrix clients and e-mail quoting
change none of them; whitespace, ``>`` and zero-width characters that those systems
insert are ignored on decode, and the length field says exactly where a pointer ends.
Data is base62 in 32-byte blocks of 43 characters (a shorter last block takes the fewest
characters that can hold it), and only the canonical encoding is accepted. SPEC §4.
"""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import gmpy2

from .errors import (
    ArmorError,
    InvalidInputError,
    NonCanonicalError,
    PointerError,
    TooLargeError,
    TruncatedError,
    UnknownVersionError,
)
from .finding import _CHARS_FOR, _LARGEST, _NOT_WHITESPACE, ALPHABET, Finder, encoded_length
from .limits import MAX_PAYLOAD_BYTES, MAX_POINTER_CHARS

__all__ = [
    "ALPHABET",
    "MAX_PAYLOAD_BYTES",
    "PREFIX",
    "VERSIONS",
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

PREFIX = "pb"
VERSION = 1
VERSIONS = (1, 2)
"""The versions read here (SPEC §4 step 5, §11): pb1 and pb2 share the envelope."""
_VERSION_CHARS = {ALPHABET[v]: v for v in VERSIONS}
_LENGTH_CHARS = 3
_HEADER_CHARS = len(PREFIX) + 1 + _LENGTH_CHARS
_BLOCK_BYTES = 32
_BLOCK_CHARS = 43
assert _CHARS_FOR[_BLOCK_BYTES] == _BLOCK_CHARS

# Base62 conversion is GMP's (gmpy2): its base-62 digits are 0-9, A-Z, a-z, exactly
# ALPHABET (a test checks), ~10x faster than Python's divmod loop. gmpy2.mpz(text, 62) also
# reads signs, "_", whitespace and prefixes, so text reaches it only once it is checked to
# be alphabet characters alone (_decode_number, _decode_blocks).
_digits: Callable[[int, int], str] = gmpy2.digits
_mpz: Callable[[bytes, int], Any] = gmpy2.mpz
_TO_BYTES: Callable[[Any, int, str], bytes] = gmpy2.mpz.to_bytes
_FROM_BYTES: Callable[[bytes, str], Any] = gmpy2.mpz.from_bytes
_MPZ_DIGITS: Callable[[Any, int], str] = gmpy2.mpz.digits  # a third faster than gmpy2.digits of an int
_TOP = _LARGEST[_BLOCK_BYTES]  # the digits of 2**256 - 1

# The ignorables (SPEC §4): every character str.isspace() calls whitespace (a test checks
# the list), and `>` and the zero-width characters.
_IGNORABLE = re.compile(f"[\\s{_NOT_WHITESPACE}]+")
_NOT_ALPHABET = re.compile(r"[^0-9A-Za-z]")

assert encoded_length(MAX_PAYLOAD_BYTES) == MAX_POINTER_CHARS  # core/limits.py says it without GMP
# Input larger than this is refused unread: room for a line break or quote after every char.
MAX_INPUT_CHARS = 4 * MAX_POINTER_CHARS


def max_payload_bytes(max_chars: int) -> int:
    """The largest payload whose armor fits in ``max_chars`` characters (0 if none)."""
    full, rest_chars = divmod(max(0, max_chars - _HEADER_CHARS), _BLOCK_CHARS)
    rest = max(r for r in range(_BLOCK_BYTES) if _CHARS_FOR[r] <= rest_chars)
    return min(MAX_PAYLOAD_BYTES, full * _BLOCK_BYTES + rest) if max_chars >= _HEADER_CHARS else 0


def _encode_number(value: int, chars: int) -> str:
    """``value`` (0 to 62**chars - 1) as exactly ``chars`` base62 digits."""
    text = _digits(value, 62)
    if value < 0 or len(text) > chars:
        raise ValueError(f"{value} does not fit {chars} base62 digits")
    return text.zfill(chars)


def _alphabet_bytes(text: str) -> bytes:
    """``text`` as ASCII, refused unless it is alphabet characters alone (``bytes.isalnum``
    is exactly 0-9A-Za-z): what gmpy2 reads besides (signs, "_", spaces) never reaches it."""
    if text.isascii():
        data = text.encode("ascii")
        if data.isalnum():
            return data
    bad = _NOT_ALPHABET.search(text)
    raise ArmorError(f"character {bad.group()!r} is not in the pointer alphabet" if bad else "no base62 digits")


def _decode_number(text: str) -> int:
    """The value of base62 ``text``; anything but alphabet characters is refused."""
    return int(_mpz(_alphabet_bytes(text), 62))


@functools.cache
def _blocks(count: int, size: int) -> struct.Struct:
    """Splits ``count`` blocks of ``size`` bytes apart in one C call."""
    return struct.Struct(f"{size}s" * count)


def _encode_blocks(payload: bytes) -> str:
    """The data of a pointer: each 32-byte block as 43 digits, a shorter last one as fewer.
    Every step is a C function mapped over the blocks: no Python step per block."""
    full, rest = divmod(len(payload), _BLOCK_BYTES)
    values = map(_FROM_BYTES, _blocks(full, _BLOCK_BYTES).unpack_from(payload), repeat("big"))
    text = "".join(map(str.zfill, map(_MPZ_DIGITS, values, repeat(62)), repeat(_BLOCK_CHARS)))
    if rest:
        text += _encode_number(int.from_bytes(payload[-rest:], "big"), _CHARS_FOR[rest])
    return text


def armor(version: int, payload: bytes) -> str:
    """Encode payload bytes as pointer text (no line breaks)."""
    if version not in range(1, 10):
        raise InvalidInputError(f"a pointer version is a digit 1 to 9, not {version!r}")
    if not 1 <= len(payload) <= MAX_PAYLOAD_BYTES:
        raise TooLargeError(f"a payload is 1 to {MAX_PAYLOAD_BYTES} bytes, not {len(payload)}")
    return "".join([PREFIX, ALPHABET[version], _encode_number(len(payload), _LENGTH_CHARS), _encode_blocks(payload)])


def _read_header(compact: str) -> int:
    """Validate prefix, version and length of compact text; return the payload length."""
    if not compact.startswith(PREFIX):
        raise ArmorError("the text does not start with the pointer prefix 'pb'")
    if len(compact) < _HEADER_CHARS:
        raise TruncatedError("the text ends inside the pointer header")
    if compact[2] not in _VERSION_CHARS:
        raise UnknownVersionError(f"pointer version {compact[2]!r} is not supported (this reads pb1 and pb2)")
    length = _decode_number(compact[3:_HEADER_CHARS])
    if length > MAX_PAYLOAD_BYTES:
        raise TooLargeError(f"the pointer declares {length} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    if length == 0:
        raise ArmorError("the pointer declares an empty payload")
    return length


def _decode_blocks(text: str, length: int) -> bytes:
    """The payload of ``length`` bytes that base62 ``text`` (exactly its characters) holds;
    a block whose value does not fit its bytes is refused (SPEC §4 step 8)."""
    data = _alphabet_bytes(text)
    full, rest = divmod(length, _BLOCK_BYTES)
    chunks = _blocks(full, _BLOCK_CHARS).unpack_from(data)
    # The alphabet is in ASCII order, so a 43-digit block fits 32 bytes exactly when it
    # sorts at most as high as the digits of 2**256 - 1.
    if chunks and max(chunks) > _TOP:
        first = next(i for i, chunk in enumerate(chunks) if chunk > _TOP)
        raise NonCanonicalError(f"block at byte {first * _BLOCK_BYTES} holds more than {_BLOCK_BYTES} bytes")
    values = map(_mpz, chunks, repeat(62))
    out = b"".join(map(_TO_BYTES, values, repeat(_BLOCK_BYTES), repeat("big")))
    if rest:
        value = _mpz(data[full * _BLOCK_CHARS :], 62)
        if value >> (8 * rest):
            raise NonCanonicalError(f"block at byte {full * _BLOCK_BYTES} holds more than {rest} bytes")
        out += value.to_bytes(rest, "big")
    return out


def declared_length(pointer: str) -> int:
    """The payload length a found pointer's header declares, whatever its version (§4:
    later versions keep the envelope)."""
    return _decode_number(pointer[3:_HEADER_CHARS])


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
    if not (text.isascii() and text.encode("ascii").isalnum()):  # the common case skips both regexes
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
    return _VERSION_CHARS[compact[2]], _decode_blocks(compact[_HEADER_CHARS:], length)


_MAX_REJECTED_KEPT = 100


@dataclass(frozen=True, slots=True)
class Scan:
    """What :func:`scan_pointers` found: pointers in order, and candidates it refused.

    ``rejected`` keeps the first 100 refusals; ``rejected_count`` counts them all.
    """

    pointers: list[str]
    rejected: list[PointerError]
    rejected_count: int


def _finder(text: str) -> Finder:
    if not isinstance(text, str):
        raise ArmorError("pointers are found in text")
    if len(text) > 64 * MAX_INPUT_CHARS:
        raise TooLargeError(f"text of {len(text)} characters is refused unread")
    return Finder(text)


def scan(text: str) -> Iterator[str | PointerError]:
    """Find pointers in arbitrary text as a stream: each pointer (compact, ignorable
    characters removed), and each candidate refused (its error, not raised), in order.

    A candidate is ``pb``, a version digit and a length field that can declare 1 to 32768
    bytes (SPEC §4): other ``pb1``-like words are not reported. pb1 and pb2 pointers are
    judged whole (canonical blocks); pointers of later versions are returned too, judged
    by their length alone: :func:`unseal` names their version. Builds an error per refused
    candidate: :func:`scan_pointers` counts them instead, for text that may be junk.
    """
    return _finder(text).stream()


def scan_pointers(text: str) -> Scan:
    """Every pointer in ``text`` (see :func:`scan`), the first 100 candidates refused and
    how many were. Time linear in ``len(text)``, memory at most twice it (the text
    compacted): see :mod:`.finding` and docs/BENCHMARKS.md."""
    finder = _finder(text)
    found: list[str] = []
    rejected: list[PointerError] = []
    for item in finder.stream():
        if isinstance(item, str):
            found.append(item)
            continue
        rejected.append(item)
        if len(rejected) == _MAX_REJECTED_KEPT:
            return Scan(found, rejected, len(rejected) + finder.count_rest(found))
    return Scan(found, rejected, len(rejected))


def find_pointers(text: str) -> list[str]:
    """Every well-formed pointer inside ``text``, compact, in order of appearance."""
    return scan_pointers(text).pointers
