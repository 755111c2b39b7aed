"""``pbridge carrier add|login|list``: the carriers in config.toml."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pointerbridge.core import InvalidInputError

if TYPE_CHECKING:  # imported where used, so each command loads only what it needs
    pass

from .context import Json, emit, open_app
from .errors import one_line_errors
from .output import safe_text, table
from .secrets import read_secret

__all__ = ["carrier_app"]


carrier_app = typer.Typer(
    help="Carriers (config.toml): add one, login (a bot account, for a type that has a login), list them.",
    no_args_is_help=True,
)


@carrier_app.command("add")
@one_line_errors
def carrier_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short name for this carrier.")],
    carrier_type: Annotated[str, typer.Option("--type", help="Bridge type, e.g. files.")],
    path: Annotated[str | None, typer.Option(help="files: the shared folder (~ is your home folder).")] = None,
    setting: Annotated[list[str] | None, typer.Option("--set", help="Another bridge setting, KEY=VALUE.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a carrier of that name.")] = False,
) -> None:
    """Declare a carrier in config.toml (checked by its bridge before it is saved: a files
    carrier's folder must exist). A carrier of that name is replaced only with --replace."""
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
        typer.echo(f"carrier {name!r} ({carrier_type}) {done} {app.config_path}")
        for line in lines:
            typer.echo(safe_text(line))


@carrier_app.command("login")
@one_line_errors
def carrier_login(
    ctx: typer.Context,
    carrier_type: Annotated[str, typer.Argument(metavar="TYPE", help="The carrier's type, e.g. matrix.")],
    name: Annotated[str, typer.Argument(help="The carrier's name (new, or one to log in again).")],
    homeserver: Annotated[str | None, typer.Option(help="The server, e.g. https://matrix.example.org")] = None,
    user: Annotated[str | None, typer.Option(help="The bot account, e.g. @bot:example.org or bot.")] = None,
    room: Annotated[str | None, typer.Option(help="Join this room: its id (!...) or alias (#...).")] = None,
    create_room: Annotated[bool, typer.Option("--create-room", help="Create a private room instead.")] = False,
    invite: Annotated[list[str] | None, typer.Option(help="With --create-room: invite this user id.")] = None,
    start: Annotated[
        str | None, typer.Option(help="Where the first poll begins: history (new carrier's default) or now.")
    ] = None,
    device_name: Annotated[
        str | None, typer.Option(help="The device name other members may see (default: pointer-bridge).")
    ] = None,
    setting: Annotated[list[str] | None, typer.Option("--set", help="Another login option, KEY=VALUE.")] = None,
    password_fd: Annotated[
        int | None, typer.Option("--password-fd", help="Read the password from this file descriptor.")
    ] = None,
) -> None:
    """Log a carrier's bot account in, if its bridge offers a login (matrix does), with a
    password (asked, or PBRIDGE_TYPE_PASSWORD); keep only the token it gets, in a 0600
    file, and the rest of its settings in config.toml."""
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
    typer.echo(safe_text(f"carrier {name!r}: {done.summary}"))
    typer.echo(f"token saved in {done.token_file} (0600); the password was not stored")
    for note in done.notes:
        typer.echo(safe_text(f"note: {note}"), err=True)


@carrier_app.command("list")
@one_line_errors
def carrier_list(ctx: typer.Context, as_json: Json = False) -> None:
    """Show the configured carriers."""
    with open_app(ctx) as app:
        carriers = app.carriers.items()
        rows = [{"name": n, "type": c.type, "poll_every": c.poll_every, **c.settings} for n, c in carriers]
        emit(rows) if as_json else table(rows, "carriers")
