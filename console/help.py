"""The help screen: every screen's keys in one place."""

from __future__ import annotations

from typing import ClassVar

from pointerbridge.app.display import TRUST_MARKS, TRUST_MEANINGS
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HELP", "HelpScreen"]

HELP: list[tuple[str, str]] = [
    ("Everywhere", "F1 help · ctrl+g poll now · ctrl+q quit · Escape back · the mouse works too"),
    (
        "Chats",
        "Enter open · n new chat · j join from an invite · r receive pasted pointers · c carriers · p profile · q quit",
    ),
    (
        "A chat",
        "type, then Enter sends · Tab history/composer · ctrl+o older messages · "
        "ctrl+f search (trash included) · ctrl+t trash · ctrl+s settings · "
        "t or Delete (in the history) moves a message to the trash · "
        "f (in the history) shows the sender's key fingerprint · "
        "v verifies the sender's key in person (a safety code and its QR code to compare)",
    ),
    (
        "A message",
        "in the history: r reply to it (Escape cancels) · e edit your own (the composer holds its text) · "
        "d unsend your own: deleted for everyone (asks first) · s save its file · a send a file",
    ),
    ("Search, trash", "r restore · t trash · d delete for good (asks first)"),
    (
        "Chat settings",
        "carriers · invite with QR code · change secret · add an earlier secret · n notifications · "
        "clear history · hide chat (deniable: joining it again brings it back) · delete chat",
    ),
    (
        "Profile",
        "fingerprint · change master phrase (each chat open in this session gets a notice signed "
        "by the old key at once, the others with your next message there)",
    ),
    ("Carriers", "g or ctrl+g poll now · what waits to be posted, the last poll and the last error of each"),
]
_PRIVACY = "Nothing you type or read is written to disk; the store keeps pointers as carried."


def _table() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for name, text in HELP:
        grid.add_row(name, text)
    # The marks as a chat shows them, with their meaning: both from app/display.py, the
    # wording the command line prints too.
    marks = Table.grid(padding=(0, 2))
    marks.add_column()
    for trust, (mark, style) in TRUST_MARKS.items():
        marks.add_row(Text.assemble((mark, style), " — ", TRUST_MEANINGS[trust]))
    grid.add_row("", "")
    grid.add_row("Marks", marks)
    grid.add_row("", "")
    grid.add_row("", _PRIVACY)
    return grid


class HelpScreen(ModalScreen[None]):
    """Keys and marks."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static(_table())
