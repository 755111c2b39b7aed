"""The local app: one user's home, chats, outbox, polling and reading, as one object.

The CLI and the console call this and hold no logic of their own. Keys are derived from
typed secrets and live in the objects returned here, in RAM; the store gets pointers,
verifiers and public keys only.

:class:`App` is a facade over the pipeline, one module per step, each adding its methods
to the one before: ``base`` (the opened home) → ``chats`` → ``join`` → ``outbox`` →
``identity`` → ``poll`` → ``inbox`` → ``decrypt`` → ``history`` → ``trash``. The names
a front-end needs are re-exported here."""

from __future__ import annotations

from .base import carrier_clashes
from .chats import OPEN_CHAT_COST
from .errors import (
    ChatNotFoundError,
    NoCarriersError,
    NotInitialisedError,
    PollBusyError,
    StaleSecretError,
    WrongSecretError,
)
from .models import ChatOverview, Page, PollSummary, Shown, UnlockedChat
from .trash import Trash

__all__ = [
    "OPEN_CHAT_COST",
    "App",
    "ChatNotFoundError",
    "ChatOverview",
    "NoCarriersError",
    "NotInitialisedError",
    "Page",
    "PollBusyError",
    "PollSummary",
    "Shown",
    "StaleSecretError",
    "UnlockedChat",
    "WrongSecretError",
    "carrier_clashes",
]


class App(Trash):
    """One user's home, opened: every step of the pipeline. Close it (or use ``with``)."""
