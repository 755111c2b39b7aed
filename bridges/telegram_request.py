"""python-telegram-bot's getUpdates transport for the Telegram carrier: its own
``HTTPXRequest``, except that an answer the idle probe (telegram_probe.py) already got is
given as the answer to the same request, once, so python-telegram-bot parses it and maps
its errors without asking Telegram twice."""

from __future__ import annotations

from typing import Any

from telegram.request import BaseRequest, HTTPXRequest, RequestData

from .proxy import Proxy
from .telegram_probe import Answer, proxied, tls_context

__all__ = ["PrefetchedRequest", "new_request"]


def new_request(timeout: float, proxy: Proxy | None) -> HTTPXRequest:
    """python-telegram-bot's ``HTTPXRequest`` with every timeout ``timeout`` seconds, on the
    process's one TLS context (:func:`tls_context`: a trust store per client costs ~0.9 MB),
    every connection and name lookup through ``proxy`` when there is one (httpx-socks'
    transport, :func:`~.telegram_probe.proxied`: its connect timeout bounds the proxy's
    answers, which PTB's own ``proxy`` would wait for without end)."""
    return HTTPXRequest(
        connect_timeout=timeout,
        read_timeout=timeout,
        write_timeout=timeout,
        httpx_kwargs={"verify": tls_context(), **proxied(proxy, asynchronous=True)},
    )


class PrefetchedRequest(BaseRequest):
    """An ``HTTPXRequest`` that first gives back a held :class:`Answer` to the request it answers."""

    def __init__(self, timeout: float, proxy: Proxy | None) -> None:
        """Every timeout ``timeout`` seconds and the ``proxy``, as the carrier's other requests."""
        self._inner = new_request(timeout, proxy)
        self._held: Answer | None = None

    def hold(self, answer: Answer) -> None:
        """Answer the next request for ``answer.url`` with ``answer.parameters`` with it."""
        self._held = answer

    @property
    def read_timeout(self) -> float | None:
        """The inner request's."""
        return self._inner.read_timeout

    async def initialize(self) -> None:
        """Initialise the inner request."""
        await self._inner.initialize()

    async def shutdown(self) -> None:
        """Shut the inner request down."""
        await self._inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """The held answer if it answers this very request (then forgotten), else Telegram's.
        (The timeouts are PTB's ``ODVInput[float]``, whose module is private.)"""
        held, self._held = self._held, None
        asked = request_data.json_parameters if request_data is not None else {}
        if held is not None and held.url == url and held.parameters == asked:
            return held.status, held.payload
        return await self._inner.do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )
