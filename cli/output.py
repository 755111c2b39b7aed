"""Output for people and for programs: rich on a terminal, plain and stable otherwise.

Anything a message body or a username contains is escaped before rich sees it: a sender
must not be able to restyle the reader's terminal (or fake a "verified" mark) with markup.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pointerbridge.app.escape import safe_text

if TYPE_CHECKING:
    from pointerbridge.app.service import Shown

__all__ = ["messages", "progress", "safe_text", "table", "to_terminal"]


def to_terminal() -> bool:
    """Whether stdout is a person's terminal (rich output) rather than a pipe or file."""
    return sys.stdout.isatty()


def table(rows: list[dict[str, Any]], title: str) -> None:
    """Rows as a rich table on a terminal, else one ``key=value`` line per row."""
    if not to_terminal():
        for row in rows:
            print("  ".join(f"{k}={safe_text(_joined(v, ','))}" for k, v in row.items()))
        return
    from rich.console import Console
    from rich.table import Table

    grid = Table(title=title)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*(_cell(row.get(c, "")) for c in columns))
    Console().print(grid)


def _joined(value: Any, separator: str = ", ") -> str:
    return separator.join(map(str, value)) if isinstance(value, list) else str(value)


def _cell(value: Any) -> str:
    from rich.markup import escape

    return escape(safe_text(_joined(value)))


def messages(shown: list[Shown], bodies: list[str] | None = None) -> None:
    """A chat's messages: coloured with trust marks on a terminal, plain lines otherwise.
    ``bodies``: what to show of each instead of its body (a chat view's: app/display.py
    ``view_body``), escaped the same way."""
    # Here, not at the top: the cron line prints through this module and needs none of it.
    from pointerbridge.app.display import (
        NAME_WARNING_STYLE,
        TRUST_MARKS,
        late_note,
        name_warning,
        plain_line,
        rotated_line,
        rotation_warning,
        shown_name,
    )
    from pointerbridge.app.trust import Trust

    texts = bodies if bodies is not None else [s.message.body for s in shown]
    if not to_terminal():
        for s, said in zip(shown, texts, strict=True):
            print(plain_line(s, said))
        return
    from rich.console import Console
    from rich.markup import escape

    # soft_wrap: Rich inserts no line breaks of its own (the terminal still wraps what it
    # shows), so every line that starts at the margin is a message's first line, and a long
    # body or flagged name cannot push text of its own to the start of a line.
    console = Console(highlight=False, soft_wrap=True)
    for s, said in zip(shown, texts, strict=True):
        when = s.message.sent_at.strftime("%Y-%m-%d %H:%M")
        note = late_note(s)
        if note:  # the time the sender wrote is not believed: say so beside it
            when = f"{when}[/] [yellow]({note})[/][dim]"
        name = escape(shown_name(s.message.username))
        warning = name_warning(s)
        flag = f" [{NAME_WARNING_STYLE}] {escape(warning)} [/]" if warning else ""
        trust = Trust(s.trust)
        if trust is Trust.ROTATED:
            replaced = rotation_warning(s)
            loud = f" [{TRUST_MARKS[Trust.VERIFIED_CHANGED][1]}] {escape(replaced)} [/]" if replaced else ""
            console.print(f"[dim]{when}[/] [cyan]{escape(rotated_line(s))}[/]{loud}{flag} [dim]#{s.message.id[:8]}[/]")
            continue
        text, style = TRUST_MARKS[trust]
        mark = f"[{style}]{escape(text)}[/]"
        body = escape(safe_text(said, multiline=True))
        console.print(f"[dim]{when}[/] [bold]{name}[/] {mark}{flag}: {body} [dim]#{s.message.id[:8]}[/]")


@contextmanager
def progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress line on stderr when stderr is a terminal (a callback taking done and
    total: ``label: 40,000 of 100,000``, rewritten in place, wiped at the end); None
    elsewhere, so a pipe or a log gets nothing. Plain writes, no thread: a read of a long
    history forks worker processes, which is only safe while no other thread runs."""
    err = sys.stderr
    if not err.isatty():
        yield None
        return
    shown = [0]  # the width of the line last written, to wipe it

    def update(done: int, total: int) -> None:
        line = f"{label}: {done:,} of {total:,}"
        err.write("\r" + line.ljust(shown[0]))
        err.flush()
        shown[0] = len(line)

    try:
        yield update
    finally:
        if shown[0]:
            err.write("\r" + " " * shown[0] + "\r")
            err.flush()
