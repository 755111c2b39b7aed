"""Logging a carrier's account in (``pbridge carrier login TYPE NAME``): the generic part.

The carrier's bridge does the logging in, through its optional
:meth:`~pointerbridge.bridges.base.Bridge.login` hook: the password is used once and
forgotten. This module keeps what the bridge hands back: the credential in a 0600 file,
``tokens/CARRIER.token`` beside config.toml, which the carrier's settings point to, and the
settings in config.toml. Re-running a login replaces the carrier's credential, and logs the
session it replaced out (:meth:`~pointerbridge.bridges.base.Bridge.logout`), so a token
that leaked with an old backup stops working.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pointerbridge.bridges.base import (
    Bridge,
    BridgeError,
    ConfigurationError,
    carrier_bridge_class,
    printable,
    read_credential,
)
from pointerbridge.core.errors import InvalidInputError
from pointerbridge.home.config import (
    CARRIER_NAME_RULE,
    CarrierConfig,
    Config,
    ConfigError,
    valid_carrier_name,
)
from pointerbridge.home.private_file import write_private

if TYPE_CHECKING:
    from pointerbridge.app.service import App

__all__ = ["LoginDone", "log_in", "token_path"]


@dataclass(slots=True)
class LoginDone:
    """What a login set up, and anything the user should know about it."""

    carrier: str
    summary: str  # the bridge's one line: the account, the session, where it posts
    token_file: Path
    notes: list[str] = field(default_factory=list)


def token_path(app: App, carrier: str) -> Path:
    """Where a carrier's token is kept: ``tokens/CARRIER.token`` beside config.toml."""
    return app.home.config_dir / "tokens" / f"{carrier}.token"


def log_in(
    app: App, carrier_type: str, name: str, password: Callable[[], str], options: Mapping[str, object]
) -> LoginDone:
    """Log the carrier ``name`` of ``carrier_type`` in (new, or again with its saved
    settings as defaults) through its bridge's login hook, then keep the credential and the
    settings. ``password`` is asked by the bridge only once ``options`` are known to be
    usable; a type whose bridge has no hook raises ``LoginUnsupportedError``."""
    _check_name(name)
    cls = carrier_bridge_class(name, carrier_type)
    existing = app.config.carriers.get(name)
    if existing is not None and existing.type != carrier_type:
        raise InvalidInputError(f"carrier {name!r} is a {existing.type} carrier, not {carrier_type}")
    old: dict[str, Any] = dict(existing.settings) if existing is not None else {}
    fields: tuple[str, str] | None = getattr(cls.Settings, "credential_fields", None)
    old_token = _old_token(old, fields) if fields else None  # read before a new login replaces its file
    login = cls.login(name, old, password, options)
    if fields is None:  # a bridge's mistake: its settings cannot point to the token file
        _forget(cls, name, login.settings, login.credential)
        raise ConfigurationError(name, f"the {carrier_type} bridge names no credential fields: the login is not kept")
    path = token_path(app, name)
    settings = {k: v for k, v in login.settings.items() if k not in fields}
    settings[fields[1]] = str(path)
    base = existing.model_dump(exclude_none=True) if existing is not None else {}
    scheduled = {k: base[k] for k in ("poll_every", "poll_cron") if k in base}
    done = LoginDone(name, login.summary, path)
    try:
        carrier = CarrierConfig.model_validate({**scheduled, "type": carrier_type, **settings})
        cls.from_config(name, carrier.settings)  # the bridge checks its settings
        _save(app, name, carrier, path, login.credential)
    except BaseException:
        _forget(cls, name, settings, login.credential)
        raise
    if login.replaces is not None:
        _log_out_old(cls, name, _as_now(old, carrier.settings), old_token, login.replaces, done)
    return done


def _as_now(old: dict[str, Any], now: Mapping[str, Any]) -> dict[str, Any]:
    """The old session's settings, reached as the new settings say: through the proxy the
    new login used, or directly if the user took the proxy away. Logging the old device
    out over the old route went around a proxy the user had just asked for."""
    kept = {k: v for k, v in old.items() if k != "proxy"}
    return {**kept, "proxy": now["proxy"]} if now.get("proxy") else kept


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
        app.home.save_config(config)
    except BaseException:
        if previous is None:
            path.unlink(missing_ok=True)
        else:
            write_private(path, previous)
        raise
    app.config = config


def _forget(cls: type[Bridge], name: str, settings: Mapping[str, Any], token: str) -> None:
    """End a session whose login could not be saved, so no unused token stays valid."""
    try:
        cls.logout(name, settings, token)
    except BridgeError as exc:  # the save error propagating stays the one reported
        logging.getLogger(__name__).warning("the new session could not be logged out: %s", exc)


def _old_token(old: dict[str, Any], fields: tuple[str, str]) -> str | None:
    """The credential the carrier used until now, if this home can read it."""
    env, file = old.get(fields[0]), old.get(fields[1])
    if not env and not file:
        return None
    try:
        token, _ = read_credential("old login", env or None, None if env else Path(str(file)))
    except ConfigurationError:
        return None  # reported as "still logged in" once the new login is saved
    return token or None


def _log_out_old(
    cls: type[Bridge], name: str, old: dict[str, Any], token: str | None, session: str, done: LoginDone
) -> None:
    if token is None:
        done.notes.append(f"the old {session} may still be logged in: remove it in a {cls.carrier_type} client")
        return
    try:
        cls.logout(name, old, token)
    except BridgeError as exc:
        done.notes.append(f"the old {session} could not be logged out ({exc})")
    else:
        done.notes.append(f"the old {session} was logged out")
