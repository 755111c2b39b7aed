"""The opened home every step of the pipeline works on: config, store, bridges, and the
session's state (which keys routed what, the reader's proof key). Nothing here seals,
opens or judges a message."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Self

from pointerbridge.bridges.base import Bridge, BridgeError, bridge_class
from pointerbridge.core.armor import dearmor
from pointerbridge.core.errors import UnknownVersionError
from pointerbridge.home.config import (
    CarrierConfig,
    Config,
    ConfigError,
    Home,
    load_config,
)
from pointerbridge.home.store import ChatRow, Store

from .errors import ChatNotFoundError, NotInitialisedError

if TYPE_CHECKING:
    from pointerbridge.core.keys import ChatKey

__all__ = ["AppBase", "carrier_clashes"]


def _default_bridge(name: str, config: CarrierConfig) -> Bridge:
    return bridge_class(config.type).from_config(name, config.settings)


def carrier_clashes(
    config: Config, factory: Callable[[str, CarrierConfig], Bridge] = _default_bridge
) -> dict[str, str]:
    """Carriers that hold the same thing (one Telegram bot), each with a message naming
    the others. A carrier whose settings are broken is left to its own error."""
    holders: dict[str, list[str]] = {}
    for name, carrier in config.carriers.items():
        try:
            bridge = factory(name, carrier)
            try:
                claim = bridge.claim()
            finally:
                bridge.close()
        except BridgeError:
            continue
        if claim is not None:
            holders.setdefault(claim, []).append(name)
    clashes = {}
    for claim, names in holders.items():
        for name in names if len(names) > 1 else ():
            others = ", ".join(repr(n) for n in names if n != name)
            clashes[name] = (
                f"uses the same {claim} as {others}: one bot can have one poller only (each would "
                "delete what the other has not read yet); give each carrier a bot of its own"
            )
    return clashes


def _storable(texts: Iterable[str]) -> list[tuple[str, bytes]]:
    """(text, payload) of found pointers. A later version's pointer is kept by its text
    with an empty payload: this release cannot open it, a later one will find it stored."""
    items = []
    for text in texts:
        try:
            items.append((text, dearmor(text)[1]))
        except UnknownVersionError:
            items.append((text, b""))
    return items


class AppBase:
    """One user's home, opened: what the pipeline's steps share. Close it (or use ``with``)."""

    def __init__(self, home: Home, bridge_factory: Callable[[str, CarrierConfig], Bridge] | None = None) -> None:
        """Open the home's config and store (creating the folders on first use).

        ``bridge_factory`` builds a carrier's bridge from its config; the default finds the
        bridge by type in the ``pointerbridge.bridges`` entry points (tests wrap it).
        """
        home.create()
        self.home = home
        self._bridge_factory = bridge_factory or _default_bridge
        self.config: Config = load_config(home.config_path)
        self.store = Store.open(home.store_path)
        # chat id -> (the keys that routed it, the last unrouted pointer id they looked at)
        self._routed: dict[int, tuple[tuple[ChatKey, ...], int]] = {}
        # chat id -> unrouted pointers whose routing tag is the chat's but whose AEAD does
        # not open under it: altered, or another chat's with a colliding tag (refused here)
        self._doubtful: dict[int, set[int]] = {}
        # The reader's own key for the store's proofs (app/opening.py), from the identity
        # unlocked this session; None: every read verifies every signature.
        self._reader: bytes | None = None

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bridge(self, carrier: str) -> Bridge:
        """The configured bridge of a carrier."""
        config = self.config.carriers.get(carrier)
        if config is None:
            raise ConfigError(f"{self.home.config_path}: no carrier named {carrier!r}")
        return self._bridge_factory(carrier, config)

    def clashes(self) -> dict[str, str]:
        """This home's carriers that would take each other's updates (see :func:`carrier_clashes`)."""
        return carrier_clashes(self.config, self._bridge_factory)

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
        return known[0]

    def _guessable(self, *words: str) -> tuple[str, ...]:
        """``words`` and this home's username: what an attacker tries first in a new secret."""
        known = self.store.identity()
        return (*words, known[0]) if known is not None else words

    def _check_carriers(self, carriers: Iterable[str]) -> list[str]:
        names = list(dict.fromkeys(carriers))
        for name in names:
            if name not in self.config.carriers:
                raise ConfigError(f"{self.home.config_path}: no carrier named {name!r} (pbridge carrier add)")
        return names
