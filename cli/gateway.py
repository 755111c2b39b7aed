"""``pbridge gateway xmpp``: your own Jabber client as the front-end (gateway/xmpp.py).

Everything is unlocked here, in the terminal, before the gateway connects: the master
phrase and the secret of each chat to open, asked as every command asks them (a file
descriptor, the environment, or a hidden prompt), never through the XMPP stream."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from pointerbridge.core import InvalidInputError

from .common import PHRASE_FD, flag
from .context import ask_phrase, open_app
from .errors import one_line_errors
from .helptext import HelpGroup
from .output import safe_text
from .secrets import another_secret, read_secret

if TYPE_CHECKING:
    from pointerbridge.app.service import App
    from pointerbridge.app.session import Session
    from pointerbridge.gateway.settings import GatewaySettings

__all__ = ["gateway_app"]


@click.group("gateway", cls=HelpGroup, no_args_is_help=True)
def gateway_app() -> None:
    """Use another program's client as pbridge's front-end: xmpp, your own Jabber client."""


@gateway_app.command("xmpp")
@click.option(
    "--server",
    default="127.0.0.1:5347",
    show_default=True,
    metavar="HOST:PORT",
    help="The XMPP server's component port (XEP-0114): on this machine, as the component stream is not encrypted.",
)
@click.option(
    "--domain", required=True, help="The component's domain, as the server's config names it (pbridge.localhost)."
)
@click.option("--user", required=True, help="Your own JID on that server (alice@localhost): the only one served.")
@click.option(
    "--secret-file",
    type=click.Path(path_type=Path, dir_okay=False, readable=False),
    help="A file holding the component secret, readable by you only (chmod 600).",
)
@click.option("--secret-env", metavar="VAR", help="An environment variable holding the component secret.")
@click.option(
    "--chat",
    "chats",
    multiple=True,
    help="A chat to open (once per chat); default: every chat of the home, each secret asked in turn "
    "(an empty answer leaves that chat closed).",
)
@click.option(
    "--secret-fd",
    "secret_fds",
    type=int,
    multiple=True,
    help="Read a chat secret from this file descriptor: the first for the first --chat, and so on.",
)
@flag(
    "--remote-server-ok",
    "Connect to a server that is not on this machine: the component stream, with every message in clear, "
    "then crosses the network unencrypted.",
)
@PHRASE_FD
@click.pass_context
@one_line_errors
def xmpp(
    ctx: click.Context,
    server: str,
    domain: str,
    user: str,
    secret_file: Path | None,
    secret_env: str | None,
    chats: tuple[str, ...],
    secret_fds: tuple[int, ...],
    remote_server_ok: bool,
    phrase_fd: int | None,
) -> None:
    """Show your chats as contacts in your own Jabber client.

    pbridge runs as an external component of an XMPP server on this machine (Prosody:
    deploy/prosody/pbridge-gateway.cfg.lua) serving --domain. Log your client into that
    server as --user: each chat opened here is the contact NAME@DOMAIN (accept its
    request); what you write to it is sealed as your identity and posted on the chat's
    carriers, and what arrives is shown there, with the sender's name and trust mark.
    The master phrase and the chat secrets are asked here, never over XMPP. Messages carry
    no-store hints; your client may still keep its own history on disk (turn it off there).
    Ctrl-C ends the gateway."""
    from pointerbridge.app.hardening import harden_process

    if (secret_file is None) == (secret_env is None):
        raise click.UsageError("give the component secret by reference: --secret-file or --secret-env (one)")
    if len(secret_fds) > max(len(chats), 1):
        raise click.UsageError("one --secret-fd per --chat, in the same order")
    try:
        from pointerbridge.gateway.settings import GatewaySettings, bare_jid, read_component_secret, server_address
    except ImportError:
        raise click.ClickException("the XMPP gateway needs slixmpp: pip install 'pointerbridge[xmpp]'") from None

    host, port = server_address(server, remote_server_ok)
    settings = GatewaySettings(host, port, domain, bare_jid(user), read_component_secret(secret_env, secret_file))
    harden_process()
    with open_app(ctx) as app:
        from pointerbridge.app.session import Session

        session = Session(app)
        session.identity = app.unlock_identity(ask_phrase(phrase_fd))
        _open_chats(app, session, list(chats), list(secret_fds))
        _run(settings, session)


def _open_chats(app: App, session: Session, names: list[str], fds: list[int]) -> None:
    """Unlock the chats to open: each named one with its secret (its --secret-fd, else
    PBRIDGE_CHAT_SECRET when only one is named, else asked); with none named, every chat
    of the home, asked in turn on the terminal (an empty answer skips it)."""
    if names:
        for i, name in enumerate(names):
            app.chat_row(name)  # a missing chat is reported before its secret is asked for
            env = "PBRIDGE_CHAT_SECRET" if len(names) == 1 else None
            secret = read_secret(f"Secret of chat {safe_text(name)!r}", env, fds[i] if i < len(fds) else None)
            session.remember(app.unlock_chat(name, secret))
    elif len(rows := app.chats()) == 1:
        secret = read_secret(f"Secret of chat {safe_text(rows[0].name)!r}", "PBRIDGE_CHAT_SECRET", None)
        session.remember(app.unlock_chat(rows[0].name, secret))
    else:
        for row in rows:
            given = another_secret(
                f"Secret of chat {safe_text(row.name)!r} (empty: leave it closed)",
                "no terminal to ask for the chats' secrets on: name each with --chat and give its --secret-fd",
            )
            if given is not None:
                session.remember(app.unlock_chat(row.name, given))
    if not session.unlocked:
        raise InvalidInputError("no chat is open: the gateway would have nothing to show ('pbridge chat list')")


def _run(settings: GatewaySettings, session: Session) -> None:
    from pointerbridge.gateway.hub import Hub
    from pointerbridge.gateway.xmpp import contact_names, serve

    names = {chat.row.id: chat.row.name for chat in session.unlocked.values()}
    contacts = contact_names(names, settings.domain)

    def ready() -> None:
        for local, chat in sorted(contacts.items()):
            click.echo(f"chat {safe_text(names[chat])!r}: {local}@{settings.domain}", err=True)
        click.echo(f"gateway ready for {settings.user} on {settings.host}:{settings.port}; Ctrl-C ends it", err=True)

    serve(settings, Hub(session), names, ready)
    click.echo("gateway stopped: every key is forgotten", err=True)
