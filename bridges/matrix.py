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

Listening live (:meth:`MatrixBridge.listen`) is that same poll with the ``/sync`` held open
by the homeserver up to the wait (Matrix's long poll): one request while the room is idle,
answered the moment a message lands, with the poll's filter, gap reading and cursor.

Blobs (issue 21) go to the homeserver's media repository: bridges/matrix_blobs.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .base import (
    Finding,
    Login,
    PollResult,
    RetryableError,
    SettingsModel,
    extract,
    json_cursor,
    printable,
    read_credential,
)
from .findings import told_or_refused
from .matrix_api import (
    Budget,
    RawClient,
    api_path,
    call_api,
    checked_token,
    get_json,
    nio_answer,
    unreachable,
    unreachable_errors,
)
from .matrix_blobs import DEFAULT_BLOB_BYTES, MatrixBlobs
from .plain_settings import PlainNetworkSettings, number, one_of, path, take_network, text

__all__ = ["MatrixBridge", "MatrixSettings"]

EVENT_LIMIT_SAFE_CHARS = 32_000  # Matrix caps an event at 64 KiB of JSON
_PAGE = 500  # events per /messages page when a sync was limited
_MAX_PAGES = 100  # pages per poll: a longer gap is read on by the next poll
_TIMELINE_LIMIT = 100
# Bytes of a homeserver's answer read at most: the events it may hold at the spec's 64 KiB
# an event, and a quarter more for what the server adds (the envelope, events' unsigned
# data, to-device messages the filter cannot exclude). A /sync under the filter holds at
# most _TIMELINE_LIMIT events (~7.8 MiB), a /messages page _PAGE (~39 MiB); every other
# answer (whoami, joined rooms) is bounded as a /sync.
_EVENT_BYTES = 65_536
_SYNC_BYTES = _TIMELINE_LIMIT * _EVENT_BYTES * 5 // 4
_PAGE_BYTES = _PAGE * _EVENT_BYTES * 5 // 4
_MESSAGES_ONLY = json.dumps({"types": ["m.room.message"], "lazy_load_members": True}, separators=(",", ":"))
_MARK = "org.pointerbridge.pointer"  # content field marking our posts (finding does not rely on it)


@dataclass(frozen=True, slots=True, kw_only=True)
class MatrixSettings(PlainNetworkSettings):
    """A Matrix carrier's settings, as ``MatrixBridge.Settings`` (matrix_settings.py) makes them."""

    homeserver: str
    user_id: str
    device_id: str
    room_id: str
    access_token_env: str | None = None
    access_token_file: Path | None = None
    start: str = "now"
    msgtype: str = "m.text"
    max_pointer_chars: int = EVENT_LIMIT_SAFE_CHARS
    post_interval: float = 0.0
    max_blob_bytes: int = DEFAULT_BLOB_BYTES  # when the homeserver does not say its upload limit


_PLAIN = {
    "homeserver": text(r"https?://"),
    "user_id": text(r"@[^:]+:.+$"),
    "device_id": text(min_length=1),
    "room_id": text(r"!.+"),
    "access_token_env": text(),
    "access_token_file": path,
    "start": one_of("now", "history"),
    "msgtype": one_of("m.text", "m.notice"),
    "max_pointer_chars": number(int, 1000, EVENT_LIMIT_SAFE_CHARS),
    "post_interval": number(float, 0, 60),
    "max_blob_bytes": number(int, 1, 2**40),
}


