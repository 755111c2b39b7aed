"""``pbridge send``, ``poll``, ``read``, ``receive`` and ``trash|restore|purge``: messages."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # imported where used, so each command loads only what it needs
    from pointerbridge.app.gaps import Gap
    from pointerbridge.app.received import Received
    from pointerbridge.app.service import App, MessageView, UnlockedChat

from .common import JSON_OPTION, PHRASE_FD, SECRET_FD, Decorator, flag, stdin_text
from .context import (
    ask_phrase,
    ask_secret,
    emit,
    open_app,
    post_now,
    unlock,
    unlocked_app,
)
from .errors import one_line_errors
from .output import messages, progress, safe_text

__all__ = ["poll", "purge", "read", "receive", "restore", "send", "trash"]


@click.command()
@click.argument("chat")
@click.argument("text", default="-")
@flag("--queue", "Only queue; the next poll posts.")
@flag("--lines", "Each line of the text is a message.")
@click.option("--reply-to", "reply_to", metavar="ID", help="Answer this message (its id from 'read', or a prefix).")
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Send this file.")
@click.option("--caption", default="", help="With --file: a caption for the file.")
@SECRET_FD
@PHRASE_FD
@click.pass_context
@one_line_errors
def send(
    ctx: click.Context,
    chat: str,
    text: str,
    queue: bool,
    lines: bool,
    reply_to: str | None,
    file: Path | None,
    caption: str,
    secret_fd: int | None,
    phrase_fd: int | None,
) -> None:
    """Seal a message into the chat's outbox and post it now (unless --queue).

    TEXT: - (default): read the message from stdin, or ask on a terminal. Text here shows in
    the process list and your shell history. --file PATH: send a file instead (encrypted,
    put on the chat's carriers that keep files; 'pbridge save' fetches it)."""
    if file is not None and (text != "-" or lines or reply_to is not None):
        raise click.UsageError("--file sends a file: give its words with --caption, not as TEXT, --lines or --reply-to")
    with open_app(ctx) as app:
        sender = app.unlock_identity(ask_phrase(phrase_fd))
        unlocked = unlock(app, chat, secret_fd)
        if file is not None:
            from .files import send_file

            return send_file(app, unlocked, sender, file, caption, queue)
        target = app.find_message(unlocked, reply_to).id if reply_to is not None else None
        body = _message_text(text)
        bodies = [line for line in body.split("\n") if line.strip()] if lines else [body]
        noticed = app.has_pending_notice(unlocked)
        if target is None:
            ids = [pid for one in bodies for pid in app.send(unlocked, sender, one)]
        else:
            ids = [pid for one in bodies for pid in app.reply(unlocked, sender, target, one)]
        line = f"queued {len(bodies)} message(s) in {len(ids)} pointer(s) for {', '.join(unlocked.row.carriers)}"
        if noticed:
            line += ", after your key rotation notice"
        post_now(app, unlocked, line, queue)


def _message_text(text: str) -> str:
    import sys

    if text != "-":
        click.echo(
            "note: a message given on the command line is visible to other users of this machine "
            "and kept in shell history; pipe it in or type it at the prompt instead",
            err=True,
        )
    else:
        if sys.stdin.isatty():
            click.echo("Message (end with Ctrl-D on an empty line):", err=True)
        text = stdin_text().removesuffix("\n")
    if not text.strip():
        from pointerbridge.app.errors import EmptyMessageError

        # most often a pipe whose writer failed: sending nothing beats an empty message
        raise EmptyMessageError("nothing to send: the text is empty or only whitespace")
    return text


@click.command()
@JSON_OPTION
@flag("--log-json", "Log the daemon's JSON lines on stderr (for a log collector) instead of the summary.")
@click.pass_context
@one_line_errors
def poll(ctx: click.Context, as_json: bool, log_json: bool) -> None:
    """One run: post the outbox, poll every carrier, store what arrives. Safe from cron."""
    from .entry import run_poll

    code = run_poll(ctx.find_root().obj, as_json, log_json)
    if code:
        raise click.exceptions.Exit(code)


def _render(line: MessageView) -> dict[str, Any]:
    from pointerbridge.app.display import name_warning
    from pointerbridge.core.content import Attachment

    shown = line.shown
    m = shown.message
    data = {
        "id": m.id,
        "sent_at": m.sent_at.isoformat(),
        "username": m.username,
        "fingerprint": m.fingerprint,
        "trust": shown.trust,
        "trashed": shown.trashed,
        "body": line.body,
        "kind": line.kind,
        "reply_to": line.target if line.kind == "reply" else None,
        "target": line.target,
        "quote": line.quote,
        "quote_from": line.quote_from,
        "edited": line.edited,
        "deleted": line.deleted,
        "forged": line.forged,
        "replayed": line.replayed,
        "note": line.note,
    }
    if isinstance(m.content, Attachment):
        data["file"] = {"name": m.content.name, "size": m.content.size, "media_type": m.content.media_type}
    if shown.notice is not None:
        data["rotated_from"] = shown.notice.old_key.hex()
        data["verified_key_replaced"] = shown.replaced_verified  # the key it replaced was verified in person
    if shown.arrived_late is not None:  # shown at its arrival, not at the sent_at it claims
        data["arrived_late_seconds"] = round(shown.arrived_late.total_seconds(), 3)
    if shown.lookalikes:  # other senders of the chat whose names look like this one's
        data["looks_like"] = list(shown.lookalikes)
    warning = name_warning(shown)
    if warning:
        data["name_warning"] = warning
    return data


@click.command()
@click.argument("chat")
@click.option("--limit", type=click.IntRange(min=1), help="Only the last N messages.")
@click.option("--search", help="Only messages containing this (any case).")
@flag("--trash", "Show the trash instead.")
@JSON_OPTION
@click.option(
    "--secret-fd",
    "secret_fds",
    type=int,
    multiple=True,
    help="Read a chat secret from this file descriptor; give it once per secret to read "
    "history under several (a rekeyed chat).",
)
@flag(
    "--all-secrets",
    "A rekeyed chat: ask on the terminal for its other secrets in turn, while "
    "pointers under them remain (empty: stop), and show the whole history at once.",
)
@PHRASE_FD
@click.pass_context
@one_line_errors
def read(
    ctx: click.Context,
    chat: str,
    limit: int | None,
    search: str | None,
    trash: bool,
    as_json: bool,
    secret_fds: tuple[int, ...],
    all_secrets: bool,
    phrase_fd: int | None,
) -> None:
    """Decrypt and show a chat's messages (nothing decrypted is written anywhere). The
    master phrase opens the chat list (sealed under it) and the store's proofs of the
    signatures checked on an earlier read, so they are not checked again."""
    with unlocked_app(ctx, phrase_fd) as app:
        unlocked = _unlock_to_read(app, chat, list(secret_fds), all_secrets, trash=trash, search=bool(search))
        with progress("checking pointers") as report:
            view, refused = app.read_view(unlocked, trash_only=trash, include_trash=bool(search), progress=report)
        shown = view.messages
        if search:  # in what is shown (an edited message by its latest text)
            shown = [line for line in shown if search.casefold() in line.body.casefold()]
        if limit:
            shown = shown[-limit:]
        locked = app.locked_count(unlocked, trash_only=trash, include_trash=bool(search))
        waiting = app.unopened_waiting(unlocked)
        if as_json:
            data = {"messages": [_render(s) for s in shown], "refused": refused, "other_secret": locked}
            emit({**data, "unopened_waiting": waiting, "gaps": [_gap(g) for g in view.gaps]})
            return
        _print_view(shown, view.gaps)
        if not (shown or refused or locked or waiting):  # else the lines below say why nothing shows
            click.echo(_nothing_shown(unlocked.row.name, search, trash), err=True)
        if refused:
            click.echo(
                f"({refused} pointer(s) of this chat failed their checks and are not shown: 'pbridge chat clear "
                f"{safe_text(unlocked.row.name)} --refused' deletes those that carry its routing tag but do not open)",
                err=True,
            )
        if locked:
            click.echo(
                f"({locked} pointer(s) of this chat are under another of its secrets: 'pbridge read "
                f"{safe_text(unlocked.row.name)} --all-secrets' asks for them, or read with that secret)",
                err=True,
            )
        if waiting:
            from pointerbridge.app.display import unopened_note

            click.echo(f"({unopened_note(unlocked.row.name, waiting)})", err=True)


def _gap(gap: Gap) -> dict[str, Any]:
    return {
        "sender": gap.username,
        "fingerprint": gap.fingerprint,
        "stream": gap.stream.hex(),
        "missing": list(gap.missing),
        "count": gap.count,
    }


def _print_view(lines: list[MessageView], gaps: tuple[Gap, ...]) -> None:
    """A chat view's lines (app/display.py words them), then one line per sender whose
    messages have not all arrived."""
    from pointerbridge.app.display import gap_lines, view_body

    messages([line.shown for line in lines], [view_body(line) for line in lines])
    for said in gap_lines(gaps):
        click.echo(f"({safe_text(said)})")


def _unlock_to_read(
    app: App, chat: str, fds: list[int], all_secrets: bool, *, trash: bool, search: bool
) -> UnlockedChat:
    """The chat unlocked with every secret given: the first from the first fd (else the
    environment or a prompt, as every command), one more from each further fd; with
    ``all_secrets``, then the others asked for in turn on the terminal while pointers
    under a secret not given remain (an empty answer stops)."""
    from .secrets import another_secret

    unlocked = unlock(app, chat, fds[0] if fds else None)
    for fd in fds[1:]:
        unlocked = app.add_secret(unlocked, ask_secret(fd))
    name = safe_text(unlocked.row.name)
    while all_secrets and (locked := app.locked_count(unlocked, trash_only=trash, include_trash=search)):
        more = another_secret(
            f"Another secret of chat {name!r} ({locked} pointer(s) are under secrets not given; empty: stop)",
            f"{locked} pointer(s) of chat {name!r} are under another of its secrets and there is no terminal "
            "to ask for it on: give each secret with a --secret-fd of its own",
        )
        if more is None:
            break
        before, unlocked = unlocked, app.add_secret(unlocked, more)
        if unlocked is before:
            click.echo("(that secret was given already)", err=True)
    return unlocked


def _nothing_shown(chat: str, search: str | None, trash: bool) -> str:
    """What ``read`` says instead of printing nothing."""
    where = f"the trash of chat {safe_text(chat)!r}" if trash else f"chat {safe_text(chat)!r}"
    if search:
        return f"(no message in {where} contains {safe_text(search)!r})"
    return f"({where} is empty)" if trash else f"({where} has no messages yet)"


@click.command()
@click.argument("text", default="-")
@click.option("--chat", help="Chat to open them with; created if new.")
@SECRET_FD
@PHRASE_FD
@click.pass_context
@one_line_errors
def receive(ctx: click.Context, text: str, chat: str | None, secret_fd: int | None, phrase_fd: int | None) -> None:
    """Store the pointers in pasted text and say what it held: none, damaged ones (never
    kept), those for the chat, those for another chat or a wrong secret.

    With --chat (asked for on a terminal), a chat that does not exist yet is created from
    them, as CLM does, if the secret opens one. Exits non-zero when nothing usable was
    found: no pointers (10), only truncated ones (13), only altered ones (16), none for
    the chat (15).

    TEXT: text with pointers, or - for stdin (the default)."""
    import sys

    pasted = stdin_text() if text == "-" else text
    with open_app(ctx) as app:
        if chat:
            first = app.look_at(pasted)
            if not first.usable:  # nothing to ask a secret for
                _report(first)
            app.unlock_identity(ask_phrase(phrase_fd))
            got, opened, joined = app.receive_for(chat, ask_secret(secret_fd), pasted)
        else:
            got, opened, joined = app.receive(pasted), None, False
            if got.unsorted and text != "-" and sys.stdin.isatty():
                chat = click.prompt("Open them as a new chat? Its name (empty: no)", default="", show_default=False)
                if chat:
                    app.unlock_identity(ask_phrase(phrase_fd))
                    got, opened, joined = app.receive_for(chat, ask_secret(secret_fd), pasted)
        _report(got)
        if joined and opened is not None:
            click.echo(f"chat {opened.row.name!r} created from what you received")
            from pointerbridge.app.service import OPEN_CHAT_COST

            click.echo(
                f"warning: {opened.row.name!r} is an open chat: {OPEN_CHAT_COST} "
                "'pbridge chat rekey' moves it to a salted key.",
                err=True,
            )


def _report(got: Received) -> None:
    """Say what was received; end with its error when nothing of it is usable."""
    click.echo(got.summary())
    problem = got.problem()
    if problem is not None:
        raise problem


def _by_ids(action: str, doc: str) -> click.Command:
    """The ``trash``, ``restore`` or ``purge`` command (only purge asks, so only it has --yes)."""

    def act(
        ctx: click.Context,
        chat: str,
        ids: tuple[str, ...],
        secret_fd: int | None,
        phrase_fd: int | None,
        yes: bool = False,
    ) -> None:
        with unlocked_app(ctx, phrase_fd) as app:
            unlocked = unlock(app, chat, secret_fd)
            if action == "purge":
                if not yes and not click.confirm(f"Delete {len(ids)} message(s) for good?", default=False):
                    raise click.exceptions.Exit(1)
                acted = app.purge(unlocked, list(ids))
            else:
                acted = app.set_trashed(unlocked, list(ids), action == "trash")
            click.echo(f"{action}: {acted.messages} message(s), {acted.pointers} pointer(s)")

    act.__doc__ = doc + "\n\nIDS: message ids (or unique prefixes) from 'read'."
    params: list[Decorator] = [click.argument("chat"), click.argument("ids", nargs=-1, required=True)]
    params += [flag("--yes", "Do not ask.")] if action == "purge" else []
    command: Any = click.pass_context(one_line_errors(act))
    for decorate in reversed([*params, SECRET_FD, PHRASE_FD]):
        command = decorate(command)
    return click.command(action)(command)


trash = _by_ids("trash", "Move messages to the trash (they stay searchable; 'restore' brings them back).")
restore = _by_ids("restore", "Bring messages back from the trash.")
purge = _by_ids("purge", "Delete messages for good (asks y/N).")
