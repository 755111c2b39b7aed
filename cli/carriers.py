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


carrier_app = typer.Typer(help="Add, log in and list carriers (config.toml).", no_args_is_help=True)

login_app = typer.Typer(
    help="Log a carrier's bot account in: the password is asked, never stored.", no_args_is_help=True
)

carrier_app.add_typer(login_app, name="login")


@carrier_app.command("add")
@one_line_errors
def carrier_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short name for this carrier.")],
    carrier_type: Annotated[str, typer.Option("--type", help="Bridge type, e.g. files.")],
    path: Annotated[Path | None, typer.Option(help="files: the shared folder.")] = None,
    setting: Annotated[list[str] | None, typer.Option("--set", help="Another bridge setting, KEY=VALUE.")] = None,
) -> None:
    """Declare a carrier in config.toml (checked by its bridge before it is saved)."""
    with open_app(ctx) as app:
        settings: dict[str, Any] = {"path": str(path.resolve())} if path else {}
        for item in setting or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise InvalidInputError(f"--set {item!r} is not KEY=VALUE")
            settings[key] = value
        lines = app.add_carrier(name, carrier_type, settings)
        typer.echo(f"carrier {name!r} ({carrier_type}) saved to {app.config_path}")
        for line in lines:
            typer.echo(safe_text(line))


@login_app.command("matrix")
@one_line_errors
def login_matrix(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The carrier's name (new, or one to log in again).")],
    homeserver: Annotated[str | None, typer.Option(help="e.g. https://matrix.example.org")] = None,
    user: Annotated[str | None, typer.Option(help="The bot account: @bot:example.org or bot.")] = None,
    room: Annotated[str | None, typer.Option(help="Join this room: its id (!...) or alias (#...).")] = None,
    create_room: Annotated[bool, typer.Option("--create-room", help="Create a private room instead.")] = False,
    invite: Annotated[list[str] | None, typer.Option(help="With --create-room: invite this user id.")] = None,
    start: Annotated[
        str | None, typer.Option(help="Where the first poll begins: history (new carrier's default) or now.")
    ] = None,
    device_name: Annotated[str, typer.Option(help="The device name other members may see.")] = "pointer-bridge",
    password_fd: Annotated[
        int | None, typer.Option("--password-fd", help="Read the password from this file descriptor.")
    ] = None,
) -> None:
    """Log a Matrix bot in with a password (asked, or PBRIDGE_MATRIX_PASSWORD); keep only
    the token it gets, in a 0600 file, and the device id, in config.toml."""
    from pointerbridge.app.login import matrix_login

    if start not in (None, "history", "now"):
        raise InvalidInputError("--start is history or now")
    with open_app(ctx) as app:
        done = matrix_login(
            app,
            name,
            lambda: read_secret("Matrix password", "PBRIDGE_MATRIX_PASSWORD", password_fd),
            homeserver=homeserver,
            user=user,
            room=room,
            create_room=create_room,
            invite=tuple(invite or ()),
            start=start,
            device_name=device_name,
        )
    typer.echo(safe_text(f"carrier {name!r}: {done.user_id}, device {done.device_id}, room {done.room_id}"))
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
