"""The opened home every step of the pipeline works on: config, store, bridges, and the
session's state (which keys routed what, the reader's proof key). Nothing here seals,
opens or judges a message."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Self

from pointerbridge.bridges.base import Bridge, carrier_bridge_class
from pointerbridge.core.errors import UnknownVersionError
from pointerbridge.home.config import CarrierConfig, Config, Home
from pointerbridge.home.store import ChatRow, IdentityRow, home_failure

from .errors import ChatNotFoundError, NotInitialisedError


def default_bridge(name: str, config: CarrierConfig) -> Bridge:
    """The bridge of a carrier's type (found in the ``pointerbridge.bridges`` entry points),
    built from its settings."""
    return carrier_bridge_class(name, config.type).from_config(name, config.settings)


def resolve_home(home: Home | Path | None) -> Home:
    """``home`` itself, or the home at a ``--home`` path (None: ``$PBRIDGE_HOME``, else the
    platform's per-user folders)."""
    return home if isinstance(home, Home) else Home.resolve(home)


if TYPE_CHECKING:
    from pointerbridge.core.keys import ChatKey

__all__ = [
    "MIN_LATER_PAYLOAD",
    "MIN_PB1_PAYLOAD",
    "READ_VERSIONS",
    "AppBase",
    "BridgeFactory",
    "default_bridge",
    "resolve_home",
]

# Builds a carrier's bridge from its name and config (tests wrap the default to add faults).
BridgeFactory = Callable[[str, CarrierConfig], Bridge]


# What is stored of what carriers and pastes bring (issue 17, item 7): a pb1 pointer only
# if its payload is as long as the shortest pb1 pointer's (core.pointer.MIN_PAYLOAD_BYTES:
# anything shorter never opens), a later version's only if it declares at least the fixed
# fields of a pb1 message (core.pointer.FIXED_BYTES; a later format signs its messages
# too). Kept here, not imported, so polling never loads the cryptography; a test checks them.
MIN_PB1_PAYLOAD = 276
MIN_LATER_PAYLOAD = 110
READ_VERSIONS = (1, 2)  # the pointer versions this release opens (pb2: issue 21)


def _storable(texts: Iterable[str]) -> list[tuple[str, bytes]]:
    """(text, payload) of found pointers worth storing (see ``MIN_PB1_PAYLOAD``): pb1 and
    pb2 with their payloads (the store keeps each with the version its armor names). A
    later version's pointer is kept by its text with an empty payload: this release cannot
    open it, a later one will find it stored."""
    # Imported here: the armor loads GMP (gmpy2, ~40 ms), which an idle poll never needs.
    from pointerbridge.core.armor import dearmor, declared_length

    items = []
    for text in texts:
        try:
            version, payload = dearmor(text)
        except UnknownVersionError:
            version, payload = 0, b""
        if version not in READ_VERSIONS:
            if declared_length(text) >= MIN_LATER_PAYLOAD:
                items.append((text, b""))
            continue
        if len(payload) >= MIN_PB1_PAYLOAD:  # pb2 pads to the same buckets: its shortest is as long
            items.append((text, payload))
    return items


def _require_identity(home: Home) -> None:
    """Refuse a home ``init`` has not made, reading it only: a mistyped ``--home``, or a
    store file with no identity in it (empty, or left by an interrupted init), is neither
    created nor migrated on the way."""
    if not home.has_store():
        raise NotInitialisedError(f"no home at {home.where}: run 'pbridge init' there, or give the right --home")
    probe = home.open_store(readonly=True)
    try:
        known = probe.identity() if probe.schema_version else None
    finally:
        probe.close()
    if known is None:
        raise NotInitialisedError(f"the home at {home.where} has no identity yet: run 'pbridge init'")


class AppBase:
    """One user's home, opened: what the pipeline's steps share. Close it (or use ``with``)."""

    def __init__(self, home: Home, bridge_factory: BridgeFactory | None = None, *, create: bool = True) -> None:
        """Open the home's config and store.

        ``create``: make the folders and store on first use (for ``init``, ``import`` and
        the console's new-home dialog); False refuses a missing home or one with no
        identity yet (:class:`NotInitialisedError`, naming the path), creating nothing, so
        a mistyped ``--home`` is reported instead of becoming an empty home.
        ``bridge_factory`` builds a carrier's bridge from its config; the default finds the
        bridge by type in the ``pointerbridge.bridges`` entry points (tests wrap it).
        """
        try:
            if create:
                home.create()
            else:
                _require_identity(home)
            self.config: Config = home.load_config()
            self.store = home.open_store()
        except OSError as exc:  # a folder or file this user may not use: say which, and why
            raise home_failure(exc) from None
        self.home = home
        self._bridge_factory = bridge_factory or default_bridge
        # Seconds one run may spend pacing posts to a rate-limited carrier; what does not fit
        # waits for the next run (a cron poll must not run for minutes).
        self.flush_budget = 20.0
        # chat id -> (the keys that routed it, the last unrouted pointer id they looked at)
        self._routed: dict[int, tuple[tuple[ChatKey, ...], int]] = {}
        # chat id -> unrouted pointers whose routing tag is the chat's but whose AEAD does
        # not open under it: altered, or another chat's with a colliding tag (refused here)
        self._doubtful: dict[int, set[int]] = {}
        # The reader's own key for the store's proofs (app/opening.py), from the identity
        # unlocked this session; None: every read verifies every signature.
        self._reader: bytes | None = None
        # How many chats the last replacing init (``init --force``) hid: they were sealed
        # under the identity it replaced (see Store.replace_identity).
        self.hidden_by_replace = 0
        # Whether this session has filled in the pointers an earlier build kept unopened
        # (app/inbox.py, ``_fill_unopened``).
        self._filled = False

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    @classmethod
    def at(
        cls, home: Home | Path | None = None, bridge_factory: BridgeFactory | None = None, *, create: bool = True
    ) -> Self:
        """Open the home at a ``--home`` path (see :func:`resolve_home`; ``create`` as in ``__init__``)."""
        return cls(resolve_home(home), bridge_factory, create=create)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def chat_row(self, name: str) -> ChatRow:
        """The stored chat called ``name``."""
        from pointerbridge.core.keys import normalize_chat_name

        row = self.store.chat(normalize_chat_name(name))
        if row is None:
            raise ChatNotFoundError(f"no chat named {name!r} (pbridge chat list)")
        return row

    def username(self) -> str:
        """The initialised username."""
        known = self.store.identity()
        if known is None:
            raise NotInitialisedError("this home has no identity yet: run 'pbridge init'")
        return known.username

    def _guessable(self, *words: str) -> tuple[str, ...]:
        """``words`` and this home's username: what an attacker tries first in a new secret."""
        known = self.store.identity()
        return (*words, known.username) if known is not None else words

    @property
    def config_path(self) -> Path:
        """This home's config.toml (for messages that tell the user where to fix something)."""
        return self.home.config_path

    def public_identity(self) -> IdentityRow | None:
        """This home's username and public key (None: not initialised yet)."""
        return self.store.identity()

    def chats(self) -> list[ChatRow]:
        """Every chat of this home, by name."""
        return self.store.chats()

    def has_chat(self, name: str) -> bool:
        """Whether this home has a chat called ``name`` (as normalized)."""
        from pointerbridge.core.keys import normalize_chat_name

        return self.store.chat(normalize_chat_name(name)) is not None

    def unrouted_count(self) -> int:
        """How many stored pointers no unlocked chat has claimed yet."""
        return self.store.unrouted_count()
