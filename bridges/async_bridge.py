"""The base of a bridge over an asyncio client library (``pointerbridge.bridges.base``
gives it by name). asyncio is imported when a loop is first needed: a bridge may answer an
idle poll without one (telegram_probe.py), and importing asyncio costs that poll ~15 ms."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .base import Bridge

if TYPE_CHECKING:
    import asyncio

__all__ = ["AsyncBridge"]


class AsyncBridge(Bridge):
    """A bridge over an asyncio client library: one event loop and one connected client for
    the bridge's life, so that a run of posts reuses the connection; :meth:`close`, which
    the app calls after every run, ends both. Subclasses connect in :meth:`_connect`,
    disconnect in :meth:`_disconnect`, and may wrap :meth:`_attempt` to map their errors."""

    def __init__(self, name: str, settings: Any) -> None:
        """Use :meth:`from_config`. The client connects on first use."""
        super().__init__(name, settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None

    @abstractmethod
    async def _connect(self) -> Any:
        """A connected client."""

    @abstractmethod
    async def _disconnect(self, client: Any) -> None:
        """Release what ``_connect`` opened."""

    def _run(self, work: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run ``work(client)`` to completion on the bridge's loop."""
        if self._loop is None:
            import asyncio

            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(self._attempt(work))

    async def _attempt(self, work: Callable[[Any], Awaitable[Any]]) -> Any:
        if self._client is None:
            self._client = await self._connect()
        return await work(self._client)

    def close(self) -> None:
        """Disconnect the client and close the event loop."""
        loop, client, self._loop, self._client = self._loop, self._client, None, None
        if loop is None:
            return
        try:
            if client is not None:
                loop.run_until_complete(self._disconnect(client))
        finally:
            loop.close()
