"""Output for people and for programs: rich on a terminal, plain and stable otherwise.

Anything a message body or a username contains is escaped before rich sees it: a sender
must not be able to restyle the reader's terminal (or fake a "verified" mark) with markup.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from pointerbridge.app.service import Shown

__all__ = ["messages", "progress", "table", "to_terminal"]

_PLAIN_MARK = {"pinned": "", "new": " (new key)", "changed": " !! KEY CHANGED: NOT VERIFIED AS THIS SENDER !!"}


def to_terminal() -> bool:
    """Whether stdout is a person's terminal (rich output) rather than a pipe or file."""
    return sys.stdout.isatty()


def table(rows: list[dict[str, Any]], title: str) -> None:
    """Rows as a rich table on a terminal, else one ``key=value`` line per row."""
    if not to_terminal():
        for row in rows:
            typer.echo("  ".join(f"{k}={v}" for k, v in row.items()))
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


def _cell(value: Any) -> str:
    from rich.markup import escape

    return escape(", ".join(value) if isinstance(value, list) else str(value))


def messages(shown: list[Shown]) -> None:
    """A chat's messages: coloured with trust marks on a terminal, plain lines otherwise."""
    if not to_terminal():
        for s in shown:
            when = s.message.sent_at.strftime("%Y-%m-%d %H:%M")
            typer.echo(f"[{when}] {s.message.username}{_PLAIN_MARK[s.trust]}: {s.message.body}  #{s.message.id[:8]}")
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    for s in shown:
        when = s.message.sent_at.strftime("%Y-%m-%d %H:%M")
        name = escape(s.message.username)
        mark = {
            "pinned": "[green]✓[/]",
            "new": "[yellow](new key)[/]",
            "changed": "[bold white on red] KEY CHANGED: NOT VERIFIED AS THIS SENDER [/]",
        }[s.trust]
        console.print(f"[dim]{when}[/] [bold]{name}[/] {mark} {escape(s.message.body)} [dim]#{s.message.id[:8]}[/]")


@contextmanager
def progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal (a callback taking done, total); None elsewhere."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
