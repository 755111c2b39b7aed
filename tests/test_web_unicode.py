"""The page judges names with the Python core's Unicode, not the browser's.

Chromium's ``\\p{Cn}`` and NFKC are a newer Unicode than Python's unicodedata: a character
assigned since is unassigned to the CLI (a name holding it is refused) and was assigned to
the page (the name opened there). Every code point is checked here as a one-character chat
name, username and file name, in the page and in the Python core, and the verdicts must be
the same.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from browser import shipped_page
from pointerbridge.core import InvalidInputError
from pointerbridge.core.content import _name_problem
from pointerbridge.core.keys import normalize_chat_name, normalize_username
from test_web_vectors import NORMALIZE_BOTH

if TYPE_CHECKING:
    from playwright.sync_api import Page

# Every code point a Python str can send to the page (a lone surrogate cannot cross as JSON).
EVERY = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    """The shipped page, open once for the module."""
    with shipped_page() as page:
        page.evaluate("(text) => { window.everyCodePoint = text; }", EVERY)  # sent once: 4 MB of JSON
        yield page


def _file_name(name: str) -> None:
    if _name_problem(name) is not None:
        raise InvalidInputError("not a file name")


def _refused(check: Callable[[str], object], text: str) -> list[list[int]]:
    """The code points of ``text`` that ``check`` refuses as a one-character name, as ranges."""
    out: list[list[int]] = []
    for ch in text:
        try:
            check(ch)
            continue
        except InvalidInputError:
            pass
        cp = ord(ch)
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


CHECKS = {"chat": normalize_chat_name, "username": normalize_username, "file": _file_name}


@pytest.mark.parametrize("which", sorted(CHECKS))
def test_every_code_point_is_judged_as_python_judges_it(page: Page, which: str) -> None:
    got = page.evaluate("(which) => window.pointerbridge.hex.refusedNames(which, window.everyCodePoint)", which)
    assert got == _refused(CHECKS[which], EVERY)


def test_the_browser_knows_characters_python_does_not() -> None:
    """Why the table is needed: a character Chromium has and Python's Unicode 14 lacks
    (U+1FAE8 SHAKING FACE, Unicode 15) is unassigned here; were Python's Unicode to catch up
    the table is regenerated, and this test says so."""
    assert unicodedata.category("\U0001fae8") == "Cn", unicodedata.unidata_version


NEWER = [
    "bob\U0001fae8",  # Unicode 15: a name the CLI refuses
    "\U0001ccf0",  # Unicode 16: OUTLINED DIGIT ZERO, NFKC "0" where it is known
    "caf\u00e9\U0001ccf1",
    "x\U00031350",  # CJK Extension H (Unicode 15)
]


@pytest.mark.parametrize("name", NEWER)
def test_names_with_newer_characters_are_refused_as_python_refuses_them(page: Page, name: str) -> None:
    for fn in (normalize_chat_name, normalize_username):
        with pytest.raises(InvalidInputError):
            fn(name)
    refused = {"normalizeChatName": "InvalidName", "normalizeUsername": "InvalidName"}
    assert page.evaluate(NORMALIZE_BOTH, name) == refused
