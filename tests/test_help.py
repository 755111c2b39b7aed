"""Every ``pbridge ... --help``, on a narrow and a wide terminal: paragraphs wrap where the
width says, not where a docstring's source line ended, and nothing of the text is lost to
markup (issue 17, item 17)."""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from pointerbridge.cli.main import pbridge
from typer.testing import CliRunner

_BOX = "│"


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(typer.main.get_command(pbridge)))


def _help(path: tuple[str, ...], columns: int) -> str:
    result = CliRunner().invoke(pbridge, [*path, "--help"], env={"COLUMNS": str(columns)}, prog_name="pbridge")
    assert result.exit_code == 0, result.output
    return result.output


def _cells(line: str) -> tuple[int, str, int, int]:
    """Of an output line: the first column of its text, the text, the last column text may
    reach, and the column where its last cell starts (a panel's table has several)."""
    stripped = line.rstrip()
    if _BOX in stripped:  # inside a panel: │ text ... │ with a space of padding each side
        left, right = stripped.index(_BOX), stripped.rindex(_BOX)
        inner = stripped[left + 1 : right].rstrip()
        text = inner.strip()
        start = left + 1 + len(inner) - len(inner.lstrip())
        gaps = list(re.finditer(r" {2,}(?=\S)", inner))
        last = left + 1 + gaps[-1].end() if gaps else start
        return start, text, right - 2, last
    text = stripped.strip()
    start = len(stripped) - len(stripped.lstrip())
    return start, text, 10**6, start


_TYPER_NOTES = ("[default:", "[required]", "[env var:")


def hard_breaks(output: str, columns: int) -> list[str]:
    """Lines broken although the next line's first word would have fitted on them: what
    a line break kept from the source looks like once the text is wrapped again."""
    found = []
    lines = output.splitlines()
    for above, below in itertools.pairwise(lines):
        start_a, text_a, limit_a, last_a = _cells(above)
        start_b, text_b, _, _ = _cells(below)
        if not text_a or not text_b or set(text_a + text_b) & set("─╭╮╰╯") or text_a.startswith("Usage:"):
            continue
        if _BOX in below:
            # a table row starts at the panel's first column; a line that starts at the
            # column of the last cell above goes on with it (Typer puts "[default: ...]"
            # and the like on a line of their own)
            goes_on = start_b == last_a and start_b > below.index(_BOX) + 2 and not text_b.startswith(_TYPER_NOTES)
        else:
            goes_on = start_b == start_a  # outside panels a paragraph's lines start at one column
        end_a = len(above.rstrip(" │")) if _BOX in above else len(above.rstrip())
        if goes_on and end_a + 1 + len(text_b.split()[0]) <= min(limit_a, columns - 1):
            found.append(f"{text_a!r} / {text_b!r}")
    return found


def _flat(output: str) -> str:
    """The output's words in order, panels' borders taken out."""
    return " ".join(output.replace(_BOX, " ").split())


@pytest.mark.parametrize("columns", [60, 200])
def test_no_help_keeps_a_source_line_break(columns: int) -> None:
    broken = {}
    for path in COMMANDS:
        found = hard_breaks(_help(path, columns), columns)
        if found:
            broken[" ".join(path) or "pbridge"] = found
    assert broken == {}


def test_the_break_finder_finds_a_kept_break() -> None:
    # what `pbridge --help` showed for init at 200 columns before help texts were tidied
    kept = (
        "│ init      Create this home's identity from a username and a master phrase (a generated one       │\n"
        "│           is offered; one typed is asked twice and refused if weak), or regenerate one made on   │\n"
    )
    assert hard_breaks(kept, 100) == [
        '"init      Create this home\'s identity from a username and a master phrase (a generated one" / '
        "'is offered; one typed is asked twice and refused if weak), or regenerate one made on'"
    ]
    wrapped = (
        "│ init      Create this home's identity from a username and a master phrase (a generated one is    │\n"
        "│           offered; one typed is asked twice and refused if weak), or regenerate one made on      │\n"
    )
    assert hard_breaks(wrapped, 100) == []


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda p: " ".join(p) or "pbridge")
def test_help_shows_the_whole_docstring_as_written(path: tuple[str, ...]) -> None:
    output = _help(path, 100)
    assert "``" not in output and ":class:" not in output  # reST is for the source, not for help
    doc = inspect.cleandoc(COMMANDS[path].help or "").replace("\\[", "[")  # as escaped for Rich
    for paragraph in doc.split("\n\n"):
        # every word, brackets included (Rich markup must not eat "[daemon]"), in order
        assert " ".join(paragraph.split()) in _flat(output), paragraph


def test_group_summaries_name_every_command() -> None:
    for path, command in COMMANDS.items():
        subcommands = getattr(command, "commands", {})
        if path and subcommands:
            summary = (command.help or "").split("\n\n")[0]
            missing = [name for name in subcommands if not re.search(rf"\b{name}\b", summary, re.IGNORECASE)]
            assert missing == [], f"'pbridge {' '.join(path)} --help' says {summary!r}"


def test_purge_alone_offers_yes() -> None:
    assert "--yes" in _help(("purge",), 100)
    for action in ("trash", "restore"):
        assert "--yes" not in _help((action,), 100)
