"""Carriers: what waits to be posted, the last poll and error of each; poll now."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pointerbridge.app.display import safe_text
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from .render import ago

if TYPE_CHECKING:
    from .tui import ConsoleApp

__all__ = ["CarriersScreen"]


class CarriersScreen(Screen[None]):
    """One row per carrier of this home."""

    app: ConsoleApp
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("g,ctrl+g", "app.poll_now", "Poll now"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        table: DataTable[Text] = DataTable(id="carriers", cursor_type="row")
        table.add_columns("carrier", "type", "waiting", "last poll", "last good run", "error")
        yield table
        yield Static("", id="hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_data()
        self.query_one(DataTable).focus()

    def refresh_data(self) -> None:
        """Reload each carrier's status from the store."""
        table = self.query_one(DataTable)
        table.clear()
        carriers = self.app.service.status()["carriers"]
        for name, item in carriers.items():
            cells = (
                name,
                item["type"],
                str(item["waiting"]),
                ago(item["last_poll"]),
                ago(item["last_ok"]),
                safe_text(item["last_error"] or ""),
            )
            table.add_row(*map(Text, cells), key=name)  # Text: a cell's str would be markup
        summary = self.app.last_summary
        hint = "No carriers: add one with pbridge carrier add." if not carriers else ""
        if summary is not None:
            for name, note in summary.notes.items():
                hint += "\n" + "\n".join(f"{name}: {safe_text(line)}" for line in note)
        self.query_one("#hint", Static).update(hint.strip())
