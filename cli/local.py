"""The local app's commands, one module per family: identity, carriers, chats, messages,
maintenance (with what they share in ``context``); this module puts them on ``pbridge``."""

from __future__ import annotations

import typer

from .carriers import carrier_app
from .chats import chat_app
from .errors import one_line_errors
from .identity import identity_app, init, whoami
from .maintenance import daemon, doctor, export, import_, junk_app, status
from .messages import by_ids, poll, read, receive, send

__all__ = ["register"]


def register(pbridge: typer.Typer) -> None:
    """Add the local commands to ``pbridge``."""
    for fn in (init, whoami, send, poll, read, receive, status, doctor, export, daemon):
        pbridge.command()(one_line_errors(fn))
    pbridge.command("import")(one_line_errors(import_))
    for action in ("trash", "restore", "purge"):
        pbridge.command(action)(one_line_errors(by_ids(action)))
    pbridge.add_typer(chat_app, name="chat")
    pbridge.add_typer(identity_app, name="identity")
    pbridge.add_typer(carrier_app, name="carrier")
    pbridge.add_typer(junk_app, name="junk")
