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
        got = self.app.attempt(lambda: self.app.service.receive(text, self.app.unlocked.values()))
        if got is None:
            return
        self.app.refresh_screens()
        line = got.summary()
        if got.unsorted:
            line += ": open the chat they are for, or open them as a new chat"
        self.query_one("#result", Label).update(line)
        self.query_one("#new-chat", Button).disabled = not got.unsorted

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
