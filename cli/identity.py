"""``pbridge init``, ``whoami`` and ``identity rotate|notify``: this home's identity."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # imported where used, so each command loads only what it needs
    from pointerbridge.app.service import App, UnlockedChat
    from pointerbridge.core import RecoveryCode

from .common import JSON_OPTION, PHRASE_FD, SECRET_FD, SHOW_PHRASE_FD, WEAK_SECRET_OK, flag
from .context import (
    ask_phrase,
    emit,
    new_master_phrase,
    open_app,
    post_now,
    post_to,
    unlock,
)
from .errors import one_line_errors
from .helptext import HelpGroup
from .output import safe_text
from .secrets import another_secret, read_secret, tty_available

__all__ = ["identity_app", "init", "whoami"]


_OLD_PHRASE = "PBRIDGE_OLD_MASTER_PHRASE"


@click.group(
    "identity",
    cls=HelpGroup,
    help="Your identity: rotate it (a new master phrase, so a new key), and notify a chat of it now.",
    no_args_is_help=True,
)
def identity_app() -> None:
    pass


@click.command()
@click.option("--username", required=True, help="The name your chats will see.")
@PHRASE_FD
@click.option(
    "--recovery-code",
    help="Regenerate the identity 'init' made elsewhere: the code it showed ('none': one made before recovery codes).",
)
@WEAK_SECRET_OK
@SHOW_PHRASE_FD
@flag(
    "--force",
    "Replace this home's identity by another without telling any chat (every member then sees "
    "your messages as KEY CHANGED); 'pbridge identity rotate' tells them instead. The chat list was "
    "sealed under the old phrase: give it (--old-phrase-fd, or typed when asked) to keep every chat, "
    "or --hide-chats to hide them all until each is joined again.",
)
@click.option(
    "--old-phrase-fd",
    type=int,
    help="With --force: read the master phrase of the identity being replaced from this file descriptor "
    "(or set PBRIDGE_OLD_MASTER_PHRASE); your chats are sealed again under the new one.",
)
@flag(
    "--hide-chats",
    "With --force, without the old master phrase: hide every chat (its messages stay as unclaimed "
    "pointers; its name, members, keys and the salt its invite carries are gone from this home).",
)
@click.pass_context
@one_line_errors
def init(
    ctx: click.Context,
    username: str,
    phrase_fd: int | None,
    recovery_code: str | None,
    weak_secret_ok: bool,
    show_phrase_fd: int | None,
    force: bool,
    old_phrase_fd: int | None,
    hide_chats: bool,
) -> None:
    """Create this home's identity from a username and a master phrase (a generated one
    is offered; one typed is asked twice and refused if weak), or regenerate one made on
    another machine (its phrase and the recovery code it showed). A home that has another
    identity is refused (exit 34) unless --force."""
    from pointerbridge.app.names import check_new_username
    from pointerbridge.core import RecoveryCode, normalize_username

    unsalted = recovery_code is not None and recovery_code.strip().lower() == "none"
    code = RecoveryCode.parse(recovery_code) if recovery_code is not None and not unsalted else None
    # Judged before the home is made or a phrase asked: a refused name leaves nothing behind.
    # A regenerated identity keeps the name it has (app.init lets it in, to read).
    normalize_username(username) if code is not None or unsalted else check_new_username(username)
    with open_app(ctx, create=True) as app:
        if force:
            hide_chats = _keep_or_hide(app, old_phrase_fd, hide_chats)
        if code is not None or unsalted:
            # The phrase exists already: asked (twice: no stored key here tells a typo), not generated or judged.
            phrase = ask_phrase(phrase_fd, confirm=True)
        else:
            fds = (phrase_fd, show_phrase_fd)
            phrase = new_master_phrase("Master phrase", "PBRIDGE_MASTER_PHRASE", fds, weak_secret_ok, (username,))
        before = app.public_identity()
        identity = app.init(
            username,
            phrase,
            recovery=code,
            unsalted=unsalted,
            allow_weak=weak_secret_ok,
            replace=force,
            hide_chats=hide_chats,
        )
        if before is not None and before.public_key != identity.public_key:
            click.echo(
                f"warning: replaced {safe_text(before.username)!r}'s identity without a rotation notice: every "
                "member of your chats sees your messages from now on as KEY CHANGED, and the old master phrase "
                "no longer unlocks this home",
                err=True,
            )
        if app.hidden_by_replace:
            click.echo(
                f"warning: {app.hidden_by_replace} chat(s) were sealed under the replaced identity's master phrase "
                "and are hidden now (their messages stay, as unclaimed pointers): join each again with its invite "
                "and secret to bring its history back",
                err=True,
            )
        click.echo(_who(identity.username, identity.fingerprint, app.recovery_code()))
        click.echo(
            "(keep it with your master phrase: on another machine, pbridge init --recovery-code CODE "
            "regenerates this identity)"
        )


def _keep_or_hide(app: App, old_phrase_fd: int | None, hide_chats: bool) -> bool:
    """Before a replacing init asks the new phrase: unlock the identity it replaces with
    the old phrase (given, or asked on a terminal), so that every chat is sealed again
    under the new one; or, that phrase left empty, ask y/N to hide every chat. Returns
    whether the chats may be hidden."""
    chats = app.store.chat_count()
    if app.public_identity() is None or not chats or hide_chats:
        return hide_chats
    old: str | None
    if old_phrase_fd is not None or _OLD_PHRASE in os.environ:
        old = read_secret("Old master phrase", _OLD_PHRASE, old_phrase_fd)
    elif tty_available():
        old = another_secret(
            f"Master phrase of the identity being replaced (Enter alone: hide its {chats} chat(s))",
            "no terminal to ask for the old master phrase",
        )
        if old is None:
            question = f"Hide all {chats} chat(s)? Each comes back only when joined again with its invite and secret"
            if not click.confirm(question, default=False):
                raise click.exceptions.Exit(1)
            return True
    else:
        return False  # the app refuses (exit 39) if the identity is another one
    from pointerbridge.app.errors import WrongSecretError

    try:
        app.unlock_identity(old)  # a wrong phrase stops here, before anything changed
    except WrongSecretError:
        raise WrongSecretError("that is not the master phrase of this home's identity; nothing changed") from None
    return False


def _who(username: str, fingerprint: str, code: RecoveryCode | None) -> str:
    """One line: who this home is, the fingerprint to compare, the code to regenerate it."""
    if code is None:
        return (
            f"{username}  fingerprint {fingerprint}  no recovery code (made before them: 'pbridge identity "
            "rotate' moves it to a stronger key)"
        )
    return f"{username}  fingerprint {fingerprint}  recovery code {code}"


@click.command()
@JSON_OPTION
@click.pass_context
@one_line_errors
def whoami(ctx: click.Context, as_json: bool) -> None:
    """Show this home's username and public key fingerprint."""
    with open_app(ctx) as app:
        known = app.public_identity()
        if known is None:
            app.username()  # raises the "run init" error
            return
        from pointerbridge.core import fingerprint

        code = app.recovery_code()
        data = {
            "username": known.username,
            "public_key": known.public_key.hex(),
            "fingerprint": fingerprint(known.public_key),
            "recovery_code": code.text if code else None,
        }
        if as_json:
            emit(data)
            return
        click.echo(_who(known.username, fingerprint(known.public_key), code))


