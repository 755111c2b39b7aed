"""Talking to a Matrix homeserver: nio's answers and raw JSON reads (aiohttp alone, nio
made only when sending) as one kind of answer, the client-API paths, and one request
honouring 429 within a time budget, with every failure as the bridge's typed error.
Shared by the bridge and its login."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlencode

from .base import ConfigurationError, RetryableError, header_safe, printable
from .proxy import unreachable as unreachable_through

if TYPE_CHECKING:
    from .proxy import Proxy

__all__ = [
    "UNDECODABLE",
    "Answer",
    "Budget",
    "RawClient",
    "api_path",
    "call_api",
    "checked_token",
    "error_answer",
    "get_json",
    "new_client",
    "nio_answer",
    "unreachable",
    "unreachable_errors",
]

# What decoding an answer's body raises: bad JSON or UTF-8, a charset Python does not
# know (LookupError), nesting deeper than the parser's recursion.
UNDECODABLE = (ValueError, LookupError, RecursionError)


def checked_token(carrier: str, token: str, where: str) -> str:
    """An access token fit for an HTTP header: printable ASCII, no spaces (never echoed)."""
    if not header_safe(token):
        raise ConfigurationError(carrier, f"{where} does not hold an access token (empty or not printable ASCII)")
    return token


def new_client(
    homeserver: str, user: str, timeout: float, device_id: str | None = None, proxy: Proxy | None = None
) -> Any:
    """nio's client for ``homeserver``, every connection through ``proxy`` when there is one."""
    from nio import AsyncClient, AsyncClientConfig

    # nio warns about each error answer it then returns; this module reports those itself,
    # as one line naming the carrier, so nio's own warnings would only say it twice.
    logging.getLogger("nio.responses").setLevel(logging.ERROR)

    _system_resolver()
    # No retries inside nio: it would sleep through 429s and timeouts without bound.
    config = AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, request_timeout=timeout)
    # nio hands its proxy to aiohttp-socks, whose URL parser (python-socks') knows no
    # socks5h://: its socks5:// is SOCKS5 with the proxy resolving names unless told
    # otherwise (rdns=False), which nio never does (tests/test_matrix_proxy.py checks).
    nio_proxy = None if proxy is None else proxy.url.replace("socks5h://", "socks5://", 1)
    return AsyncClient(homeserver, user, device_id=device_id, config=config, proxy=nio_proxy)


def _system_resolver() -> None:
    """Make aiohttp (under nio) resolve names with the system's resolver on the loop's
    threads, as it does when aiodns is not installed. aiodns is (slixmpp needs it), and its
    pycares leaves a thread running for good once a lookup ends: a process with a thread
    no longer forks its readers (app/opening.py). nio builds its own connector, so the
    default is what can be chosen; the raw session names its resolver itself."""
    import aiohttp.connector
    from aiohttp.resolver import ThreadedResolver

    aiohttp.connector.DefaultResolver = ThreadedResolver  # type: ignore[attr-defined]


def _session(timeout: Any, proxy: Proxy | None) -> Any:
    """An aiohttp session resolving with the system's resolver (see :func:`_system_resolver`),
    or with every connection and name lookup through ``proxy`` (aiohttp-socks' connector
    resolves nothing itself: no aiodns either)."""
    import aiohttp

    if proxy is None:
        connector = aiohttp.TCPConnector(resolver=aiohttp.ThreadedResolver())
    else:
        from aiohttp_socks import ProxyConnector, ProxyType

        connector = ProxyConnector(proxy.host, proxy.port, ProxyType.SOCKS5, rdns=True)
    return aiohttp.ClientSession(timeout=timeout, connector=connector)


def unreachable_errors() -> tuple[type[BaseException], ...]:
    """What a request raises when the homeserver (or the proxy) cannot be reached; for an
    ``except`` clause, which evaluates it only once something was raised (no import before)."""
    import aiohttp
    from aiohttp_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError

    return (aiohttp.ClientError, TimeoutError, ProxyConnectionError, ProxyError, ProxyTimeoutError)


def unreachable(carrier: str, homeserver: str, proxy: Proxy | None, exc: BaseException) -> RetryableError:
    """The "retry later" for one of :func:`unreachable_errors`, naming the proxy when there is one."""
    if proxy is None:
        return RetryableError(carrier, f"{homeserver} unreachable ({type(exc).__name__})")
    return unreachable_through(carrier, proxy, homeserver, exc)


