"""Help as ``pbridge ... --help`` shows it, and a command tree that loads only what it runs.

click's help wraps every paragraph to the terminal's width (source line breaks inside a
paragraph are not kept; click's ``\\b`` marker keeps a paragraph as written) and takes no
markup, so ``[daemon]`` in a help text is shown as written. What is added here: the width
is the terminal's (click stops at 80 columns, and its test runner pins 80), a line is never
broken inside an option's name (``--no-`` / ``strip``: click's wrapper breaks at hyphens
and offers no switch, so they are held as non-breaking hyphens while it wraps), and a
group lists each command with the whole first paragraph of its help, in the order the
commands were given, as the command's own ``--help`` starts.

:class:`LazyGroup` names its commands and the module that defines each: a command line
imports only the module of the command it runs (and ``--help`` of the group all of them,
to list them); click's documented pattern for lazy subcommands.
"""

from __future__ import annotations

import importlib
import shutil
from typing import Any

import click

__all__ = ["CONTEXT", "HelpContext", "HelpFormatter", "HelpGroup", "LazyGroup", "summary"]

# Inherited by every command under the root: defaults shown in help.
CONTEXT: dict[str, Any] = {"show_default": True}

_HYPHEN, _KEPT = "-", "\u2011"  # a hyphen, and one no line may break at


class HelpFormatter(click.HelpFormatter):
    """click's formatter, wrapping at the terminal's width and never at a hyphen."""

    def __init__(self) -> None:
        super().__init__(width=max(shutil.get_terminal_size().columns - 2, 50))

    def write_text(self, text: str) -> None:
        super().write_text(text.replace(_HYPHEN, _KEPT))

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        kept = [(first.replace(_HYPHEN, _KEPT), second.replace(_HYPHEN, _KEPT)) for first, second in rows]
        super().write_dl(kept, col_max, col_spacing)

    def getvalue(self) -> str:
        return super().getvalue().replace(_KEPT, _HYPHEN)


class HelpContext(click.Context):
    """The context of every pbridge command: its help is made by :class:`HelpFormatter`."""

    def make_formatter(self) -> click.HelpFormatter:
        return HelpFormatter()


def summary(command: click.Command) -> str:
    """The first paragraph of ``command``'s help on one line (what a group lists)."""
    text = command.short_help or (command.help or "").split("\n\n")[0]
    return " ".join(text.split())


class HelpGroup(click.Group):
    """A group listing its commands in the order given, each with its whole summary; it
    and every command under it make their help with :class:`HelpFormatter`."""

    context_class = HelpContext

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            command.context_class = HelpContext
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # A group named alone shows its help on stdout and exits 2 (click 8.2+ sends it to
        # stderr as a usage error; pbridge has always printed it on stdout).
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            click.echo(ctx.get_help())
            ctx.exit(2)
        return super().parse_args(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, summary(command)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class LazyGroup(HelpGroup):
    """A group whose commands are imported when one is run or listed: ``lazy`` maps each
    name to ``module:attribute`` in this package."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy, *(name for name in self.commands if name not in self.lazy)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = self.lazy[cmd_name].partition(":")
        command = getattr(importlib.import_module(f"{__package__}.{module}"), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy[cmd_name]} is not a command")
        command.context_class = HelpContext
        return command
