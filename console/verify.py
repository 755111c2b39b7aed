"""A member's key checked in person: the safety code (docs/SPEC.md §12), its QR code, and
"does it match?", as ``pbridge chat verify`` asks it.

The screen only shows and asks; the chat screen marks the key verified with the code this
screen showed (:meth:`App.mark_verified` computes it again, so a key that moved meanwhile
is refused, never marked unseen).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pointerbridge.app.display import TRUST_MARKS, shown_name
from pointerbridge.app.service import SafetyCheck
from pointerbridge.app.trust import Trust
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from .settings import qr_text

__all__ = ["Answer", "VerifyScreen"]

Answer = Literal["match", "unverify"] | None  # what the person said; None: no, or closed


class VerifyScreen(ModalScreen[Answer]):
    """The code of ``check``, its QR code, and the question (or, for a key verified
    already, the way to take that back). ``other_key``: the highlighted message was sealed
    by another key than the name's pinned one (the code is for the pinned key: said so)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(self, check: SafetyCheck, *, other_key: bool = False) -> None:
        super().__init__()
        self.check = check
        self._other_key = other_key

    def compose(self) -> ComposeResult:
        check, name = self.check, shown_name(self.check.username)
        groups = check.code.split()
        with VerticalScroll(classes="dialog"):
            yield Label(f"Verify {name}'s key in person", classes="title", markup=False)
            yield Label(
                f"Each of you opens this for the other in chat {check.chat!r} and reads the code aloud (or scans "
                f"the other's QR code). The codes match only if each of you holds the other's real key. "
                f"Their key: {check.fingerprint}.",
                markup=False,
            )
            if self._other_key:
                yield Label(
                    "This message was sealed by another key than the one pinned for the name: the code is for "
                    "the pinned key.",
                    markup=False,
                )
            code = "\n".join("  ".join(groups[row : row + 4]) for row in range(0, len(groups), 4))
            yield Static(Text(code, style="bold"), id="code")
            yield Static(qr_text(check.digits), id="qr")
            if check.verified:
                mark = TRUST_MARKS[Trust.VERIFIED][0]
                yield Label(f"{name}'s key is verified already ({mark}).", markup=False)
                with Horizontal(classes="buttons"):
                    yield Button("Take back", id="unverify", variant="warning")
                    yield Button("Close", id="no")
            else:
                yield Label(f"Does {name}'s code match?", markup=False)
                with Horizontal(classes="buttons"):
                    yield Button("No", id="no")
                    yield Button("Yes, it matches", id="match", variant="success")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # Enter alone never marks a key verified

    @on(Button.Pressed, "#match")
    def _match(self) -> None:
        self.dismiss("match")

    @on(Button.Pressed, "#unverify")
    def _unverify(self) -> None:
        self.dismiss("unverify")

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        """Close without an answer: nothing changes."""
        self.dismiss(None)
