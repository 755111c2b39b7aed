"""A Matrix room as carrier, through matrix-nio. Matrix keeps history, so a bot that was
offline for a week still finds every pointer.

Posting sends ``m.room.message`` events whose plain ``body`` is the pointer (no formatted
body), so a person in any client sees the text and can copy it; the transaction id is
derived from the pointer, so a post retried after a timeout is not duplicated.

Polling is one ``sync(since=cursor)`` with a room filter uploaded once (its id lives in
the cursor): an idle poll is one request. When the timeline comes back ``limited`` (more
events than the filter's limit arrived), the gap is read forward with ``/messages`` from
the stored token, so no event is missed. Pointers are found in any message's body by
:func:`~pointerbridge.core.find_pointers`, so one pasted by a person is picked up too.
One client serves a bridge's posts and polls; :meth:`MatrixBridge.close`, which the app
calls after every run, closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import quote, urlencode

from pointerbridge.core import InvalidInputError
from pydantic import BaseModel, Field

from .base import (
    AsyncBridge,
    ConfigurationError,
    Finding,
    Login,
    NetworkSettings,
    PollResult,
    RetryableError,
    extract,
    header_safe,
    json_cursor,
    printable,
    read_credential,
)

__all__ = ["MatrixBridge", "MatrixLogin", "log_in", "log_out"]

_EVENT_LIMIT_SAFE_CHARS = 32_000  # Matrix caps an event at 64 KiB of JSON
_PAGE = 500  # events per /messages page when a sync was limited
_MAX_PAGES = 100  # pages per poll: a longer gap is read on by the next poll
# What decoding an answer's body raises: bad JSON or UTF-8, a charset Python does not
# know (LookupError), nesting deeper than the parser's recursion.
_UNDECODABLE = (ValueError, LookupError, RecursionError)
_LOGIN_RETRY_WAIT = 10.0  # seconds of 429 a login (someone waiting at the prompt) sits out
_TIMELINE_LIMIT = 100
_MESSAGES_ONLY = json.dumps({"types": ["m.room.message"], "lazy_load_members": True}, separators=(",", ":"))
_MARK = "org.pointerbridge.pointer"  # content field marking our posts (finding does not rely on it)


class _Settings(NetworkSettings):
    credential_fields = ("access_token_env", "access_token_file")

    homeserver: str = Field(pattern=r"^https?://")
    user_id: str = Field(pattern=r"^@[^:]+:.+$")
    device_id: str = Field(min_length=1)
    access_token_env: str | None = None  # the name of an environment variable holding the token
    access_token_file: Path | None = None  # or a 0600 file holding it
    room_id: str = Field(pattern=r"^!.+")  # room version 12 ids have no server part
    start: Literal["now", "history"] = "now"  # where a first poll (no cursor) begins
    msgtype: Literal["m.text", "m.notice"] = "m.text"
    max_pointer_chars: int = Field(default=_EVENT_LIMIT_SAFE_CHARS, ge=1000, le=_EVENT_LIMIT_SAFE_CHARS)
    post_interval: float = Field(default=0.0, ge=0, le=60)  # seconds between posts, for a strict server


class MatrixBridge(AsyncBridge):
    """One Matrix room, reached as one bot account."""

    carrier_type = "matrix"
    Settings = _Settings
    shareable_settings = ("homeserver", "room_id", "max_pointer_chars")
    setup_hint = (
        "log your own bot in first: pbridge carrier login matrix {name} --homeserver {homeserver} --user BOT "
        "--room {room_id}"
    )
    quiet_loggers = ("nio", "aiohttp")  # aiohttp's and nio's INFO lines carry request URLs

    @classmethod
    def login(
        cls, name: str, saved: Mapping[str, Any], password: Callable[[], str], options: Mapping[str, object]
    ) -> Login:
        """Log the bot in (new, or again with its ``saved`` settings as defaults), join
        ``room`` or create a private room inviting ``invite``. The password is asked only
        once the other options are known to be usable; a new carrier starts from the room's
        history unless ``start`` says ``now``."""
        given = _LoginOptions.of(options)
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
        login = log_in(
            name,
            homeserver,
            user,
            password(),
            room=room,
            create_room=given.create_room,
            invite=given.invite,
            device_name=given.device_name,
        )
        settings = {
            **saved,
            "homeserver": homeserver,
            "user_id": login.user_id,
            "device_id": login.device_id,
            "room_id": login.room_id,
        }
        if given.start is not None or not saved:
            settings["start"] = given.start or "history"  # a new bot reads what the room already holds
        old_device = saved.get("device_id")
        return Login(
            settings,
            login.access_token,
            f"{login.user_id}, device {login.device_id}, room {login.room_id}",
            replaces=f"device {old_device}" if old_device and old_device != login.device_id else None,
        )

    @classmethod
    def logout(cls, name: str, settings: Mapping[str, Any], credential: str) -> None:
        """Log the device ``settings`` name out, so its token stops working."""
        token = _checked_token(name, credential, "the credential to log out with")
        homeserver, user_id, device_id = (str(settings.get(k)) for k in ("homeserver", "user_id", "device_id"))
        log_out(name, homeserver, user_id, device_id, token)

    @classmethod
    def same_place(cls, mine: dict[str, Any], shared: dict[str, Any]) -> bool:
        """The same room (a room id names one room across all homeservers)."""
        return bool(mine.get("room_id")) and mine.get("room_id") == shared.get("room_id")

    @property
    def _s(self) -> _Settings:
        settings: _Settings = self.settings  # type: ignore[assignment]
        return settings

    def __init__(self, name: str, settings: BaseModel) -> None:
        """Use :meth:`from_config`. The connection opens on first use and lasts until :meth:`close`."""
        super().__init__(name, settings)
        self._budget = _Budget(0.0)

    def post(self, pointer: str) -> str:
        """Send the pointer as a message; return the event id."""
        event_id: str = self._run(lambda client: self._post(client, pointer))
        return event_id

    def poll(self, cursor: str | None) -> PollResult:
        """Every message since ``cursor`` (None: from ``start``)."""
        result: PollResult = self._run(lambda client: self._poll(client, cursor))
        return result

    def diagnose(self, cursor: str | None) -> list[Finding]:
        """whoami (the token works, for this account) and the room among the joined ones."""
        findings: list[Finding] = self._run(self._diagnose)
        return findings

    # -- the async part ---------------------------------------------------------------------

    async def _diagnose(self, client: Any) -> list[Finding]:
        me = await self._call(lambda: _get_json(client, _path("/account/whoami")), "checking the token")
        if me.get("user_id") != self._s.user_id:
            return [
                Finding("token", "fail", f"the token is {printable(me.get('user_id'), 200)}'s, not {self._s.user_id}'s")
            ]
        findings = [Finding("token", "ok", f"accepted for {self._s.user_id}")]
        rooms = await self._call(lambda: _get_json(client, _path("/joined_rooms")), "listing rooms")
        if self._s.room_id in (rooms.get("joined_rooms") or []):
            findings.append(Finding("room", "ok", f"{self._s.user_id} is in {printable(self._s.room_id, 200)}"))
        else:
            findings.append(
                Finding(
                    "room",
                    "fail",
                    f"{self._s.user_id} has not joined "
                    f"{printable(self._s.room_id, 200)} (invite it, then log in "
                    "again with --room)",
                )
            )
        return findings

    async def _attempt(self, work: Any) -> Any:
        # (A fresh client per post cost ~15 ms more than the post itself on a busy machine.)
        import aiohttp

        self._budget = _Budget(self._s.max_retry_wait)  # for all of this post's or poll's requests
        try:
            return await super()._attempt(work)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableError(self.name, f"{self._s.homeserver} unreachable ({type(exc).__name__})") from None

    async def _connect(self) -> Any:
        s = self._s
        client = _client(s.homeserver, s.user_id, s.timeout, s.device_id)
        client.restore_login(s.user_id, s.device_id, self._token())
        return client

    async def _disconnect(self, client: Any) -> None:
        await client.close()

    def _token(self) -> str:
        token, where = read_credential(self.name, self._s.access_token_env, self._s.access_token_file)
        return _checked_token(self.name, token, where)

    async def _call(self, request: Any, what: str) -> Any:
        return await _call(self.name, request, what, self._budget, self._s.room_id)

    async def _post(self, client: Any, pointer: str) -> str:
        content = {"msgtype": self._s.msgtype, "body": pointer, _MARK: 1}
        transaction = "pb-" + hashlib.sha256(pointer.encode("ascii")).hexdigest()[:32]
        response = await self._call(
            lambda: _nio(client.room_send(self._s.room_id, "m.room.message", content, tx_id=transaction)), "posting"
        )
        return str(response.event_id)

    async def _poll(self, client: Any, cursor: str | None) -> PollResult:
        state = json_cursor(cursor)
        place = {"room": self._s.room_id, "user": self._s.user_id}
        if any(state.get(key, value) != value for key, value in place.items()):
            state = {}  # now another room or account: the old filter and sync token do not apply
        state.update(place)
        if state.get("filter") is None:
            state["filter"] = await self._upload_filter(client)
        since = state.get("since")
        sync_path = _path("/sync", since=since, timeout=1, filter=state["filter"])
        answer = await self._call(lambda: _get_json(client, sync_path), "polling")
        timeline = _dig(answer, "rooms", "join", self._s.room_id, "timeline")
        events = _events(timeline)
        result = PollResult([], "")
        gap = state.pop("gap", None)
        if since is None and self._s.start == "history":
            older, unread = await self._page(client, timeline.get("prev_batch"), "b")
            events = older + events
            if unread is not None:
                result.notes.append(
                    f"the room's history is longer than {_MAX_PAGES * _PAGE} messages: the oldest were not read"
                )
        elif since is None:
            events = []  # "now": begin after what is already in the room
        elif isinstance(gap, str) or timeline.get("limited"):
            # The whole gap, from the stored token (or where the last run stopped reading it).
            events, unread = await self._page(client, gap if isinstance(gap, str) else since, "f")
            if unread is not None:  # too long for one run: the next run reads on from here
                _extract(events, result)
                result.cursor = json.dumps({**state, "gap": unread}, sort_keys=True)
                return result
        _extract(events, result)
        if not isinstance(answer.get("next_batch"), str):
            raise RetryableError(self.name, "polling: the homeserver's answer has no next_batch")
        state["since"] = answer["next_batch"]
        result.cursor = json.dumps(state, sort_keys=True)
        return result

    async def _page(self, client: Any, token: str | None, direction: str) -> tuple[list[dict[str, Any]], str | None]:
        """Room events from ``token``, forward to the live end or back to the room's start,
        oldest first either way, and the token to read on from if ``_MAX_PAGES`` pages were
        not enough (a poll's memory and time stay bounded, whatever the server says)."""
        events: list[dict[str, Any]] = []
        endpoint = f"/rooms/{quote(self._s.room_id, safe='')}/messages"
        unread = None
        for _ in range(_MAX_PAGES):
            if token is None:
                break
            path = _path(endpoint, **{"from": token, "dir": direction, "limit": _PAGE, "filter": _MESSAGES_ONLY})
            page = await self._call(lambda path=path: _get_json(client, path), "reading history")
            chunk = _events(page, "chunk")
            events.extend(chunk)
            end = page.get("end")
            if not chunk or not isinstance(end, str) or end == token:
                token = None
                break
            token = end
        else:
            unread = token
        return (events if direction == "f" else events[::-1]), unread

    async def _upload_filter(self, client: Any) -> str:
        room = {
            "rooms": [self._s.room_id],
            "timeline": {"limit": _TIMELINE_LIMIT, "types": ["m.room.message"]},
            "state": {"types": [], "lazy_load_members": True},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
        }
        response = await self._call(
            lambda: _nio(client.upload_filter(room=room, presence={"types": []}, account_data={"types": []})),
            "setting up the sync filter",
        )
        return str(response.filter_id)


def _extract(events: list[dict[str, Any]], result: PollResult) -> None:
    """The pointers in the bodies of message events, each event once."""
    seen: set[str] = set()
    for event in events:
        event_id = event.get("event_id")
        if not isinstance(event_id, str) or event_id in seen:
            continue  # a page boundary and the sync timeline may overlap
        seen.add(event_id)
        content = event.get("content")
        body = content.get("body") if isinstance(content, dict) else None
        if event.get("type") == "m.room.message" and isinstance(body, str):
            extract(body, event_id, result)


def _dig(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``data[k1][k2]...``, or {} where the homeserver's answer has no such object."""
    for key in keys:
        found = data.get(key)
        data = found if isinstance(found, dict) else {}
    return data


def _events(data: dict[str, Any], key: str = "events") -> list[dict[str, Any]]:
    found = data.get(key)
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def _checked_token(carrier: str, token: str, where: str) -> str:
    """An access token fit for an HTTP header: printable ASCII, no spaces (never echoed)."""
    if not header_safe(token):
        raise ConfigurationError(carrier, f"{where} does not hold an access token (empty or not printable ASCII)")
    return token


def _client(homeserver: str, user: str, timeout: float, device_id: str | None = None) -> Any:
    from nio import AsyncClient, AsyncClientConfig

    # nio warns about each error answer it then returns; this module reports those itself,
    # as one line naming the carrier, so nio's own warnings would only say it twice.
    logging.getLogger("nio.responses").setLevel(logging.ERROR)

    # No retries inside nio: it would sleep through 429s and timeouts without bound.
    config = AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, request_timeout=timeout)
    return AsyncClient(homeserver, user, device_id=device_id, config=config)


class _Answer(NamedTuple):
    """One homeserver answer, however it was read: the value, or what went wrong."""

    ok: bool
    value: Any
    status: int = 200
    code: str | None = None  # the Matrix errcode
    message: str = ""
    retry_after_ms: float | None = None


async def _nio(request: Any) -> _Answer:
    """A nio call's response as an :class:`_Answer`."""
    from nio import ErrorResponse

    try:
        response = await request
    except _UNDECODABLE:  # a body nio cannot decode (bad UTF-8, unknown charset, absurd nesting)
        return _Answer(False, None, 502, message="the answer is not readable JSON")
    # nio parses some 5xx answers into "successful" empty responses: the status tells.
    status = getattr(getattr(response, "transport_response", None), "status", 200)
    if not isinstance(response, ErrorResponse) and status < 400:
        return _Answer(True, response, status)
    return _error(
        status,
        getattr(response, "status_code", None),
        getattr(response, "message", ""),
        getattr(response, "retry_after_ms", None),
    )


async def _get_json(client: Any, path: str) -> _Answer:
    """GET a client-API path and return its JSON unparsed by nio. For the bulk reads of a
    poll: nio validates each event against its schemas three times over, which cost more
    than the homeserver's own work for a page of 500 events."""
    headers = {"Authorization": f"Bearer {client.access_token}"}
    async with await client.send("GET", path, headers=headers) as response:
        try:
            body = await response.json(content_type=None)
        except _UNDECODABLE:  # not JSON, not in its charset, or nested past reason
            body = None
        status = int(response.status)
    if status < 400 and isinstance(body, dict):
        return _Answer(True, body, status)
    error = body if isinstance(body, dict) else {}
    message = error.get("error") or ("the answer is not a JSON object" if status < 400 else "")
    return _error(status if status >= 400 else 502, error.get("errcode"), message, error.get("retry_after_ms"))


def _error(status: int, code: Any, message: Any, retry_after_ms: Any) -> _Answer:
    """An error answer, with what the server said made safe to print on one line and a
    retry delay that is a sane number or nothing."""
    retry = retry_after_ms if isinstance(retry_after_ms, int | float) and not isinstance(retry_after_ms, bool) else None
    if retry is not None and not 0 <= retry < 1e9:  # also drops NaN
        retry = None
    return _Answer(False, None, status, printable(code, 60) or None, printable(message, 200), retry)


def _path(endpoint: str, **query: Any) -> str:
    return f"/_matrix/client/v3{endpoint}?" + urlencode({k: v for k, v in query.items() if v is not None})


class _Budget:
    """Seconds of 429 waiting one post or poll may still spend, over all its requests."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds


async def _call(carrier: str, request: Any, what: str, budget: _Budget, room: str | None = None) -> Any:
    """Run one request (a function returning an :class:`_Answer`), honouring 429 up to
    what is left of ``budget``; return its value or raise :class:`RetryableError` (try
    later) or :class:`ConfigurationError` (a person must act)."""
    while True:
        answer: _Answer = await request()
        if answer.ok:
            return answer.value
        status, code = answer.status, answer.code
        if status == 429 or code == "M_LIMIT_EXCEEDED":
            # At least 50 ms: a server answering "retry after 0" cannot spin this loop.
            wait = max(0.05, (1000 if answer.retry_after_ms is None else answer.retry_after_ms) / 1000)
            if wait > budget.left:
                raise RetryableError(carrier, f"{what}: rate limited for {wait:.1f} s", retry_after=wait)
            budget.left -= wait
            await asyncio.sleep(wait)
            continue
        message = answer.message or f"HTTP {status}"
        if status in (401, 403) or code in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_FORBIDDEN"):
            raise ConfigurationError(carrier, f"{what}: refused ({code or status}: {message})")
        if status == 404 or code == "M_NOT_FOUND":
            where = f"room {printable(room, 200)} not found" if room else "not found"
            raise ConfigurationError(carrier, f"{what}: {where} ({message})")
        raise RetryableError(carrier, f"{what}: {code or status}: {message}")


class _LoginOptions(NamedTuple):
    """The options of a Matrix login, checked (given as flags or as ``--set KEY=VALUE``)."""

    homeserver: str | None
    user: str | None
    room: str | None
    create_room: bool
    invite: tuple[str, ...]
    start: str | None  # history, now, or None: the saved one (a new carrier's: history)
    device_name: str

    @classmethod
    def of(cls, options: Mapping[str, object]) -> _LoginOptions:
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
        return cls(text("homeserver"), text("user"), text("room"), create, invite, start, device_name)


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
) -> MatrixLogin:
    """Log in with a password (used once, never kept) and join ``room`` (an id or alias) or
    create a private room inviting ``invite``. A failure after login logs the new device out
    again, so no stray token is left on the server."""
    if (room is None) == (not create_room):
        raise ConfigurationError(carrier, "give a room to join, or ask to create one")
    return asyncio.run(_log_in(carrier, homeserver, user, password, room, invite, device_name, timeout))


async def _log_in(
    carrier: str,
    homeserver: str,
    user: str,
    password: str,
    room: str | None,
    invite: tuple[str, ...],
    device_name: str,
    timeout: float,
) -> MatrixLogin:
    import aiohttp

    client = _client(homeserver, user, timeout)
    budget = _Budget(_LOGIN_RETRY_WAIT)
    try:
        answer = await _call(
            carrier, lambda: _nio(client.login(password=password, device_name=device_name)), "login", budget
        )
        try:
            if room is None:
                created = await _call(
                    carrier,
                    lambda: _nio(client.room_create(name="pointers", invite=invite)),
                    "creating the room",
                    budget,
                )
                room_id = str(created.room_id)
            else:
                joined = await _call(carrier, lambda: _nio(client.join(room)), "joining", budget, room)
                room_id = str(joined.room_id)
            token = _checked_token(carrier, str(answer.access_token), "the homeserver's login answer")
            return MatrixLogin(str(answer.user_id), str(answer.device_id), token, room_id)
        except BaseException:
            # The error that matters is the one propagating; a server that cannot be told
            # to forget the token now (unreachable, garbled) has it dropped with the client.
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, *_UNDECODABLE):
                await client.logout()
            raise
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RetryableError(carrier, f"{homeserver} unreachable ({type(exc).__name__})") from None
    finally:
        await client.close()


def log_out(carrier: str, homeserver: str, user_id: str, device_id: str, token: str, timeout: float = 30.0) -> None:
    """End a device's session on the server, so its token stops working."""
    asyncio.run(_log_out(carrier, homeserver, user_id, device_id, token, timeout))


async def _log_out(carrier: str, homeserver: str, user_id: str, device_id: str, token: str, timeout: float) -> None:
    import aiohttp

    client = _client(homeserver, user_id, timeout, device_id)
    client.restore_login(user_id, device_id, token)
    try:
        await _call(carrier, lambda: _nio(client.logout()), "logging out", _Budget(_LOGIN_RETRY_WAIT))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RetryableError(carrier, f"{homeserver} unreachable ({type(exc).__name__})") from None
    finally:
        await client.close()
