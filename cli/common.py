"""Pieces every pbridge command uses: stdin, the secret options, the home option.

Each option is a click decorator, applied to every command that takes it (a decorator
makes a new parameter each time it is applied)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pointerbridge.core import InvalidInputError, TooLargeError

__all__ = [
    "HOME_OPTION",
    "JSON_OPTION",
    "PHRASE_FD",
    "SECRET_FD",
    "SHOW_PHRASE_FD",
    "SHOW_SECRET_FD",
    "WEAK_SECRET_OK",
    "Decorator",
    "flag",
    "stdin_text",
]

_MAX_STDIN_BYTES = 64 * 1024 * 1024


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def flag(name: str, help: str, dest: str | None = None) -> Decorator:
    """An on/off option ``name`` (off by default), passed as ``dest``."""
    return click.option(name, *([dest] if dest else []), is_flag=True, default=False, help=help)


SECRET_FD = click.option(
    "--secret-fd", "secret_fd", type=int, default=None, help="Read the chat secret from this file descriptor."
)
PHRASE_FD = click.option(
    "--phrase-fd", "phrase_fd", type=int, default=None, help="Read the master phrase from this file descriptor."
)
WEAK_SECRET_OK = flag(
    "--weak-secret-ok",
    "Accept a new secret or phrase the strength estimate calls weak (under 60 "
    "bits): it then falls to a GPU attacker as the estimate says.",
)
SHOW_SECRET_FD = click.option(
    "--show-secret-fd",
    type=int,
    default=None,
    help="Generate the new chat secret and write it to this file descriptor (for "
    "scripts: a pipe to whatever keeps or passes it on), instead of asking; it holds only if the "
    "command exits 0.",
)
SHOW_PHRASE_FD = click.option(
    "--show-phrase-fd",
    type=int,
    default=None,
    help="Generate the new master phrase and write it to this file descriptor (for "
    "scripts: a pipe to whatever keeps it), instead of asking; it holds only if the command exits 0.",
)
JSON_OPTION = flag("--json", "Print JSON.", "as_json")
# readable=False: a home this user may not read is reported by the home itself, one line
# naming the path and the reason (exit 8), not as a usage error.
HOME_OPTION = click.option(
    "--home",
    envvar="PBRIDGE_HOME",
    type=click.Path(path_type=Path, readable=False),
    default=None,
    show_envvar=True,
    help="Folder with config.toml and the store.",
)


def stdin_text() -> str:
    """All of standard input as text (at most 64 MiB)."""
    data = sys.stdin.buffer.read(_MAX_STDIN_BYTES + 1)
    if len(data) > _MAX_STDIN_BYTES:
        raise TooLargeError(f"standard input is larger than {_MAX_STDIN_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError("standard input is not UTF-8 text") from None
