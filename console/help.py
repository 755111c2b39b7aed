"""The help screen: every screen's keys in one place."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
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
        "t or Delete (in the history) moves a message to the trash",
    ),
    ("Search, trash", "r restore · t trash · d delete for good (asks first)"),
    (
        "Chat settings",
        "carriers · invite with QR code · change secret · add an earlier secret · clear history · delete chat",
    ),
    (
        "Profile",
        "fingerprint · change master phrase (each chat open in this session gets a notice signed "
        "by the old key at once, the others with your next message there)",
    ),
    ("Carriers", "g poll now · what waits to be posted, the last poll and the last error of each"),
    ("", ""),
    ("✓", "the sender's key is the one first seen under that name"),
    ("(new key)", "the first message under that name"),
    ("(changed key, …)", "a key change signed by the sender's old key"),
    ("OLD key", "sent with a key its owner replaced, after the change: someone may hold their old phrase"),
    ("KEY CHANGED", "someone else, or a new key with no notice: not this sender"),
    (
        "KEY CONFLICT",
        "the old key signed two different key changes: its phrase leaked; verify in person, then "
        "pbridge chat trust CHAT NAME --fingerprint ...",
    ),
    ("", ""),
    ("", "Nothing you type or read is written to disk; the store keeps pointers as carried."),
]


def _table() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for name, text in HELP:
        grid.add_row(name, text)
    return grid


class HelpScreen(ModalScreen[None]):
    """Keys and marks."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static(_table())