class MatrixBridge(MatrixBlobs):
    """One Matrix room, reached as one bot account."""

    takes_proxy = True
    carrier_type = "matrix"
    Settings = SettingsModel("pointerbridge.bridges.matrix_settings", "MatrixSettingsModel")
    shareable_settings = ("homeserver", "room_id", "max_pointer_chars")
    setup_hint = (
        "log your own bot in first: pbridge carrier login matrix {name} --homeserver {homeserver} --user BOT "
        "--room {room_id}"
    )
    quiet_loggers = ("nio", "aiohttp")  # aiohttp's and nio's INFO lines carry request URLs
    listens = True  # /sync long-polls
    listen_wait = 50.0  # one open request (or connection) per wait: half the rounds of 25 s

    @classmethod
    def login(
        cls, name: str, saved: Mapping[str, Any], password: Callable[[], str], options: Mapping[str, object]
    ) -> Login:
        """Log the bot in (new, or again with its ``saved`` settings as defaults), join
        ``room`` or create a private room inviting ``invite`` (bridges/matrix_login.py)."""
        from .matrix_login import login

        return login(name, saved, password, options)

    @classmethod
    def logout(cls, name: str, settings: Mapping[str, Any], credential: str) -> None:
        """Log the device ``settings`` name out, so its token stops working."""
        from .matrix_login import logout

        logout(name, settings, credential)

    @classmethod
    def same_place(cls, mine: dict[str, Any], shared: dict[str, Any]) -> bool:
        """The same room (a room id names one room across all homeservers)."""
        return bool(mine.get("room_id")) and mine.get("room_id") == shared.get("room_id")

    def __init__(self, name: str, settings: Any) -> None:
        """Use :meth:`from_config`. The connection opens on first use and lasts until :meth:`close`."""
        plain = settings if isinstance(settings, MatrixSettings) else MatrixSettings(**settings.model_dump())
        super().__init__(name, plain)
        self._s: MatrixSettings = plain
        self._budget = Budget(0.0)

    @classmethod
    def plain_settings(cls, settings: dict[str, Any]) -> MatrixSettings | None:
        """The settings without pydantic when they are plainly valid (an idle poll's case)."""
        return take_network(MatrixSettings, settings, _PLAIN, ("access_token_env", "access_token_file"))

    def post(self, pointer: str) -> str:
        """Send the pointer as a message; return the event id."""
        event_id: str = self._run(lambda client: self._post(client, pointer))
        return event_id

    def poll(self, cursor: str | None) -> PollResult:
        """Every message since ``cursor`` (None: from ``start``)."""
        result: PollResult = self._run(lambda client: self._poll(client, cursor))
        return result

    def listen(self, cursor: str | None, wait: float) -> PollResult:
        """:meth:`poll` as one ``/sync`` long poll: the homeserver holds the request up to
        ``wait`` seconds and answers as soon as the room has a message (an empty answer
        when the wait ends, with a new cursor). No wait without a ``since`` to wait from,
        or while a gap is still being read: that is read at once."""
        result: PollResult = self._run(lambda client: self._poll(client, cursor, wait))
        return result

    def check(self) -> list[str]:
        """The token can be read (before any request), then what doctor checks: whoami and
        the room; a failure refuses the carrier."""
        self._token()
        return told_or_refused(self.name, self.diagnose(None))

    def diagnose(self, cursor: str | None) -> list[Finding]:
        """whoami (the token works, for this account) and the room among the joined ones."""
        findings: list[Finding] = self._run(self._diagnose)
        return findings

    # -- the async part ---------------------------------------------------------------------

    async def _diagnose(self, client: Any) -> list[Finding]:
        me = await self._call(
            lambda: get_json(client, api_path("/account/whoami"), most=_SYNC_BYTES), "checking the token"
        )
        if me.get("user_id") != self._s.user_id:
            return [
                Finding("token", "fail", f"the token is {printable(me.get('user_id'), 200)}'s, not {self._s.user_id}'s")
            ]
        findings = [Finding("token", "ok", f"accepted for {self._s.user_id}")]
        rooms = await self._call(lambda: get_json(client, api_path("/joined_rooms"), most=_SYNC_BYTES), "listing rooms")
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
        self._budget = Budget(self._s.max_retry_wait)  # for all of this post's or poll's requests
        try:
            return await super()._attempt(work)
        except unreachable_errors() as exc:
            raise unreachable(self.name, self._s.homeserver, self._s.proxy_server(), exc) from None

    async def _connect(self) -> Any:
        s = self._s
        return RawClient(s.homeserver, s.user_id, s.device_id, self._token(), s.timeout, s.proxy_server())

    async def _disconnect(self, client: Any) -> None:
        await client.close()

    def _token(self) -> str:
        token, where = read_credential(self.name, self._s.access_token_env, self._s.access_token_file)
        return checked_token(self.name, token, where)

    async def _call(self, request: Any, what: str) -> Any:
        return await call_api(self.name, request, what, self._budget, self._s.room_id)

    async def _post(self, client: Any, pointer: str) -> str:
        content = {"msgtype": self._s.msgtype, "body": pointer, _MARK: 1}
        transaction = "pb-" + hashlib.sha256(pointer.encode("ascii")).hexdigest()[:32]
        response = await self._call(
            lambda: nio_answer(client.nio().room_send(self._s.room_id, "m.room.message", content, tx_id=transaction)),
            "posting",
        )
        return str(response.event_id)

    async def _poll(self, client: Any, cursor: str | None, wait: float = 0.0) -> PollResult:
        state = json_cursor(cursor)
        place = {"room": self._s.room_id, "user": self._s.user_id}
        if any(state.get(key, value) != value for key, value in place.items()):
            state = {}  # now another room or account: the old filter and sync token do not apply
        state.update(place)
        if state.get("filter") is None:
            state["filter"] = await self._upload_filter(client)
        since = state.get("since")
        if since is None or "gap" in state:
            wait = 0.0
        timeout = max(1, round(wait * 1000))  # milliseconds; 1 as a poll always sent
        sync_path = api_path("/sync", since=since, timeout=timeout, filter=state["filter"])
        answer = await self._call(lambda: get_json(client, sync_path, wait, most=_SYNC_BYTES), "polling")
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
            path = api_path(endpoint, **{"from": token, "dir": direction, "limit": _PAGE, "filter": _MESSAGES_ONLY})
            page = await self._call(lambda path=path: get_json(client, path, most=_PAGE_BYTES), "reading history")
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
            lambda: nio_answer(
                client.nio().upload_filter(room=room, presence={"types": []}, account_data={"types": []})
            ),
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
