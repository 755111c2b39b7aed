"""Usernames that can be taken for one another, or for a trust mark (pure).

A sender chooses the name their messages carry. Two senders of one chat whose names look
alike ("alice", "Alice", "аlice" with a Cyrillic а, "rnallory" beside "mallory") are told
apart by nothing on screen but the "(new key)" of the first message; a name holding a
tick ("bob ✓") wears the mark of a verified key. This module finds both:

- :func:`lookalikes`: names of a chat with one :func:`skeleton`, the UTS #39 skeleton
  (§4: NFD, every character to its prototype, NFD again) of the case-folded name, so a
  difference of case alone counts too. The prototypes are Unicode's confusables.txt as
  the ``confusable-homoglyphs`` package ships it: chosen because it is pure Python with
  no native library, small, kept up (its data is generated from Unicode's own file) and
  widely used for exactly this (homograph checks of usernames). PyICU's SpoofChecker
  has skeletons too, but needs ICU's C++ library (18-65 MB third-party wheels here);
  ``confusables`` last shipped in 2021, with Unicode 13. The package answers "which
  characters look like this one" but has no skeleton function, so :func:`_prototype`
  reads its pairs (each ``source → prototype`` line of confusables.txt, stored both
  ways) back into the one-way mapping, and nothing else here is a table of our own.
- :func:`mark_glyphs`: the characters of a name that look like a trust mark. UTS #39
  lists no lookalike of ✓, so they are the symbols of the marks themselves (``✓``, see
  :data:`MARK_SYMBOLS`; app/display.py's marks use no other), every character Unicode
  names a check mark (✔ ✅ ☑ 🗸 …) and the square root √, which is drawn as one.

Importing it loads no data: the confusables table (about 1 MB of JSON) is read the first
time two names of a chat are compared.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable

from pointerbridge.core.errors import InvalidInputError

__all__ = ["MARK_SYMBOLS", "check_own_username", "lookalikes", "mark_glyphs", "skeleton", "spelled"]

# The symbols the trust marks of app/display.py are drawn with (tests/test_names.py checks
# that every symbol of every mark is here): a name must not hold them.
MARK_SYMBOLS = frozenset("✓")
_TICKS = ("CHECK MARK", "WITH CHECK", "WITH BOLD CHECK", "SQUARE ROOT")  # ✔ ✅ ☑ 🗹 🗸 √ ...
_DIRECTION_MARKS = dict.fromkeys(map(ord, "\u200e\u200f"))  # around right-to-left glyphs in the data


def mark_glyphs(name: str) -> str:
    """The characters of ``name`` that look like a trust mark, each once, in order ("" none)."""
    found = [
        ch
        for ch in name
        if ch in MARK_SYMBOLS or (not ch.isascii() and any(t in unicodedata.name(ch, "") for t in _TICKS))
    ]
    return "".join(dict.fromkeys(found))


def check_own_username(name: str) -> None:
    """Refuse ``name`` as this user's own if it holds a trust mark's glyph (:func:`mark_glyphs`):
    every reader would see it beside the name as if it were a mark."""
    glyphs = mark_glyphs(name)
    if glyphs:
        raise InvalidInputError(
            f"the username '{spelled(name)}' holds {spelled(glyphs)} ({_names(glyphs)}), which looks like a trust "
            "mark beside a name: choose a username without it (a new identity: pbridge init --force)"
        )


def _names(glyphs: str) -> str:
    return ", ".join(unicodedata.name(ch, f"U+{ord(ch):04X}") for ch in glyphs)


def spelled(name: str) -> str:
    """``name`` with every character but printable ASCII written as ``\\uXXXX``: two names
    that look alike read differently (``\\u0430lice`` is not ``alice``)."""
    return "".join(
        ch if ch.isascii() and ch.isprintable() else (f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        for ch in name
    )


@functools.cache
def _pairs() -> dict[str, list[dict[str, str]]]:
    """confusable-homoglyphs' data: for each line ``source → prototype`` of confusables.txt,
    an entry under each side naming the other (a right-to-left glyph's key and entries
    wrapped in U+200E, as the file's comments show them)."""
    import json
    from importlib.resources import files

    # Read as the package's own loader does, without importing that loader's urllib.
    data = files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8")
    pairs: dict[str, list[dict[str, str]]] = json.loads(data)
    return pairs


def _others(char: str) -> list[str]:
    pairs = _pairs()
    entries = pairs.get(char, []) + pairs.get(f"\u200e{char}\u200e", [])
    return list(dict.fromkeys(entry["c"].translate(_DIRECTION_MARKS) for entry in entries))


@functools.lru_cache(maxsize=8192)
def _prototype(char: str) -> str:
    """The prototype of ``char`` (itself if it is one), read back from the two-way pairs.

    A source (one character) has one line, so one entry: its prototype; a prototype is
    never a source (the mapping is idempotent), so a character with several entries is a
    prototype, and so is one whose one entry is a character with several of its own. A
    lone pair, each naming only the other, does not say which side is the prototype: both
    go to the smaller, which keeps them one skeleton."""
    others = _others(char)
    if len(others) != 1:
        return char  # not confusable, or the prototype of several sources
    other = others[0]
    if len(other) > 1:
        return other  # a prototype of several characters ("m" → "rn")
    back = _others(other)
    if len(back) > 1 or (back == [char] and other < char):
        return other
    return char


@functools.lru_cache(maxsize=4096)
def skeleton(name: str) -> str:
    """The UTS #39 skeleton of ``name`` with case folded (and the prototypes' own
    characters mapped once more, so the mapping read back by :func:`_prototype` is
    idempotent): two names with one skeleton look alike."""
    text = unicodedata.normalize("NFD", name)
    for step in range(3):
        if step == 1:
            text = unicodedata.normalize("NFD", text.casefold())  # 'I' → 'l' first: "Ian" is "lan"
        text = unicodedata.normalize("NFD", "".join(map(_prototype, text)))
    return text


def lookalikes(names: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """For each of ``names`` (a chat's senders) that looks like another of them, the
    others it looks like (sorted); names alike with no other are absent."""
    unique = sorted(set(names))
    if len(unique) < 2:
        return {}
    groups: dict[str, list[str]] = {}
    for name in unique:
        groups.setdefault(skeleton(name), []).append(name)
    return {name: tuple(n for n in group if n != name) for group in groups.values() if len(group) > 1 for name in group}
