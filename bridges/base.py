"""The bridge contract every carrier implements, and how carriers are found.

A bridge moves pointer text and nothing else: it never sees a key. ``post`` puts one
pointer on the carrier and returns the carrier's reference for it; ``poll`` returns the
pointers found since a cursor and the next cursor. The app stores what a poll returns and
only then saves the cursor, so a crash repeats work but never loses a pointer.

Third-party carriers register a :class:`Bridge` subclass under the entry-point group
``pointerbridge.bridges``; the built-in ones are registered the same way, and found by name
without reading entry points (a third-party bridge takes a name of its own).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

from pointerbridge.core import PointerBridgeError

from .blobs import BlobHooks
from .credentials import read_credential
from .words import elapsed, header_safe, json_cursor, printable

__all__ = [
    "AsyncBridge",
    "Bridge",
    "BridgeError",
    "ConfigurationError",
    "Finding",
    "Limits",
    "Login",
    "LoginUnsupportedError",
    "NetworkSettings",
    "PollResult",
    "Received",
    "RetryableError",
    "SettingsModel",
    "Status",
    "bridge_class",
    "bridge_types",
    "carrier_bridge_class",
    "elapsed",
    "extract",
    "header_safe",
    "json_cursor",
    "printable",
    "read_credential",
]

ENTRY_POINT_GROUP = "pointerbridge.bridges"

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .async_bridge import AsyncBridge
    from .network_settings import NetworkSettings

# The built-in carriers, as pyproject.toml registers them: found without reading every
# installed distribution's entry points (~15 ms a cron poll need not pay).
_BUILT_IN = {
    "cmdchat": ("pointerbridge.bridges.cmdchat", "CmdChatBridge"),
    "email": ("pointerbridge.bridges.email", "EmailBridge"),
    "files": ("pointerbridge.bridges.files", "FilesBridge"),
    "matrix": ("pointerbridge.bridges.matrix", "MatrixBridge"),
    "telegram": ("pointerbridge.bridges.telegram", "TelegramBridge"),
    "xmpp": ("pointerbridge.bridges.xmpp", "XmppBridge"),
}


class BridgeError(PointerBridgeError):
    """A carrier failed. Always one of the two subclasses."""

    def __init__(self, carrier: str, message: str) -> None:
        super().__init__(f"carrier {carrier!r}: {message}")
        self.carrier = carrier
        self.detail = message


class RetryableError(BridgeError):
    """The carrier is unreachable, busy or rate-limiting: try again later, change nothing."""

    exit_code = 25

    def __init__(self, carrier: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(carrier, message)
        self.retry_after = retry_after


class ConfigurationError(BridgeError):
    """The carrier refuses this configuration (credentials, path, room): a person must fix it."""

    exit_code = 24


class CredentialRefusedError(ConfigurationError):
    """The carrier refused the credential it was given (a wrong password): a person must
    give the right one. Retried, as any configuration, by a listener."""

    exit_code = 44


class LoginUnsupportedError(ConfigurationError):
    """``pbridge carrier login`` for a carrier type whose bridge has no login hook: its
    credentials are set up by hand (``pbridge carrier add``)."""

    exit_code = 33


@dataclass(frozen=True, slots=True)
class Limits:
    """What a carrier accepts: the longest pointer and the fastest sustained posting."""

    max_pointer_chars: int
    min_post_interval: float = 0.0


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
    more: bool = False  # the carrier has more now: store these, save the cursor, poll again
    # Members asked to have what was posted between these times (Unix seconds) posted
    # again: their copy of the carrier lost it (Telegram keeps updates 24 hours).
    repost_since: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Login:
    """What a bridge's :meth:`Bridge.login` hook gives back for the app to keep.

    The app writes ``credential`` to a 0600 file (``tokens/CARRIER.token`` beside
    config.toml), points the settings' credential file field at it (see
    :attr:`NetworkSettings.credential_fields`), saves ``settings`` and, when ``replaces``
    names an earlier session, ends that one with :meth:`Bridge.logout`.
    """

    settings: dict[str, Any]  # the carrier's settings for config.toml, without the credential
    credential: str  # what the carrier gave for this login (a token); never in config.toml
    summary: str  # one line for the user: the account, the session, where it posts
    replaces: str | None = None  # the earlier session this login supersedes, for a person ("device ABC")


# How a check of ``pbridge doctor`` stands: ``"ok"``, ``"warn"`` (works, but the user should
# look: exit 0) or ``"fail"`` (does not work: doctor exits non-zero). Plain strings, so a
# bridge writes ``Finding("token", "ok", ...)`` and a type checker still rejects a typo.
Status = Literal["ok", "warn", "fail"]


class Finding(NamedTuple):
    """One line of ``pbridge doctor``: what was checked, how it stands (:data:`Status`), and
    what it means."""

    check: str
    status: Status
    detail: str


def extract(text: str, reference: str, result: PollResult) -> None:
    """Add the pointers in one carrier item to ``result``, counting what is skipped."""
    from pointerbridge.core.armor import scan_pointers  # its tables cost ~10 ms: not for an idle poll

    scan = scan_pointers(text)
    result.items += 1
    result.skipped_malformed += scan.rejected_count
    if not scan.pointers and not scan.rejected_count:
        result.skipped_foreign += 1
    result.pointers.extend(Received(p, reference) for p in scan.pointers)


class Bridge(ABC, BlobHooks):
    """One configured carrier. Subclasses define ``carrier_type``, ``Settings``, post and
    poll; ``limits`` comes from the settings unless a subclass says otherwise."""

    carrier_type: ClassVar[str]
    Settings: ClassVar[type[BaseModel]]
    # Settings an invite may carry to other members: coordinates, never credentials.
    shareable_settings: ClassVar[tuple[str, ...]] = ()
    # What a member must do first when an invite's settings are not enough on their own
    # (formatted with the invite's settings and ``name``); empty: nothing.
    setup_hint: ClassVar[str] = ""
    # Loggers of the bridge's libraries that the daemon holds at WARNING: their INFO lines
    # can carry URLs, and a URL can carry a credential (a bot token in its path).
    quiet_loggers: ClassVar[tuple[str, ...]] = ()
    # Whether :meth:`listen` waits on the carrier's own push: the daemon and the console
    # then listen to this carrier live instead of polling it on a timer.
    listens: ClassVar[bool] = False
    # Seconds one :meth:`listen` call may wait: every round costs the carrier a request and
    # the home a cursor write, so a carrier whose wait holds one open request waits long
    # (under the 60 s idle timeout of common proxies); a scan's safety net waits less.
    listen_wait: ClassVar[float] = 25.0
    # Whether every connection honours ``proxy`` (bridges/proxy.py); if not, it is refused.
    takes_proxy: ClassVar[bool] = False

    def __init__(self, name: str, settings: Any) -> None:
        """Use :meth:`from_config`; ``settings`` is an instance of ``Settings`` (or what
        :meth:`plain_settings` made)."""
        self.name = name
        self.settings = settings

    @classmethod
    def plain_settings(cls, settings: dict[str, Any]) -> Any | None:
        """Optional hook: the settings object for ``settings`` made without pydantic, when
        they are plainly valid (exactly the types and bounds ``Settings`` would keep as
        they are), else None: ``Settings`` then validates them and says what is wrong. A
        cron poll of a carrier whose bridge has one, and whose ``Settings`` is a
        :class:`SettingsModel`, never imports pydantic. Default: None."""
        return None

    @classmethod
    def from_config(cls, name: str, settings: dict[str, Any]) -> Bridge:
        """Validate this carrier's settings from config.toml and build the bridge."""
        if settings.get("proxy") is not None and not cls.takes_proxy:  # it would connect directly
            raise ConfigurationError(name, f"a {cls.carrier_type} carrier does not go through a proxy: remove 'proxy'")
        plain = cls.plain_settings(settings)
        if plain is not None:
            return cls(name, plain)
        from pydantic import ValidationError

        try:
            parsed = cls.Settings.model_validate(settings)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            if first["type"] == "extra_forbidden":
                takes = ", ".join(cls.Settings.model_fields)
                problem = f"unknown setting {key!r} in [carriers.{name}] (a {cls.carrier_type} carrier takes: {takes})"
            elif first["type"] == "missing":
                problem = f"[carriers.{name}] needs {key!r}, a {cls.carrier_type} carrier's setting"
            else:
                problem = f"carriers.{name}.{key}: {first['msg'].removeprefix('Value error, ')}"
            raise ConfigurationError(name, problem) from None
        return cls(name, parsed)

    @classmethod
    def login(
        cls, name: str, saved: Mapping[str, Any], password: Callable[[], str], options: Mapping[str, object]
    ) -> Login:
        """Optional hook behind ``pbridge carrier login TYPE NAME``: log the carrier ``name``
        in with a password and return what to keep. Default: this type has none.

        ``saved`` holds the carrier's settings from config.toml (empty for a new carrier),
        to be used as defaults; ``options`` holds only what the user gave (``homeserver``,
        ``user``, ``room``, ``create_room``, ``invite``, ``start``, ``device_name``, and any
        ``--set KEY=VALUE`` as text). Refuse unusable options (``InvalidInputError``) before
        calling ``password``, which asks the user: call it once and keep nothing of it. If
        this raises after the carrier opened a session, end that session first. The app
        keeps the credential, saves the settings and ends a replaced session (:class:`Login`).
        """
        raise LoginUnsupportedError(
            name,
            f"{cls.carrier_type} carriers have no login: declare this one with "
            f"pbridge carrier add {name} --type {cls.carrier_type}",
        )

    @classmethod  # optional hook: most carriers have no session to end
    def logout(cls, name: str, settings: Mapping[str, Any], credential: str) -> None:
        """Goes with :meth:`login`: end the session that ``settings`` and ``credential``
        belong to, so the credential stops working. The app calls it for the session a new
        login replaced, and for a new one it could not save. Default: nothing to end."""

    @classmethod
    def same_place(cls, mine: dict[str, Any], shared: dict[str, Any]) -> bool:
        """Whether this home's carrier settings ``mine`` reach the place an invite's
        ``shared`` settings describe (so joining reuses the carrier). Default: cannot tell."""
        return False

    @property
    def limits(self) -> Limits:
        """The carrier's size and rate limits. Default: the settings' ``max_pointer_chars``
        and ``post_interval`` (seconds between posts; none: unpaced). A bridge whose
        settings name them otherwise overrides this."""
        settings = self.settings
        if not hasattr(settings, "max_pointer_chars"):
            raise TypeError(f"{type(self).__name__} must define limits: its settings have no max_pointer_chars")
        return Limits(
            max_pointer_chars=settings.max_pointer_chars, min_post_interval=getattr(settings, "post_interval", 0.0)
        )

    @abstractmethod
    def post(self, pointer: str) -> str:
        """Put one pointer on the carrier; return the carrier's reference to it."""

    @abstractmethod
    def poll(self, cursor: str | None) -> PollResult:
        """Pointers found since ``cursor`` (``None``: from the start) and the next cursor."""

    def listen(self, cursor: str | None, wait: float) -> PollResult:
        """The push hook: :meth:`poll`, except that when nothing is new yet it waits up to
        ``wait`` seconds for the carrier's own push (a long poll, IMAP IDLE, inotify, a
        relay's open connection) and returns as soon as something arrives. It is called
        over and over from one thread, each call with the cursor the last one returned,
        once its pointers are stored; the rules of :meth:`poll` hold (nothing is confirmed
        to the carrier before the call after the one that brought it). A result may be
        empty (the wait ended) with a new cursor. A bridge may keep a connection open
        between calls; :meth:`close` ends it. Default: no push, a plain poll (the
        app calls it only when :attr:`listens` is True)."""
        return self.poll(cursor)

    def check(self) -> list[str]:
        """Reach the carrier once to check the settings (``pbridge carrier add`` calls it
        before it saves them); return lines telling the user what it is and what they must
        still do by hand. Raise :class:`ConfigurationError` when the settings cannot work (a
        missing folder, a refused token): the carrier is then not saved. Default: nothing
        to check."""
        return []

    def diagnose(self, cursor: str | None) -> list[Finding]:
        """What ``pbridge doctor`` says of this carrier, given its saved ``cursor``: reach it
        once (never posting, never moving a cursor) and tell what works and what does not.
        Errors a bridge raises here are reported as failures. Default: not checked."""
        return [Finding("reachable", "warn", f"the {self.carrier_type} bridge cannot check its carrier")]

    def claim(self) -> str | None:
        """Something this carrier holds that no other carrier of a home may hold too (a bot
        account that only one poller may use), or None. Two carriers with one claim are
        refused: they would take each other's updates."""
        return None

    def close(self) -> None:  # optional hook: most bridges hold nothing open
        """Release connections; the default has none."""


