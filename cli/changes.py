"""``pbridge edit`` and ``pbridge delete``: changing or taking back a message you sent."""

from __future__ import annotations

import click

from .common import PHRASE_FD, SECRET_FD, flag
from .context import ask_phrase, open_app, post_now, unlock, unlocked_app
from .errors import one_line_errors
from .messages import _message_text

__all__ = ["delete", "edit"]


@click.command()
@click.argument("chat")
@click.argument("message_id", metavar="ID")
@click.argument("text", default="-")
@flag("--queue", "Only queue; the next poll posts.")
@SECRET_FD
@PHRASE_FD
@click.pass_context
@one_line_errors
def edit(
    ctx: click.Context, chat: str, message_id: str, text: str, queue: bool, secret_fd: int | None, phrase_fd: int | None
) -> None:
    """Replace the text of a message you sent: every reader shows its new text, marked
    edited. Only your own messages (exit 55 otherwise), and not one you deleted (56).

    ID: the message's id from 'read' (after #), or a unique prefix. TEXT: the new text, as
    'send' takes it (- by default: stdin, or asked on a terminal)."""
    with open_app(ctx) as app:
        sender = app.unlock_identity(ask_phrase(phrase_fd))
        unlocked = unlock(app, chat, secret_fd)
        target = app.check_own(unlocked, sender, message_id, "edit")  # refused before the text is asked for
        ids = app.edit(unlocked, sender, target, _message_text(text))
        post_now(app, unlocked, f"queued an edit of {target.id[:8]} in {len(ids)} pointer(s)", queue)


@click.command()
@click.argument("chat")
@click.argument("message_id", metavar="ID")
@flag("--for-everyone", "Send a delete: every reader shows it as deleted by its sender (your own messages only).")
@flag("--queue", "With --for-everyone: only queue; the next poll posts.")
@SECRET_FD
@PHRASE_FD
@click.pass_context
@one_line_errors
def delete(
    ctx: click.Context,
    chat: str,
    message_id: str,
    for_everyone: bool,
    queue: bool,
    secret_fd: int | None,
    phrase_fd: int | None,
) -> None:
    """Take back a message. Without --for-everyone: move it to this home's trash, as
    'pbridge trash' does (nothing is sent). With it: send a delete of a message you sent;
    the other members' copies show "deleted by its sender" (a member who already read it
    has read it).

    ID: the message's id from 'read' (after #), or a unique prefix."""
    if not for_everyone:
        with unlocked_app(ctx, phrase_fd) as app:
            unlocked = unlock(app, chat, secret_fd)
            acted = app.set_trashed(unlocked, [message_id], True)
            click.echo(f"trash: {acted.messages} message(s), {acted.pointers} pointer(s)")
        return
    with open_app(ctx) as app:
        sender = app.unlock_identity(ask_phrase(phrase_fd))
        unlocked = unlock(app, chat, secret_fd)
        ids = app.delete_for_everyone(unlocked, sender, message_id)
        post_now(app, unlocked, f"queued a delete for everyone in {len(ids)} pointer(s)", queue)
