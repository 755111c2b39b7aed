"""A chat's settings: carriers, invite (with a QR code), a new secret, what its desktop
notifications show, clear, hide, delete."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from pointerbridge.app.display import safe_text
from pointerbridge.app.invite import rekey_salt
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Header, Label, SelectionList, Static, TextArea

from .dialogs import Confirm, Field, Form, weak_ok

if TYPE_CHECKING:
    from pointerbridge.app.service import UnlockedChat

    from .tui import ConsoleApp

__all__ = ["ChatSettingsScreen", "InviteScreen", "qr_text"]


def qr_text(data: str) -> Text:
    """``data`` as a QR code in half blocks, dark on light (what phone cameras expect)."""
    import segno

    rows = [list(row) for row in segno.make(data, error="m").matrix_iter(border=2)]
    if len(rows) % 2:
        rows.append([0] * len(rows[0]))
    glyphs = {(1, 1): "█", (1, 0): "▀", (0, 1): "▄", (0, 0): " "}
    lines = [
        "".join(glyphs[(bool(a), bool(b))] for a, b in zip(top, bottom, strict=True))
        for top, bottom in zip(rows[::2], rows[1::2], strict=True)
    ]
    return Text("\n".join(lines), style="black on white")


class InviteScreen(ModalScreen[None]):
    """The chat's invite: its name and carriers, never the secret."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Close")]

    def __init__(self, invite: str) -> None:
        super().__init__()
        self._invite = invite

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Label("Invite: give it to the people joining; tell the secret separately.", classes="title")
            yield TextArea(self._invite, read_only=True, id="invite", soft_wrap=True)
            yield Static(qr_text(self._invite), id="qr")
            yield Button("Close", id="close")

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)


