"""``pbridge chat ...``: create, list, carriers, invite, join, hide, delete, rekey, clear, trust,
notify (and, from cli/verify.py, members, verify, unverify)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pointerbridge.core import InvalidInputError

if TYPE_CHECKING:  # imported where used, so each command loads only what it needs
    from pointerbridge.app.service import App

from .common import JSON_OPTION, PHRASE_FD, SECRET_FD, SHOW_SECRET_FD, WEAK_SECRET_OK, flag, stdin_text
from .context import ask_secret, emit, new_chat_secret, unlock, unlocked_app
from .errors import one_line_errors
from .helptext import HelpGroup
from .output import safe_text, table
from .secrets import read_secret

__all__ = ["chat_app"]


@click.group(
    "chat",
    cls=HelpGroup,
    help="Chats: create or join one, list them, show or set a chat's carriers, print its invite, rekey it "
    "(a new secret), clear its history, trust a key you verified, notify (what its desktop notifications "
    "show), hide it (deniable) or delete it; list its members, verify a member's key in person (a safety "
    "code) or unverify it.",
    no_args_is_help=True,
)
def chat_app() -> None:
    pass


@chat_app.command("create")
@click.argument("name")
@click.option("--carrier", multiple=True, required=True, help="Carrier(s) this chat travels on.")
@SECRET_FD
@flag("--open", "An open chat (CLM's model): joined by name and secret alone. Weaker.", "open_chat")
@WEAK_SECRET_OK
@SHOW_SECRET_FD
@PHRASE_FD
@click.pass_context
@one_line_errors
def chat_create(
    ctx: click.Context,
    name: str,
    carrier: tuple[str, ...],
    secret_fd: int | None,
    open_chat: bool,
    weak_secret_ok: bool,
    show_secret_fd: int | None,
    phrase_fd: int | None,
) -> None:
    """Create a chat; a generated secret is offered (one typed is asked twice and refused
    if weak); only a slow verifier is stored. Prints the invite that others join with (it
    carries the chat's random salt, never the secret)."""

    with unlocked_app(ctx, phrase_fd) as app:
        words = (name, app.username())
        if open_chat:
            from pointerbridge.app.service import OPEN_CHAT_COST

            click.echo(f"warning: {OPEN_CHAT_COST}", err=True)
        secret = new_chat_secret(
            "Chat secret", "PBRIDGE_CHAT_SECRET", (secret_fd, show_secret_fd), weak_secret_ok, words
        )
        chat = app.create_chat(name, secret, list(carrier), open_chat=open_chat, allow_weak=weak_secret_ok)
        click.echo(f"chat {chat.row.name!r} created on {', '.join(chat.row.carriers)}")
        click.echo(app.invite(chat.row))
        click.echo("Others join with that invite (pbridge chat join); tell the secret separately.", err=True)


@chat_app.command("list")
@JSON_OPTION
@PHRASE_FD
@click.pass_context
@one_line_errors
def chat_list(ctx: click.Context, as_json: bool, phrase_fd: int | None) -> None:
    """List chats with their carriers."""
    with unlocked_app(ctx, phrase_fd) as app:
        rows: list[dict[str, Any]] = [{"name": c.name, "carriers": c.carriers, "open": c.is_open} for c in app.chats()]
        if as_json:
            emit(rows)
            return
        if not rows:  # said, not an empty output: a script cannot tell that from a failure
            click.echo("no chats yet (pbridge chat create, or chat join)", err=True)
            return
        table([{**r, "open": "open: weaker key" if r["open"] else ""} for r in rows], "chats")


@chat_app.command("carriers")
@click.argument("name")
@click.option("--carrier", multiple=True, help="Set the carrier(s) it travels on.")
@PHRASE_FD
@click.pass_context
@one_line_errors
def chat_carriers(ctx: click.Context, name: str, carrier: tuple[str, ...], phrase_fd: int | None) -> None:
    """Show a chat's carriers, or set them (a chat created by receiving starts with none)."""
    with unlocked_app(ctx, phrase_fd) as app:
        row = app.set_chat_carriers(name, list(carrier)) if carrier else app.chat_row(name)
        click.echo(", ".join(row.carriers) if row.carriers else "(none: set them with --carrier)")


@chat_app.command("invite")
@click.argument("name")
@click.option("--qr/--no-qr", default=None, help="Show a QR code (default: on a terminal).")
@PHRASE_FD
@click.pass_context
@one_line_errors
def chat_invite(ctx: click.Context, name: str, qr: bool | None, phrase_fd: int | None) -> None:
    """Print an invite (chat name and carriers, never the secret) and its QR code."""
    import sys

    with unlocked_app(ctx, phrase_fd) as app:
        text = app.invite(app.chat_row(name))
    click.echo(text)
    if qr if qr is not None else sys.stdout.isatty():
        import segno

        segno.make(text, error="m").terminal(compact=True)
    click.echo("Tell the secret separately: in person, or on another channel.", err=True)


@chat_app.command("join")
@click.argument("invite")
@click.option("--path", multiple=True, help="CARRIER=FOLDER: your copy of a folder.")
@SECRET_FD
@flag(
    "--replace-secret",
    "The chat was joined with a mistyped secret: set the right one, keeping the chat (only while it "
    "has opened nothing, and only a secret that opens what arrived); the one it had stays as an earlier "
    "secret. Asks y/N.",
)
@flag("--yes", "--replace-secret: do not ask.")
@PHRASE_FD
@click.pass_context
@one_line_errors
def chat_join(
    ctx: click.Context,
    invite: str,
    path: tuple[str, ...],
    secret_fd: int | None,
    replace_secret: bool,
    yes: bool,
    phrase_fd: int | None,
) -> None:
    """Join a chat from an invite; the chat secret is asked twice.

    INVITE: the invite text, or - for stdin (with --replace-secret: the chat's name will do)."""
    text = stdin_text() if invite == "-" else invite
    paths = {}
    for item in path:
        carrier, sep, folder = item.partition("=")
        if not sep:
            raise InvalidInputError(f"--path {item!r} is not CARRIER=FOLDER")
        paths[carrier] = str(Path(folder).expanduser().resolve())
    with unlocked_app(ctx, phrase_fd) as app:
        app.username()
        if replace_secret:
            _replace_secret(app, text, ask_secret(secret_fd, confirm=True), yes)
            return
        chat = app.join_invite(text, ask_secret(secret_fd, confirm=True), paths)
        click.echo(f"joined chat {chat.row.name!r} on {', '.join(chat.row.carriers)}")
        if chat.row.is_open:  # an invite of version 1, or one stripped of its salt: say what that costs
            from pointerbridge.app.service import OPEN_CHAT_COST

            click.echo(f"warning: that invite is an open chat's (no salt): {OPEN_CHAT_COST}", err=True)


def _replace_secret(app: App, chat: str, secret: str, yes: bool) -> None:
    """``chat join --replace-secret``: say what changes, ask, then replace."""
    plan = app.plan_secret_replacement(chat, secret)
    name = plan.row.name
    what = "an earlier secret of it, current again" if plan.earlier else "a secret new to it"
    click.echo(
        f"chat {name!r}: this secret ({what}) opens {plan.opens} of the pointers waiting here and becomes its "
        "current secret; the one it has now is kept as an earlier secret (what it opens stays readable with it, "
        "and giving it here makes it current again). Messages you send from now on are sealed under the new "
        "secret; anyone who knows it reads them.",
        err=True,
    )
    if not yes and not click.confirm(f"Replace the current secret of chat {name!r}?", default=False):
        raise click.exceptions.Exit(1)
    app.replace_secret(plan)
    click.echo(f"chat {name!r}: its current secret is the one just given ({plan.opens} waiting pointer(s) open)")


@chat_app.command("hide")
@click.argument("name")
@flag("--yes", "Do not ask.")
@PHRASE_FD
@click.pass_context
@one_line_errors
def chat_hide(ctx: click.Context, name: str, yes: bool, phrase_fd: int | None) -> None:
    """Hide a chat: no trace of its name, members or keys stays in this home, and its
    messages stay as unclaimed pointers, indistinguishable from a carrier's junk, until it
    is joined again with its invite and secret. Prints the invite first; asks y/N."""
    from pointerbridge.app.service import HIDE_NOTE

    with unlocked_app(ctx, phrase_fd) as app:
        row = app.check_hideable(name)  # refused before the invite is shown and y/N asked
        shown = safe_text(row.name)
        click.echo(app.invite(row))
        click.echo(
            f"chat {shown!r}: that invite is {'an open' if row.is_open else 'a salted'} chat's; {HIDE_NOTE}", err=True
        )
        if not yes and not click.confirm(f"Hide chat {shown!r}?", default=False):
            raise click.exceptions.Exit(1)
        kept = app.hide_chat(name)
        click.echo(f"chat {shown!r} hidden; its {kept} pointer(s) stay as unclaimed ones")


@chat_app.command("delete")
@click.argument("name")
@flag("--yes", "Do not ask.")
@PHRASE_FD
@click.pass_context
@one_line_errors
def chat_delete(ctx: click.Context, name: str, yes: bool, phrase_fd: int | None) -> None:
    """Delete a chat and all its pointers from this home (asks y/N)."""
    with unlocked_app(ctx, phrase_fd) as app:
        row = app.chat_row(name)
        if not yes and not click.confirm(f"Delete chat {row.name!r} and all its messages?", default=False):
            raise click.exceptions.Exit(1)
        app.delete_chat(name)
        click.echo(f"chat {row.name!r} deleted")


@chat_app.command("rekey")
@click.argument("name")
@SECRET_FD
@click.option("--new-secret-fd", type=int, help="Read the new chat secret from this file descriptor.")
@click.option("--invite", help="The new invite of the member who rekeyed first (- for stdin).")
@WEAK_SECRET_OK
@SHOW_SECRET_FD
@PHRASE_FD
@click.pass_context
@one_line_errors
def chat_rekey(
    ctx: click.Context,
    name: str,
    secret_fd: int | None,
    new_secret_fd: int | None,
    invite: str | None,
    weak_secret_ok: bool,
    show_secret_fd: int | None,
    phrase_fd: int | None,
) -> None:
    """Give a chat a new secret (a generated one offered; or PBRIDGE_NEW_CHAT_SECRET): new
    messages use it, older history stays readable with the old one. Each member rekeys
    their own home: the first prints a new invite (a new random salt), the others rekey
    with --invite and the secret they were told."""

    salt = _rekey_salt(name, invite)
    with unlocked_app(ctx, phrase_fd) as app:
        unlocked = unlock(app, name, secret_fd)
        if unlocked.current:  # said before the new secret is asked for (an earlier secret is refused below)
            from pointerbridge.app.service import REKEY_COST

            name_shown = safe_text(unlocked.row.name)
            click.echo(f"warning: {REKEY_COST} ('pbridge read {name_shown} --all-secrets').", err=True)
        if salt is not None:  # told by the first member: asked, not generated
            fresh = read_secret("New chat secret", "PBRIDGE_NEW_CHAT_SECRET", new_secret_fd, confirm=True)
        else:
            words = (unlocked.row.name, app.username())
            fds = (new_secret_fd, show_secret_fd)
            fresh = new_chat_secret("New chat secret", "PBRIDGE_NEW_CHAT_SECRET", fds, weak_secret_ok, words)
        chat = app.rekey_chat(unlocked, fresh, salt=salt, allow_weak=weak_secret_ok)
        click.echo(
            f"chat {chat.row.name!r}: new pointers use the new secret; older history stays readable with the old one"
        )
        if salt is None:
            click.echo(app.invite(chat.row))
            click.echo("The other members rekey with that invite: pbridge chat rekey CHAT --invite INVITE", err=True)


def _rekey_salt(name: str, invite: str | None) -> bytes | None:
    """The new key's salt from the invite of the member who rekeyed first (None: make one)."""
    if invite is None:
        return None
    from pointerbridge.app.invite import rekey_salt

    return rekey_salt(name, stdin_text() if invite == "-" else invite)


@chat_app.command("clear")
@click.argument("name")
@flag("--yes", "Do not ask.")
@flag(
    "--refused",
    "Delete only the pointers that carry the chat's routing tag but fail its checks (what 'read' "
    "counts as failing them), keeping its messages.",
)
@SECRET_FD
@PHRASE_FD
@click.pass_context
@one_line_errors
def chat_clear(
    ctx: click.Context, name: str, yes: bool, refused: bool, secret_fd: int | None, phrase_fd: int | None
) -> None:
    """Delete every message of a chat for good, keeping the chat, and the pointers that
    carry its routing tag but fail its checks (asks y/N). Deleted pointers are not stored
    again when a carrier brings them back."""
    with unlocked_app(ctx, phrase_fd) as app:
        unlocked = unlock(app, name, secret_fd)
        shown = safe_text(unlocked.row.name)
        question = (
            f"Delete the pointers that carry the routing tag of {shown!r} but fail its checks, for good?"
            if refused
            else f"Delete every message of {shown!r} for good, and the pointers that carry its routing tag "
            "but fail its checks?"
        )
        if not yes and not click.confirm(question, default=False):
            raise click.exceptions.Exit(1)
        failing = app.clear_refused(unlocked)
        tail = f"{failing} pointer(s) that carry its routing tag but fail its checks deleted for good"
        if refused:
            click.echo(f"chat {shown!r}: {tail}")
            return
        deleted, kept = app.clear_history(unlocked)
        line = f"chat {shown!r}: {deleted} pointer(s) deleted for good; {tail}"
        click.echo(line + (f"; {kept} still waiting to be posted were kept" if kept else ""))


@chat_app.command("trust")
@click.argument("name")
@click.argument("username")
@click.option("--fingerprint", required=True, help="The key's fingerprint, as its owner read it to you in person.")
@PHRASE_FD
@click.pass_context
@one_line_errors
def chat_trust(ctx: click.Context, name: str, username: str, fingerprint: str, phrase_fd: int | None) -> None:
    """Re-pin a name frozen by a key conflict (its old key signed two different rotations)
    to the key you verified in person: that key's messages show as its own again, the
    other's as changed."""
    from pointerbridge.core import fingerprint as fingerprint_of

    with unlocked_app(ctx, phrase_fd) as app:
        key = app.trust_key(name, username, fingerprint)
        click.echo(f"{safe_text(username)} in chat {app.chat_row(name).name!r} is pinned to {fingerprint_of(key)}")


@chat_app.command("notify")
@click.argument("name")
@click.option(
    "--show",
    metavar="off|count|names|text",
    help="What the console's desktop notification of its new messages says: off (none), count (the default: "
    "'new messages' and how many, no name or text), names (the chat's and the senders' names too), text (what "
    "they wrote too). The daemon's ignore it: they count every chat's pointers, an 'off' chat's too.",
)
@PHRASE_FD
@click.pass_context
@one_line_errors
def chat_notify(ctx: click.Context, name: str, show: str | None, phrase_fd: int | None) -> None:
    """Show or set what the console's desktop notifications (pbridge console --notify) say of
    this chat. Kept in the chat's sealed record: the setting, like the name, is hidden
    under the master phrase. The daemon (pbridge daemon --notify) holds no key, so it
    cannot read the setting: its notifications always say a count alone, and count this
    chat's pointers even when it is set to off."""
    with unlocked_app(ctx, phrase_fd) as app:
        if show is not None:
            app.set_notify_show(name, show)
        click.echo(f"chat {app.chat_row(name).name!r}: notifications show {app.notify_show(name)}")


def _add_key_checks() -> None:
    # Kept in cli/verify.py (this module is near its size); listed after ``trust``.
    from .verify import chat_members, chat_unverify, chat_verify

    for command in (chat_members, chat_verify, chat_unverify):
        chat_app.add_command(command)


_add_key_checks()
