"""Usernames that can be taken for one another, or for a trust mark (pure).

A sender chooses the name their messages carry. Two senders of one chat whose names look
alike ("alice", "Alice", "аlice" with a Cyrillic а, "rnallory" beside "mallory") are told
apart by nothing on screen but the "(new key)" of the first message; a name holding a
tick ("bob ✓") or a mark's words ("bob verified") wears the mark of a verified key. This
module finds both:

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
  Before the prototypes, as UTS #39 says, every Default_Ignorable_Code_Point goes (a
  variation selector, the combining grapheme joiner: "alice" + U+FE0F is "alice"), and
  every :func:`blanks` character shows as a space: runs of spaces are one, none at the
  ends ("alice" + U+2800 is "alice"). The property is the ``regex`` package's
  ``\\p{Default_Ignorable_Code_Point}``: Python's ``unicodedata`` has no such property, and
  ``regex`` is the kept, widely used engine whose Unicode tables carry it.
- :func:`mark_glyphs`: the characters of a name that look like a trust mark. UTS #39
  lists no lookalike of ✓, so they are the symbols of the marks themselves (``✓ ✔``, see
  :data:`MARK_SYMBOLS`; app/display.py's marks use no other), every character Unicode
  names a check mark (✔ ✅ ☑ 🗸 …) and every radical sign, which is drawn as one: those
  Unicode names a ROOT (√ ∛ ∜ and the Arabic-Indic ؆ ؇) or a RADICAL SYMBOL (⎷). A CJK,
  Kangxi or Yi radical (RADICAL in its name, but no SYMBOL) is a part of writing, not a sign.
- :func:`mark_words`: the words of a trust mark a name holds as words of its own ("bob
  verified" reads as "bob ✔ verified" where the glyph is lost, in plain output), whatever
  their case or confusable glyphs: each word of the name by its skeleton, and a mark of
  several words only all of them in a row. The marks are app/display.py's own.
- :func:`blanks`: the characters of a name that show as nothing or as a blank: the
  default-ignorable ones (but a variation selector, which only chooses how the glyph
  before it is drawn, unless nothing else of the name shows), whitespace other than a
  plain space, and the blanks no Unicode property names: the Hangul fillers (letters, and
  default-ignorable, that fonts draw as a wide blank), BRAILLE PATTERN BLANK and MUSICAL
  SYMBOL NULL NOTEHEAD. A reader is told of them; a name of one's own may not hold any.

Core's ``normalize_username`` (what a pointer's name must be) already folds every run of
whitespace to one space and refuses control and format characters; it is left as it is,
since keys are bound to it, and this module judges what it lets through.

Importing it loads no data: the confusables table (about 1 MB of JSON) is read the first
time two names of a chat are compared or a name's words are looked at (:func:`mark_words`),
the ``regex`` patterns the first time they are used.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pointerbridge.core.errors import InvalidInputError

if TYPE_CHECKING:
    import regex

__all__ = [
    "MARK_SYMBOLS",
    "blanks",
    "check_new_username",
    "check_own_username",
    "lookalikes",
    "mark_glyphs",
    "mark_words",
    "skeleton",
    "spelled",
]

# The symbols the trust marks of app/display.py are drawn with (tests/test_names.py checks
# that every symbol of every mark is here): a name must not hold them.
MARK_SYMBOLS = frozenset("✓✔")  # trust on first use's tick; the heavy one of a key verified in person
# ✔ ✅ ☑ 🗹 🗸, and the radical signs √ ∛ ∜ ؆ ؇ ⎷ (not CJK, Kangxi or Yi radicals: letters)
_TICKS = ("CHECK MARK", "WITH CHECK", "WITH BOLD CHECK", " ROOT", "RADICAL SYMBOL")
_DIRECTION_MARKS = dict.fromkeys(map(ord, "\u200e\u200f"))  # around right-to-left glyphs in the data


def mark_glyphs(name: str) -> str:
    """The characters of ``name`` that look like a trust mark, each once, in order ("" none)."""
    found = [
        ch
        for ch in name
        if ch in MARK_SYMBOLS or (not ch.isascii() and any(t in unicodedata.name(ch, "") for t in _TICKS))
    ]
    return "".join(dict.fromkeys(found))


@functools.cache
def _mark_phrases() -> tuple[tuple[str, tuple[frozenset[str], ...]], ...]:
    """Each trust mark's words (app/display.py's marks, the plain ones and the terminal's),
    as (the words, one set of forms per word that a name's word matching it skeletons to)."""
    from .display import PLAIN_MARKS, TRUST_MARKS  # display imports this module: read when first asked

    phrases = {}
    for text in (*PLAIN_MARKS.values(), *(mark for mark, _ in TRUST_MARKS.values())):
        words = _word_pattern().findall(text)
        if words:  # "✓" has none: its glyph is mark_glyphs'
            # upper case too: skeletons tell "I" from "i" ("VERIFIED" is "verlfled"), a reader does not
            forms = tuple(frozenset({skeleton(w.casefold()), skeleton(w.upper())}) for w in words)
            phrases[" ".join(words).casefold()] = forms
    return tuple(sorted(phrases.items()))


@functools.cache
def _word_pattern() -> regex.Pattern[str]:
    import regex

    return regex.compile(r"[\p{L}\p{M}\p{N}]+")  # letters, their accents, digits: "_" and "-" part words


@functools.lru_cache(maxsize=1024)
def mark_words(name: str) -> tuple[str, ...]:
    """The words of trust marks that ``name`` holds as words of its own, sorted (() none):
    "bob verified" holds "verified", and reads as "bob ✔ verified" in plain output. A word
    matches whatever its case and confusable glyphs (:func:`skeleton` of the word and of
    its case-folded form), and a mark of several words matches only all of them in a row
    ("new key", not "key")."""
    text = _patterns()[0].sub("", name) if not name.isascii() else name  # "veri\u200dfied" is "verified"
    keys = [{skeleton(word), skeleton(word.casefold())} for word in _word_pattern().findall(text)]
    found = []
    for said, forms in _mark_phrases():
        for start in range(len(keys) - len(forms) + 1):
            if all(keys[start + i] & form for i, form in enumerate(forms)):
                found.append(said)
                break
    return tuple(found)


@functools.cache
def _patterns() -> tuple[regex.Pattern[str], regex.Pattern[str], regex.Pattern[str]]:
    """Default-ignorable characters; those of them a name may hold beside a visible one (the
    variation selectors); the blanks (see the module's docstring)."""
    import regex

    return (
        regex.compile(r"\p{Default_Ignorable_Code_Point}"),
        regex.compile(r"(?V1)[\p{Default_Ignorable_Code_Point}--\p{Variation_Selector}]"),
        regex.compile(r"(?V1)[[\p{White_Space}\u2800\U0001D159[\p{Default_Ignorable_Code_Point}&&\p{L}]]--[\x20]]"),
    )


def blanks(name: str) -> str:
    """The characters of ``name`` that show as nothing or as a blank (see the module's
    docstring), each once, in order ("" none)."""
    if name.isascii():
        return "".join(dict.fromkeys(ch for ch in name if ch in "\t\n\v\f\r"))  # the ASCII of White_Space
    ignorable, flagged, blank = _patterns()
    found = flagged.findall(name) + blank.findall(name)
    if not ignorable.sub("", blank.sub("", name)).strip(" "):  # nothing else shows: a blank name
        found += ignorable.findall(name)
    return "".join(dict.fromkeys(sorted(found, key=name.index)))


def check_own_username(name: str, *, new: bool = False) -> None:
    """Refuse ``name`` as this user's own if it holds a trust mark's glyph (:func:`mark_glyphs`)
    or words (:func:`mark_words`): every reader would see them beside the name as if they
    were a mark; or a character that
    shows as nothing or as a blank (:func:`blanks`, or any default-ignorable one): the name
    could pass for another. ``new``: the name of an identity being made (the advice is to
    choose another), else an identity's that has it already (to make a new one)."""
    advice = "choose a username without it" + ("" if new else " (a new identity: pbridge init --force)")
    glyphs = mark_glyphs(name)
    if glyphs:
        raise InvalidInputError(
            f"the username '{spelled(name)}' holds {spelled(glyphs)} ({_names(glyphs)}), which looks like a trust "
            f"mark beside a name: {advice}"
        )
    words = mark_words(name)
    if words:
        said = ", ".join(f"'{w}'" for w in words)
        raise InvalidInputError(
            f"the username '{spelled(name)}' holds the words of a trust mark ({said}), which read as the mark "
            f"beside a name: {advice}"
        )
    found = blanks(name) + ("" if name.isascii() else "".join(_patterns()[0].findall(name)))
    if found:
        hidden = "".join(dict.fromkeys(sorted(found, key=name.index)))
        raise InvalidInputError(
            f"the username '{spelled(name)}' holds {spelled(hidden)} ({_names(hidden)}), which shows as nothing or "
            f"as a blank, so the name could pass for another: {advice}"
        )


def check_new_username(username: str) -> str:
    """The form of ``username`` a new identity is bound to (core's ``normalize_username``),
    refused (:class:`InvalidInputError`) if it could not be an identity's name, or if it
    holds a trust mark's glyph or a blank (:func:`check_own_username`). Cheap and pure:
    a front-end calls it before it makes anything."""
    from pointerbridge.core.keys import normalize_username

    normalized = normalize_username(username)
    check_own_username(normalized, new=True)
    return normalized


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
    if not text.isascii():
        ignorable, _, blank = _patterns()
        text = ignorable.sub("", blank.sub(" ", text))  # a Hangul filler is blank first, not removed
    for step in range(3):
        if step == 1:
            text = unicodedata.normalize("NFD", text.casefold())  # 'I' → 'l' first: "Ian" is "lan"
        text = unicodedata.normalize("NFD", "".join(map(_prototype, text)))
    return " ".join(filter(None, text.split(" ")))  # runs of spaces one, none at the ends


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
