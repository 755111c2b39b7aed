"""A chat: its history, newest at the bottom, loaded a page at a time; a composer below.

The history is the chat's view (app/view.py) over the pages loaded so far, trash included
so that edits in the trash count, as ``read`` counts them: replies quoted, edits and
deletes applied, forgeries, replays and gaps flagged. Until the pages reach the chat's
first pointer it is a view of part of the history (no gap is guessed at its top)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pointerbridge.app.display import TRUST_MEANINGS, gap_lines, safe_text, unopened_note
from pointerbridge.app.trust import Trust
from pointerbridge.app.view import build_view
from pointerbridge.core import PointerBridgeError
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from .actions import MessageActions
from .render import view_line
from .transfer import Transfer

if TYPE_CHECKING:
    from pointerbridge.app.service import ChatView, MessageView, Shown, UnlockedChat

    from .tui import ConsoleApp

__all__ = ["PAGE", "ChatScreen"]

PAGE = 200  # pointers per page: a 100,000-message chat opens as fast as a short one


class ChatScreen(MessageActions):
    """History (decrypted on demand, RAM only) and a composer. Enter sends."""

    app: ConsoleApp
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Chats"),
        Binding("tab", "switch", "History/compose", show=False),
        Binding("ctrl+o", "older", "Older"),
        Binding("ctrl+f", "search", "Search"),
        Binding("ctrl+t", "trash_view", "Trash"),
        Binding("ctrl+s", "settings", "Settings"),
        Binding("delete,t", "trash", "Trash message"),
        Binding("r", "reply", "Reply"),
        Binding("e", "edit", "Edit"),
        Binding("d", "delete_for_everyone", "Unsend"),
        Binding("s", "save", "Save file"),
        Binding("a", "attach", "Send file", show=False),
        Binding("f", "fingerprint", "Sender's key", show=False),
        Binding("v", "verify", "Verify sender", show=False),
    ]

    def __init__(self, chat: UnlockedChat) -> None:
        super().__init__()
        self.chat = chat
        self.loaded: list[Shown] = []  # every message of the pages loaded, trash included
        self.view: ChatView = build_view([])
        self.shown: list[Shown] = []  # the messages of the lines shown, in their order
        self.composing: tuple[str, MessageView] | None = None  # ("reply" or "edit", the message)
        self._older: int | None = None
        self._limit = PAGE
        self._locked = 0  # pointers under a secret of this chat not typed this session
        self._refused = 0
        self._waiting = 0  # pointers on its carriers waiting unopened while the chat opened none
        self._unsettled = False
        self._locked_for = 0  # how many keys the locked count was made with
        self._settling_for = 0  # the newest pointer a settle was started for
        self._settled = (0, 0)  # pointers the running settle has opened, of how many

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="chat-title", markup=False)
        yield Static("", id="chat-notes", markup=False)
        yield OptionList(id="history", markup=False)
        with Vertical(id="compose-area"):
            yield Transfer(id="transfer")
            composing = Static("", id="composing", markup=False)
            composing.display = False  # while replying or editing: what
            yield composing
            yield Input(placeholder="Write a message; Enter sends", id="composer")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#composer", Input).focus()  # the history loads as the screen resumes, first time too

    def on_screen_resume(self) -> None:
        if self.chat.row.id not in self.app.unlocked:
            return  # deleted in its settings: on the way back to the chat list
        self.chat = self.app.unlocked[self.chat.row.id]  # rekeyed, or a secret added, in settings
        if len(self.chat.keys) != self._locked_for:  # a full scan, but only when the keys changed
            self._locked_for = len(self.chat.keys)
            self._locked = self.app.service.locked_count(self.chat)  # free unless the chat had several secrets
        self.refresh_data()

    # history ---------------------------------------------------------------------------

    def refresh_data(self) -> None:
        """Reload the pages shown so far (new messages appear at the bottom)."""
        if self.chat.row.id not in self.app.unlocked:
            return
        # The trash too: an edit or delete moved there still changes its target (read_view).
        page = self.app.service.read_page(self.chat, limit=self._limit, include_trash=True)
        self._older = page.older
        self._unsettled = page.unsettled
        self._show(page.messages, keep_bottom=self._at_bottom())
        newest = max((max(s.pointer_ids) for s in page.messages), default=0)
        if page.unsettled and newest > self._settling_for:  # once per new arrival, not in a loop
            self._settling_for = newest
            self._settle()
        if self.is_current:  # not while it waits behind its settings or a search
            self.app.service.mark_seen(self.chat)
        self._refused = page.refused
        self._waiting = self.app.service.unopened_waiting(self.chat)  # a secret mistyped when joining?
        self._update_title()

    def _update_title(self) -> None:
        notes = []
        if self._refused:
            notes.append(f"{self._refused} pointer(s) failed their checks and are not shown")
        if self._locked:
            notes.append(f"{self._locked} pointer(s) under another secret of this chat: ctrl+s, Add a secret")
        if self._waiting:
            notes.append(unopened_note(self.chat.row.name, self._waiting))
        if not self.chat.current:
            notes.append("unlocked with an earlier secret: reading only")
        if self._unsettled:
            done, total = self._settled
            count = f": {done:,} of {total:,} pointers" if total else ""
            notes.append(f"checking senders against the whole history{count}…")
        notes += [safe_text(said) for said in gap_lines(self.view.gaps)]
        if self._older is not None:
            notes.append("ctrl+o: older messages")
        # One line for the chat (cut with an ellipsis on a narrow terminal), the notes below
        # it, each on a line of its own: a title that wrapped moved the history with every note.
        title = f"{safe_text(self.chat.row.name)} · {', '.join(self.chat.row.carriers) or 'no carriers'}"
        self.query_one("#chat-title", Static).update(title)
        self.query_one("#chat-notes", Static).update("\n".join(notes))
        self.query_one("#chat-notes", Static).display = bool(notes)

    def _at_bottom(self) -> bool:
        index = self.query_one(OptionList).highlighted
        return index is None or index >= len(self.shown) - 1

    def _show(self, loaded: list[Shown], *, keep_bottom: bool) -> None:
        history = self.query_one(OptionList)
        before, was = self._highlighted(), history.highlighted
        self.loaded = loaded
        keep = [not s.trashed for s in loaded]
        purged = self.app.service.purged_numbers(self.chat)  # deleted for good: arrived, not gaps
        self.view = build_view(loaded, keep=keep, whole=self._older is None, purged=purged)
        self.shown = [line.shown for line in self.view.messages]
        history.clear_options()
        # No option ids: a sender can give two messages one id (it is theirs to choose).
        history.add_options([Option(view_line(line, provisional=self._unsettled)) for line in self.view.messages])
        if not self.shown:
            return
        last = len(self.shown) - 1
        # The line highlighted before, found by its pointers (unique, unlike message ids);
        # gone (trashed, or an edit now applied): the place it was at.
        again = next((i for i, s in enumerate(self.shown) if before and s.pointer_ids == before.pointer_ids), None)
        if keep_bottom or was is None:
            history.highlighted = last
        else:
            history.highlighted = again if again is not None else min(last, was)
        history.scroll_to_highlight()

    @work(thread=True, group="settle")
    def _settle(self) -> None:
        # Pins new names and stores rotation notices in arrival order, once, in the
        # background: a page alone must not decide them (see Page.unsettled).
        try:
            with self.app.service.sibling() as judge:  # a thread needs its own store connection
                judge.settle(self.chat, lambda done, total: self.app.call_from_thread(self._settling, done, total))
        except PointerBridgeError as exc:
            self.app.call_from_thread(self.notify, f"checking senders failed: {exc}", severity="error", markup=False)
            return
        self.app.call_from_thread(self.refresh_data)

    def _settling(self, done: int, total: int) -> None:
        """The background settle opened ``done`` of ``total`` pointers: say so under the title."""
        self._settled = (done, total)
        if self.is_mounted:
            self._update_title()

    def action_older(self) -> None:
        """Load the page before the oldest shown."""
        if self._older is None:
            self.notify("this is the start of the chat", markup=False)
            return
        page = self.app.service.read_page(self.chat, before=self._older, limit=PAGE, include_trash=True)
        self._older = page.older
        self._limit += PAGE
        self._refused += page.refused
        history = self.query_one(OptionList)
        history.highlighted = 0  # stays on the line that was first: where the new page ends
        self._show(page.messages + self.loaded, keep_bottom=False)
        self._update_title()

    def action_switch(self) -> None:
        """Move between the history and the composer."""
        composer = self.query_one("#composer", Input)
        (self.query_one(OptionList) if composer.has_focus else composer).focus()

    # actions ---------------------------------------------------------------------------

    def action_trash(self) -> None:
        """Move the highlighted message to the trash (restore it from the Trash screen)."""
        if self.query_one("#composer", Input).has_focus:
            return
        shown = self._highlighted()
        if shown is None:
            return
        moved = self.app.attempt(lambda: self.app.service.trash_messages(self.chat, [shown], True))
        if moved is not None:
            self.notify("moved to the trash (ctrl+t shows it)", markup=False)
        self.refresh_data()

    def action_fingerprint(self) -> None:
        """Show the highlighted message's sender key fingerprint and what its mark means
        (to compare with the fingerprint in the sender's own profile)."""
        if self.query_one("#composer", Input).has_focus:
            return
        shown = self._highlighted()
        if shown is None:
            return
        trust = Trust(shown.trust)
        self.notify(
            f"{safe_text(shown.message.username)}: key {shown.message.fingerprint}\n"
            f"{TRUST_MEANINGS[trust]}. Compare it with the fingerprint in their profile (p), in person.",
            title="Sender's key",
            timeout=30,
            markup=False,
        )

    def action_verify(self) -> None:
        """The highlighted message's sender: their safety code with this user, its QR code,
        "does it match?" (console/verify.py); yes marks their pinned key verified."""
        import hmac

        from .verify import Answer, VerifyScreen

        if self.query_one("#composer", Input).has_focus:
            return
        shown = self._highlighted()
        if shown is None:
            return
        service, chat, name = self.app.service, self.chat.row.name, shown.message.username
        check = self.app.attempt(lambda: service.safety_check(chat, name))
        if check is None:
            return

        def answered(answer: Answer) -> None:
            if answer == "match":
                done = self.app.attempt(lambda: service.mark_verified(chat, name, check.digits))
                if done is not None:
                    self.notify(f"{safe_text(name)}: key {done.fingerprint} verified", markup=False)
            elif answer == "unverify" and self.app.attempt(lambda: service.unverify(chat, name)):
                self.notify(f"{safe_text(name)}: no longer verified", markup=False)
            self.refresh_data()

        other = not hmac.compare_digest(shown.message.sender_key, check.public_key)
        self.app.push_screen(VerifyScreen(check, other_key=other), answered)

    def action_search(self) -> None:
        """Search this chat, trash included."""
        from .find import SearchScreen

        self.app.push_screen(SearchScreen(self.chat))

    def action_trash_view(self) -> None:
        """This chat's trash: restore or delete for good."""
        from .find import TrashScreen

        self.app.push_screen(TrashScreen(self.chat))

    def action_settings(self) -> None:
        """Carriers, invite, secret, delete."""
        from .settings import ChatSettingsScreen

        self.app.push_screen(ChatSettingsScreen(self.chat))
