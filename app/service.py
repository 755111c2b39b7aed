"""The local app: one user's home, chats, outbox, polling and reading, as one object.

The CLI and the console call this and hold no logic of their own. Keys are derived from
typed secrets and live in the objects returned here, in RAM; the store gets pointers,
verifiers and public keys only.

:class:`App` is a facade over the pipeline, one module per step, each adding its methods
to the one before: ``base`` (the opened home) → ``carriers`` → ``chats`` → ``join`` → ``outbox`` →
``identity`` → ``poll`` → ``inbox`` → ``decrypt`` → ``history`` → ``trash`` → ``compose`` →
``verify`` (members, safety codes, verified pins). The names a front-end needs are
re-exported here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pointerbridge.home.config import Home

from .base import resolve_home
from .carriers import carrier_clashes
from .chats import HIDE_NOTE, OPEN_CHAT_COST, REKEY_COST
from .errors import (
    ChatNotFoundError,
    NoCarriersError,
    NotInitialisedError,
    PollBusyError,
    PostsWaitingError,
    StaleSecretError,
    WrongSecretError,
)
from .models import ChatOverview, Page, PollSummary, Shown, UnlockedChat
from .verify import Member, SafetyCheck, Verifying
from .view import ChatView, MessageView

if TYPE_CHECKING:
    from .backup import Imported

__all__ = [
    "HIDE_NOTE",
    "OPEN_CHAT_COST",
    "REKEY_COST",
    "App",
    "ChatNotFoundError",
    "ChatOverview",
    "ChatView",
    "Home",
    "Member",
    "MessageView",
    "NoCarriersError",
    "NotInitialisedError",
    "Page",
    "PollBusyError",
    "PollSummary",
    "PostsWaitingError",
    "SafetyCheck",
    "Shown",
    "StaleSecretError",
    "UnlockedChat",
    "WrongSecretError",
    "carrier_clashes",
    "resolve_home",
]


class App(Verifying):
    """One user's home, opened: every step of the pipeline. Close it (or use ``with``)."""

    def export_to(self, path: Path, *, replace: bool = False) -> int:
        """Write this home's store to ``path`` (0600, atomically; nothing secret in it:
        docs/EXPORT.md); return the number of records. A file there is kept unless ``replace``."""
        from .backup import export_store

        return export_store(self.store, path, replace=replace)

    def export_stream(self, out: BinaryIO) -> int:
        """Write this home's store as an export to the open binary ``out`` (standard output)."""
        from .backup import write_export

        return write_export(self.store, out)

    def import_from(self, source: Path | BinaryIO, master_phrase: Callable[[], str]) -> Imported:
        """Check an export (a regular file, or a stream such as standard input) line by
        line, then add it to this home; return what was new, what was not taken, and the
        identity this home took if it had none. ``master_phrase`` gives the phrase of this
        home's identity (or of the export's, for a home with none yet), asked once the file
        is checked: chats are sealed under it (docs/AT-REST.md)."""
        from .backup import import_file

        def unlock(theirs: tuple[str, bytes, bytes | None] | None) -> None:
            if self.store.identity() is not None or theirs is None:
                self.unlock_identity(master_phrase())
                return
            self._unlock_as(*theirs, master_phrase())

        return import_file(self.store, source, unlock=unlock)
