"""The interactive console: a Textual app over the same :class:`~pointerbridge.app.service.App`
as the command line.

Secrets (the master phrase, chat secrets) are typed into the app and kept in RAM for the
session; the store and the screen see what the command line would show, nothing more. The
console holds no logic of its own that the CLI lacks: every action is a call into ``App``.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

__all__ = ["quiet_textual", "run_console"]

# Textual's debugging aids write every key pressed (a typed secret) and every message
# (decrypted bodies) to a log file, a keys.log in the working folder, or a devtools socket.
_TEXTUAL_DEBUG = (
    "TEXTUAL",
    "TEXTUAL_LOG",
    "TEXTUAL_DEBUG",
    "TEXTUAL_DEVTOOLS_HOST",
    "TEXTUAL_DEVTOOLS_PORT",
    "TEXTUAL_DEVTOOLS_KEY",
)


def quiet_textual(environ: MutableMapping[str, str]) -> list[str]:
    """Remove Textual's logging and devtools switches from ``environ`` (unless
    ``PBRIDGE_DEBUG=1``); return the names removed. Textual reads them on import."""
    if environ.get("PBRIDGE_DEBUG") == "1":
        return []
    found = [name for name in environ if name in _TEXTUAL_DEBUG or name.startswith("TEXTUAL_DEVTOOLS")]
    for name in found:
        del environ[name]
    return found


def run_console(home: Path | None, *, notify: bool = False) -> int:
    """Open the console on ``home`` (None: the default home), run it until the user quits,
    and return its exit code (0, or the code of the error that ended it). ``notify``: raise
    desktop notifications of new messages."""
    from pointerbridge.app.service import resolve_home

    quiet_textual(os.environ)  # before Textual is imported
    from .tui import ConsoleApp

    app = ConsoleApp(resolve_home(home), notify=notify)
    app.run()
    return app.return_code or 0
