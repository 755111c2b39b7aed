"""Every ``pbridge ... --help``, on a narrow and a wide terminal: paragraphs wrap where the
width says, not where a docstring's source line ended, and nothing of the text is lost to
markup (issue 17, item 17)."""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Iterator
from typing import Any

import click
import pytest
from click.testing import CliRunner
from pointerbridge.cli.main import pbridge


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    if isinstance(command, click.Group):  # the groups load their commands when asked for them
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(pbridge))


def _help(path: tuple[str, ...], columns: int) -> str:
    result = CliRunner().invoke(pbridge, [*path, "--help"], env={"COLUMNS": str(columns)}, prog_name="pbridge")
    assert result.exit_code == 0, result.output
    return result.output


def _layout(output: str) -> Iterator[tuple[str, int, str, int | None]]:
    """Of each output line: the line, the first column of its text, the text, and the
    column where a line that goes on with it starts (None: none may). click's help is
    paragraphs, and sections ("Options:", "Commands:") of two-column rows whose second
    column wraps at a column of its own; a row's first line goes on at that column."""
    section = False
    for line in output.splitlines():
        text = line.strip()
        start = len(line) - len(line.lstrip())
        if text and start == 0:
            section = text in ("Options:", "Commands:")
            yield line, start, text, None if section else start
        elif section and start == 2:  # a row: its first column, two spaces or more, its help
            gap = re.search(r" {2,}(?=\S)", text)
            yield line, start, text, start + gap.end() if gap else None
        else:
            yield line, start, text, start


_CLICK_NOTES = ("[default:", "[required]", "[env var:")  # click joins these to a help with two spaces


def hard_breaks(output: str, columns: int) -> list[str]:
    """Lines broken although the next line's first word would have fitted on them (click
    wraps help at two columns less than the terminal's): what a line break kept from the
    source looks like once the text is wrapped again."""
    found = []
    for above, below in itertools.pairwise(_layout(output)):
        line_a, _, text_a, goes_on_at = above
        _, start_b, text_b, _ = below
        if not text_a or not text_b or text_a.startswith("Usage:"):
            continue
        space = 2 if text_b.startswith(_CLICK_NOTES) else 1
        if start_b == goes_on_at and len(line_a.rstrip()) + space + len(text_b.split()[0]) <= columns - 2:
            found.append(f"{text_a!r} / {text_b!r}")
    return found


def _flat(output: str) -> str:
    """The output's words in order."""
    return " ".join(output.split())


@pytest.mark.parametrize("columns", [60, 200])
def test_no_help_keeps_a_source_line_break(columns: int) -> None:
    broken = {}
    for path in COMMANDS:
        found = hard_breaks(_help(path, columns), columns)
        if found:
            broken[" ".join(path) or "pbridge"] = found
    assert broken == {}


def test_the_break_finder_finds_a_kept_break() -> None:
    # what `pbridge --help` showed for init at 100 columns had its help kept its source line
    # breaks, then the same wrapped at the width
    kept = (
        "Commands:\n"
        "  init      Create this home's identity from a username and a master phrase (a generated one\n"
        "            is offered; one typed is asked twice and refused if weak), or regenerate one made\n"
        "  whoami    Show this home's username and public key fingerprint.\n"
    )
    assert hard_breaks(kept, 100) == [
        '"init      Create this home\'s identity from a username and a master phrase (a generated one" / '
        "'is offered; one typed is asked twice and refused if weak), or regenerate one made'"
    ]
    wrapped = (
        "Commands:\n"
        "  init      Create this home's identity from a username and a master phrase (a generated one is\n"
        "            offered; one typed is asked twice and refused if weak), or regenerate one made on\n"
        "  whoami    Show this home's username and public key fingerprint.\n"
    )
    assert hard_breaks(wrapped, 100) == []
    # the same in a paragraph, outside the sections
    assert hard_breaks("  Change your master phrase,\n  and so your key.\n", 100) == [
        "'Change your master phrase,' / 'and so your key.'"
    ]


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda p: " ".join(p) or "pbridge")
def test_help_shows_the_whole_docstring_as_written(path: tuple[str, ...]) -> None:
    output = _help(path, 100)
    assert "``" not in output and ":class:" not in output  # reST is for the source, not for help
    doc = inspect.cleandoc(COMMANDS[path].help or "")
    for paragraph in doc.split("\n\n"):
        # every word, brackets included (Rich markup must not eat "[daemon]"), in order
        assert " ".join(paragraph.split()) in _flat(output), paragraph


def test_group_summaries_name_every_command() -> None:
    for path, command in COMMANDS.items():
        subcommands = command.list_commands(click.Context(command)) if isinstance(command, click.Group) else []
        if path and subcommands:
            summary = (command.help or "").split("\n\n")[0]
            missing = [name for name in subcommands if not re.search(rf"\b{name}\b", summary, re.IGNORECASE)]
            assert missing == [], f"'pbridge {' '.join(path)} --help' says {summary!r}"


def test_purge_alone_offers_yes() -> None:
    assert "--yes" in _help(("purge",), 100)
    for action in ("trash", "restore"):
        assert "--yes" not in _help((action,), 100)


@pytest.mark.parametrize("path", [(), ("chat",), ("clm",)], ids=lambda p: " ".join(p) or "pbridge")
def test_a_group_named_alone_prints_its_help_on_stdout_and_exits_2(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(pbridge, list(path), prog_name="pbridge")
    assert result.exit_code == 2
    assert "Commands:" in result.stdout and result.stderr == ""
