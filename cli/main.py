"""The ``pbridge`` command line.

Every expected failure prints one line on stderr and exits with the code its error class
carries (``exit_code``, listed by ``pbridge --help``); nothing secret is ever taken from argv.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Annotated

import typer
from pointerbridge.core import (
    ClmWrongChatError,
    InvalidInputError,
)

from .common import HomeOption, SecretFd, stdin_text
from .demo import demo
from .errors import EXIT_INTERNAL, exit_codes, one_line_errors
from .helptext import HelpGroup
from .local import register
from .secrets import read_secret

__all__ = ["main", "pbridge"]


def exit_codes_line() -> str:
    """The help's last paragraph: every exit code and what it means."""
    codes = ", ".join(f"{code} {name.removesuffix('Error')}" for name, code in exit_codes().items())
    return f"Exit codes: 0 ok, 1 declined or interrupted, 2 usage, {codes}, {EXIT_INTERNAL} internal error."


class _Root(HelpGroup):
    """The root command, whose help ends with the exit codes: read off the error classes
    when help is shown, as that loads the app, which no other command line should pay for."""

    @property
    def epilog(self) -> str:
        return exit_codes_line()

    @epilog.setter
    def epilog(self, value: str | None) -> None:
        pass  # always computed


pbridge = typer.Typer(
    cls=_Root,
    help="Pointer Bridge: private chat over the chat systems you already use.",
    no_args_is_help=True,
    add_completion=False,
    # Rich tracebacks print local variables, which can hold secrets: never.
    pretty_exceptions_enable=False,
)
clm_app = typer.Typer(help="Decode and encode Chrono-Library Messenger (CLM) pointers.", no_args_is_help=True)
pbridge.add_typer(clm_app, name="clm")
register(pbridge)
pbridge.command()(one_line_errors(demo))


def _show_version(given: bool) -> None:
    if given:
        from importlib.metadata import version

        typer.echo(f"pbridge {version('pointerbridge')}")
        raise typer.Exit()


@pbridge.callback()
def _root(
    ctx: typer.Context,
    home: HomeOption = None,
    _version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_show_version, help="Show the version and exit."),
    ] = False,
) -> None:
    """Pointer Bridge: private chat over the chat systems you already use."""
    ctx.obj = home


@clm_app.command("decode")
@one_line_errors
def clm_decode(
    chat: Annotated[str | None, typer.Option(help="The chat's name (CLM 2.0.2).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
    legacy: Annotated[bool, typer.Option(help="A {c,e,d} pointer of CLM <= 2.0.1.")] = False,
    chat_id: Annotated[str | None, typer.Option(help="Legacy: the chat id the pointer must carry.")] = None,
    seed_suffix: Annotated[str | None, typer.Option(help="Legacy: the chat's seed suffix.")] = None,
    secret_fd: SecretFd = None,
) -> None:
    """Read a CLM pointer from stdin; the secret comes from PBRIDGE_CHAT_SECRET or a prompt.

    For --legacy the secret is CLM's master seed.
    """
    from pointerbridge.core import clm as _clm

    pointer = stdin_text().strip()
    if legacy:
        if seed_suffix is None:
            raise InvalidInputError("--legacy needs --seed-suffix")
        seed = read_secret("Master seed", "PBRIDGE_CHAT_SECRET", secret_fd)
        message = _clm.decode_legacy(pointer, seed, seed_suffix)
        if chat_id is not None and message.chat != chat_id:
            raise ClmWrongChatError(f"the pointer is for chat id {message.chat!r}, not {chat_id!r}")
    else:
        if chat is None:
            raise InvalidInputError("--chat is required")
        message = _clm.decode(pointer, chat, read_secret("Chat secret", "PBRIDGE_CHAT_SECRET", secret_fd))
    if as_json:
        fields = {"chat": message.chat, "username": message.username, "body": message.body}
        typer.echo(json.dumps({**fields, "epoch": message.epoch}, ensure_ascii=False))
    else:
        typer.echo(f"{message.username}: {message.body}")


@clm_app.command("encode")
@one_line_errors
def clm_encode(
    username: Annotated[str, typer.Option(help="The name to write into the pointer.")],
    chat: Annotated[str | None, typer.Option(help="The chat's name (CLM 2.0.2).")] = None,
    epoch: Annotated[int | None, typer.Option(help="Unix seconds (default: now).")] = None,
    legacy: Annotated[bool, typer.Option(help="Write a {c,e,d} pointer of CLM <= 2.0.1.")] = False,
    chat_id: Annotated[str | None, typer.Option(help="Legacy: the chat id.")] = None,
    seed_suffix: Annotated[str | None, typer.Option(help="Legacy: the chat's seed suffix.")] = None,
    secret_fd: SecretFd = None,
) -> None:
    """Write the message on stdin as a CLM pointer (for peers still on CLM)."""
    from pointerbridge.core import clm as _clm

    body = stdin_text().removesuffix("\n")
    when = int(time.time()) if epoch is None else epoch
    if when < 0:
        raise InvalidInputError("--epoch is a non-negative number of seconds")
    if legacy:
        if chat_id is None or seed_suffix is None:
            raise InvalidInputError("--legacy needs --chat-id and --seed-suffix")
        seed = read_secret("Master seed", "PBRIDGE_CHAT_SECRET", secret_fd)
        typer.echo(_clm.encode_legacy(chat_id, username, body, seed, seed_suffix, when))
        return
    if chat is None:
        raise InvalidInputError("--chat is required")
    secret = read_secret("Chat secret", "PBRIDGE_CHAT_SECRET", secret_fd)
    typer.echo(_clm.encode(chat, username, body, secret, when))


@pbridge.command()
@one_line_errors
def console(ctx: typer.Context) -> None:
    """Open the interactive console (what a bare 'pbridge' on a terminal does)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InvalidInputError("the console needs a terminal; the other commands work from scripts")
    from pointerbridge.console import run_console

    code = run_console(ctx.find_root().obj)
    if code:
        raise typer.Exit(code)


@pbridge.command()
@one_line_errors
def bench(
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    seconds: Annotated[float, typer.Option(help="Seconds spent per figure.", min=0.01)] = 0.6,
) -> None:
    """Measure the codec: pb1 vs its primitives, vs CLM, pointer sizes, routing cost.

    Takes about 100 times --seconds (a minute by default); each step is named on stderr as it starts."""
    from pointerbridge.app import benchmark as _benchmark

    result = _benchmark.run(seconds, progress=lambda line: typer.echo(f"bench: {line}", err=True))
    typer.echo(json.dumps(result, indent=2) if as_json else _benchmark.render(result))


def main(argv: list[str] | None = None) -> None:
    """Run the command line; unexpected errors print one line, not a traceback."""
    try:
        pbridge(args=argv, prog_name="pbridge")
    except Exception as exc:  # a bug, not bad input: say what, keep secrets out of it
        if os.environ.get("PBRIDGE_DEBUG") == "1":
            raise
        typer.echo(f"pbridge: internal error ({type(exc).__name__}); PBRIDGE_DEBUG=1 shows more", err=True)
        sys.exit(EXIT_INTERNAL)
