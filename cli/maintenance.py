"""``pbridge doctor``, ``status``, ``export``, ``import`` and ``daemon``: looking after a home."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pointerbridge.app.service import App

from .common import JSON_OPTION, PHRASE_FD, flag
from .context import ask_phrase, emit, open_app, unlocked_app
from .errors import one_line_errors
from .helptext import HelpGroup
from .output import safe_text

__all__ = ["daemon", "doctor", "export", "import_", "junk_app", "status"]


@click.command()
@JSON_OPTION
@click.pass_context
@one_line_errors
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Check this home: folders, config, store, and each carrier (reached once; nothing is
    posted or changed). Exits 28 if any check fails; warnings exit 0."""
    from pointerbridge.app.doctor import CheckFailedError, run_checks
    from pointerbridge.app.service import resolve_home

    checks = run_checks(resolve_home(ctx.find_root().obj))
    failed = sum(c.finding.status == "fail" for c in checks)
    if as_json:
        emit({"ok": not failed, "checks": [{"scope": c.scope, **c.finding._asdict()} for c in checks]})
    else:
        for scope, finding in checks:
            click.echo(safe_text(f"{finding.status:<4}  {scope}: {finding.check}: {finding.detail}"))
    if failed:
        raise CheckFailedError(f"{failed} check(s) failed")


@click.command()
@JSON_OPTION
@click.pass_context
@one_line_errors
def status(ctx: click.Context, as_json: bool) -> None:
    """Outbox and inbox sizes, and per carrier: waiting posts, last poll, last error."""
    import time

    with open_app(ctx) as app:
        data = app.status()
    if as_json:
        emit(data)
        return

    def when(seconds: float | None) -> str:
        return "never" if seconds is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))

    click.echo(
        f"pointers {data['pointers']}: inbox {data['inbox']} (unrouted {data['unrouted']}, "
        f"{_size(data['unrouted_bytes'])}), outbox {data['outbox']}, trashed {data['trashed']}"
    )
    if data["junk"]:
        click.echo(
            f"junk: {data['junk']} unrouted pointer(s), {_size(data['junk_bytes'])}, that no chat can open "
            "in this build (too short, or of a later version); 'pbridge junk clear' deletes them"
        )
    for name, c in data["carriers"].items():
        current = c["last_error"] and (c["last_ok"] is None or c["last_error_at"] > c["last_ok"])
        error = f"; failing since {when(c['last_error_at'])}: {c['last_error']}" if current else ""
        error += f"; {c['problem']}" if c["problem"] and not current else ""  # a failing poll says it already
        click.echo(safe_text(f"{name} ({c['type']}): {c['waiting']} waiting, last poll {when(c['last_poll'])}{error}"))


def _size(count: int) -> str:
    return f"{count} B" if count < 10_000 else f"{count / 1024:.0f} KiB" if count < 10_000_000 else f"{count >> 20} MiB"


@click.group(
    "junk",
    cls=HelpGroup,
    help="Clear the stored pointers no chat can open in this build, or (--unclaimed) that no chat of this home claims.",
    no_args_is_help=True,
)
def junk_app() -> None:
    pass


@junk_app.command("clear")
@flag("--yes", "Delete without asking.")
@flag(
    "--unclaimed",
    "Delete every stored pointer that none of this home's chats claims, once each chat is unlocked "
    "with all its secrets (asked on the terminal). Pointers of chats not joined here yet go too, and "
    "those of hidden chats (pbridge chat hide).",
)
@PHRASE_FD
@click.pass_context
@one_line_errors
def junk_clear(ctx: click.Context, yes: bool, unclaimed: bool, phrase_fd: int | None) -> None:
    """Delete the unrouted pointers that no chat can open in this build: payloads too
    short to be a pointer (kept by earlier builds) and pointers of a later version (a
    later build could open those). 'pbridge status' counts them. Asks y/N.

    With --unclaimed: every unrouted pointer that none of this home's chats claims
    (anyone who can post to a carrier can fill it with well-formed junk); every chat's
    secrets are asked for on the terminal first, and the deleted pointers are never
    stored again."""
    if unclaimed:
        with unlocked_app(ctx, phrase_fd) as app:
            _clear_unclaimed(app, yes)
        return
    with open_app(ctx) as app:
        junk = app.status()["junk"]
        if not junk:
            click.echo("no junk: nothing deleted")
            return
        if not yes and not click.confirm(f"Delete {junk} pointer(s) no chat can open for good?", default=False):
            raise click.exceptions.Exit(1)
        count, size = app.clear_junk()
    click.echo(f"deleted {count} pointer(s) no chat can open ({_size(size)})")


