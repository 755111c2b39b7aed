"""The help screen: every screen's keys in one place."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HELP", "HelpScreen"]

HELP = """\
Everywhere      F1 help · ctrl+g poll now · ctrl+q quit · Escape back · the mouse works too
Chats           Enter open · n new chat · j join from an invite · r receive pasted pointers
                c carriers · p profile · q quit
A chat          type and Enter to send · Tab history/composer · ctrl+o older messages
                ctrl+f search (trash included) · ctrl+t trash · ctrl+e settings
                t or Delete (in the history) moves a message to the trash
Search, trash   r restore · t trash · d delete for good (asks first)
Chat settings   carriers · invite with QR code · change secret · clear history · delete chat
Profile         fingerprint · change master phrase (your peers get a notice signed by the old key)
Carriers        g poll now; waiting pointers, last poll and last error of each

Trust marks: ✓ the sender's key is the one first seen under that name · (new key) first
message under that name · (changed key, signed by the old one) a verified key change ·
(old key) sent with a key its owner replaced · KEY CHANGED: someone else, or a new identity
with no notice: do not trust it as that sender.
Nothing you type or read is written to disk; the store keeps pointers as carried."""


class HelpScreen(ModalScreen[None]):
    """Keys and marks."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static(HELP)