@identity_app.command("rotate")
@click.option(
    "--chat",
    multiple=True,
    help="Post the notice to this chat at once (repeat; its secret is asked, or "
    "PBRIDGE_CHAT_SECRET / --secret-fd for one chat).",
)
@flag("--queue", "Only queue the notices; the next poll posts.")
@PHRASE_FD
@click.option("--new-phrase-fd", type=int, help="Read the new master phrase from this file descriptor.")
@SECRET_FD
@WEAK_SECRET_OK
@SHOW_PHRASE_FD
@click.pass_context
@one_line_errors
def identity_rotate(
    ctx: click.Context,
    chat: tuple[str, ...],
    queue: bool,
    phrase_fd: int | None,
    new_phrase_fd: int | None,
    secret_fd: int | None,
    weak_secret_ok: bool,
    show_phrase_fd: int | None,
) -> None:
    """Change your master phrase, and so your key (same username): asks the current phrase,
    then offers a generated new one (or PBRIDGE_NEW_MASTER_PHRASE). Each chat gets a
    notice, signed by the old key, that lets its members re-pin you: posted at once in the
    chats whose secret you give (--chat, or asked chat by chat on a terminal, Enter skips),
    with your next message in the others."""
    with open_app(ctx) as app:
        old = app.unlock_identity(ask_phrase(phrase_fd))
        fds = (new_phrase_fd, show_phrase_fd)
        fresh = new_master_phrase(
            "New master phrase", "PBRIDGE_NEW_MASTER_PHRASE", fds, weak_secret_ok, (old.username,)
        )
        # Every secret is checked before anything changes: a wrong one leaves the old key.
        unlocked = [unlock(app, name, secret_fd) for name in dict.fromkeys(chat)] if chat else _ask_chats(app)
        new = app.rotate_identity(old, fresh, chats=unlocked, allow_weak=weak_secret_ok)
        click.echo(_who(new.username, new.fingerprint, app.recovery_code()))
        click.echo("(a new recovery code: keep it with your new master phrase)")
        waiting = app.pending_notices()
        queued = [c for c in unlocked if c.row.name not in waiting]
        if queued:
            carriers = sorted({name for c in queued for name in c.row.carriers})
            names = ", ".join(repr(c.row.name) for c in queued)
            post_to(app, carriers, f"queued the rotation notice in {names}", queue)
        if waiting:
            click.echo(
                f"rotation notices wait in {len(waiting)} chat(s) ({', '.join(map(repr, waiting))}): each is "
                "posted with your next message there (or: pbridge identity notify CHAT)"
            )


