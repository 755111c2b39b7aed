"""A bridge's settings taken as config.toml gives them, without pydantic, when they are
plainly valid: each value of exactly the type a TOML file has for it and inside the
bounds the bridge's pydantic model sets, so the model would keep it as it is. Anything
else (a coercion, a bound, an unknown key, a missing one) makes :func:`take` return None,
and the model then validates and says what is wrong: this path only ever agrees with it.

Why not pydantic itself: importing it costs an idle cron poll more than the poll does
(bench/idle.py), and a cron line runs every minute. The checks are deliberately narrow
(no bool where a number goes, no control character in a text), so that no value pydantic
would change or refuse is taken here; tests/test_idle_poll.py holds each bridge's plain
path against its model, table by table.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .proxy import Proxy, parse_proxy, proxy_check

__all__ = [
    "REFUSED",
    "Check",
    "PlainNetworkSettings",
    "integers",
    "number",
    "one_of",
    "path",
    "proxy_url",
    "take",
    "take_network",
    "text",
]

REFUSED: Any = object()  # what a check returns for a value the model must decide on
Check = Callable[[Any], Any]  # the value to keep, or REFUSED
_T = TypeVar("_T")


def number(kind: type[int] | type[float], low: float, high: float, *, above: bool = False) -> Check:
    """An int (``kind`` int), or an int or finite float kept as a float (``kind`` float),
    within [low, high], or (low, high] when ``above``."""

    def check(value: Any) -> Any:
        if type(value) is not int and not (kind is float and type(value) is float and math.isfinite(value)):
            return REFUSED
        inside = (value > low if above else value >= low) and value <= high
        return kind(value) if inside else REFUSED

    return check


def text(pattern: str | None = None, *, min_length: int = 0) -> Check:
    """A str of printable characters (no newline, where regex dialects differ on ``$``),
    at least ``min_length`` long, matching ``pattern`` from its start."""
    compiled = re.compile(pattern) if pattern is not None else None

    def check(value: Any) -> Any:
        if type(value) is not str or len(value) < min_length or not value.isprintable():
            return REFUSED
        return value if compiled is None or compiled.match(value) else REFUSED

    return check


def one_of(*choices: str) -> Check:
    """Exactly one of ``choices``."""
    return lambda value: value if type(value) is str and value in choices else REFUSED


def path(value: Any) -> Any:
    """A non-empty printable str, kept as a ``Path`` as it is (pydantic expands nothing)."""
    return Path(value) if type(value) is str and value and value.isprintable() else REFUSED


def integers(value: Any) -> Any:
    """A list of ints (no bools)."""
    if type(value) is not list or any(type(v) is not int for v in value):
        return REFUSED
    return list(value)


def take(cls: type[_T], settings: dict[str, Any], checks: dict[str, Check]) -> _T | None:
    """``cls`` (a dataclass) made of ``settings`` when every key has a check that keeps its
    value and every field without a default is given, else None."""
    if not set(settings) <= set(checks):
        return None
    kept = {key: checks[key](value) for key, value in settings.items()}
    if any(value is REFUSED for value in kept.values()):
        return None
    required = {
        f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    return cls(**kept) if required <= set(kept) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlainNetworkSettings:
    """What every network carrier's settings hold beside their own (``NetworkSettings``'
    fields, with its defaults)."""

    timeout: float = 30.0
    max_retry_wait: float = 10.0
    proxy: str | None = None

    def proxy_server(self) -> Proxy | None:
        """The SOCKS5 proxy all of the carrier's traffic goes through, if it has one."""
        return None if self.proxy is None else parse_proxy(self.proxy)


def proxy_url(value: Any) -> Any:
    """A SOCKS5 proxy's URL as bridges/proxy.py takes it, in its one written form."""
    kept = proxy_check(value)
    return REFUSED if kept is None else kept


_NETWORK = {"timeout": number(float, 0, 300, above=True), "max_retry_wait": number(float, 0, 120), "proxy": proxy_url}


def take_network(
    cls: type[_T], settings: dict[str, Any], checks: dict[str, Check], credential: tuple[str, str]
) -> _T | None:
    """As :func:`take`, for a :class:`PlainNetworkSettings` with ``checks`` of its own and
    exactly one of the two ``credential`` fields given (as ``NetworkSettings`` requires)."""
    plain = take(cls, settings, {**_NETWORK, **checks})
    if plain is None or (getattr(plain, credential[0]) is None) == (getattr(plain, credential[1]) is None):
        return None
    return plain
