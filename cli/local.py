"""The local app's commands, one module per family: identity, carriers, chats, messages,
maintenance (with what they share in ``context``); this module puts them on ``pbridge``."""

from __future__ import annotations

import typer

from .carriers import carrier_app
from .chats import chat_app
from .errors import one_line_errors
from .identity import identity_app, init, whoami
from .maintenance import daemon, doctor, export, import_, status
from .messages import by_ids, poll, read, receive, send

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the local app's commands to the pbridge command."""
    for fn in (init, whoami, send, poll, read, receive, status, doctor, export, daemon):
        app.command()(one_line_errors(fn))
    app.command("import")(one_line_errors(import_))
    for action in ("trash", "restore", "purge"):
        app.command(action)(one_line_errors(by_ids(action)))
    app.add_typer(chat_app, name="chat")
    app.add_typer(identity_app, name="identity")
    app.add_typer(carrier_app, name="carrier")
