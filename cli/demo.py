"""``pbridge demo``: the local app end to end, two users over a shared folder."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click
from pointerbridge.app.trust import Trust
from pointerbridge.core import InvalidInputError

from .errors import one_line_errors

if TYPE_CHECKING:
    from pointerbridge.app.service import App

__all__ = ["demo"]

_LONG = "A long one, split to fit a 4096-character carrier: " + "lorem ipsum " * 700


def _setup(root: Path, username: str, shared: Path, limit: int) -> App:
    from pointerbridge.app.service import App

    app = App.at(root / username)
    app.add_carrier("shared", "files", {"path": str(shared), "max_pointer_chars": limit})
    return app


def _show(reader: str, app: App, chat_name: str, secret: str) -> list[str]:
    shown, _ = app.read(app.unlock_chat(chat_name, secret))
    for item in shown:
        body = item.message.body
        text = body if len(body) < 80 else f"{body[:50]}... ({len(body)} chars)"
        mark = " !! KEY CHANGED !!" if item.trust == Trust.CHANGED else ""
        click.echo(f"  {reader} reads {item.message.username}{mark} [{item.message.fingerprint[:11]}]: {text}")
    return [item.message.body for item in shown]


@click.command()
@click.option(
    "--folder", type=click.Path(path_type=Path), default=None, help="Shared folder to use (default: a temporary one)."
)
@click.option(
    "--limit", type=click.IntRange(min=1000), default=4096, help="The folder's pointer size limit, in characters."
)
@one_line_errors
def demo(folder: Path | None, limit: int) -> None:
    """Two users, two homes, one shared folder: Alice sends, Bob polls and reads, and back.

    Exits 0 only if each read exactly what the other sent. The homes are temporary and
    the demo's secrets generated (never shown); nothing but pointers reaches the folder.
    """
    from pointerbridge.app.invite import make_invite
    from pointerbridge.app.secret_policy import generate_chat_secret, generate_master_phrase

    with tempfile.TemporaryDirectory(prefix="pbridge-demo-") as scratch:
        root = Path(scratch)
        shared = folder or root / "shared"
        shared.mkdir(mode=0o700, parents=True, exist_ok=True)
        if any(shared.iterdir()):
            raise InvalidInputError(f"{shared} is not empty: the demo needs a folder of its own")
        click.echo(f"homes in {root}, shared folder {shared}")
        click.echo("deriving identities (Argon2id, 512 MiB) and chat keys (64 MiB) ...")
        with _setup(root, "alice", shared, limit) as alice, _setup(root, "bob", shared, limit) as bob:
            me_a = alice.init("alice", generate_master_phrase())
            me_b = bob.init("bob", generate_master_phrase())
            secret = generate_chat_secret()  # as Alice would tell Bob in person
            chat_a = alice.create_chat("demo chat", secret, ["shared"])
            invite = make_invite(chat_a.row, alice.config)  # carries the chat's random salt, never its secret
            click.echo(f"alice created the chat; bob joins with its invite {invite[:28]}...")
            chat_b = bob.join_invite(invite, secret, {})
            sent_a = ["Hi Bob, this travelled as a pointer through a plain folder.", _LONG]
            for body in sent_a:
                alice.send(chat_a, me_a, body)
            summary = alice.poll(fetch=False)
            click.echo(f"alice posted {summary.posted['shared']} pointer(s)")
            summary = bob.poll()
            click.echo(f"bob polled: {summary.received['shared']} new pointer(s)")
            got_b = _show("bob", bob, "demo chat", secret)
            bob.send(chat_b, me_b, "Got it. The folder only ever saw letters and digits.")
            bob.poll(fetch=False)
            alice.poll()
            got_a = _show("alice", alice, "demo chat", secret)
            sample = sorted(shared.iterdir())[0].read_text(encoding="ascii")
            click.echo(f"what the folder holds: {sample[:60]}...")
        if got_b != sent_a or got_a[-1:] != ["Got it. The folder only ever saw letters and digits."]:
            click.echo("demo FAILED: what was read is not what was sent", err=True)
            raise click.exceptions.Exit(1)
        click.echo("demo ok: each side read exactly what the other sent")
