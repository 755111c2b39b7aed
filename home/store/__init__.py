"""The local store: SQLite (WAL) holding pointers as carried, and nothing secret.

It keeps pointers (text and the decoded ciphertext), which chat each belongs to once it is
known, where each was posted or found, trash flags, chats with slow verifiers of their
secrets, the user's public identity, sender keys pinned per chat, and carrier cursors.
Plaintext, secrets and derived keys never enter it: history is decrypted on demand.

One module per family of tables: ``schema`` (migrations), ``base`` (opening,
transactions), ``chats`` (chats, verifiers, identity, pins, rotations), ``pointers``
(pointers, posts, trash, marks), ``carriers`` (cursors, runs) and ``records`` (export and
import). :class:`Store` is all of them.
"""

from __future__ import annotations

from .carriers import CarrierTables
from .guard import home_failure, unwritable
from .purged import Purged, PurgedStream
from .record import SendStream
from .records import Records
from .rows import (
    ChatRow,
    ConflictRow,
    Direction,
    IdentityRow,
    PointerRow,
    RotationRow,
    RunRow,
    StoreError,
    StoreLockedError,
    StreamMovedError,
    Verifier,
    pointer_digest,
    pointer_version,
)
from .schema import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "ChatRow",
    "ConflictRow",
    "Direction",
    "IdentityRow",
    "PointerRow",
    "Purged",
    "PurgedStream",
    "RotationRow",
    "RunRow",
    "SendStream",
    "Store",
    "StoreError",
    "StoreLockedError",
    "StreamMovedError",
    "Verifier",
    "home_failure",
    "pointer_digest",
    "pointer_version",
    "unwritable",
]


class Store(Records, CarrierTables):
    """One user's store. Open with :meth:`open`; use as a context manager to close it."""