class ChatSettingsScreen(Screen[None]):
    """What a chat posts to, how others join it, and its secret."""

    app: ConsoleApp
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("n", "notify_show", "Notifications"),
    ]

    def __init__(self, chat: UnlockedChat) -> None:
        super().__init__()
        self.chat = chat

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Label(f"Chat {safe_text(self.chat.row.name)}", classes="title", markup=False)
            yield Label("Carriers its messages are posted to (space toggles):", markup=False)
            selected = set(self.chat.row.carriers)
            yield SelectionList[str](
                *[(name, name, name in selected) for name in self.app.service.carriers], id="carriers"
            )
            with Horizontal(classes="buttons"):
                yield Button("Save carriers", id="save")
                yield Button("Invite + QR", id="invite")
                yield Button("Change secret", id="rekey")
                yield Button("Add a secret", id="add-secret")
            with Horizontal(classes="buttons"):
                show = self.app.attempt(lambda: self.app.service.notify_show(self.chat.row.name))
                yield Button(f"Notifications: {show}", id="notify")
            with Horizontal(classes="buttons"):
                yield Button("Clear history", id="clear", variant="warning")
                yield Button("Hide chat", id="hide", variant="warning")
                yield Button("Delete chat", id="delete", variant="error")
        yield Footer()

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        chosen = self.query_one(SelectionList).selected
        row = self.app.attempt(lambda: self.app.service.set_chat_carriers(self.chat.row.name, chosen))
        if row is None:
            return
        self.chat = self.app.remember(replace(self.chat, row=row))
        self.notify(f"posting to {', '.join(row.carriers) or 'no carrier'}", markup=False)

    @on(Button.Pressed, "#invite")
    def _invite(self) -> None:

        service = self.app.service
        invite = self.app.attempt(lambda: service.invite(service.chat_row(self.chat.row.name)))
        if invite is not None:
            self.app.push_screen(InviteScreen(invite))

    @on(Button.Pressed, "#rekey")
    def _rekey(self) -> None:
        from pointerbridge.app.secret_policy import generate_chat_secret
        from pointerbridge.app.service import REKEY_COST

        note = (
            "New messages are sealed with the new secret; older history stays readable with the old one. "
            "The first member to change it leaves the invite empty, then shares the chat's new invite (i) "
            "and tells the new secret; the others paste that invite here, with the secret they were told "
            f"in place of the generated one. Until all have, {REKEY_COST} (Add a secret)."
        )
        fields = [
            Field("secret", "New chat secret", secret=True, confirm=True, generated=generate_chat_secret()),
            Field("invite", "The new invite, if another member changed the secret first", optional=True),
        ]

        def rekey(values: dict[str, str]) -> UnlockedChat:
            salt = rekey_salt(self.chat.row.name, values["invite"]) if values["invite"].strip() else None
            return self.app.service.rekey_chat(self.chat, values["secret"], salt=salt, allow_weak=weak_ok(values))

        form = Form("Change the chat secret", fields, note=note, ok="Change", run=rekey)

        def done(chat: UnlockedChat | None) -> None:
            if chat is not None:
                self.chat = self.app.remember(chat)
                self.notify("the chat has a new secret", markup=False)

        self.app.push_screen(form, done)

    @on(Button.Pressed, "#add-secret")
    def _add_secret(self) -> None:
        note = "Another secret this chat had (or has now): its messages are shown too."
        form = Form(
            "Add a secret of this chat",
            [Field("secret", "Chat secret", secret=True)],
            note=note,
            ok="Add",
            run=lambda v: self.app.service.add_secret(self.chat, v["secret"]),
        )

        def done(chat: UnlockedChat | None) -> None:
            if chat is not None:
                self.chat = self.app.remember(chat)
                self.notify(f"{len(chat.keys)} secret(s) of this chat unlocked", markup=False)

        self.app.push_screen(form, done)

    @on(Button.Pressed, "#notify")
    def action_notify_show(self) -> None:
        """Show the next of off, count, names, text in the chat's desktop notifications."""
        from pointerbridge.app.notify import SHOWS, SHOWS_MEANING

        service, name = self.app.service, self.chat.row.name
        now = self.app.attempt(lambda: service.notify_show(name))
        if now is None:
            return
        show = SHOWS[(SHOWS.index(now) + 1) % len(SHOWS)]
        if self.app.attempt(lambda: service.set_notify_show(name, show)) is None:
            return
        self.query_one("#notify", Button).label = f"Notifications: {show}"
        off = "" if self.app.notices is not None else " (this console raises none: pbridge console --notify does)"
        self.notify(f"desktop notifications of this chat: {SHOWS_MEANING[show]}{off}", markup=False)

    @on(Button.Pressed, "#clear")
    def _clear(self) -> None:
        def answered(yes: bool | None) -> None:
            done = self.app.attempt(lambda: self.app.service.clear_history(self.chat)) if yes else None
            if done is not None:
                deleted, waiting = done
                kept = f"; {waiting} still waiting to be posted were kept" if waiting else ""
                self.notify(f"{deleted} pointer(s) deleted for good{kept}", markup=False)

        question = (
            f"Delete every message of {safe_text(self.chat.row.name)} for good? "
            "(What still waits to be posted is kept.)"
        )
        self.app.push_screen(Confirm(question), answered)

    @on(Button.Pressed, "#hide")
    def _hide(self) -> None:
        from pointerbridge.app.service import HIDE_NOTE

        service, row = self.app.service, self.chat.row
        # refused before the invite is shown and y/N asked while its posts wait
        invite = self.app.attempt(lambda: service.invite(service.check_hideable(row.name)))
        if invite is None:
            return

        def answered(yes: bool | None) -> None:
            kept = self.app.attempt(lambda: service.hide_chat(row.name)) if yes else None
            if kept is None:  # declined, or refused (posts waiting): the chat stays
                return
            self.app.forget(row.id)
            self._back_to_chats()
            self.app.notify(f"chat hidden; its {kept} pointer(s) stay as unclaimed ones", markup=False)

        kind = "an open" if row.is_open else "a salted"
        question = f"Hide chat {safe_text(row.name)}? Its invite ({kind} chat's): {invite}\n\nNote it: {HIDE_NOTE}"
        self.app.push_screen(Confirm(question, yes="Yes, hide it"), answered)

    def _back_to_chats(self) -> None:
        from .chats import ChatListScreen

        while not isinstance(self.app.screen, ChatListScreen):
            self.app.pop_screen()

    @on(Button.Pressed, "#delete")
    def _delete(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.app.forget(self.chat.row.id)  # first: no screen reloads a chat that is gone
                self.app.attempt(lambda: self.app.service.delete_chat(self.chat.row.name))
                self._back_to_chats()
                self.app.notify("chat deleted", markup=False)

        self.app.push_screen(Confirm(f"Delete chat {safe_text(self.chat.row.name)} and all its messages?"), answered)
