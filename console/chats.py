"""The first screen: every chat with its unread count, carriers and last activity."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pointerbridge.app.display import safe_text
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from .dialogs import Field, Form, weak_ok
from .render import ago

if TYPE_CHECKING:
    from pointerbridge.app.service import UnlockedChat

    from .tui import ConsoleApp

__all__ = ["ChatListScreen", "open_chat"]


def open_chat(app: ConsoleApp, name: str) -> None:
    """Open a chat's screen, asking for its secret first if this session has not had it."""
    from .chat import ChatScreen

    row = app.attempt(lambda: app.service.chat_row(name))  # deleted from the CLI meanwhile: said, not fatal
    if row is None:
        return
    if row.id in app.unlocked:
        app.push_screen(ChatScreen(app.unlocked[row.id]))
        return

    def opened(chat: UnlockedChat | None) -> None:
        if chat is not None:
            app.push_screen(ChatScreen(app.remember(chat)))

    app.push_screen(
        Form(
            f"Open chat {safe_text(row.name)}",
            [Field("secret", "Chat secret", secret=True)],
            ok="Open",
            run=lambda v: app.service.unlock_chat(row.name, v["secret"]),
        ),
        opened,
    )


class ChatListScreen(Screen[None]):
    """Chats, newest activity first. Enter opens one."""

    app: ConsoleApp
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=True),
        Binding("n", "new", "New chat"),
        Binding("j", "join", "Join invite"),
        Binding("r", "receive", "Receive"),
        Binding("c", "carriers", "Carriers"),
        Binding("p", "profile", "Profile"),
        Binding("question_mark", "app.help", "Help", show=False),
        Binding("q", "app.quit", "Quit", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        table: DataTable[Text] = DataTable(id="chats", cursor_type="row", zebra_stripes=True)
        table.add_columns("chat", "unread", "carriers", "last activity")
        yield table
        yield Static("", id="hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.refresh_data()

    def on_screen_resume(self) -> None:
        self.refresh_data()

    def refresh_data(self) -> None:
        """Reload the chats and their counts from the store."""
        # A resume (or a poll's end) can come before compose has mounted the table on a
        # loaded machine (seen: NoMatches for the DataTable): on_mount loads it then.
        found = self.query(DataTable)
        if not found:
            return
        table = found.first()
        selected = table.cursor_row
        table.clear()
        overview = self.app.service.chat_overview()
        for item in overview:
            unread = str(item.unread) if item.unread else ""
            locked = "" if item.row.id in self.app.unlocked else " (locked)"
            weaker = " (open: weaker key)" if item.row.is_open else ""
            cells = (
                safe_text(item.row.name) + weaker + locked,
                unread,
                ", ".join(item.row.carriers) or "(none)",
                ago(item.last_activity),
            )
            table.add_row(*map(Text, cells), key=item.row.normalized_name)  # Text: a cell's str would be markup
        if overview:
            table.move_cursor(row=min(selected, len(overview) - 1))
        waiting = self.app.service.unrouted_count()
        hint = "" if overview else "No chats yet: n creates one, j joins from an invite, r receives pasted pointers."
        if waiting:
            hint += f" {waiting} pointer(s) not yet sorted into a chat: open the (locked) chats to sort them."
        self.query_one("#hint", Static).update(hint.strip())

    def _selected(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            open_chat(self.app, event.row_key.value)

    def action_open(self) -> None:
        """Open the selected chat."""
        name = self._selected()
        if name is not None:
            open_chat(self.app, name)

    def action_new(self) -> None:
        """Create a chat: a name, its secret twice, and the carriers to post to."""
        from pointerbridge.app.secret_policy import generate_chat_secret

        carriers = ", ".join(self.app.service.carriers) or "none yet: pbridge carrier add"
        secret = Field("secret", "Chat secret", secret=True, confirm=True, generated=generate_chat_secret())
        fields = [
            Field("name", "Chat name"),
            secret,
            Field(
                "carriers",
                f"Carriers, comma-separated ({carriers})",
                optional=True,
                value=",".join(self.app.service.carriers),
            ),
        ]

        def create(values: dict[str, str]) -> UnlockedChat:
            names = [c.strip() for c in values["carriers"].split(",") if c.strip()]
            return self.app.service.create_chat(values["name"], values["secret"], names, allow_weak=weak_ok(values))

        note = "Tell the secret to the members in person or on another channel, never with the invite."
        self.app.push_screen(Form("New chat", fields, note=note, ok="Create", run=create), self._created)

    def _created(self, chat: UnlockedChat | None) -> None:
        if chat is not None and chat.row.is_open:  # joined from an invite without a salt: say what that costs
            from pointerbridge.app.service import OPEN_CHAT_COST

            self.notify(
                f"{chat.row.name} is an open chat: {OPEN_CHAT_COST}", severity="warning", timeout=30, markup=False
            )
        if chat is not None:
            self.app.remember(chat)
            self.refresh_data()
            open_chat(self.app, chat.row.name)

    def action_join(self) -> None:
        """Join a chat from an invite someone gave you (the secret is told separately)."""
        fields = [Field("invite", "Invite (pbinvite1...)"), Field("secret", "Chat secret", secret=True, confirm=True)]
        self.app.push_screen(
            Form(
                "Join a chat",
                fields,
                ok="Join",
                run=lambda v: self.app.service.join_invite(v["invite"].strip(), v["secret"], {}),
            ),
            self._created,
        )

    def action_receive(self) -> None:
        """Paste text with pointers."""
        from .receive import ReceiveScreen

        self.app.push_screen(ReceiveScreen())

    def action_carriers(self) -> None:
        """Carriers: status, last poll, errors."""
        from .carriers import CarriersScreen

        self.app.push_screen(CarriersScreen())

    def action_profile(self) -> None:
        """Your username, fingerprint and master phrase."""
        from .profile import ProfileScreen

        self.app.push_screen(ProfileScreen())
