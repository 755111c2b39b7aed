"""Logging a Matrix bot in and out (``pbridge carrier login matrix NAME``): the password
is used once for a token, the room is joined or created, and a replaced device is logged
out so its token stops working. The generic part (the token file, config.toml) is
``app/login.py``'s."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from pointerbridge.core import InvalidInputError

from .base import ConfigurationError, Login, printable
from .matrix_api import (
    UNDECODABLE,
    Budget,
    call_api,
    checked_token,
    new_client,
    nio_answer,
    unreachable,
    unreachable_errors,
)
from .proxy import Proxy, parse_proxy

__all__ = ["LoginOptions", "MatrixLogin", "log_in", "log_out", "login", "logout"]

_LOGIN_RETRY_WAIT = 10.0  # seconds of 429 a login (someone waiting at the prompt) sits out


class LoginOptions(NamedTuple):
    """The options of a Matrix login, checked (given as flags or as ``--set KEY=VALUE``)."""

    homeserver: str | None
    user: str | None
    room: str | None
    create_room: bool
    invite: tuple[str, ...]
    start: str | None  # history, now, or None: the saved one (a new carrier's: history)
    device_name: str
    proxy: str | None  # socks5h://HOST:PORT: the login and the carrier go through it (None: the saved one)

    @classmethod
    def of(cls, options: Mapping[str, object]) -> LoginOptions:
        unknown = sorted(set(options) - set(cls._fields))
        if unknown:
            raise InvalidInputError(
                f"a Matrix login takes no {printable(unknown[0], 40)!r} (it takes {', '.join(cls._fields)})"
            )

        def text(key: str) -> str | None:
            value = options.get(key)
            if value is None or isinstance(value, str):
                return value
            raise InvalidInputError(f"--{key.replace('_', '-')} is text")

        start = text("start")
        if start not in (None, "history", "now"):
            raise InvalidInputError("--start is history or now")
        create = options.get("create_room", False)
        if isinstance(create, str):  # from --set create_room=...
            create = {"true": True, "yes": True, "false": False, "no": False}.get(create.lower(), create)
        if not isinstance(create, bool):
            raise InvalidInputError("--create-room is true or false")
        invite = options.get("invite", ())
        invite = (invite,) if isinstance(invite, str) else invite
        if not (isinstance(invite, tuple) and all(isinstance(i, str) for i in invite)):
            raise InvalidInputError("--invite is a user id")
        device_name = text("device_name") or "pointer-bridge"
        proxy = text("proxy")
        if proxy is not None:
            try:
                proxy = parse_proxy(proxy).url
            except ValueError as exc:
                raise InvalidInputError(f"--set proxy={printable(exc, 300)}") from None
        return cls(text("homeserver"), text("user"), text("room"), create, invite, start, device_name, proxy)


class MatrixLogin(NamedTuple):
    """What a password login gives: the account, its new device, its token, and the room."""

    user_id: str
    device_id: str
    access_token: str
    room_id: str


def log_in(
    carrier: str,
    homeserver: str,
    user: str,
    password: str,
    *,
    room: str | None = None,
    create_room: bool = False,
    invite: tuple[str, ...] = (),
    device_name: str = "pointer-bridge",
    timeout: float = 30.0,
    proxy: Proxy | None = None,
) -> MatrixLogin:
    """Log in with a password (used once, never kept) and join ``room`` (an id or alias) or
    create a private room inviting ``invite``, through ``proxy`` when there is one. A failure
    after login logs the new device out again, so no stray token is left on the server."""
    if (room is None) == (not create_room):
        raise ConfigurationError(carrier, "give a room to join, or ask to create one")
    return asyncio.run(_log_in(carrier, homeserver, user, password, room, invite, device_name, timeout, proxy))


async def _log_in(
    carrier: str,
    homeserver: str,
    user: str,
    password: str,
    room: str | None,
    invite: tuple[str, ...],
    device_name: str,
    timeout: float,
    proxy: Proxy | None,
) -> MatrixLogin:
    client = new_client(homeserver, user, timeout, proxy=proxy)
    budget = Budget(_LOGIN_RETRY_WAIT)
    try:
        answer = await call_api(
            carrier, lambda: nio_answer(client.login(password=password, device_name=device_name)), "login", budget
        )
        try:
            if room is None:
                created = await call_api(
                    carrier,
                    lambda: nio_answer(client.room_create(name="pointers", invite=invite)),
                    "creating the room",
                    budget,
                )
                room_id = str(created.room_id)
            else:
                joined = await call_api(carrier, lambda: nio_answer(client.join(room)), "joining", budget, room)
                room_id = str(joined.room_id)
            token = checked_token(carrier, str(answer.access_token), "the homeserver's login answer")
            return MatrixLogin(str(answer.user_id), str(answer.device_id), token, room_id)
        except BaseException:
            # The error that matters is the one propagating; a server that cannot be told
            # to forget the token now (unreachable, garbled) has it dropped with the client.
            with contextlib.suppress(*unreachable_errors(), *UNDECODABLE):
                await client.logout()
            raise
    except unreachable_errors() as exc:
        raise unreachable(carrier, homeserver, proxy, exc) from None
    finally:
        await client.close()


def log_out(
    carrier: str,
    homeserver: str,
    user_id: str,
    device_id: str,
    token: str,
    timeout: float = 30.0,
    proxy: Proxy | None = None,
) -> None:
    """End a device's session on the server (through ``proxy`` when there is one), so its
    token stops working."""
    asyncio.run(_log_out(carrier, homeserver, user_id, device_id, token, timeout, proxy))


async def _log_out(
    carrier: str, homeserver: str, user_id: str, device_id: str, token: str, timeout: float, proxy: Proxy | None
) -> None:
    client = new_client(homeserver, user_id, timeout, device_id, proxy)
    client.restore_login(user_id, device_id, token)
    try:
        await call_api(carrier, lambda: nio_answer(client.logout()), "logging out", Budget(_LOGIN_RETRY_WAIT))
    except unreachable_errors() as exc:
        raise unreachable(carrier, homeserver, proxy, exc) from None
    finally:
        await client.close()


def login(name: str, saved: Mapping[str, Any], password: Callable[[], str], options: Mapping[str, object]) -> Login:
    """Log the bot in (new, or again with its ``saved`` settings as defaults), join
    ``room`` or create a private room inviting ``invite``. The password is asked only
    once the other options are known to be usable; a new carrier starts from the room's
    history unless ``start`` says ``now``."""
    given = LoginOptions.of(options)
    homeserver = given.homeserver or saved.get("homeserver")
    user = given.user or saved.get("user_id")
    room = given.room if given.create_room else given.room or saved.get("room_id")
    if not homeserver or not user:
        raise InvalidInputError("a new Matrix carrier needs --homeserver and --user")
    if room is not None and given.create_room:
        raise InvalidInputError("give --room or --create-room, not both")
    if room is None and not given.create_room:
        raise InvalidInputError("say which room: --room ID_OR_ALIAS, or --create-room")
    if room is not None and not room.startswith(("!", "#")):
        raise InvalidInputError(f"--room {room!r} is neither a room id (!...) nor an alias (#...)")
    proxy = parse_proxy(given.proxy) if given.proxy else _saved_proxy(saved)
    login = log_in(
        name,
        homeserver,
        user,
        password(),
        room=room,
        create_room=given.create_room,
        invite=given.invite,
        device_name=given.device_name,
        proxy=proxy,
    )
    settings = {
        **saved,
        "homeserver": homeserver,
        "user_id": login.user_id,
        "device_id": login.device_id,
        "room_id": login.room_id,
    }
    if proxy is not None:
        settings["proxy"] = proxy.url
    if given.start is not None or not saved:
        settings["start"] = given.start or "history"  # a new bot reads what the room already holds
    old_device = saved.get("device_id")
    return Login(
        settings,
        login.access_token,
        f"{login.user_id}, device {login.device_id}, room {login.room_id}",
        replaces=f"device {old_device}" if old_device and old_device != login.device_id else None,
    )


def logout(name: str, settings: Mapping[str, Any], credential: str) -> None:
    """Log the device ``settings`` name out, so its token stops working."""
    token = checked_token(name, credential, "the credential to log out with")
    homeserver, user_id, device_id = (str(settings.get(k)) for k in ("homeserver", "user_id", "device_id"))
    log_out(name, homeserver, user_id, device_id, token, proxy=_saved_proxy(settings))


def _saved_proxy(settings: Mapping[str, Any]) -> Proxy | None:
    """The proxy the carrier's settings name: a login again, or a logout, goes through it too."""
    url = settings.get("proxy")
    if url is None:
        return None
    try:
        return parse_proxy(str(url))
    except ValueError as exc:  # never around a proxy the user asked for: say what is wrong
        raise InvalidInputError(f"the saved proxy: {printable(exc, 300)}") from None
