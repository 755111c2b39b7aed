"""The app's own failures: each a typed error a front-end reports in one line."""

from __future__ import annotations

from pointerbridge.core.errors import PointerBridgeError

__all__ = [
    "ChatNotFoundError",
    "NoCarriersError",
    "NotInitialisedError",
    "PollBusyError",
    "StaleSecretError",
    "WrongSecretError",
]


class WrongSecretError(PointerBridgeError):
    """The typed secret or master phrase does not match what this home knows."""


class NotInitialisedError(PointerBridgeError):
    """This home has no identity yet: run ``pbridge init``."""


class ChatNotFoundError(PointerBridgeError):
    """No chat of that name in this home."""


class NoCarriersError(PointerBridgeError):
    """The chat has no carrier to post to (it was created by receiving)."""


class PollBusyError(PointerBridgeError):
    """Another poll of this home is running."""


class StaleSecretError(PointerBridgeError):
    """The chat was unlocked with one of its earlier secrets: it reads, it does not send
    or rekey (the chat's secret was changed since)."""
