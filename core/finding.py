"""Finding pointers in arbitrary text (SPEC §4, "Finding"): fast on any junk.

The text is first *compacted* with C-speed string operations (``str.translate``,
``bytes.translate``, ``bytes.replace``): ignorables are removed, every other character
outside the alphabet becomes ``.`` (a run ends there), and a ``p`` that may start a
candidate (not right after an alphabet character) becomes ``!``. Every rule of §4 is then
a question about this ASCII string, answered by regexes over single-character classes.

Refused candidates are counted, not built: after the first 100 (kept as error objects for
messages), the candidates are counted by the regex engine, and Python looks only at those
that can be complete (a plausible header and enough characters after it, checked in the
pattern). Junk therefore costs no Python step per candidate, except where headers each
declare more than their run holds in the last 44,000 characters of a long run (a short
step each, 7 characters apart at least: ~16 MB/s) and for found pointers. Holds the text
compacted (a byte per character) and, while compacting, one copy more. Own code, not a
library: no parser knows §4's rules.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import count

import gmpy2

from .errors import ArmorError, NonCanonicalError, PointerError, TooLargeError, TruncatedError
from .limits import MAX_PAYLOAD_BYTES

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_HEADER = 6
_BLOCK_BYTES, _BLOCK_CHARS = 32, 43
_CHARS_FOR = [next(c for c in range(64) if 62**c >= 256**r) for r in range(_BLOCK_BYTES + 1)]

# Every character str.isspace() calls whitespace (armor's test checks the list), and these.
_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_NOT_WHITESPACE = ">\u200b\u200c\u200d\u2060\ufeff\u00ad"
_IGNORABLES = _WHITESPACE + _NOT_WHITESPACE
# Non-ASCII ignorables become a space; any other non-ASCII character then becomes `?`
# (encode), and a byte table sends each byte to itself (alphabet), ` ` (ignorable) or `.`.
_WIDE_IGNORABLES = str.maketrans(dict.fromkeys((c for c in _IGNORABLES if ord(c) > 127), " "))
_BYTE_CLASS = bytes(c if chr(c) in ALPHABET else 0x20 if chr(c) in _IGNORABLES else 0x2E for c in range(256))

_A = b"[0-9A-Za-z!]"  # an alphabet character of compacted text (`!` is a `p`)
_JUDGED = b"12"  # the versions whose blocks are checked (SPEC §4 step 8, §11)
_CANDIDATE = re.compile(rb"!b[1-9](?=[0-8.])")  # compact() puts a `.` at each end of the text
_GLUED = re.compile(rb"pb[1-9](?=[0-8.])")  # right where a pointer just found ends


def encoded_length(payload_bytes: int) -> int:
    """Characters in the armor of a payload of this many bytes."""
    full, rest = divmod(payload_bytes, _BLOCK_BYTES)
    return _HEADER + full * _BLOCK_CHARS + _CHARS_FOR[rest]


# encoded_length(n) for every n, block by block: a call per n cost ~10 ms at every start.
_LENGTHS = [
    _HEADER + full * _BLOCK_CHARS + chars
    for full in range(MAX_PAYLOAD_BYTES // _BLOCK_BYTES + 1)
    for chars in _CHARS_FOR[:_BLOCK_BYTES]
][: MAX_PAYLOAD_BYTES + 1]


def _char(c: str) -> bytes:
    """A pattern for alphabet character ``c`` in compacted text (a `p` may read `!`)."""
    return b"[p!]" if c == "p" else c.encode()


def _at_most(top: str) -> bytes:
    """A pattern for alphabet text of ``len(top)`` characters sorting at most as ``top``."""
    if not top:
        return b""
    below = ALPHABET[: ALPHABET.index(top[0])]
    lower = b"[%s%s]%s{%d}|" % (below.encode(), b"!" * ("p" in below), _A, len(top) - 1) if below else b""
    return b"(?:%s%s%s)" % (lower, _char(top[0]), _at_most(top[1:]))


def _largest(size: int) -> str:
    """The armor of the largest ``size``-byte block (GMP's base 62 is ALPHABET's)."""
    return str(gmpy2.digits(256**size - 1, 62)).zfill(_CHARS_FOR[size])


_LARGEST = [_largest(r).encode() for r in range(_BLOCK_BYTES + 1)]  # the armor of the largest r bytes


def _small(length: int) -> bytes:
    """After `pb1` (or `pb2`) and `00`: a complete candidate of ``length`` bytes (1 to 61) that Python
    must judge, because it may be a pointer (its blocks are canonical) or holds the start
    of another candidate; a complete one that is neither is refused, and counted as such."""
    full, rest = divmod(length, _BLOCK_BYTES)
    canonical = _at_most(_largest(_BLOCK_BYTES)) * full + _at_most(_largest(rest))
    data = _LENGTHS[length] - _HEADER
    inner = b"(?=%s{0,%d}!b[1-9][0-8.])" % (_A, data - 1)
    if ALPHABET[length] == "p":  # the last length character may itself start one
        inner += b"|(?<=!)(?=b[1-9][0-8.])"
    return b"%s(?=%s{%d})(?:%s|%s)" % (_char(ALPHABET[length]), _A, data, canonical, inner)


# A candidate that can be complete and must be looked at: a header declaring 1 to 32768
# bytes, then at least the characters its length needs (exactly, for 1 to 61 bytes, see
# _small; 84, the armor of 62, for more).
_LARGER = rb"(?:0[1-9A-Za-z!]%s|[1-7]%s%s|8[0-9A-V]%s|8W[0-9A-W])%s{%d}" % (
    _A,
    _A,
    _A,
    _A,
    _A,
    encoded_length(62) - _HEADER,
)
_SMALL = b"00(?:" + b"|".join(map(_small, range(1, 62))) + b")"
_SMALL_LATER = b"00(?:" + b"|".join(_char(ALPHABET[n]) + b"%s{%d}" % (_A, _LENGTHS[n] - 6) for n in range(1, 62)) + b")"
# Versions after pb2 are not judged beyond their length: a complete one is a pointer.
_MAYBE_COMPLETE = b"!b(?:[12](?=%s|%s)|[3-9](?=%s|%s))" % (_SMALL, _LARGER, _SMALL_LATER, _LARGER)


@functools.cache
def _maybe_complete() -> re.Pattern[bytes]:
    # Compiled on the first scan that needs it, not on import: compiling this pattern costs
    # ~160 ms, and every pbridge process imports the armor (an idle cron poll never scans).
    return re.compile(_MAYBE_COMPLETE)


# Counting candidates: a copy of the text in classes of characters, and the four
# characters that can start a candidate there (`!b`, a version, what follows).
_CLASSES = bytes(c if c in b"!b0.9" else 0x31 if c in b"12345678" else 0x78 for c in range(256))
_HEADS = [b"!b" + v + after for v in (b"1", b"9") for after in (b"0", b"1", b".")]
_CHUNK = 1 << 20  # bytes of compacted text put in classes at a time (a head is 4: 3 more are read)

_DIGIT = [0] * 256
for _i, _ch in enumerate(ALPHABET.encode()):
    _DIGIT[_ch] = _i
_DIGIT[ord("!")] = _DIGIT[ord("p")]
_TIMES_62 = [d * 62 for d in _DIGIT]
_TIMES_3844 = [d * 3844 for d in _DIGIT]
_START = re.Match.start


def compact(text: str) -> bytes:
    """``text`` as §4's finder sees it: ignorables removed, other characters outside the
    alphabet as ``.``, a ``p`` not right after an alphabet character as ``!``, and a ``.``
    at each end. ASCII: a byte per character of ``text`` at most, plus those two."""
    # One step a statement: each copy is let go before the next is made (twice the text at most).
    # ASCII is encoded strictly: exactly its size ("replace" makes a larger buffer first).
    data = text.encode("ascii") if text.isascii() else text.translate(_WIDE_IGNORABLES).encode("ascii", "replace")
    data = data.translate(_BYTE_CLASS)
    data = b".".join((b"", data, b""))  # where the text starts and ends, a run does too
    data = data.replace(b" p", b" !")
    data = data.replace(b".p", b".!")
    return data.replace(b" ", b"")


def _count(matches: Iterable[object]) -> int:
    """How many items ``matches`` yields, counted without a Python step per item."""
    counter = count()
    deque(zip(matches, counter, strict=False), maxlen=0)
    return next(counter)


def _first_noncanonical(data: bytes, length: int) -> int | None:
    """The byte offset of the first block of ``data`` whose value does not fit its size:
    the alphabet is in ASCII order, so a block is canonical exactly when it sorts at most
    as high as the armor of the largest value of its size."""
    if b"!" in data:
        data = data.replace(b"!", b"p")
    full, rest = divmod(length, _BLOCK_BYTES)
    top = _LARGEST[_BLOCK_BYTES]
    for block in range(full):
        start = block * _BLOCK_CHARS
        if data[start : start + _BLOCK_CHARS] > top:
            return block * _BLOCK_BYTES
    if rest and data[full * _BLOCK_CHARS :] > _LARGEST[rest]:
        return full * _BLOCK_BYTES
    return None


class Finder:
    """One text being searched: :meth:`stream` reports each candidate, :meth:`count_rest`
    finishes the search from where the stream stopped, counting the refused ones."""

    def __init__(self, text: str) -> None:
        self.data = compact(text)
        self.pos = 0  # where the search goes on
        self.glued = False  # a pointer just ended at `pos`: a `p` there may start one
        self.run_end = -1  # the `.` ending the run of the last candidate judged

    def _end_of_run(self, start: int) -> int:
        if start >= self.run_end:
            self.run_end = self.data.find(b".", start)  # there is one: compact() ends the text with it
        return self.run_end

    def _judge(self, start: int) -> tuple[int, PointerError | None]:
        """The end of the candidate at ``start`` and why it is refused (None: it is a
        pointer), or (-1, why) when its run ends before it does."""
        data = self.data
        header = data[start + 3 : start + _HEADER]
        if b"." in header:
            return -1, TruncatedError("the text ends inside a pointer header")
        length = _TIMES_3844[header[0]] + _TIMES_62[header[1]] + _DIGIT[header[2]]
        if length > MAX_PAYLOAD_BYTES:
            return -1, TooLargeError(f"the pointer declares {length} bytes; the limit is {MAX_PAYLOAD_BYTES}")
        if length == 0:
            return -1, ArmorError("the pointer declares an empty payload")
        stop = start + encoded_length(length)
        if stop > self._end_of_run(start):
            return -1, TruncatedError("the text ends before the pointer does")
        if data[start + 2] in _JUDGED:  # pb1 and pb2; a later version is judged by its length
            bad = _first_noncanonical(data[start + _HEADER : stop], length)
            if bad is not None:
                return stop, NonCanonicalError(f"block at byte {bad} holds more than its bytes")
        return stop, None

    def _pointer(self, start: int, stop: int) -> str:
        return self.data[start:stop].replace(b"!", b"p").decode("ascii")

    def _inside(self, start: int, stop: int) -> int:
        """How many candidates start after ``start`` and before ``stop`` (skipped: they
        are inside the complete candidate there)."""
        if self.data.find(b"!b", start + 1, stop + 1) < 0:
            return 0
        return _count(_CANDIDATE.finditer(self.data, start + 1, stop + 3))

    def stream(self) -> Iterator[str | PointerError]:
        """Each pointer (compact) and each refused candidate (its error), in order."""
        data = self.data
        while True:
            match = (self.glued and _GLUED.match(data, self.pos)) or _CANDIDATE.search(data, self.pos)
            if not match:
                return
            start = match.start()
            stop, refused = self._judge(start)
            # A complete candidate is never read again, valid or not; an incomplete one
            # resumes right after its `pb1` (SPEC §4).
            self.pos, self.glued = (stop if stop >= 0 else start + 3), refused is None
            yield self._pointer(start, stop) if refused is None else refused

    def count_rest(self, pointers: list[str]) -> int:
        """Search on from where :meth:`stream` stopped: add the pointers found to
        ``pointers`` and return how many candidates were refused."""
        data, resume = self.data, self.pos
        refused = 0  # every `!` candidate from here...
        for chunk in range(resume, len(data), _CHUNK):  # a chunk at a time: no second copy of the text
            classes = data[chunk : chunk + _CHUNK + 3].translate(_CLASSES)
            refused += sum(map(classes.count, _HEADS))
        while True:
            end = self.run_end
            for start in map(_START, _maybe_complete().finditer(data, resume)):
                if start >= end:
                    end = self.run_end = data.find(b".", start)
                length = _TIMES_3844[data[start + 3]] + _TIMES_62[data[start + 4]] + _DIGIT[data[start + 5]]
                if start + _LENGTHS[length] <= end:
                    break  # ...refused, unless complete: judged below
            else:
                return refused
            resume, reason = self._judge(start)
            refused -= self._inside(start, resume)  # ...and not inside a complete one
            if reason is not None:
                continue
            pointers.append(self._pointer(start, resume))
            refused -= 1
            while glued := _GLUED.match(data, resume):  # not `!`: not counted above
                start = glued.start()
                stop, reason = self._judge(start)
                refused += reason is not None
                if stop < 0:
                    resume = start + 3
                    break
                refused -= self._inside(start, stop)
                resume = stop
                if reason is not None:
                    break
                pointers.append(self._pointer(start, stop))
