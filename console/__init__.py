"""The interactive console: a Textual app over the same :class:`~pointerbridge.app.service.App`
as the command line.

Secrets (the master phrase, chat secrets) are typed into the app and kept in RAM for the
session; the store and the screen see what the command line would show, nothing more. The
console holds no logic of its own that the CLI lacks: every action is a call into ``App``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["run_console"]


def run_console(home: Path | None) -> int:
    """Open the console on ``home`` (None: the default home), run it until the user quits,
    and return its exit code (0, or the code of the error that ended it)."""
    from pointerbridge.core.config import Home

    from .app import ConsoleApp

    app = ConsoleApp(Home.resolve(home))
    app.run()
    return app.return_code or 0
