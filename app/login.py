"""Logging a carrier's bot account in: the password is used once and forgotten; only the
token the server gives back is kept, in a 0600 file the carrier's settings point to.

Re-running a login replaces the carrier's token and device, and logs the old device out,
so a token that leaked with an old backup stops working."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pointerbridge.bridges.base import BridgeError, ConfigurationError, header_safe, printable, read_credential
from pointerbridge.core.errors import InvalidInputError
from pointerbridge.home.config import (
    CARRIER_NAME_RULE,
    CarrierConfig,
    Config,
    ConfigError,
    save_config,
    valid_carrier_name,
)
from pointerbridge.home.private_file import write_private

if TYPE_CHECKING:
    from pointerbridge.app.service import App

__all__ = ["LoginDone", "matrix_login", "token_path"]


@dataclass(slots=True)
class LoginDone:
    """What a login set up, and anything the user should know about it."""

    carrier: str
    user_id: str
    device_id: str
    room_id: str
    token_file: Path
    notes: list[str] = field(default_factory=list)


def token_path(app: App, carrier: str) -> Path:
    """Where a carrier's token is kept: ``tokens/CARRIER.token`` beside config.toml."""
    return app.home.config_dir / "tokens" / f"{carrier}.token"


def matrix_login(
    app: App,
    name: str,
    password: Callable[[], str],
    *,
    homeserver: str | None = None,
    user: str | None = None,
    room: str | None = None,
    create_room: bool = False,
    invite: tuple[str, ...] = (),
    start: str | None = None,
    device_name: str = "pointer-bridge",
) -> LoginDone:
    """Log the Matrix carrier ``name`` in (new, or again with its saved settings as
    defaults), join or create its room, and save the token and settings. ``password`` is
    asked only once the other arguments are known to be usable."""
    from pointerbridge.bridges.matrix import MatrixBridge, log_in

    _check_name(name)
    existing = app.config.carriers.get(name)
    if existing is not None and existing.type != "matrix":
        raise InvalidInputError(f"carrier {name!r} is a {existing.type} carrier, not matrix")
    old: dict[str, Any] = existing.settings if existing is not None else {}
    homeserver = homeserver or old.get("homeserver")
    user = user or old.get("user_id")
    if not create_room:
        room = room or old.get("room_id")
    if not homeserver or not user:
        raise InvalidInputError("a new Matrix carrier needs --homeserver and --user")
    if room is not None and create_room:
        raise InvalidInputError("give --room or --create-room, not both")
    if room is None and not create_room:
        raise InvalidInputError("say which room: --room ID_OR_ALIAS, or --create-room")
    if room is not None and not room.startswith(("!", "#")):
        raise InvalidInputError(f"--room {room!r} is neither a room id (!...) nor an alias (#...)")
    old_token = _old_token(old)  # read before a new login replaces its file
    login = log_in(
        name, homeserver, user, password(), room=room, create_room=create_room, invite=invite, device_name=device_name
    )
    path = token_path(app, name)
    settings = {k: v for k, v in old.items() if k != "access_token_env"}
    settings.update(
        homeserver=homeserver,
        user_id=login.user_id,
        device_id=login.device_id,
        room_id=login.room_id,
        access_token_file=str(path),
    )
    if start is not None or existing is None:
        settings["start"] = start or "history"  # a new bot reads what the room already holds
    base = existing.model_dump(exclude_none=True) if existing is not None else {}
    carrier = CarrierConfig.model_validate(
        {**{k: base[k] for k in ("poll_every", "poll_cron") if k in base}, "type": "matrix", **settings}
    )
    done = LoginDone(name, login.user_id, login.device_id, login.room_id, path)
    try:
        MatrixBridge.from_config(name, carrier.settings)  # the bridge checks its settings
        _save(app, name, carrier, path, login.access_token)
    except BaseException:
        _forget(name, homeserver, login.user_id, login.device_id, login.access_token)
        raise
    if old.get("device_id") and old["device_id"] != login.device_id:
        _log_out_old(name, old, old_token, done)
    return done


def _check_name(name: str) -> None:
    """The carrier's name, checked before a password is asked or a token kept under it."""
    if not valid_carrier_name(name):
        raise InvalidInputError(f"{printable(name, 40)!r}: {CARRIER_NAME_RULE}")


def _save(app: App, name: str, carrier: CarrierConfig, path: Path, token: str) -> None:
    """Token file first, then config.toml; if config.toml cannot be saved, the old token
    file comes back, so the carrier goes on working as before."""
    try:
        previous = path.read_bytes()
    except FileNotFoundError:
        previous = None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        write_private(path, token.encode("utf-8") + b"\n")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be written ({exc.strerror})") from None
    config = Config.model_validate({"carriers": {**app.config.carriers, name: carrier}})
    try:
        save_config(app.home.config_path, config)
    except BaseException:
        if previous is None:
            path.unlink(missing_ok=True)
        else:
            write_private(path, previous)
        raise
    app.config = config


def _forget(name: str, homeserver: str, user_id: str, device_id: str, token: str) -> None:
    """Log out a device whose login could not be saved, so no unused token stays valid."""
    from pointerbridge.bridges.matrix import log_out

    try:
        log_out(name, homeserver, user_id, device_id, token)
    except BridgeError as exc:  # the save error propagating stays the one reported
        logging.getLogger(__name__).warning("the new device %s could not be logged out: %s", device_id, exc)


def _old_token(old: dict[str, Any]) -> str | None:
    """The token the carrier used until now, if this home can read it."""
    env, file = old.get("access_token_env"), old.get("access_token_file")
    if not env and not file:
        return None
    try:
        token, _ = read_credential("old login", env or None, None if env else Path(str(file)))
    except ConfigurationError:
        return None  # reported as "still logged in" once the new login is saved
    return token if header_safe(token) else None


def _log_out_old(name: str, old: dict[str, Any], token: str | None, done: LoginDone) -> None:
    from pointerbridge.bridges.matrix import log_out

    device = old["device_id"]
    if token is None:
        done.notes.append(f"the old device {device} may still be logged in: remove it in a Matrix client")
        return
    try:
        log_out(name, str(old.get("homeserver")), str(old.get("user_id")), str(device), token)
    except BridgeError as exc:
        done.notes.append(f"the old device {device} could not be logged out ({exc})")
    else:
        done.notes.append(f"the old device {device} was logged out")
