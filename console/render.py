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
    TRUST_MARKS,
    late_note,
    name_warning,
    rotated_line,
    safe_text,
    shown_name,
)
from pointerbridge.app.trust import Trust
from rich.text import Text

if TYPE_CHECKING:
    from pointerbridge.app.service import Shown

__all__ = ["ago", "message_line", "short_time"]


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
_LOUD = frozenset({Trust.CHANGED, Trust.CONFLICT, Trust.RETIRED})  # warnings show at once, settled or not


def message_line(shown: Shown, *, provisional: bool = False) -> Text:
    """One message: time, sender, trust mark, body (continuation lines indented), trash mark.

    ``provisional``: the marks are not settled yet (a page of history before the whole
    chat was judged): every mark but the warnings (a changed key, a key conflict, an old key) shows as "…",
    never as a tick."""
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
    line.append(" ")
    # Continuation lines stay indented (a body cannot pass for a message of its own); with
    # no-break spaces, as the list's wrapping drops ordinary leading spaces.
    line.append(safe_text(m.body, multiline=True).replace("\n    ", "\n" + "\u00a0" * 4))
    if shown.trashed:
        line.append("  (in trash)", style="dim italic")
    return line
