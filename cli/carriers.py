"""``pbridge carrier add|login|list``: the carriers in config.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from pointerbridge.core import InvalidInputError

from .common import JSON_OPTION, flag
from .context import emit, open_app
from .errors import one_line_errors
from .helptext import HelpGroup
from .output import safe_text, table
from .secrets import read_secret

__all__ = ["carrier_app"]


@click.group(
    "carrier",
    cls=HelpGroup,
    help="Carriers (config.toml): add one, login (a bot account, for a type that has a login), list them.",
    no_args_is_help=True,
)
def carrier_app() -> None:
    pass


@carrier_app.command("add")
@click.argument("name")
@click.option("--type", "carrier_type", required=True, help="Bridge type, e.g. files.")
@click.option("--path", help="files: the shared folder (~ is your home folder).")
@click.option("--set", "setting", multiple=True, help="Another bridge setting, KEY=VALUE.")
@flag("--replace", "Replace a carrier of that name.")
@click.pass_context
@one_line_errors
def carrier_add(
    ctx: click.Context, name: str, carrier_type: str, path: str | None, setting: tuple[str, ...], replace: bool
) -> None:
    """Declare a carrier in config.toml (checked by its bridge before it is saved: a files
    carrier's folder must exist). A carrier of that name is replaced only with --replace.

    NAME: a short name for this carrier."""
    with open_app(ctx) as app:
        settings: dict[str, Any] = {}
        given = [("path", path)] if path is not None else []
        for item in setting or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise InvalidInputError(f"--set {item!r} is not KEY=VALUE")
            given.append((key, value))
        for key, value in given:
            if key in settings:  # one would silently win over the other
                raise InvalidInputError(f"{key!r} is given twice (--path is --set path=)")
            if key == "path":  # as a shell would, had the ~ not been quoted; '' is no folder
                if not value.strip():
                    raise InvalidInputError("the path is empty: give the shared folder")
                value = str(Path(value).expanduser().resolve())
            settings[key] = value
        replacing = name in app.carriers
        lines = app.add_carrier(name, carrier_type, settings, replace=replace)
        done = "replaced in" if replacing else "saved to"
        click.echo(f"carrier {name!r} ({carrier_type}) {done} {app.config_path}")
        for line in lines:
            click.echo(safe_text(line))


@carrier_app.command("login")
@click.argument("carrier_type", metavar="TYPE")
@click.argument("name")
@click.option("--homeserver", help="The server, e.g. https://matrix.example.org")
@click.option("--user", help="The bot account, e.g. @bot:example.org or bot.")
@click.option("--room", help="Join this room: its id (!...) or alias (#...).")
@flag("--create-room", "Create a private room instead.")
@click.option("--invite", multiple=True, help="With --create-room: invite this user id.")
@click.option("--start", help="Where the first poll begins: history (new carrier's default) or now.")
@click.option("--device-name", help="The device name other members may see (default: pointer-bridge).")
@click.option("--set", "setting", multiple=True, help="Another login option, KEY=VALUE.")
@click.option("--password-fd", type=int, help="Read the password from this file descriptor.")
@click.pass_context
@one_line_errors
def carrier_login(
    ctx: click.Context,
    carrier_type: str,
    name: str,
    homeserver: str | None,
    user: str | None,
    room: str | None,
    create_room: bool,
    invite: tuple[str, ...],
    start: str | None,
    device_name: str | None,
    setting: tuple[str, ...],
    password_fd: int | None,
) -> None:
    """Log a carrier's bot account in, if its bridge offers a login (matrix does), with a
    password (asked, or PBRIDGE_TYPE_PASSWORD); keep only the token it gets, in a 0600
    file, and the rest of its settings in config.toml.

    TYPE: the carrier's type, e.g. matrix. NAME: the carrier's name (new, or one to log in again)."""
    import re

    from pointerbridge.app.login import log_in

    given = {"create_room": create_room or None, "invite": tuple(invite or ()) or None, "start": start}
    given |= {"homeserver": homeserver, "user": user, "room": room, "device_name": device_name}
    options: dict[str, object] = {k: v for k, v in given.items() if v is not None}
    for item in setting or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInputError(f"--set {item!r} is not KEY=VALUE")
        if key in options:
            raise InvalidInputError(f"--set {key}: given twice")
        options[key] = value
    label, variable = carrier_type.capitalize(), "PBRIDGE_" + re.sub(r"\W", "_", carrier_type.upper()) + "_PASSWORD"
    with open_app(ctx) as app:
        done = log_in(app, carrier_type, name, lambda: read_secret(f"{label} password", variable, password_fd), options)
    click.echo(safe_text(f"carrier {name!r}: {done.summary}"))
    click.echo(f"token saved in {done.token_file} (0600); the password was not stored")
    for note in done.notes:
        click.echo(safe_text(f"note: {note}"), err=True)


@carrier_app.command("list")
@JSON_OPTION
@click.pass_context
@one_line_errors
def carrier_list(ctx: click.Context, as_json: bool) -> None:
    """Show the configured carriers."""
    with open_app(ctx) as app:
        carriers = app.carriers.items()
        rows = [{"name": n, "type": c.type, "poll_every": c.poll_every, **c.settings} for n, c in carriers]
        emit(rows) if as_json else table(rows, "carriers")
