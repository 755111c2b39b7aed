"""The ``pbridge`` command line.

Every expected failure prints one line on stderr and exits with the code its error class
carries (``exit_code``, listed by ``pbridge --help``); nothing secret is ever taken from argv.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING

import click
from pointerbridge.core import (
    ClmWrongChatError,
    InvalidInputError,
)

from .common import HOME_OPTION, SECRET_FD, flag, stdin_text
from .errors import EXIT_INTERNAL, exit_codes, one_line_errors
from .helptext import CONTEXT, HelpGroup, LazyGroup
from .secrets import read_secret

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["main", "pbridge"]


def exit_codes_line() -> str:
    """The help's last paragraph: every exit code and what it means."""
    codes = ", ".join(f"{code} {name.removesuffix('Error')}" for name, code in exit_codes().items())
    return f"Exit codes: 0 ok, 1 declined or interrupted, 2 usage, {codes}, {EXIT_INTERNAL} internal error."


# Every command, in the order help lists them, and the module:attribute that defines it:
# a command line imports only the module of the command it runs.
_COMMANDS = {
    "init": "identity:init",
    "whoami": "identity:whoami",
    "send": "messages:send",
    "poll": "messages:poll",
    "read": "messages:read",
    "save": "files:save",
    "receive": "messages:receive",
    "edit": "changes:edit",
    "delete": "changes:delete",
    "status": "maintenance:status",
    "doctor": "maintenance:doctor",
    "export": "maintenance:export",
    "daemon": "maintenance:daemon",
    "import": "maintenance:import_",
    "trash": "messages:trash",
    "restore": "messages:restore",
    "purge": "messages:purge",
    "demo": "demo:demo",
    "console": "main:console",
    "live": "live:live",
    "web": "web:web",
    "gateway": "gateway:gateway_app",
    "bench": "main:bench",
    "clm": "main:clm_app",
    "chat": "chats:chat_app",
    "identity": "identity:identity_app",
    "carrier": "carriers:carrier_app",
    "junk": "maintenance:junk_app",
}


