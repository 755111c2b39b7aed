"""Searching a chat (trash included) and its trash (restore, delete for good)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pointerbridge.app.display import safe_text
from pointerbridge.core import PointerBridgeError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from .dialogs import Confirm
from .render import message_line

if TYPE_CHECKING:
    from pointerbridge.app.service import Shown, UnlockedChat

    from .tui import ConsoleApp

__all__ = ["SearchScreen", "TrashScreen"]


class _MessageList(Screen[None]):
    """A list of messages with restore/trash/purge keys; subclasses say which messages."""

    app: ConsoleApp
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "restore", "Restore"),
        Binding("t", "trash", "Trash"),
        Binding("d", "purge", "Delete for good"),
    ]

    def __init__(self, chat: UnlockedChat) -> None:
        super().__init__()
        self.chat = chat
        self.shown: list[Shown] = []

    def _fill(self, shown: list[Shown], summary: str) -> None:
        self.shown = shown
        results = self.query_one(OptionList)
        results.clear_options()
        results.add_options([Option(message_line(s)) for s in shown])  # no ids: a sender can repeat one
        if shown:
            results.highlighted = len(shown) - 1
        self.query_one("#summary", Static).update(summary)

    def _highlighted(self) -> Shown | None:
        results = self.query_one(OptionList)
        if not results.has_focus:
            return None
        index = results.highlighted
        return self.shown[index] if index is not None and index < len(self.shown) else None

    def action_restore(self) -> None:
        """Bring the highlighted message back from the trash."""
        shown = self._highlighted()
        if shown is not None and shown.trashed:
            if self.app.attempt(lambda: self.app.service.trash_messages(self.chat, [shown], False)) is not None:
                self.notify("restored", markup=False)
            self.refresh_data()

    def action_trash(self) -> None:
        """Move the highlighted message to the trash."""
        shown = self._highlighted()
        if shown is not None and not shown.trashed:
            if self.app.attempt(lambda: self.app.service.trash_messages(self.chat, [shown], True)) is not None:
                self.notify("moved to the trash", markup=False)
            self.refresh_data()

    def action_purge(self) -> None:
        """Delete the highlighted message for good, after a yes/no question."""
        shown = self._highlighted()
        if shown is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                if self.app.attempt(lambda: self.app.service.purge_messages(self.chat, [shown])) is not None:
                    self.notify("deleted for good", markup=False)
                self.refresh_data()

        self.app.push_screen(Confirm("Delete this message for good? It cannot be restored."), answered)

    def refresh_data(self) -> None:
        """Reload the list."""


class SearchScreen(_MessageList):
    """Messages of one chat containing some text (any case), trash included."""

    refresh_on_poll = False  # a search reads the whole history: again only when asked

    def __init__(self, chat: UnlockedChat) -> None:
        super().__init__(chat)
        self._needle = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder=f"Search {safe_text(self.chat.row.name)} (trash included); Enter searches", id="needle")
        yield Static("", id="summary", markup=False)
        yield OptionList(id="results", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#needle", Input).focus()

    @on(Input.Submitted, "#needle")
    def _search(self, event: Input.Submitted) -> None:
        self._needle = event.value
        if self._needle.strip():
            self.refresh_data()

    def refresh_data(self) -> None:
        """Search again (a whole history is read in a thread: the screen stays live)."""
        if self._needle.strip():
            self.query_one("#summary", Static).update("searching…")
            self._run(self._needle)

    @work(thread=True, exclusive=True, group="search")
    def _run(self, needle: str) -> None:
        try:
            with self.app.service.sibling() as reader:  # a thread needs its own store connection
                found, _ = reader.search(self.chat, needle)
        except PointerBridgeError as exc:
            self.app.call_from_thread(self._summary, f"search failed: {exc}")
            return
        self.app.call_from_thread(self._found, found)

    def _summary(self, line: str) -> None:
        self.query_one("#summary", Static).update(line)

    def _found(self, found: list[Shown]) -> None:
        self._fill(found, f"{len(found)} message(s) found; r restore, t trash, d delete for good")
        if found:
            self.query_one(OptionList).focus()


class TrashScreen(_MessageList):
    """One chat's trash."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="summary", markup=False)
        yield OptionList(id="results", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_data()
        self.query_one(OptionList).focus()

    def refresh_data(self) -> None:
        """Reload the trash."""
        shown, _ = self.app.service.read(self.chat, trash_only=True)
        summary = (
            f"{len(shown)} message(s) in the trash of {safe_text(self.chat.row.name)}: r restore, d delete for good"
            if shown
            else "The trash is empty."
        )
        self._fill(shown, summary)