def _clear_unclaimed(app: App, yes: bool) -> None:
    """``junk clear --unclaimed``: every chat unlocked with all its secrets, asked for in
    turn on the terminal (a --secret-fd cannot say which chat it is for), then y/N."""
    from .secrets import SecretUnavailableError, another_secret, tty_available

    if not tty_available():
        raise SecretUnavailableError(
            "junk clear --unclaimed asks for the secrets of every chat of this home on the terminal, and there is "
            "none (a --secret-fd cannot serve several chats): run it on a terminal"
        )
    unlocked = []
    for row in app.chats():
        name = safe_text(row.name)
        chat = None
        while chat is None or not app.all_secrets_given(chat):
            prompt = f"Secret of chat {name!r}" if chat is None else f"Another secret of chat {name!r}"
            secret = another_secret(f"{prompt} (empty: stop, nothing deleted)", "no terminal")
            if secret is None:
                click.echo(f"not every secret of chat {name!r} was given: nothing deleted", err=True)
                raise click.exceptions.Exit(1)
            chat = app.unlock_chat(row.name, secret) if chat is None else app.add_secret(chat, secret)
        unlocked.append(chat)
    ids = app.unclaimed(unlocked)
    if not ids:
        click.echo("no pointer is unclaimed: nothing deleted")
        return
    click.echo(
        f"{len(ids)} stored pointer(s) are claimed by none of this home's {len(unlocked)} chat(s). Pointers of "
        "chats this home has not joined yet are among them if any came: they are deleted too, and not stored "
        "again when a carrier brings them back.",
        err=True,
    )
    if not yes and not click.confirm(f"Delete these {len(ids)} pointer(s) for good?", default=False):
        raise click.exceptions.Exit(1)
    count, size = app.clear_unclaimed(ids)
    click.echo(f"deleted {count} pointer(s) no chat of this home claims ({_size(size)})")


@click.command()
@click.argument("file")
@flag("--replace", "Replace the file if it exists.")
@PHRASE_FD
@click.pass_context
@one_line_errors
def export(ctx: click.Context, file: str, replace: bool, phrase_fd: int | None) -> None:
    """Write this home's store to a file: pointers, chats (verifiers only), cursors. It holds
    nothing secret, and chats, members and keys are sealed under the master phrase
    (docs/EXPORT.md). An existing file is kept unless --replace is given.

    FILE: the file to write (0600); '-' writes to standard output."""
    import sys

    with unlocked_app(ctx, phrase_fd) as app:
        if file == "-":
            count = app.export_stream(sys.stdout.buffer)
            sys.stdout.buffer.flush()
            click.echo(f"exported {count} record(s) to standard output", err=True)
            return
        count = app.export_to(Path(file), replace=replace)
    click.echo(safe_text(f"exported {count} record(s) to {file}"))


@click.command("import")
@click.argument("file")
@PHRASE_FD
@click.pass_context
@one_line_errors
def import_(ctx: click.Context, file: str, phrase_fd: int | None) -> None:
    """Add an export to this home; what it has already stays (importing twice adds nothing).
    A home with no identity takes the export's. A file takes no trust: pins are not
    imported, and a rotation only with its signed notice (docs/EXPORT.md).

    FILE: a file from 'pbridge export'; '-' reads standard input."""
    import sys

    from pointerbridge.core import fingerprint

    with open_app(ctx, create=True) as app:
        done = app.import_from(sys.stdin.buffer if file == "-" else Path(file), lambda: ask_phrase(phrase_fd))
    click.echo("imported: " + ", ".join(f"{count} new {kind}" for kind, count in done.added.items()))
    if done.identity is not None:
        click.echo(
            safe_text(
                f"this home had no identity: it now has the export's, {done.identity.username}"
                f" (fingerprint {fingerprint(done.identity.public_key)}); that identity's master phrase unlocks it"
            )
        )
    left = [f"{count} {kind}" for kind, count in done.left_out.items() if count]
    if left:
        click.echo(
            "not taken from the file: " + ", ".join(left) + " (a file cannot vouch for a key: each name is"
            " pinned by its first message read here)"
        )


@click.command()
@flag("--log-json", "Log JSON lines (for a log collector).")
@flag(
    "--notify",
    "Raise a desktop notification (D-Bus, the desktop session's) when pointers arrive. It says 'new messages' "
    "and how many pointers came, never more: the daemon holds no key, so it knows no chat, sender or text, "
    "nor a chat's notification setting: it counts every chat's pointers, those of a chat set to off "
    "(pbridge chat notify CHAT --show off) too. Without a notification service it says so once and polls on.",
)
@click.pass_context
@one_line_errors
def daemon(ctx: click.Context, log_json: bool, notify: bool) -> None:
    """Poll every carrier on its schedule (config: poll_every or poll_cron) until SIGTERM.

    Needs the daemon extra: pip install 'pointerbridge[daemon]'. Without it, 'pbridge poll'
    from cron does the same. --notify needs the notify extra (pointerbridge[notify])."""
    from pointerbridge.app.daemon import run_daemon, setup_logging
    from pointerbridge.app.service import resolve_home

    setup_logging(as_json=log_json)
    run_daemon(resolve_home(ctx.find_root().obj), notify=notify)