class _Root(LazyGroup):
    """The root command, whose help ends with the exit codes: read off the error classes
    when help is shown, as that loads the app, which no other command line should pay for."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_paragraph()
        formatter.write_text(exit_codes_line())


def _show_version(ctx: click.Context, _param: click.Parameter, given: bool) -> None:
    if given and not ctx.resilient_parsing:
        from importlib.metadata import version

        click.echo(f"pbridge {version('pointerbridge')}")
        ctx.exit()


@click.group(
    cls=_Root,
    lazy=_COMMANDS,
    help="Pointer Bridge: private chat over the chat systems you already use.",
    no_args_is_help=True,
    context_settings=CONTEXT,
)
@HOME_OPTION
@click.option(
    "--version",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_show_version,
    help="Show the version and exit.",
)
@click.pass_context
def pbridge(ctx: click.Context, home: Path | None) -> None:
    ctx.obj = home


@click.group(
    "clm", cls=HelpGroup, help="Decode and encode Chrono-Library Messenger (CLM) pointers.", no_args_is_help=True
)
def clm_app() -> None:
    pass


_STRIP = click.option(
    "--strip/--no-strip",
    default=True,
    help="Strip spaces and line breaks around the secret, the names and the message, as CLM "
    "does with everything typed; --no-strip keeps them (a piped message loses only its final "
    "line break).",
)
_DECODE_STRIP = click.option(
    "--strip/--no-strip",
    default=True,
    help="Strip spaces and line breaks around the secret and the chat name, as CLM does with "
    "everything typed; --no-strip keeps them.",
)


def _stripped(strip: bool, **fields: str) -> dict[str, str]:
    """``fields`` with surrounding whitespace removed, as CLM's ``input().strip()`` does, and
    a note on stderr naming what changed (never a value: one of them is a secret)."""
    if not strip:
        return fields
    out = {what: text.strip() for what, text in fields.items()}
    changed = [f"the {what}" for what in fields if out[what] != fields[what]]
    if changed:
        listed = " and ".join([", ".join(changed[:-1]), changed[-1]] if len(changed) > 1 else changed)
        click.echo(
            f"note: removed spaces or line breaks around {listed}, as CLM does with everything typed "
            "(--no-strip keeps them)",
            err=True,
        )
    for what, text in out.items():
        if not text and what != "message":
            raise InvalidInputError(f"the {what} is empty once stripped")
    return out


def _line_end_removed(text: str) -> str:
    """``text`` without its final line break (``\\n`` or ``\\r\\n``, as a pipe or a file ends it)."""
    return text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text


@clm_app.command("decode")
@click.option("--chat", help="The chat's name (CLM 2.0.2).")
@flag("--json", "Print a JSON object.", "as_json")
@click.option("--legacy/--no-legacy", default=False, help="A {c,e,d} pointer of CLM <= 2.0.1.")
@click.option("--chat-id", help="Legacy: the chat id the pointer must carry.")
@click.option("--seed-suffix", help="Legacy: the chat's seed suffix.")
@_DECODE_STRIP
@SECRET_FD
@one_line_errors
def clm_decode(
    chat: str | None,
    as_json: bool,
    legacy: bool,
    chat_id: str | None,
    seed_suffix: str | None,
    strip: bool,
    secret_fd: int | None,
) -> None:
    """Read a CLM pointer from stdin; the secret comes from PBRIDGE_CHAT_SECRET, --secret-fd
    or a prompt.

    For --legacy the secret is CLM's master seed. CLM strips what is typed, so a secret
    with spaces around it is stripped too (a note says so) unless --no-strip.
    """
    from pointerbridge.core import clm as _clm

    pointer = stdin_text().strip()
    if legacy:
        if seed_suffix is None:
            raise InvalidInputError("--legacy needs --seed-suffix")
        seed = _stripped(strip, secret=read_secret("Master seed", "PBRIDGE_CHAT_SECRET", secret_fd))
        message = _clm.decode_legacy(pointer, seed["secret"], seed_suffix)
        if chat_id is not None and message.chat != chat_id:
            raise ClmWrongChatError(f"the pointer is for chat id {message.chat!r}, not {chat_id!r}")
    else:
        if chat is None:
            raise InvalidInputError("--chat is required")
        given = _stripped(strip, chat=chat, secret=read_secret("Chat secret", "PBRIDGE_CHAT_SECRET", secret_fd))
        message = _clm.decode(pointer, given["chat"], given["secret"])
    if as_json:
        fields = {"chat": message.chat, "username": message.username, "body": message.body}
        click.echo(json.dumps({**fields, "epoch": message.epoch}, ensure_ascii=False))
    else:
        click.echo(f"{message.username}: {message.body}")


@clm_app.command("encode")
@click.option("--username", required=True, help="The name to write into the pointer.")
@click.option("--chat", help="The chat's name (CLM 2.0.2).")
@click.option("--epoch", type=int, help="Unix seconds (default: now).")
@click.option("--legacy/--no-legacy", default=False, help="Write a {c,e,d} pointer of CLM <= 2.0.1.")
@click.option("--chat-id", help="Legacy: the chat id.")
@click.option("--seed-suffix", help="Legacy: the chat's seed suffix.")
@_STRIP
@SECRET_FD
@one_line_errors
def clm_encode(
    username: str,
    chat: str | None,
    epoch: int | None,
    legacy: bool,
    chat_id: str | None,
    seed_suffix: str | None,
    strip: bool,
    secret_fd: int | None,
) -> None:
    """Write the message on stdin as a CLM pointer (for peers still on CLM).

    As CLM does with what is typed, spaces and line breaks around the message, the names
    and the secret are stripped (a note says so) unless --no-strip. A message holding
    CLM's field separator |¶| is written with a warning: a CLM peer shows only what comes
    before it."""
    from pointerbridge.core import clm as _clm

    when = int(time.time()) if epoch is None else epoch
    if when < 0:
        raise InvalidInputError("--epoch is a non-negative number of seconds")
    if legacy and (chat_id is None or seed_suffix is None):
        raise InvalidInputError("--legacy needs --chat-id and --seed-suffix")
    if not legacy and chat is None:
        raise InvalidInputError("--chat is required")
    names = {"username": username} if legacy else {"username": username, "chat": chat or ""}
    if not legacy:  # before the secret is asked for
        _clm.check_names(*(text.strip() if strip else text for text in (names["chat"], username)))
    body = _line_end_removed(stdin_text())
    secret = read_secret("Master seed" if legacy else "Chat secret", "PBRIDGE_CHAT_SECRET", secret_fd)
    given = _stripped(strip, message=body, **names, secret=secret)
    if not legacy and _clm.clm_cuts(given["message"]):
        click.echo(
            f"warning: the message holds {_clm.SEPARATOR}, CLM's field separator: a CLM peer shows only "
            "what comes before it",
            err=True,
        )
    if legacy:
        assert chat_id is not None and seed_suffix is not None
        click.echo(_clm.encode_legacy(chat_id, given["username"], given["message"], given["secret"], seed_suffix, when))
    else:
        click.echo(_clm.encode(given["chat"], given["username"], given["message"], given["secret"], when))


@click.command()
@flag(
    "--notify",
    "Raise a desktop notification (D-Bus) when messages arrive: 'new messages' and how many, nothing else, "
    "unless a chat is set to say more (pbridge chat notify CHAT --show names|text|off, or its settings).",
)
@click.pass_context
@one_line_errors
def console(ctx: click.Context, notify: bool) -> None:
    """Open the interactive console (what a bare 'pbridge' on a terminal does)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InvalidInputError("the console needs a terminal; the other commands work from scripts")
    from pointerbridge.console import run_console

    code = run_console(ctx.find_root().obj, notify=notify)
    if code:
        raise click.exceptions.Exit(code)


@click.command()
@flag("--json", "Print the figures as JSON.", "as_json")
@click.option("--seconds", type=click.FloatRange(min=0.01), default=0.6, help="Seconds spent per figure.")
@one_line_errors
def bench(as_json: bool, seconds: float) -> None:
    """Measure the codec: pb1 vs its primitives, vs CLM, pointer sizes, routing cost.

    Takes about 100 times --seconds (a minute by default); each step is named on stderr as it starts."""
    from pointerbridge.app import benchmark as _benchmark

    result = _benchmark.run(seconds, progress=lambda line: click.echo(f"bench: {line}", err=True))
    click.echo(json.dumps(result, indent=2) if as_json else _benchmark.render(result))


def main(argv: list[str] | None = None) -> None:
    """Run the command line; unexpected errors print one line, not a traceback."""
    try:
        pbridge(args=argv, prog_name="pbridge")
    except Exception as exc:  # a bug, not bad input: say what, keep secrets out of it
        if os.environ.get("PBRIDGE_DEBUG") == "1":
            raise
        click.echo(f"pbridge: internal error ({type(exc).__name__}); PBRIDGE_DEBUG=1 shows more", err=True)
        sys.exit(EXIT_INTERNAL)
