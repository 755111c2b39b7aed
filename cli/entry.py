"""The ``pbridge`` console script's entry point, which runs the cron line without click.

cron runs ``pbridge [--home DIR] poll [--json] [--log-json]`` every minute; on an idle carrier the
work is one ``stat``, and importing click and building the root command would cost more
than the poll. So the entry point recognises exactly that line and runs it here; every
other command line (``--help`` included) goes to the click command tree in ``main``
(which imports only the module of the command run), and a bare ``pbridge`` on a
terminal opens the console.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import NamedTuple

from pointerbridge.core import PointerBridgeError

from .errors import EXIT_INTERNAL, exit_code
from .output import progress, safe_text

__all__ = ["CronLine", "cron_line", "entry", "run_poll"]


class CronLine(NamedTuple):
    """What the cron line asks: the home (None: the default), whether to print JSON, and
    whether to log the daemon's JSON lines (on stderr) instead of the human summary."""

    home: Path | None
    as_json: bool
    log_json: bool = False


def cron_line(args: list[str]) -> CronLine | None:
    """The cron line ``args`` are, if they are exactly ``[--home DIR] poll`` and at most once
    each ``--json`` and ``--log-json``, else None."""
    home: Path | None = None
    rest = list(args)
    if rest[:1] == ["--home"] and len(rest) >= 2:
        home, rest = Path(rest[1]), rest[2:]
    elif rest and rest[0].startswith("--home="):
        home, rest = Path(rest[0].removeprefix("--home=")), rest[1:]
    flags = rest[1:]
    if rest[:1] != ["poll"] or len(set(flags)) != len(flags) or not set(flags) <= {"--json", "--log-json"}:
        return None
    return CronLine(home, as_json="--json" in flags, log_json="--log-json" in flags)


def run_poll(home: Path | None, as_json: bool, log_json: bool = False) -> int:
    """One poll of a home, printed; return the exit code (expected failures print one line).
    ``log_json``: stderr gets the JSON lines the daemon logs for a poll (one per carrier,
    its notes, a failure) and stdout no human summary."""
    from pointerbridge.app.errors import ConfigurationError, RetryableError
    from pointerbridge.app.poll import Poller  # the pipeline up to polling: reading is not loaded

    if log_json:
        from pointerbridge.app.logs import log_to_stderr

        log_to_stderr(as_json=True, quiet=None)  # no bridge loaded just to name its loggers
    try:
        with Poller.at(home, create=False) as app, progress("storing pointers") as report:
            summary = app.poll(progress=report)
            carriers = list(app.carriers)
    except PointerBridgeError as exc:
        _failed(exc, log_json)
        return exit_code(exc)
    if log_json:
        from pointerbridge.app.logs import log_poll

        for name in carriers:
            log_poll(name, summary)
    if as_json:
        data = {
            "posted": summary.posted,
            "received": summary.received,
            "known": summary.known,
            "skipped": summary.skipped,
            "errors": summary.errors,
            "notes": summary.notes,
            "live": summary.live,  # fetched by a live listener (the daemon's, a console's): only posted here
        }
        print(json.dumps(data, ensure_ascii=False))
    elif not log_json:
        for name in carriers:
            error = summary.errors.get(name)
            status = (
                error.removeprefix(f"carrier {name!r}: ")
                if error
                else f"posted {summary.posted.get(name, 0)}, received live by another session (the daemon?)"
                if name in summary.live
                else (
                    f"posted {summary.posted.get(name, 0)}, received {summary.received.get(name, 0)}, "
                    f"already known {summary.known.get(name, 0)}, skipped {summary.skipped.get(name, 0)}"
                )
            )
            print(f"{name}: {safe_text(status)}")
            for note in summary.notes.get(name, []):
                print(f"{name}: {safe_text(note)}", file=sys.stderr)
    if summary.to_fix:
        return ConfigurationError.exit_code
    return RetryableError.exit_code if summary.errors else 0


def _failed(exc: PointerBridgeError, log_json: bool) -> None:
    if not log_json:
        print(f"pbridge: {exc}", file=sys.stderr)
        return
    from pointerbridge.app.logs import log, loggable

    log.error("%s", loggable(str(exc)))


def _console_line(args: list[str]) -> bool:
    """Whether ``args`` name no command (``[--home DIR]``) and a person sits at a terminal."""
    rest = args[2:] if args[:1] == ["--home"] and len(args) >= 2 else args
    rest = rest[1:] if rest[:1] and rest[0].startswith("--home=") else rest
    return not rest and sys.stdin.isatty() and sys.stdout.isatty()


def entry() -> None:
    """The ``pbridge`` console script: a bare ``pbridge`` on a terminal opens the console."""
    args = sys.argv[1:]
    if _console_line(args):
        args = [*args, "console"]
    from pointerbridge.app.hardening import harden_process

    # Every command may hold a secret (a chat secret, a master phrase, or a carrier's token
    # that even the cron poll reads): none may reach a core dump.
    harden_process()
    # pydantic hands every value it validates (config.toml, when it is not plainly valid)
    # to any plugin an installed package registers: none here (and no scan
    # of every installed distribution for them: ~5 ms).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    cron = cron_line(args)
    if cron is None:
        from .main import main

        main(args)
        return
    try:
        code = run_poll(cron.home, cron.as_json, cron.log_json)
    except KeyboardInterrupt:  # as click's own path reports it
        print("Aborted!", file=sys.stderr)
        code = 1
    except Exception as exc:  # a bug, not bad input: say what, keep secrets out of it
        if os.environ.get("PBRIDGE_DEBUG") == "1":
            raise
        print(f"pbridge: internal error ({type(exc).__name__}); PBRIDGE_DEBUG=1 shows more", file=sys.stderr)
        code = EXIT_INTERNAL
    sys.exit(code)
