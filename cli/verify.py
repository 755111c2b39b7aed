"""``pbridge chat members|verify|unverify``: a chat's members, and their keys checked in person.

``verify`` shows the safety code of a member's key and this user's (docs/SPEC.md §12) and
its QR code, then asks whether the member's own screen shows the same. Nothing is marked
verified without that answer from a person at a terminal; where there is none (a script,
a pipe), only ``--confirm-code CODE``, the code compared, marks it, and only if it is the
code of the key the name holds then.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from .common import JSON_OPTION, PHRASE_FD
from .context import emit, unlocked_app
from .errors import one_line_errors

if TYPE_CHECKING:
    from pointerbridge.app.service import SafetyCheck

__all__ = ["chat_members", "chat_unverify", "chat_verify"]


@click.command("members")
@click.argument("name")
@JSON_OPTION
@PHRASE_FD
@click.pass_context
@one_line_errors
def chat_members(ctx: click.Context, name: str, as_json: bool, phrase_fd: int | None) -> None:
    """The chat's members as its last full read judged them: each name, its key's
    fingerprint, and its mark (✔ verified in person, ✓ pinned on first use, or frozen by a
    key conflict)."""
    from pointerbridge.app.display import TRUST_MARKS, shown_name

    with unlocked_app(ctx, phrase_fd) as app:
        members = app.members(name)
    if as_json:
        emit(
            [
                {
                    "username": m.username,
                    "fingerprint": m.fingerprint,
                    "public_key": m.public_key.hex(),
                    "trust": str(m.trust),
                    "you": m.you,
                    "verified_key_replaced": m.replaced,
                }
                for m in members
            ]
        )
        return
    if not members:
        click.echo("no member pinned yet: read the chat first", err=True)
    for m in members:
        mark = "(you)" if m.you else " ".join(TRUST_MARKS[m.trust][0].split())
        note = "  (the key you verified was replaced by a signed rotation: verify again)" if m.replaced else ""
        click.echo(f"{shown_name(m.username)}  {mark}  key {m.fingerprint}{note}")


@click.command("verify")
@click.argument("name")
@click.argument("username")
@click.option("--qr/--no-qr", default=None, help="Show the code as a QR code too (default: on a terminal).")
@click.option(
    "--confirm-code",
    metavar="CODE",
    help="Mark the key verified without asking, if CODE is its safety code now: the code you and USERNAME "
    "compared in person (for use without a terminal; without it and without a terminal, nothing is marked).",
)
@PHRASE_FD
@click.pass_context
@one_line_errors
def chat_verify(
    ctx: click.Context, name: str, username: str, qr: bool | None, confirm_code: str | None, phrase_fd: int | None
) -> None:
    """Show the safety code of USERNAME's key and yours in chat NAME, to compare in
    person (each of you runs this; the codes match only if each holds the other's real
    key), and mark their key verified when you say they match: its messages then show ✔
    verified, and another key under their name is the loudest warning there is."""
    from pointerbridge.app.errors import CodesDifferError, UnconfirmedVerifyError

    with unlocked_app(ctx, phrase_fd) as app:
        check = app.safety_check(name, username)
        _show(check, qr if qr is not None else sys.stdout.isatty())
        if check.verified:
            click.echo(f"{_who(check)}'s key is verified already (pbridge chat unverify takes it back)", err=True)
            return
        if confirm_code is None:
            if not sys.stdin.isatty():
                raise UnconfirmedVerifyError(
                    "not marked verified: no terminal to ask whether the codes match (compare them in person, "
                    "then give the code: --confirm-code CODE)"
                )
            if not click.confirm(f"Does {_who(check)}'s code match?", default=False, err=True):
                raise CodesDifferError(
                    "not marked verified: the codes differ, so one of you does not hold the other's real key "
                    "(someone may be between you): check in person again"
                )
            confirm_code = check.digits
        done = app.mark_verified(name, username, confirm_code)
    click.echo(f"{_who(done)} in chat {done.chat!r}: key {done.fingerprint} verified ✔", err=True)


def _who(check: SafetyCheck) -> str:
    from pointerbridge.app.display import shown_name

    return shown_name(check.username)


def _show(check: SafetyCheck, qr: bool) -> None:
    groups = check.code.split()
    click.echo(f"Safety code of chat {check.chat!r} for you and {_who(check)} (their key {check.fingerprint}):")
    for row in range(0, len(groups), 4):
        click.echo("    " + "  ".join(groups[row : row + 4]))
    if qr:
        import segno

        segno.make(check.digits, error="m").terminal(compact=True)


@click.command("unverify")
@click.argument("name")
@click.argument("username")
@PHRASE_FD
@click.pass_context
@one_line_errors
def chat_unverify(ctx: click.Context, name: str, username: str, phrase_fd: int | None) -> None:
    """Take back a key verified in person: its messages show ✓ again (pinned on first use)."""
    from pointerbridge.app.display import shown_name

    with unlocked_app(ctx, phrase_fd) as app:
        taken = app.unverify(name, username)
        chat = app.chat_row(name).name
    who = shown_name(username)
    click.echo(f"{who} in chat {chat!r}: " + ("no longer verified" if taken else "was not verified"))
