"""Output for people and for programs: rich on a terminal, plain and stable otherwise.

Anything a message body or a username contains is escaped before rich sees it: a sender
must not be able to restyle the reader's terminal (or fake a "verified" mark) with markup.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pointerbridge.app.trust import Trust

if TYPE_CHECKING:
    from pointerbridge.app.service import Shown

__all__ = ["TRUST_MARKS", "late_note", "messages", "progress", "rotated_line", "safe_text", "table", "to_terminal"]

# What a terminal shows after a sender's name, by trust (text, rich style): the command
# line's coloured output and the console share it. A verified key gets a quiet tick; a
# changed key, a leaked old key (two different rotations signed by it) and a message
# under a key its owner replaced get loud warnings: each may be someone else.
TRUST_MARKS: dict[Trust, tuple[str, str]] = {
    Trust.PINNED: ("✓", "green"),
    Trust.NEW: ("(new key)", "yellow"),
    Trust.ROTATED: ("(changed key, signed by the old one)", "cyan"),
    Trust.RETIRED: (
        " sent with their OLD key after they changed it: someone may hold their old phrase ",
        "bold black on yellow",
    ),
    Trust.CHANGED: (" KEY CHANGED: NOT VERIFIED AS THIS SENDER ", "bold white on red"),
    Trust.CONFLICT: (
        " KEY CONFLICT: the old key signed two different rotations: its phrase leaked; verify in person ",
        "bold white on magenta",
    ),
}

# The same in plain output (a rotation notice prints as a line of its own: rotated_line).
_PLAIN_MARK: dict[Trust, str] = {
    Trust.PINNED: "",
    Trust.NEW: " (new key)",
    Trust.RETIRED: " !! sent with their OLD key after they changed it: someone may hold their old phrase !!",
    Trust.CHANGED: " !! KEY CHANGED: NOT VERIFIED AS THIS SENDER !!",
    Trust.CONFLICT: (
        " !! KEY CONFLICT: the old key signed two different rotations: its phrase leaked; verify in person !!"
    ),
}


_INDENT = "\n    "  # continuation lines of a body: a body cannot fake the start of another message


def _shown_char(char: str) -> str:
    # Control and format characters (ESC, bidi overrides, zero-width marks) would let a
    # sender move the cursor, recolour the terminal or reorder what the reader sees.
    if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"):
        return f"\\u{ord(char):04x}" if ord(char) > 0xFF else f"\\x{ord(char):02x}"
    return char


def safe_text(text: str, *, multiline: bool = False) -> str:
    """``text`` with control and format characters made visible (``\\x1b``, ``\\u202e``).

    With ``multiline`` a newline stays a line break but the next line is indented, so a
    message body cannot pass for a message of its own; otherwise it shows as ``\\x0a``.
    """
    if text.isprintable():
        return text  # the common case, a C-speed check
    if multiline:
        return _INDENT.join("".join(map(_shown_char, line)) for line in text.replace("\r\n", "\n").split("\n"))
    return "".join(map(_shown_char, text))


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


def _span(seconds: float) -> str:
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{int(seconds)} seconds"


def late_note(shown: Shown) -> str | None:
    """What the reader is told when a message's send time is not believable beside its
    arrival (``Shown.arrived_late``): it is shown where it arrived, not where it claims."""
    late = shown.arrived_late
    if late is None:
        return None
    seconds = late.total_seconds()
    if seconds > 0:
        return f"sent {_span(seconds)} before it arrived"
    return f"sent {_span(-seconds)} after it arrived: in the future"


def messages(shown: list[Shown]) -> None:
    """A chat's messages: coloured with trust marks on a terminal, plain lines otherwise."""
    if not to_terminal():
        for s in shown:
            when = s.message.sent_at.strftime("%Y-%m-%d %H:%M")
            note = late_note(s)
            when = f"{when}, {note}" if note else when
            name, body = safe_text(s.message.username), safe_text(s.message.body, multiline=True)
            trust = Trust(s.trust)
            if trust is Trust.ROTATED:
                print(f"[{when}] {rotated_line(s)}  #{s.message.id[:8]}")
                continue
            print(f"[{when}] {name}{_PLAIN_MARK[trust]}: {body}  #{s.message.id[:8]}")
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    for s in shown:
        when = s.message.sent_at.strftime("%Y-%m-%d %H:%M")
        note = late_note(s)
        if note:  # the time the sender wrote is not believed: say so beside it
            when = f"{when}[/] [yellow]({note})[/][dim]"
        name = escape(safe_text(s.message.username))
        trust = Trust(s.trust)
        if trust is Trust.ROTATED:
            console.print(f"[dim]{when}[/] [cyan]{escape(rotated_line(s))}[/] [dim]#{s.message.id[:8]}[/]")
            continue
        text, style = TRUST_MARKS[trust]
        mark = f"[{style}]{escape(text)}[/]"
        body = escape(safe_text(s.message.body, multiline=True))
        console.print(f"[dim]{when}[/] [bold]{name}[/] {mark} {body} [dim]#{s.message.id[:8]}[/]")


def rotated_line(shown: Shown) -> str:
    """The line an accepted rotation notice shows as (the sender key is the new one)."""
    name = safe_text(shown.message.username)
    # The old key signed the date too (at_ms): shown, so a rotation nobody remembers stands out.
    signed = f" on {shown.notice.at:%Y-%m-%d %H:%M} UTC" if shown.notice is not None else ""
    return f"-- {name} changed key: now {shown.message.fingerprint} (signed by the old key{signed}) --"


@contextmanager
def progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal (a callback taking done, total); None elsewhere."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    # Refreshed by our own calls, not by rich's refresh thread: a read of a long history
    # forks worker processes, which is only safe while no other thread runs.
    with Progress(transient=True, auto_refresh=False) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, refresh=True)

        yield update