class RawClient:
    """A homeserver session for the raw JSON reads (a poll's ``/sync``, history pages,
    whoami) over aiohttp alone, with nio, for what it does (sending, the sync filter), made
    on first use by :meth:`nio`: importing nio costs an idle cron poll, which only reads,
    about as much as everything else it does. Its :meth:`send` is nio's ``AsyncClient.send``."""

    def __init__(
        self, homeserver: str, user: str, device_id: str | None, token: str, timeout: float, proxy: Proxy | None
    ) -> None:
        """Logged in as ``user`` on ``device_id`` with the access ``token``, through ``proxy``
        when there is one; nothing connects yet."""
        self.homeserver, self.access_token = homeserver, token
        self._user, self._device_id, self._timeout, self._proxy = user, device_id, timeout, proxy
        self._session: Any = None
        self._nio: Any = None

    async def send(self, method: str, path: str, headers: dict[str, str] | None = None, wait: float = 0.0) -> Any:
        """The response to one request (the caller reads and releases it); ``wait``: seconds
        the server may hold it before answering (a long poll), beyond the request timeout."""
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self._timeout + wait)
        if self._session is None:
            self._session = _session(timeout, self._proxy)
        return await self._session.request(method, self.homeserver + path, headers=headers, timeout=timeout)

    def nio(self) -> Any:
        """nio's client, logged in as this session."""
        if self._nio is None:
            self._nio = new_client(self.homeserver, self._user, self._timeout, self._device_id, self._proxy)
            self._nio.restore_login(self._user, self._device_id, self.access_token)
        return self._nio

    async def close(self) -> None:
        """Close what was opened."""
        session, client, self._session, self._nio = self._session, self._nio, None, None
        try:
            if session is not None:
                await session.close()
        finally:
            if client is not None:
                await client.close()


class Answer(NamedTuple):
    """One homeserver answer, however it was read: the value, or what went wrong."""

    ok: bool
    value: Any
    status: int = 200
    code: str | None = None  # the Matrix errcode
    message: str = ""
    retry_after_ms: float | None = None


async def nio_answer(request: Any) -> Answer:
    """A nio call's response as an :class:`Answer`."""
    from nio import ErrorResponse

    try:
        response = await request
    except UNDECODABLE:  # a body nio cannot decode (bad UTF-8, unknown charset, absurd nesting)
        return Answer(False, None, 502, message="the answer is not readable JSON")
    # nio parses some 5xx answers into "successful" empty responses: the status tells.
    status = getattr(getattr(response, "transport_response", None), "status", 200)
    if not isinstance(response, ErrorResponse) and status < 400:
        return Answer(True, response, status)
    return error_answer(
        status,
        getattr(response, "status_code", None),
        getattr(response, "message", ""),
        getattr(response, "retry_after_ms", None),
    )


async def get_json(client: Any, path: str, wait: float = 0.0, *, most: int) -> Answer:
    """GET a client-API path and return its JSON unparsed by nio. For the bulk reads of a
    poll: nio validates each event against its schemas three times over, which cost more
    than the homeserver's own work for a page of 500 events. ``wait``: seconds the server
    may hold the request (a ``/sync`` long poll), added to the request timeout. ``most``:
    bytes of body read at most (the server is hostile until shown otherwise); a longer
    answer is a 502, so the request is retried later, and the rest is never read."""
    headers = {"Authorization": f"Bearer {client.access_token}"}
    async with await client.send("GET", path, headers=headers, wait=wait) as response:
        status = int(response.status)
        raw = await _bounded_body(response, most)
        if raw is None:
            return Answer(False, None, 502, message=f"the answer is longer than {most:,} bytes")
        try:
            text = raw.strip().decode(response.charset or "utf-8")
            body = json.loads(text) if text else None
        except UNDECODABLE:  # not JSON, not in its charset, or nested past reason
            body = None
    if status < 400 and isinstance(body, dict):
        return Answer(True, body, status)
    error = body if isinstance(body, dict) else {}
    message = error.get("error") or ("the answer is not a JSON object" if status < 400 else "")
    return error_answer(status if status >= 400 else 502, error.get("errcode"), message, error.get("retry_after_ms"))


async def _bounded_body(response: Any, most: int) -> bytes | None:
    """The response's body read in chunks, or None once it passes ``most`` bytes."""
    if (response.content_length or 0) > most:
        return None
    body = bytearray()
    async for chunk in response.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > most:
            return None
    return bytes(body)


def error_answer(status: int, code: Any, message: Any, retry_after_ms: Any) -> Answer:
    """An error answer, with what the server said made safe to print on one line and a
    retry delay that is a sane number or nothing."""
    retry = retry_after_ms if isinstance(retry_after_ms, int | float) and not isinstance(retry_after_ms, bool) else None
    if retry is not None and not 0 <= retry < 1e9:  # also drops NaN
        retry = None
    return Answer(False, None, status, printable(code, 60) or None, printable(message, 200), retry)


def api_path(endpoint: str, **query: Any) -> str:
    return f"/_matrix/client/v3{endpoint}?" + urlencode({k: v for k, v in query.items() if v is not None})


class Budget:
    """Seconds of 429 waiting one post or poll may still spend, over all its requests."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds


async def call_api(carrier: str, request: Any, what: str, budget: Budget, room: str | None = None) -> Any:
    """Run one request (a function returning an :class:`Answer`), honouring 429 up to
    what is left of ``budget``; return its value or raise :class:`RetryableError` (try
    later) or :class:`ConfigurationError` (a person must act)."""
    while True:
        answer: Answer = await request()
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
