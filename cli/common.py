"""Pieces every pbridge command uses: stdin, secrets options, the home option."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pointerbridge.core import InvalidInputError, TooLargeError

__all__ = ["HomeOption", "PhraseFd", "SecretFd", "ShowPhraseFd", "ShowSecretFd", "WeakSecretOk", "stdin_text"]

_MAX_STDIN_BYTES = 64 * 1024 * 1024

SecretFd = Annotated[int | None, typer.Option("--secret-fd", help="Read the chat secret from this file descriptor.")]
PhraseFd = Annotated[int | None, typer.Option("--phrase-fd", help="Read the master phrase from this file descriptor.")]
WeakSecretOk = Annotated[
    bool,
    typer.Option(
        "--weak-secret-ok",
        help="Accept a new secret or phrase the strength estimate calls weak (under 60 "
        "bits): it then falls to a GPU attacker as the estimate says.",
    ),
]
ShowSecretFd = Annotated[
    int | None,
    typer.Option(
        "--show-secret-fd",
        help="Generate the new chat secret and write it to this file descriptor (for "
        "scripts: a pipe to whatever keeps or passes it on), instead of asking; it holds only if the "
        "command exits 0.",
    ),
]
ShowPhraseFd = Annotated[
    int | None,
    typer.Option(
        "--show-phrase-fd",
        help="Generate the new master phrase and write it to this file descriptor (for "
        "scripts: a pipe to whatever keeps it), instead of asking; it holds only if the command exits 0.",
    ),
]
HomeOption = Annotated[
    Path | None,
    # readable=False: a home this user may not read is reported by the home itself, one line
    # naming the path and the reason (exit 8), not as a usage error.
    typer.Option(
        "--home", envvar="PBRIDGE_HOME", help="Folder with config.toml and the store.", show_envvar=True, readable=False
    ),
]


def stdin_text() -> str:
    """All of standard input as text (at most 64 MiB)."""
    data = sys.stdin.buffer.read(_MAX_STDIN_BYTES + 1)
    if len(data) > _MAX_STDIN_BYTES:
        raise TooLargeError(f"standard input is larger than {_MAX_STDIN_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError("standard input is not UTF-8 text") from None
