"""The one request an idle cron poll of a Telegram carrier makes: getUpdates, asked over
httpx (python-telegram-bot's own transport, with the same trust store) without importing
python-telegram-bot, which costs a process more than everything else an idle poll does
(bench/idle.py). An answer of no updates ends the poll there. Any other answer, updates or
an error, is handed to python-telegram-bot as the answer to the very same request
(telegram_request.py), so that it parses the updates and maps the errors as if it had
asked: asking Telegram again with the same offset within 0.5 s would get at most one
update, and within 3 s would wait 3 s (``process_get_updates_query`` in the Bot API
server's Client.cpp).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from .base import RetryableError
from .proxy import unreachable as unreachable_through

if TYPE_CHECKING:
    import ssl

    from .proxy import Proxy

__all__ = [
    "MAX_ANSWER_BYTES",
    "Answer",
    "api_url",
    "get_updates",
    "new_client",
    "parameters",
    "proxied",
    "socks_errors",
    "tls_context",
    "unreachable",
]

# A batch is at most 100 messages of 4096 characters; the bound only keeps a broken or
# hostile server from filling memory.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
# Where python-telegram-bot puts the token into a base_url instead of appending it
# (telegram._bot._SUPPORTED_INSERTIONS; Telegram's test environment is ".../bot{token}/test").
_TLS: ssl.SSLContext | None = None  # tls_context()'s, made on first use
_TLS_LOCK = threading.Lock()
_INSERTIONS = tuple(f"{{{name}}}" for name in ("token", "TOKEN", "bot_token", "BOT_TOKEN", "bot-token", "BOT-TOKEN"))


class _Token(dict[str, str]):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def __missing__(self, key: str) -> str:
        return self.token


class Answer(NamedTuple):
    """What Telegram answered to ``parameters`` at ``url``: the HTTP status and the body."""

    url: str
    parameters: dict[str, str]
    status: int
    payload: bytes

    def __repr__(self) -> str:
        """Without the URL, which holds the bot token."""
        return f"Answer(status={self.status}, {len(self.payload)} bytes)"

    @property
    def idle(self) -> bool:
        """Whether the answer is a successful batch of no updates."""
        if self.status != 200:
            return False
        try:
            body = json.loads(self.payload)
        except (ValueError, RecursionError):  # not JSON, or nested past what json.loads reads
            return False
        return isinstance(body, dict) and body.get("ok") is True and body.get("result") == []


def api_url(base_url: str, token: str, method: str) -> str:
    """The URL of ``method`` as python-telegram-bot's ``Bot`` makes it (``_parse_base_url``):
    the token in place of an insertion such as ``{token}``, else appended to ``base_url``."""
    base = base_url.format_map(_Token(token)) if any(i in base_url for i in _INSERTIONS) else base_url + token
    return f"{base}/{method}"


def parameters(offset: int | None, limit: int, kinds: list[str], wait: int = 0) -> dict[str, str]:
    """getUpdates' parameters as python-telegram-bot encodes them (``RequestData.json_parameters``:
    JSON values, sent as a form, no offset when None); ``timeout`` ``wait`` seconds, 0 for a
    one-shot poll."""
    asked = {"timeout": str(wait), "offset": str(offset), "limit": str(limit), "allowed_updates": json.dumps(kinds)}
    return asked if offset is not None else {k: v for k, v in asked.items() if k != "offset"}


def get_updates(
    carrier: str,
    url: str,
    params: dict[str, str],
    timeout: float,
    *,
    wait: float = 0.0,
    client: Any = None,
    proxy: Proxy | None = None,
) -> Answer:
    """POST ``params`` to ``url`` (the bot's getUpdates, token included); a failure to get an
    answer at all is the carrier's :class:`RetryableError`, named as python-telegram-bot's
    errors are (the URL holds the token: never in a message). ``timeout`` bounds each step
    (httpx's) and the whole answer too, ``wait`` seconds more for a long poll (its
    ``timeout`` parameter): a server sending a byte now and then would hold the poll, and
    with its lock every later cron run, as long as it liked. ``client`` (of :func:`new_client`)
    keeps its connection for the next call; without one the call opens and closes its own,
    through ``proxy`` when there is one."""
    httpx = _httpx()
    through = socks_errors(proxy)
    # A long poll waits at least 3 s: Telegram makes a call with the last call's offset
    # within 3 s of it wait that long (process_get_updates_query).
    bound = timeout + (max(wait, 3.0) if wait else 0.0)
    deadline = time.monotonic() + bound
    try:
        with contextlib.ExitStack() as stack:
            if client is None:
                client = stack.enter_context(new_client(proxy, timeout))
            steps = httpx.Timeout(timeout, read=bound)  # no byte comes while Telegram waits
            response = stack.enter_context(client.stream("POST", url, data=params, timeout=steps))
            payload = bytearray()
            for chunk in response.iter_bytes():
                payload += chunk
                if len(payload) > MAX_ANSWER_BYTES:
                    raise RetryableError(carrier, f"Telegram answered more than {MAX_ANSWER_BYTES >> 20} MiB")
                if time.monotonic() > deadline:
                    raise RetryableError(carrier, f"Telegram's answer took longer than {bound:g} s")
            return Answer(url, params, response.status_code, bytes(payload))
    except (httpx.TimeoutException, *through) as exc:
        raise unreachable(carrier, proxy, exc, "TimedOut") from None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        # python-telegram-bot's BaseRequest makes any failure of its transport a NetworkError,
        # and a URL httpx cannot request is no httpx.HTTPError (InvalidURL, an IDNA UnicodeError)
        raise unreachable(carrier, proxy, exc, "NetworkError") from None


def unreachable(carrier: str, proxy: Proxy | None, exc: BaseException, kind: str) -> RetryableError:
    """ "Telegram unreachable (``kind``)", named as python-telegram-bot's errors are, or what
    failed through the proxy, naming it. Never ``exc``'s text: it can hold the URL, and the
    URL holds the token."""
    if proxy is None:
        return RetryableError(carrier, f"Telegram unreachable ({kind})")
    return unreachable_through(carrier, proxy, "Telegram", exc)


def new_client(proxy: Proxy | None, timeout: float = 5.0) -> Any:  # 5 s: httpx's own default
    """An ``httpx.Client`` (every connection and name lookup through ``proxy`` when there is
    one: :func:`proxied`), for :func:`get_updates` to keep its connection open between calls
    (a listener's long polls); the caller closes it."""
    return _httpx().Client(timeout=timeout, verify=tls_context(), **proxied(proxy, asynchronous=False))


def proxied(proxy: Proxy | None, *, asynchronous: bool) -> dict[str, Any]:
    """An httpx client's keyword arguments for ``proxy``: none without one, else httpx-socks'
    transport (python-socks, the proxy resolving names), whose connect timeout bounds the
    proxy's SOCKS answers too. httpx's own socks5h:// (httpcore) reads those answers with no
    timeout at all, so a proxy that took the connection and said nothing held every call
    for good. ``trust_env`` off: an ``HTTPS_PROXY`` in the environment would take the
    requests around the carrier's proxy."""
    if proxy is None:
        return {}
    _httpx()  # first: httpx-socks imports httpx
    from httpx_socks import AsyncProxyTransport, SyncProxyTransport
    from python_socks import ProxyType

    made = AsyncProxyTransport if asynchronous else SyncProxyTransport
    kind, tls = ProxyType.SOCKS5, tls_context()
    through = made(proxy_type=kind, proxy_host=proxy.host, proxy_port=proxy.port, rdns=True, verify=tls)
    return {"transport": through, "trust_env": False}


def socks_errors(proxy: Proxy | None) -> tuple[type[Exception], ...]:
    """What python-socks raises through httpx-socks' transport (no ``httpx.HTTPError``:
    httpx maps only httpcore's errors); none without a proxy."""
    if proxy is None:
        return ()
    from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError

    return ProxyError, ProxyTimeoutError, ProxyConnectionError


def tls_context() -> ssl.SSLContext:
    """The one TLS context of this process's Telegram clients, made as httpx makes its own
    (certifi's trust store, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``). Every httpx client
    otherwise loads the trust store anew, ~0.9 MB each: 200 listening bots held 540 MB."""
    global _TLS
    with _TLS_LOCK:
        if _TLS is None:
            _TLS = _httpx().create_ssl_context()
        return _TLS


def _httpx() -> Any:
    # httpx's package imports its command-line client (click, rich, pygments: ~55 ms here)
    # whenever they are installed, as click is for pbridge's own command line; an optional
    # part (httpx[cli]) that this process never runs, and that httpx skips when it is missing.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO line is the URL, token and all
    return httpx
