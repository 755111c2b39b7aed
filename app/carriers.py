"""Carriers: the bridges this home's config.toml names, adding one (checked by its bridge
before it is saved), and which carriers would take each other's updates."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from pointerbridge.bridges.base import Bridge, BridgeError, ConfigurationError, RetryableError, carrier_bridge_class
from pointerbridge.home.config import CarrierConfig, Config, ConfigError

from .base import AppBase, default_bridge
from .errors import CarrierExistsError

__all__ = ["Carriers", "bridge_call", "carrier_clashes"]

_T = TypeVar("_T")


def bridge_call(carrier: str, call: Callable[[], _T]) -> _T:
    """``call()``, a bridge's post or poll: what it raises that is no ``BridgeError`` (the
    bridge's bug, or an answer of its carrier it did not expect: carriers are hostile)
    becomes a ``RetryableError`` naming only its type, so one carrier never stops the
    others' run, and no text of it (a URL holding a token) reaches a message."""
    try:
        return call()
    except BridgeError:
        raise
    except Exception as exc:
        if os.environ.get("PBRIDGE_DEBUG") == "1":
            raise
        raise RetryableError(
            carrier, f"its bridge failed unexpectedly ({type(exc).__name__}); PBRIDGE_DEBUG=1 shows more"
        ) from None


def carrier_clashes(
    config: Config, factory: Callable[[str, CarrierConfig], Bridge] = default_bridge, only: str | None = None
) -> dict[str, str]:
    """Carriers that hold the same thing (one Telegram bot), each with a message naming
    the others. A carrier whose settings are broken is left to its own error. ``only``:
    just that carrier's clash, judged against the carriers of its type only (a listener's
    check: with 200 carriers, building all 200 bridges per listener start and per retry
    cost 6 % of a core)."""
    holders: dict[str, list[str]] = {}
    carriers = config.carriers
    if only is not None:
        if only not in carriers or _claim(only, carriers[only], factory) is None:
            return {}
        carriers = {n: c for n, c in carriers.items() if c.type == carriers[only].type}
    for name, carrier in carriers.items():
        claim = _claim(name, carrier, factory)
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


def _claim(name: str, carrier: CarrierConfig, factory: Callable[[str, CarrierConfig], Bridge]) -> str | None:
    try:
        bridge = factory(name, carrier)
        try:
            return bridge.claim()
        finally:
            bridge.close()
    except BridgeError:
        return None


class Carriers(AppBase):
    """This home's carriers: their bridges, adding one, and clashes between them."""

    @property
    def carriers(self) -> Mapping[str, CarrierConfig]:
        """The configured carriers by name (read only: :meth:`add_carrier` changes them)."""
        return MappingProxyType(self.config.carriers)

    def add_carrier(
        self, name: str, carrier_type: str, settings: dict[str, Any], *, replace: bool = False
    ) -> list[str]:
        """Declare a carrier in config.toml once its bridge accepts the settings, it clashes
        with no other carrier, and its check passes (a files carrier's folder exists and
        can be written); return what the check said. A carrier of that name is replaced
        only with ``replace`` (else :class:`CarrierExistsError`), and its poll cursor is
        then forgotten if its type or settings change (it points into another place; what
        comes again is stored once). A carrier that fails any of these leaves config.toml
        as it was."""
        from pydantic import ValidationError

        settings = _typed(name, carrier_type, settings)
        try:
            carrier = CarrierConfig.model_validate({"type": carrier_type, **settings})
            candidate = Config.model_validate(
                {
                    "carriers": {
                        **{k: v.model_dump() for k, v in self.config.carriers.items()},
                        name: carrier.model_dump(),
                    }
                }
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise ConfigError(f"carrier {name!r}: {where}: {first['msg']}") from None
        old = self.config.carriers.get(name)
        if old is not None and not replace:
            raise CarrierExistsError(
                f"carrier {name!r} exists already ({old.type}) in {self.home.config_path}: "
                "add it again with --replace to replace it"
            )
        before, self.config = self.config, candidate
        try:
            bridge = self.bridge(name)  # the bridge validates its own settings
            try:
                clash = self.clashes().get(name)
                if clash is not None:
                    raise ConfigurationError(name, clash)
                lines = bridge.check()  # and, where it can, that they work
            finally:
                bridge.close()  # on a clash too: a bridge may hold a connection or a lock
            if old is not None and (old.type, old.settings) != (carrier.type, carrier.settings):
                self.store.forget_cursor(name)  # first: a crash before the save only polls again
            self.home.save_config(candidate)
        except BaseException:
            self.config = before
            raise
        return lines

    def bridge(self, carrier: str) -> Bridge:
        """The configured bridge of a carrier."""
        config = self.config.carriers.get(carrier)
        if config is None:
            raise ConfigError(f"{self.home.config_path}: no carrier named {carrier!r}")
        return self._bridge_factory(carrier, config)

    def clashes(self, only: str | None = None) -> dict[str, str]:
        """This home's carriers that would take each other's updates (see :func:`carrier_clashes`)."""
        return carrier_clashes(self.config, self._bridge_factory, only)

    def _check_carriers(self, carriers: Iterable[str]) -> list[str]:
        names = list(dict.fromkeys(carriers))
        for name in names:
            if name not in self.config.carriers:
                raise ConfigError(f"{self.home.config_path}: no carrier named {name!r} (pbridge carrier add)")
        return names


def _typed(name: str, carrier_type: str, settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with the numbers and switches given as text (``--set port=8000``) as the
    bridge reads them, so config.toml and invites carry ``8000``, not ``"8000"`` (a place
    compared by its settings would not match), and a proxy in its one written form.
    Anything the bridge refuses is left as it is: adding the carrier then says what is
    wrong."""
    from pydantic import ValidationError

    own = {k: v for k, v in settings.items() if k not in ("type", "poll_every", "poll_cron")}  # the app's own
    try:
        model = carrier_bridge_class(name, carrier_type).Settings.model_validate(own)
    except (BridgeError, ValidationError):
        return settings
    read = model.model_dump()
    typed = dict(settings)
    for key, value in own.items():
        kept = read.get(key)
        if isinstance(value, str) and isinstance(kept, int | float):  # bool is an int
            typed[key] = kept
    if isinstance(read.get("proxy"), str):  # its one written form, which a cron poll takes without pydantic
        typed["proxy"] = read["proxy"]
    return typed
