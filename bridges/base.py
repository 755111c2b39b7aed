"""The bridge contract every carrier implements, and how carriers are found.

A bridge moves pointer text and nothing else: it never sees a key. ``post`` puts one
pointer on the carrier and returns the carrier's reference for it; ``poll`` returns the
pointers found since a cursor and the next cursor. The app stores what a poll returns and
only then saves the cursor, so a crash repeats work but never loses a pointer.

Third-party carriers register a :class:`Bridge` subclass under the entry-point group
``pointerbridge.bridges``; the built-in ones are registered the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pointerbridge.core import PointerBridgeError, scan_pointers
from pydantic import BaseModel, ValidationError

__all__ = [
    "Bridge",
    "BridgeError",
    "Capabilities",
    "ConfigurationError",
    "Limits",
    "PollResult",
    "Received",
    "RetryableError",
    "bridge_class",
    "extract",
    "printable",
]

ENTRY_POINT_GROUP = "pointerbridge.bridges"


class BridgeError(PointerBridgeError):
    """A carrier failed. Always one of the two subclasses."""

    def __init__(self, carrier: str, message: str) -> None:
        super().__init__(f"carrier {carrier!r}: {message}")
        self.carrier = carrier


class RetryableError(BridgeError):
    """The carrier is unreachable, busy or rate-limiting: try again later, change nothing."""

    def __init__(self, carrier: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(carrier, message)
        self.retry_after = retry_after


class ConfigurationError(BridgeError):
    """The carrier refuses this configuration (credentials, path, room): a person must fix it."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What a carrier accepts: the longest pointer and the fastest sustained posting."""

    max_pointer_chars: int
    min_post_interval: float = 0.0


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a carrier can do beyond the contract's minimum."""

    history: bool = True  # a poll from an old cursor still finds old pointers
    edits: bool = False  # posts can be changed after the fact


@dataclass(frozen=True, slots=True)
class Received:
    """A pointer found on the carrier, with the carrier's reference to where it was."""

    text: str
    reference: str


@dataclass(slots=True)
class PollResult:
    """What one poll found: pointers, the cursor to save after storing them, and skips."""

    pointers: list[Received]
    cursor: str
    skipped_foreign: int = 0  # items with no pointer in them at all
    skipped_malformed: int = 0  # pointer-like text that is not a valid pointer
    items: int = 0  # items (files, messages, mails) looked at
    notes: list[str] = field(default_factory=list)


def printable(text: object, limit: int) -> str:
    """``text`` for one line of a message: at most ``limit`` characters, anything that is
    not printable (newlines, escape sequences) shown as ``?``. For words that come from
    someone else: a server's error, an invite's values."""
    return "".join(c if c.isprintable() else "?" for c in str(text or ""))[:limit]


def extract(text: str, reference: str, result: PollResult) -> None:
    """Add the pointers in one carrier item to ``result``, counting what is skipped."""
    scan = scan_pointers(text)
    result.items += 1
    result.skipped_malformed += scan.rejected_count
    if not scan.pointers and not scan.rejected_count:
        result.skipped_foreign += 1
    result.pointers.extend(Received(p, reference) for p in scan.pointers)


class Bridge(ABC):
    """One configured carrier. Subclasses define ``carrier_type``, ``Settings``, post and poll."""

    carrier_type: ClassVar[str]
    Settings: ClassVar[type[BaseModel]]
    # Settings an invite may carry to other members: coordinates, never credentials.
    shareable_settings: ClassVar[tuple[str, ...]] = ()
    # What a member must do first when an invite's settings are not enough on their own
    # (formatted with the invite's settings and ``name``); empty: nothing.
    setup_hint: ClassVar[str] = ""

    def __init__(self, name: str, settings: BaseModel) -> None:
        """Use :meth:`from_config`; ``settings`` is an instance of ``Settings``."""
        self.name = name
        self.settings = settings

    @classmethod
    def from_config(cls, name: str, settings: dict[str, Any]) -> Bridge:
        """Validate this carrier's settings from config.toml and build the bridge."""
        try:
            parsed = cls.Settings.model_validate(settings)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigurationError(name, f"carriers.{name}.{where}: {first['msg']}") from None
        return cls(name, parsed)

    @classmethod
    def same_place(cls, mine: dict[str, Any], shared: dict[str, Any]) -> bool:
        """Whether this home's carrier settings ``mine`` reach the place an invite's
        ``shared`` settings describe (so joining reuses the carrier). Default: cannot tell."""
        return False

    @property
    @abstractmethod
    def limits(self) -> Limits:
        """The carrier's size and rate limits."""

    @property
    def capabilities(self) -> Capabilities:
        """What the carrier can do; the default is a carrier that keeps history."""
        return Capabilities()

    @abstractmethod
    def post(self, pointer: str) -> str:
        """Put one pointer on the carrier; return the carrier's reference to it."""

    @abstractmethod
    def poll(self, cursor: str | None) -> PollResult:
        """Pointers found since ``cursor`` (``None``: from the start) and the next cursor."""

    def close(self) -> None:  # noqa: B027  # optional hook: most bridges hold nothing open
        """Release connections; the default has none."""


def bridge_class(type_name: str) -> type[Bridge]:
    """The bridge registered for a carrier type, from the entry-point group."""
    from importlib.metadata import entry_points  # costs ~15 ms: only when a bridge is needed

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == type_name:
            loaded = entry.load()
            if not (isinstance(loaded, type) and issubclass(loaded, Bridge)):
                raise ConfigurationError(type_name, f"entry point {entry.value} is not a Bridge")
            return loaded
    known = sorted(e.name for e in entry_points(group=ENTRY_POINT_GROUP))
    raise ConfigurationError(type_name, f"unknown carrier type {type_name!r} (known: {', '.join(known)})")
