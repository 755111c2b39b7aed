"""The keys on a chat's highlighted message (reply, edit, delete for everyone, save its
file, send a file) and the composer they fill. Presentation only: the app refuses what
every reader would refuse or flag (``App.check_own``) before anything is sent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pointerbridge.app.display import safe_text, shown_name
from pointerbridge.core import PointerBridgeError
from pointerbridge.core.content import Attachment
from textual import on
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static

from .dialogs import Confirm
from .transfer import Transfer

if TYPE_CHECKING:
    from pointerbridge.app.service import ChatView, MessageView, Shown, UnlockedChat
    from pointerbridge.core.keys import Identity

    from .tui import ConsoleApp

__all__ = ["MessageActions"]

_QUOTE = 60  # characters of the message answered shown above the composer


class MessageActions(Screen[None]):
    """What a chat screen does with its highlighted message and its composer. The chat
    screen holds the history: ``chat``, ``view`` (its lines, one per option of the
    history), ``shown`` (their messages) and ``refresh_data``."""

    app: ConsoleApp
    chat: UnlockedChat
    view: ChatView
    shown: list[Shown]
    composing: tuple[str, MessageView] | None

    def refresh_data(self) -> None:
        """Reload the history (the chat screen's)."""
        raise NotImplementedError

    # the composer ----------------------------------------------------------------------

    @on(Input.Submitted, "#composer")
    def _send(self, event: Input.Submitted) -> None:
        body = event.value
        if not body.strip():
            return
        identity = self._identity()
        composing = self.composing
        try:
            if composing is None:
                self.app.service.send(self.chat, identity, body)
            elif composing[0] == "reply":
                self.app.service.reply(self.chat, identity, composing[1], body)
            else:
                self.app.service.edit(self.chat, identity, composing[1], body)
        except PointerBridgeError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        event.input.value = ""
        self._stop_composing()
        self._sent()

    def _sent(self) -> None:
        self.refresh_data()
        self.app.post_soon(self.chat.row.carriers)

    def _start_composing(self, mode: str, line: MessageView, note: str) -> None:
        self.composing = (mode, line)
        said = self.query_one("#composing", Static)
        said.update(note)
        said.display = True
        composer = self.query_one("#composer", Input)
        if mode == "edit":
            composer.value = line.body
            composer.cursor_position = len(line.body)
        composer.focus()

    def _stop_composing(self) -> None:
        if self.composing is not None and self.composing[0] == "edit":
            self.query_one("#composer", Input).value = ""  # the old body was put there, not typed
        self.composing = None
        said = self.query_one("#composing", Static)
        said.update("")
        said.display = False

    def action_back(self) -> None:
        """Escape: stop replying or editing; else back to the chat list."""
        if self.composing is not None:
            self._stop_composing()
            self.notify("cancelled", markup=False)
            return
        self.app.pop_screen()

    # the highlighted message -----------------------------------------------------------

    def _highlighted(self) -> Shown | None:
        line = self._highlighted_line()
        return line.shown if line is not None else None

    def _highlighted_line(self) -> MessageView | None:
        index = self.query_one(OptionList).highlighted
        lines = self.view.messages
        return lines[index] if index is not None and index < len(lines) else None

    def _line(self) -> MessageView | None:
        """The highlighted line, when the history has the focus (in the composer the keys type)."""
        if self.query_one("#composer", Input).has_focus:
            return None
        return self._highlighted_line()

    def _identity(self) -> Identity:
        identity = self.app.identity
        assert identity is not None  # a chat opens only once the identity is unlocked
        return identity

    def action_reply(self) -> None:
        """Answer the highlighted message: the composer sends a reply quoting it."""
        line = self._line()
        if line is None:
            return
        first = line.body.split("\n", 1)[0] if not line.deleted else "(deleted by its sender)"
        first = safe_text(first if len(first) <= _QUOTE else first[: _QUOTE - 1] + "…")
        self._stop_composing()
        name = shown_name(line.message.username)
        self._start_composing("reply", line, f"↳ replying to {name}: {first}  (Enter sends, Escape cancels)")

    def _own_line(self, action: str) -> MessageView | None:
        """The highlighted line if it is the user's own and can still change (``action``:
        "edit" or "delete"); else None, the refusal shown as a notice (``App.check_own``)."""
        line = self._line()
        if line is None:
            return None
        return self.app.attempt(lambda: self.app.service.check_own(self.chat, self._identity(), line, action))

    def action_edit(self) -> None:
        """Change the highlighted message (one of your own): the composer holds its text."""
        line = self._own_line("edit")
        if line is None:
            return
        self._stop_composing()
        self._start_composing("edit", line, "editing your message: Enter sends the edit, Escape cancels")

    def action_delete_for_everyone(self) -> None:
        """Take back the highlighted message (one of your own) for everyone, after a yes."""
        line = self._own_line("delete")
        if line is None:
            return

        def answered(yes: bool | None) -> None:
            if yes and self.app.attempt(
                lambda: self.app.service.delete_for_everyone(self.chat, self._identity(), line)
            ):
                self.notify("deleted for everyone", markup=False)
                self._sent()

        question = (
            "Delete this message for everyone? Every member's app shows it as deleted by its sender "
            "(a copy someone already saved stays theirs)."
        )
        self.app.push_screen(Confirm(question, yes="Delete for everyone"), answered)

    def action_save(self) -> None:
        """Save the highlighted message's file: asks where, then fetches, checks, decrypts."""
        line = self._line()
        if line is None:
            return
        content = line.message.content
        if not isinstance(content, Attachment) or line.forged:
            self.notify("this message holds no file", markup=False)
            return
        if line.deleted:
            self.notify("its sender deleted this message and its file", markup=False)
            return
        self.query_one(Transfer).ask_save(self.chat, content)

    def action_attach(self) -> None:
        """Send a file into this chat: asks for its path (and a caption)."""
        if self.query_one("#composer", Input).has_focus:
            return
        self.query_one(Transfer).ask_send(self.chat, self._sent)
