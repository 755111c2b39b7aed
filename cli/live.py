"""``pbridge live``: one chat, live in the terminal, with no home on disk (app/live.py)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click
from pointerbridge.core import InvalidInputError

from .common import PHRASE_FD, SECRET_FD, flag
from .context import ask_phrase, ask_secret
from .errors import one_line_errors
from .output import messages, safe_text
from .secrets import SecretUnavailableError, read_secret, tty_available

if TYPE_CHECKING:
    from pointerbridge.app.live import LiveChat
    from pointerbridge.app.service import PollSummary, Shown

__all__ = ["live"]

_QUIT = "/quit"


@click.command()
@click.argument("chat")
@click.option(
    "--carrier-config",
    "carrier_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, readable=False),
    help="A TOML file of [carriers.NAME] tables, as in config.toml (credentials only as ..._env or "
    "..._file); read, never written.",
)
@click.option("--username", required=True, help="Your username, as 'init' was given it.")
@click.option(
    "--recovery-code",
    required=True,
    help="The recovery code 'init' showed ('none': an identity made without one).",
)
@flag(
    "--new",
    "Start the chat: its carriers hold nothing of it yet (else a secret that opens none of what is there "
    "is refused as wrong).",
)
@click.option(
    "--carrier-password-fd",
    "password_fds",
    multiple=True,
    metavar="NAME=FD",
    help="Read carrier NAME's password from file descriptor FD (a carrier whose carrier file names none, "
    "neither password_env nor password_file); else it is asked, hidden. Once per carrier.",
)
@SECRET_FD
@PHRASE_FD
@one_line_errors
def live(
    chat: str,
    carrier_file: Path,
    username: str,
    recovery_code: str,
    new: bool,
    password_fds: tuple[str, ...],
    secret_fd: int | None,
    phrase_fd: int | None,
) -> None:
    """Chat live with nothing on disk: no home, no history, no cache.

    CHAT: the chat's invite, or an open chat's name. The identity is derived again from the
    username, the master phrase and the recovery code; the chat's secret is typed (or
    PBRIDGE_CHAT_SECRET, --secret-fd). A carrier's password that the carrier file does not
    name (a CMD-CHAT room's) is typed too, or read from --carrier-password-fd. Type a line
    and Enter to send it; messages show as they land. /quit or Ctrl-D ends the session, and nothing of it remains."""
    from pointerbridge.app.hardening import harden_process
    from pointerbridge.app.live import LiveChat
    from pointerbridge.core import RecoveryCode

    harden_process()  # the entry point did already; a session that holds keys makes sure
    unsalted = recovery_code.strip().lower() == "none"
    code = None if unsalted else RecoveryCode.parse(recovery_code)  # checked before anything is asked
    fds = _password_fds(password_fds)
    with LiveChat.from_carrier_file(carrier_file) as session:
        session.unlock(username, ask_phrase(phrase_fd), code)
        opened = session.open(chat, ask_secret(secret_fd))
        name = safe_text(opened.row.name)
        session.log_in(_passwords(session.wanting_passwords(), fds))
        shown, summary = session.catch_up(new=new)
        out = _Screen()
        out.messages(shown)
        for carrier, error in summary.errors.items():
            out.note(f"{carrier}: {error}")
        out.note(
            f"live in chat {name!r} over {', '.join(opened.row.carriers)}, nothing kept on disk: type a line and "
            f"Enter to send, {_QUIT} or Ctrl-D to end"
        )
        session.start(out.messages, out.note)
        _talk(session, out)
        unsent = session.close()
    if unsent:
        out.note(f"{unsent} post(s) no carrier took are gone with the session: send them again next time")
    out.note("session ended: nothing of it was kept")


def _password_fds(given: tuple[str, ...]) -> dict[str, int]:
    """``--carrier-password-fd NAME=FD`` options, by carrier."""
    fds: dict[str, int] = {}
    for item in given:
        name, _, fd = item.partition("=")
        if not name or not fd.isdigit() or name in fds:
            raise click.BadParameter(f"{item!r}: give NAME=FD, once per carrier", param_hint="--carrier-password-fd")
        fds[name] = int(fd)
    return fds


def _passwords(wanting: list[str], fds: dict[str, int]) -> dict[str, str]:
    """The password of each carrier in ``wanting``: from its fd, else typed (hidden)."""
    stray = sorted(set(fds) - set(wanting))
    if stray:
        raise InvalidInputError(
            f"--carrier-password-fd {stray[0]}=...: carrier {stray[0]!r} takes no password here (it is not one of "
            "the chat's carriers, or its carrier file names its password)"
        )
    given = {}
    for name in wanting:
        if name in fds:
            given[name] = read_secret(f"Password for carrier {name!r}", None, fds[name])
        elif not tty_available():
            raise SecretUnavailableError(
                f"no terminal to ask for carrier {name!r}'s password: give --carrier-password-fd {name}=FD, or "
                "name it in the carrier file (password_env or password_file)"
            )
        else:
            given[name] = read_secret(f"Password for carrier {name!r}", None, None)
    return given


class _Screen:
    """The terminal, shared by the watcher thread (messages as they land) and this one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def messages(self, shown: list[Shown]) -> None:
        with self._lock:
            messages(shown)
            sys.stdout.flush()

    def note(self, text: str) -> None:
        with self._lock:
            click.echo(f"({safe_text(text)})", err=True)


def _talk(session: LiveChat, out: _Screen) -> None:
    """Read lines until /quit or end of input; send each one."""
    while True:
        try:
            line = input()
        except EOFError:
            return
        line = line.rstrip("\r")
        if line.strip() == _QUIT:
            return
        if not line.strip():
            continue
        if line.startswith("/") and not line.startswith("//"):
            out.note(f"{line.split()[0]}: no such command ({_QUIT} ends; //text sends /text)")
            continue
        _said(session.send(line.removeprefix("/")), out)


def _said(summary: PollSummary | None, out: _Screen) -> None:
    """Say what did not go out (what did shows as the message itself)."""
    if summary is None:
        out.note("queued: the poll running now posts it")
        return
    for carrier, error in summary.errors.items():
        out.note(f"{carrier}: {error} (kept in the outbox: posted again soon)")