def _ask_chats(app: App) -> list[UnlockedChat]:
    """On a terminal, the secret of each chat with carriers in turn (Enter skips it);
    elsewhere none."""
    import getpass
    import sys

    if not sys.stdin.isatty():
        return []
    from pointerbridge.app.service import WrongSecretError

    unlocked = []
    for row in app.chats():
        if not row.carriers:
            continue  # nowhere to post it: it waits for the chat's carriers and next message
        secret = getpass.getpass(
            f"Secret of chat {safe_text(row.name)!r} to post the notice now (Enter: with your next message there): "
        )
        if not secret:
            continue
        try:
            unlocked.append(app.unlock_chat(row.name, secret))
        except WrongSecretError:
            click.echo(f"wrong secret for chat {safe_text(row.name)!r}: its notice waits", err=True)
    return unlocked


@identity_app.command("notify")
@click.argument("chat")
@flag("--queue", "Only queue; the next poll posts.")
@SECRET_FD
@PHRASE_FD
@click.pass_context
@one_line_errors
def identity_notify(ctx: click.Context, chat: str, queue: bool, secret_fd: int | None, phrase_fd: int | None) -> None:
    """Post a chat's pending key rotation notice now (asks the chat secret and your NEW
    master phrase)."""
    with open_app(ctx) as app:
        sender = app.unlock_identity(ask_phrase(phrase_fd))
        unlocked = unlock(app, chat, secret_fd)
        if not app.has_pending_notice(unlocked):
            click.echo(f"no rotation notice waits in chat {unlocked.row.name!r}")
            return
        app.notify(unlocked, sender)
        post_now(app, unlocked, f"queued the rotation notice for {', '.join(unlocked.row.carriers)}", queue)
