"""Your profile: username, fingerprint, and changing the master phrase (a new identity)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pointerbridge.app.display import safe_text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Label, Static

from .dialogs import Field, Form, weak_ok

if TYPE_CHECKING:
    from pointerbridge.core.keys import Identity

    from .tui import ConsoleApp

__all__ = ["ProfileScreen"]


class ProfileScreen(Screen[None]):
    """Who you are to your chats, and how to become someone new."""

    app: ConsoleApp
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Label("Profile", classes="title", markup=False)
            yield Static("", id="who", markup=False)
            yield Static("", id="pending", markup=False)
            yield Button("Change master phrase", id="rotate")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_data()

    def refresh_data(self) -> None:
        """Show the identity and the rotation notices still waiting."""
        identity = self.app.identity
        assert identity is not None
        code = self.app.service.recovery_code()
        recovery = (
            f"Recovery code: {code} (with your username and phrase, it regenerates you on another machine)"
            if code
            else "No recovery code: your key is salted by your username alone (made before recovery "
            "codes); changing your master phrase moves it to a stronger one."
        )
        self.query_one("#who", Static).update(
            f"Username: {safe_text(identity.username)}\nFingerprint: {identity.fingerprint}\n{recovery}\n"
            "Compare it in person with what your peers see: in a chat, f on a message of yours shows its "
            "sender's key ('pbridge read --json' prints it too)."
        )
        pending = self.app.service.pending_notices()
        self.query_one("#pending", Static).update(
            f"Key-change notices still to post (each goes out when you next open the chat here, or write in it): "
            f"{', '.join(map(safe_text, pending))}"
            if pending
            else ""
        )

    @on(Button.Pressed, "#rotate")
    def _rotate(self) -> None:
        from pointerbridge.app.secret_policy import generate_master_phrase

        note = (
            "A new master phrase gives you a new key. Each chat gets a notice signed by your old key, "
            "so your peers' apps accept the new one without a warning. Write the new phrase down."
        )
        fields = [
            Field("current", "Current master phrase", secret=True),
            Field("new", "New master phrase", secret=True, confirm=True, generated=generate_master_phrase()),
        ]

        def rotate(values: dict[str, str]) -> Identity:
            old = self.app.service.unlock_identity(values["current"])
            # The chats unlocked this session get their notice at once; the others wait.
            chats = list(self.app.unlocked.values())
            return self.app.service.rotate_identity(old, values["new"], chats=chats, allow_weak=weak_ok(values))

        self.app.push_screen(Form("Change master phrase", fields, note=note, ok="Change", run=rotate), self._rotated)

    def _rotated(self, identity: Identity | None) -> None:
        if identity is None:
            return
        self.app.identity = identity
        self.app.post_soon(sorted({c for chat in self.app.unlocked.values() for c in chat.row.carriers}))
        waiting = self.app.service.pending_notices()
        note = f"; notices wait in {len(waiting)} chat(s) not open now, until you open them" if waiting else ""
        self.notify(f"new fingerprint {identity.fingerprint}{note}", markup=False)
        self.refresh_data()
