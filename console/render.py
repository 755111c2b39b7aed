"""How a message, a trust mark and a time look on screen.

Everything a sender wrote goes through :func:`~pointerbridge.app.display.safe_text` and into
a :class:`rich.text.Text` as plain text, never as markup: a body must not restyle the screen
or fake a "verified" mark.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from pointerbridge.app.display import (
    NAME_WARNING_STYLE,
    REPLAYED_MARK,
    TRUST_MARKS,
    late_note,
    name_warning,
    quote_line,
    rotated_line,
    rotation_warning,
    safe_text,
    shown_name,
    view_body,
)
from pointerbridge.app.trust import Trust
from rich.text import Text

if TYPE_CHECKING:
    from pointerbridge.app.service import MessageView, Shown

__all__ = ["ago", "message_line", "short_time", "view_line"]


def short_time(when: datetime) -> str:
    """A message's time: the hour today, the date otherwise (local time)."""
    local = when.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def ago(seconds: float | None, now: float | None = None) -> str:
    """A Unix time as "3 min ago" ("never" for None)."""
    if seconds is None:
        return "never"
    gap = max(0.0, (time.time() if now is None else now) - seconds)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if gap >= size:
            return f"{int(gap // size)} {unit} ago"
    return "just now"


_PROVISIONAL = ("…", "dim")
# warnings show at once, settled or not
_LOUD = frozenset({Trust.CHANGED, Trust.VERIFIED_CHANGED, Trust.CONFLICT, Trust.RETIRED})


def _body(said: str) -> str:
    # Continuation lines stay indented (a body cannot pass for a message of its own); with
    # no-break spaces, as the list's wrapping drops ordinary leading spaces.
    return safe_text(said, multiline=True).replace("\n    ", "\n" + "\u00a0" * 4)


def view_line(line: MessageView, *, provisional: bool = False) -> Text:
    """One line of a chat view (app/view.py), worded as the CLI's ``read`` words it
    (app/display.py): a reply's quote on a line of its own above it ("↳ alice: ..."), an
    edited body with its mark, a deleted message, a file's name, size and type; a forged
    edit or delete and a replayed message flagged as loud as a changed key."""
    from dataclasses import replace

    said = Text(_body(view_body(replace(line, replayed=False), quote=False)))
    if line.forged:
        said.stylize(NAME_WARNING_STYLE)
    if line.replayed:
        said.append(" ")
        said.append(f" {REPLAYED_MARK} ", style=NAME_WARNING_STYLE)
    shown = message_line(line.shown, provisional=provisional, body=said)
    quote = quote_line(line)
    if quote is None:
        return shown
    # Under the sender's name, past the time: it reads as part of this message, not one of its own.
    indent = "\u00a0" * (len(short_time(line.message.sent_at)) + 1)
    return Text.assemble(indent, (safe_text(quote), "dim italic"), "\n", shown)


def message_line(shown: Shown, *, provisional: bool = False, body: Text | None = None) -> Text:
    """One message: time, sender, trust mark, a colon, body (continuation lines indented), trash mark.

    ``provisional``: the marks are not settled yet (a page of history before the whole
    chat was judged): every mark but the warnings (a changed key, a key conflict, an old key) shows as "…",
    never as a tick. ``body``: what to show instead of the message's body (escaped already)."""
    m = shown.message
    line = Text()
    line.append(short_time(m.sent_at), style="dim")
    line.append(" ")
    note = late_note(shown)
    if note:  # the time the sender wrote is not believed: the message sits where it arrived
        line.append(f"({note})", style="yellow")
        line.append(" ")
    trust = Trust(shown.trust)
    warning = name_warning(shown)  # a lookalike name, or one holding a mark: loud, settled or not
    if trust is Trust.ROTATED and shown.notice is not None and not provisional:
        line.append(rotated_line(shown), style="cyan")
        replaced = rotation_warning(shown)
        if replaced:  # as loud as another key under a verified name: the key checked in person is gone
            line.append(" ")
            line.append(f" {replaced} ", style=TRUST_MARKS[Trust.VERIFIED_CHANGED][1])
        if warning:
            line.append(" ")
            line.append(f" {warning} ", style=NAME_WARNING_STYLE)
        return line
    line.append(shown_name(m.username), style="bold")
    mark, style = TRUST_MARKS[trust]
    if provisional and trust not in _LOUD:
        mark, style = _PROVISIONAL
    line.append(" ")
    line.append(mark, style=style)
    if warning:
        line.append(" ")
        line.append(f" {warning} ", style=NAME_WARNING_STYLE)
    # A colon after the name and its mark, as in plain output: a body that starts like a mark
    # ("✔ verified: ...") stays on the far side of it.
    line.append(": ")
    line.append(Text(_body(m.body)) if body is None else body)
    if shown.trashed:
        line.append("  (in trash)", style="dim italic")
    return line
