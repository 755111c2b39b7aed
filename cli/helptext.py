"""Help texts as ``pbridge ... --help`` shows them: paragraphs that wrap at any width.

Docstrings keep their source line breaks (a line of code is at most 120 characters), but
Typer's Rich help keeps a single line break where it finds one: in the command lists and
in every paragraph after the first, so a text broken for the source showed half-empty
lines on a wide terminal and ragged ones on a narrow one. Here each command's help, and
each option's, is made one line per paragraph (a blank line still separates paragraphs,
and click's ``\\b`` marker still keeps a paragraph as written), and Rich markup is
escaped, so ``[daemon]`` in a help text is shown, not taken for a style. This is done once,
on the built command tree (:class:`HelpGroup`), so no docstring has to be written for it.
"""

from __future__ import annotations

import inspect
from typing import Any

from typer.core import HAS_RICH, TyperGroup

__all__ = ["HelpGroup", "paragraphs"]

_KEEP = "\b"  # click's marker: the paragraph that follows it keeps its line breaks


def paragraphs(text: str | None, escape_markup: bool = HAS_RICH) -> str | None:
    """``text`` with each paragraph on one line (``\\b`` paragraphs kept as written) and,
    when Rich renders help, its markup escaped."""
    if text is None:
        return None
    kept = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        if not paragraph.startswith(_KEEP):
            paragraph = " ".join(line.strip() for line in paragraph.splitlines())
        kept.append(paragraph)
    joined = "\n\n".join(kept)
    if escape_markup:
        from rich.markup import escape

        joined = escape(joined)
    return joined


def _tidy(command: Any) -> None:
    command.help = paragraphs(command.help)
    command.short_help = paragraphs(command.short_help)
    for param in command.params:
        if getattr(param, "help", None):
            param.help = paragraphs(param.help)
    for sub in getattr(command, "commands", {}).values():
        _tidy(sub)


class HelpGroup(TyperGroup):
    """The root command: its help and every command's under it is tidied once, when the
    tree is built (:func:`paragraphs`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _tidy(self)
