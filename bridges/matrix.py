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
The client is opened per call sequence and always closed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .base import Bridge, ConfigurationError, Limits, PollResult, RetryableError, extract

__all__ = ["MatrixBridge"]

_EVENT_LIMIT_SAFE_CHARS = 32_000  # Matrix caps an event at 64 KiB of JSON
_PAGE = 500  # events per /messages page when a sync was limited
_TIMELINE_LIMIT = 100
_MARK = "org.pointerbridge.pointer"  # content field marking our posts (finding does not rely on it)


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
    timeout: float = Field(default=30.0, gt=0, le=300)  # seconds per request
    max_retry_wait: float = Field(default=10.0, ge=0, le=120)  # longest 429 wait honoured inside one run

    @model_validator(mode="after")
    def _one_token_source(self) -> _Settings:
        if (self.access_token_env is None) == (self.access_token_file is None):
            raise ValueError("give exactly one of access_token_env and access_token_file")
        return self


class MatrixBridge(Bridge):
    """One Matrix room, reached as one bot account."""

    carrier_type = "matrix"
    Settings = _Settings
    shareable_settings = ("homeserver", "room_id", "max_pointer_chars")

    @property
    def _s(self) -> _Settings:
        settings: _Settings = self.settings  # type: ignore[assignment]
        return settings

    @property
    def limits(self) -> Limits:
        """An event holds up to 32,000 pointer characters; posting pace as configured."""
        return Limits(max_pointer_chars=self._s.max_pointer_chars, min_post_interval=self._s.post_interval)

    def post(self, pointer: str) -> str:
        """Send the pointer as a message; return the event id."""
        event_id: str = asyncio.run(self._with_client(lambda client: self._post(client, pointer)))
        return event_id

    def poll(self, cursor: str | None) -> PollResult:
        """Every message since ``cursor`` (None: from ``start``)."""
        result: PollResult = asyncio.run(self._with_client(lambda client: self._poll(client, cursor)))
        return result

    # -- the async part ---------------------------------------------------------------------

    def _token(self) -> str:
        s = self._s
        if s.access_token_env is not None:
            token = os.environ.get(s.access_token_env, "")
            if not token:
                raise ConfigurationError(self.name, f"environment variable {s.access_token_env} is not set")
            return token
        path = s.access_token_file
        assert path is not None
        try:
            info = path.stat()
            if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigurationError(self.name, f"{path} must be readable by you only (chmod 600)")
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(self.name, f"cannot read {path}: {exc.strerror}") from None

    async def _with_client(self, work: Any) -> Any:
        import aiohttp
        from nio import AsyncClient, AsyncClientConfig

        s = self._s
        config = AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, request_timeout=s.timeout)
        client = AsyncClient(s.homeserver, s.user_id, device_id=s.device_id, config=config)
        client.restore_login(s.user_id, s.device_id, self._token())
        try:
            return await work(client)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableError(self.name, f"{s.homeserver} unreachable ({type(exc).__name__})") from None
        finally:
            await client.close()

    async def _call(self, request: Any, what: str) -> Any:
        """Run one nio request, honouring 429 up to ``max_retry_wait`` in all; map errors."""
        from nio import ErrorResponse

        waited = 0.0
        while True:
            response = await request()
            status = getattr(getattr(response, "transport_response", None), "status", 200)
            if not isinstance(response, ErrorResponse) and status < 400:
                return response
            code = getattr(response, "status_code", None)
            if status == 429 or code == "M_LIMIT_EXCEEDED":
                wait = (getattr(response, "retry_after_ms", None) or 1000) / 1000
                if waited + wait > self._s.max_retry_wait:
                    raise RetryableError(self.name, f"{what}: rate limited for {wait:.1f} s", retry_after=wait)
                waited += wait
                await asyncio.sleep(wait)
                continue
            message = getattr(response, "message", "") or f"HTTP {status}"
            if status in (401, 403) or code in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_FORBIDDEN"):
                raise ConfigurationError(self.name, f"{what}: refused ({code or status}: {message})")
            if status == 404 or code == "M_NOT_FOUND":
                raise ConfigurationError(self.name, f"{what}: room {self._s.room_id} not found ({message})")
            raise RetryableError(self.name, f"{what}: {code or status}: {message}")

    async def _post(self, client: Any, pointer: str) -> str:
        content = {"msgtype": self._s.msgtype, "body": pointer, _MARK: 1}
        transaction = "pb-" + hashlib.sha256(pointer.encode("ascii")).hexdigest()[:32]
        response = await self._call(
            lambda: client.room_send(self._s.room_id, "m.room.message", content, tx_id=transaction), "posting"
        )
        return str(response.event_id)

    async def _poll(self, client: Any, cursor: str | None) -> PollResult:
        state = _parse_cursor(cursor)
        if state.get("filter") is None:
            state["filter"] = await self._upload_filter(client)
        since = state.get("since")
        response = await self._call(
            lambda: client.sync(timeout=1, since=since, sync_filter=state["filter"], full_state=False), "polling"
        )
        room = response.rooms.join.get(self._s.room_id)
        timeline = room.timeline if room else None
        events: list[Any] = list(timeline.events) if timeline else []
        if since is None and self._s.start == "history":
            events = await self._page(client, timeline.prev_batch if timeline else None, "b") + events
        elif since is None:
            events = []  # "now": begin after what is already in the room
        elif timeline is not None and timeline.limited:
            events = await self._page(client, since, "f")  # the whole gap, from the stored token
        result = PollResult([], "")
        seen: set[str] = set()
        for event in events:
            if event.event_id in seen:
                continue  # a page boundary and the sync timeline may overlap
            seen.add(event.event_id)
            body = getattr(event, "source", {}).get("content", {}).get("body")
            if getattr(event, "source", {}).get("type") == "m.room.message" and isinstance(body, str):
                extract(body, str(event.event_id), result)
        state["since"] = response.next_batch
        result.cursor = json.dumps(state, sort_keys=True)
        return result

    async def _page(self, client: Any, token: str | None, direction: str) -> list[Any]:
        """Room events from ``token``: forward to the live end, or back to the room's start
        (returned oldest first either way)."""
        events: list[Any] = []
        room = self._s.room_id
        while token is not None:
            response = await self._call(
                lambda start=token: client.room_messages(room, start=start, direction=direction, limit=_PAGE),
                "reading history",
            )
            events.extend(response.chunk)
            if not response.chunk or response.end in (None, token):
                break
            token = response.end
        return events if direction == "f" else events[::-1]

    async def _upload_filter(self, client: Any) -> str:
        room = {
            "rooms": [self._s.room_id],
            "timeline": {"limit": _TIMELINE_LIMIT, "types": ["m.room.message"]},
            "state": {"types": [], "lazy_load_members": True},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
        }
        response = await self._call(
            lambda: client.upload_filter(room=room, presence={"types": []}, account_data={"types": []}),
            "setting up the sync filter",
        )
        return str(response.filter_id)


def _parse_cursor(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}  # an unreadable cursor costs a fresh start, never a crash
    return data if isinstance(data, dict) else {}
