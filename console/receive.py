"""Receive: paste any text; its pointers are stored, and those of a chat this home does
not know can open it as a new chat (as CLM does), if the secret opens them."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pointerbridge.app.service import OPEN_CHAT_COST
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Label, TextArea

from .chats import open_chat
from .dialogs import Field, Form

if TYPE_CHECKING:
    from pointerbridge.app.service import UnlockedChat

    from .tui import ConsoleApp

__all__ = ["ReceiveScreen"]


class ReceiveScreen(Screen[None]):
    """A text area to paste into; ctrl+s stores what it holds."""

    app: ConsoleApp
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("ctrl+s", "store", "Store pointers"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("Paste text with pointers (from any chat, mail or file), then ctrl+s.", markup=False)
        yield TextArea(id="paste")
        yield Label("", id="result", markup=False)
        with Horizontal(classes="buttons"):
            yield Button("Store pointers", variant="primary", id="store")
            yield Button("Open as a new chat", id="new-chat", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    @on(Button.Pressed, "#store")
    def action_store(self) -> None:
        """Store the pasted pointers and sort them into the chats open this session."""
        text = self.query_one(TextArea).text
        stored = self.app.attempt(lambda: self.app.service.receive(text))
        if stored is None:
            return
        new, known = stored
        self.app.refresh_screens()
        service = self.app.service
        sorted_ = {
            c.row.name: sum(len(service.matching_pointers(text, key)) for key in c.keys)
            for c in self.app.unlocked.values()
        }
        found = new + known
        unsorted = found - sum(sorted_.values())
        parts = [f"stored {new} new pointer(s), {known} already known"]
        parts += [f"{count} in {name}" for name, count in sorted_.items() if count]
        if unsorted:
            parts.append(f"{unsorted} for a chat not open now: open it, or open them as a new chat")
        self.query_one("#result", Label).update("; ".join(parts) if found else "no pointers found in that text")
        self.query_one("#new-chat", Button).disabled = not unsorted

    @on(Button.Pressed, "#new-chat")
    def _new_chat(self) -> None:
        text = self.query_one(TextArea).text
        note = (
            "The chat's name and secret, as its members told you. A chat of that name here is opened instead. "
            f"A new one is an open chat: {OPEN_CHAT_COST} (A chat made with an invite is joined from it: j.)"
        )
        fields = [Field("name", "Chat name"), Field("secret", "Chat secret", secret=True)]

        def join(values: dict[str, str]) -> UnlockedChat:
            chat, _ = self.app.service.open_or_join(values["name"], values["secret"], text)
            return chat

        def joined(chat: UnlockedChat | None) -> None:
            if chat is not None:
                self.app.remember(chat)
                self.app.pop_screen()
                open_chat(self.app, chat.row.name)

        self.app.push_screen(Form("Open as a chat", fields, note=note, ok="Open", run=join), joined)