@functools.cache
def bridge_class(type_name: str) -> type[Bridge]:
    """The bridge registered for a carrier type, from the entry-point group (looked up
    once per process: a poll builds each carrier's bridge more than once)."""
    if type_name in _BUILT_IN:
        import importlib

        module, name = _BUILT_IN[type_name]
        built_in: type[Bridge] = getattr(importlib.import_module(module), name)
        return built_in
    from importlib.metadata import entry_points  # costs ~15 ms: only for a third-party bridge

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == type_name:
            loaded = entry.load()
            if not (isinstance(loaded, type) and issubclass(loaded, Bridge)):
                raise ConfigurationError(type_name, f"entry point {entry.value} is not a Bridge")
            return loaded
    known = ", ".join(bridge_types())
    raise ConfigurationError(type_name, f"unknown carrier type {type_name!r} (known: {known})")


def carrier_bridge_class(carrier: str, type_name: str) -> type[Bridge]:
    """:func:`bridge_class` for the carrier named ``carrier``: a failure names the carrier
    (what config.toml and the commands call it), not its type."""
    try:
        return bridge_class(type_name)
    except ConfigurationError as exc:
        raise ConfigurationError(carrier, exc.detail) from None


def bridge_types() -> list[str]:
    """The carrier types registered in the entry-point group, sorted (their bridges are
    not imported: :func:`bridge_class` does that)."""
    from importlib.metadata import entry_points

    return sorted({*_BUILT_IN, *(e.name for e in entry_points(group=ENTRY_POINT_GROUP))})


class SettingsModel:
    """A bridge's ``Settings`` kept in a module of its own and imported on first use, so a
    bridge with :meth:`Bridge.plain_settings` runs without pydantic:
    ``Settings = SettingsModel("package.module", "ClassName")``."""

    def __init__(self, module: str, name: str) -> None:
        """The pydantic model ``name`` of ``module``."""
        self.module, self.name = module, name

    def __get__(self, instance: object, owner: type | None = None) -> type[BaseModel]:
        import importlib

        model: type[BaseModel] = getattr(importlib.import_module(self.module), self.name)
        return model


def __getattr__(name: str) -> Any:
    if name == "NetworkSettings":
        from .network_settings import NetworkSettings

        return NetworkSettings
    if name == "AsyncBridge":
        from .async_bridge import AsyncBridge

        return AsyncBridge
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
