"""Files in a chat: ``pbridge send CHAT --file PATH`` (its body, :func:`send_file`) and
``pbridge save CHAT MESSAGE-ID [DEST]``. Presentation only: ``app/attachments.py`` does
the work. A progress bar on stderr for a large file when stderr is a terminal (click's),
nothing in a pipe or with ``--json``."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from .common import JSON_OPTION, PHRASE_FD, SECRET_FD, flag
from .context import emit, post_now, unlock, unlocked_app
from .errors import one_line_errors
from .output import safe_text

if TYPE_CHECKING:
    from pointerbridge.app.service import App, UnlockedChat
    from pointerbridge.core.keys import Identity

__all__ = ["save", "send_file", "stop_on_signals"]

LARGE = 1 << 20
"""Files from this size on get a progress bar (smaller ones are done before it would show)."""


@contextmanager
def progress_bar(label: str, size: int, quiet: bool = False) -> Iterator[Callable[[int, int], None] | None]:
    """A callback drawing click's progress bar on stderr for a file of ``size`` bytes, or
    None: a small file, ``quiet`` (``--json``), or stderr not a terminal."""
    if quiet or size < LARGE or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=max(size, 1), label=label, file=sys.stderr, show_eta=True) as bar:

        def update(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        yield update


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``SystemExit(128 + signal)`` inside (as app/daemon.py
    stops on them), so that a file half-written beside DEST, or a temporary blob in the
    home, is removed on the way out rather than left by the signal's default death."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def send_file(app: App, chat: UnlockedChat, sender: Identity, path: Path, caption: str, queue: bool) -> None:
    """``pbridge send CHAT --file PATH``: put the file on the chat's carriers that keep
    files, seal its reference into the outbox and post it now (unless ``queue``)."""
    from pointerbridge.app.attachments import send_attachment

    if caption:
        click.echo(
            "note: a caption given on the command line is visible to other users of this machine "
            "and kept in shell history",
            err=True,
        )
    skipped: list[str] = []
    with stop_on_signals(), progress_bar(f"encrypting and putting {path.name}", path.stat().st_size) as progress:
        send_attachment(
            app,
            chat,
            sender,
            path,
            caption=caption,
            progress=progress,
            skipped=lambda c, why: skipped.append(f"{c!r}: {why}"),
        )
    for line in skipped:
        click.echo(f"note: the file was not put on carrier {line}", err=True)
    post_now(app, chat, f"queued {path.name} for {', '.join(chat.row.carriers)}", queue)


@click.command()
@click.argument("chat")
@click.argument("message_id", metavar="MESSAGE-ID")
@click.argument("dest", type=click.Path(path_type=Path), default=".")
@flag("--force", "Replace DEST if it exists.")
@JSON_OPTION
@SECRET_FD
@PHRASE_FD
@click.pass_context
@one_line_errors
def save(
    ctx: click.Context,
    chat: str,
    message_id: str,
    dest: Path,
    force: bool,
    as_json: bool,
    secret_fd: int | None,
    phrase_fd: int | None,
) -> None:
    """Save the file a message holds: fetch it from a carrier, check it, decrypt it.

    MESSAGE-ID: the message's id or a unique start of it ('pbridge read' shows them).
    DEST: a file, or a folder to save it in under its own name (default: here). An
    existing file is never replaced without --force; nothing is written unless the whole
    file checks."""
    from pointerbridge.app.attachments import attachment_of, save_attachment

    with unlocked_app(ctx, phrase_fd) as app:
        unlocked = unlock(app, chat, secret_fd)
        attachment = attachment_of(app, unlocked, message_id)
        label = f"fetching {safe_text(attachment.name[:40])}"
        with stop_on_signals(), progress_bar(label, attachment.size, as_json) as progress:
            saved = save_attachment(app, unlocked, attachment, dest, force=force, progress=progress)
    if as_json:
        emit(
            {"path": str(saved), "name": attachment.name, "size": attachment.size, "media_type": attachment.media_type}
        )
    else:
        click.echo(f"saved {safe_text(str(saved))} ({attachment.size:,} bytes, {safe_text(attachment.media_type)})")
