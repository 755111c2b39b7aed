"""What the local commands share: opening the home, asking for secrets and new ones,
printing JSON, unlocking a chat, and posting what was just queued."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # imported where used, so each command loads only what it needs
    from pointerbridge.app.service import App, UnlockedChat

from .secrets import new_secret, read_secret

__all__ = [
    "ask_phrase",
    "ask_secret",
    "emit",
    "new_chat_secret",
    "new_master_phrase",
    "open_app",
    "post_now",
    "post_to",
    "unlock",
    "unlocked_app",
]


def open_app(ctx: click.Context, *, create: bool = False) -> App:
    """The home of ``--home``; one not made by ``init`` yet is refused unless ``create``."""
    from pointerbridge.app.service import App

    return App.at(ctx.find_root().obj, create=create)


def unlocked_app(ctx: click.Context, phrase_fd: int | None) -> App:
    """The home of ``--home`` with its identity unlocked by the master phrase (from
    ``phrase_fd``, else PBRIDGE_MASTER_PHRASE, else asked): the chat list is sealed under
    it (docs/AT-REST.md), so every command that names a chat needs it."""
    app = open_app(ctx)
    try:
        app.unlock_identity(ask_phrase(phrase_fd))
    except BaseException:
        app.close()
        raise
    return app


def emit(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=None))


def ask_phrase(fd: int | None, *, confirm: bool = False) -> str:
    return read_secret("Master phrase", "PBRIDGE_MASTER_PHRASE", fd, confirm=confirm)


def ask_secret(fd: int | None, *, confirm: bool = False) -> str:
    return read_secret("Chat secret", "PBRIDGE_CHAT_SECRET", fd, confirm=confirm)


_CHAT_ADVICE = (
    "Tell it to the members in person or on another channel (never with the invite); it is "
    "not stored anywhere. Clear this screen once it is noted."
)

_PHRASE_ADVICE = (
    "Write it down and keep it safe: your identity is derived from it, and nothing can recover it. "
    "Clear this screen once it is noted."
)


def new_chat_secret(
    prompt: str, env_var: str, fds: tuple[int | None, int | None], allow_weak: bool, words: tuple[str, ...]
) -> str:
    """A new chat secret; ``fds``: the one to read it from, the one to write a generated one to."""
    from pointerbridge.app.secret_policy import generate_chat_secret

    return _new(prompt, env_var, fds, allow_weak, words, generate_chat_secret, _CHAT_ADVICE)


def new_master_phrase(
    prompt: str, env_var: str, fds: tuple[int | None, int | None], allow_weak: bool, words: tuple[str, ...]
) -> str:
    """A new master phrase; ``fds``: the one to read it from, the one to write a generated one to."""
    from pointerbridge.app.secret_policy import generate_master_phrase

    return _new(prompt, env_var, fds, allow_weak, words, generate_master_phrase, _PHRASE_ADVICE)


def _new(
    prompt: str,
    env_var: str,
    fds: tuple[int | None, int | None],
    allow_weak: bool,
    words: tuple[str, ...],
    generate: Callable[[], str],
    advice: str,
) -> str:
    return new_secret(
        prompt,
        env_var,
        fds[0],
        generate=generate,
        advice=advice,
        allow_weak=allow_weak,
        user_inputs=words,
        show_fd=fds[1],
    )


def unlock(app: App, chat: str, secret_fd: int | None) -> UnlockedChat:
    app.chat_row(chat)  # a missing chat is reported before a secret is asked for
    return app.unlock_chat(chat, ask_secret(secret_fd))


def post_now(app: App, unlocked: UnlockedChat, line: str, queue: bool) -> None:
    """Post what was just queued (unless --queue) and print ``line`` with the outcome."""
    post_to(app, unlocked.row.carriers, line, queue)


def post_to(app: App, carriers: list[str], line: str, queue: bool) -> None:
    """Post what waits for ``carriers`` (unless --queue) and print ``line`` with the outcome."""
    if not queue:
        from pointerbridge.app.service import PollBusyError

        try:
            summary = app.poll(carriers, fetch=False)
        except PollBusyError:
            click.echo(f"{line}; a poll is running and will post them (or the next poll will)")
            return
        line += f"; posted {sum(summary.posted.values())}"
        for name, error in summary.errors.items():
            line += f"; {name}: {error} (kept in the outbox)"
    click.echo(line)
