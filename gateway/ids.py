"""Which XMPP message is which pb2 message, for corrections, retractions and replies.

Every message the gateway sends the user for a chat's line carries the XMPP id
``pb-`` + the line's pb2 message id (:func:`xmpp_id`): the same for each of the user's
clients and across runs, so a client naming it later is understood without a table. The
user's own messages carry ids their client chose; :class:`IdMap` remembers, in memory
only and for the last :data:`KEPT` of them, which pb2 message each became. Everything a
client names is checked before it is looked up (:func:`checked_id`)."""

from __future__ import annotations

import re
from collections import OrderedDict

from pointerbridge.core.errors import InvalidInputError

__all__ = ["KEPT", "MAX_ID", "IdMap", "checked_id", "message_id", "xmpp_id"]

KEPT = 2000  # the user's own XMPP ids remembered (the oldest forgotten first)
MAX_ID = 128  # longer ids named by a client are refused: real clients use UUIDs (36)
_OURS = re.compile(r"pb-([0-9a-f]{32})")


def xmpp_id(message_id: str) -> str:
    """The XMPP id of the message the gateway sends for the pb2 message ``message_id``."""
    return f"pb-{message_id}"


def message_id(ours: str) -> str | None:
    """The pb2 message id an XMPP id of :func:`xmpp_id`'s holds, or None for any other id."""
    found = _OURS.fullmatch(ours)
    return found.group(1) if found else None


def checked_id(value: str | None, what: str) -> str | None:
    """An id a client named (``what``: where, for the refusal), or None for none given;
    ``InvalidInputError`` for one too long or holding control characters."""
    if not value:
        return None
    if len(value) > MAX_ID or not value.isprintable():
        raise InvalidInputError(f"the {what} id your client gave is not one the gateway takes")
    return value


class IdMap:
    """The user's XMPP ids, per chat, to the pb2 messages they became, and back: bounded
    (:data:`KEPT`), in memory only. Used on the hub's thread only."""

    def __init__(self, kept: int = KEPT) -> None:
        """An empty map keeping up to ``kept`` ids."""
        self._kept = kept
        self._pb2: OrderedDict[tuple[int, str], str] = OrderedDict()  # (chat, XMPP id) -> pb2 id
        self._xmpp: dict[tuple[int, str], str] = {}  # (chat, pb2 id) -> the XMPP id first given for it

    def add(self, chat: int, ids: tuple[str, ...], pb2: str) -> None:
        """Remember that the user's XMPP ``ids`` (a stanza's id and origin-id) name ``pb2``."""
        for one in ids:
            self._forget((chat, one))
            self._pb2[(chat, one)] = pb2
            self._xmpp.setdefault((chat, pb2), one)
        while len(self._pb2) > self._kept:
            self._forget(next(iter(self._pb2)))

    def _forget(self, key: tuple[int, str]) -> None:
        pb2 = self._pb2.pop(key, None)
        if pb2 is not None and self._xmpp.get((key[0], pb2)) == key[1]:
            del self._xmpp[(key[0], pb2)]

    def pb2(self, chat: int, named: str) -> str | None:
        """The pb2 message id the XMPP id ``named`` stands for in ``chat``: one of the
        user's remembered, or one the gateway gave; None if not known."""
        return self._pb2.get((chat, named)) or message_id(named)

    def xmpp(self, chat: int, pb2: str) -> str | None:
        """The user's XMPP id for their own message ``pb2``, if still remembered."""
        return self._xmpp.get((chat, pb2))
