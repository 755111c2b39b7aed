"""``pbridge doctor``: is this home fit to run? One finding per check.

Doctor only looks: it creates no folder, fixes no permission, opens the store read-only
(so never migrates it), posts nothing and moves no cursor (a Telegram bot's getUpdates is never called: it would
confirm updates the next poll has not stored). Each carrier's bridge reaches its carrier
once through :meth:`Bridge.diagnose`, with a short request timeout."""

from __future__ import annotations

import os
import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from pointerbridge.bridges.base import (
    Bridge,
    BridgeError,
    Finding,
    NetworkSettings,
    RetryableError,
    Status,
    bridge_class,
    elapsed,
)
from pointerbridge.bridges.proxy import parse_proxy
from pointerbridge.core.errors import PointerBridgeError
from pointerbridge.home.config import CarrierConfig, Config, ConfigError, Home, load_config
from pointerbridge.home.store import SCHEMA_VERSION, Store, StoreError, unwritable

from .base import default_bridge
from .carriers import carrier_clashes
from .errors import NotInitialisedError

__all__ = ["CheckFailedError", "Checked", "run_checks"]

_TIMEOUT = 10.0  # seconds per request to a carrier, at most, while diagnosing
_CLOCK_SLACK = 300.0  # seconds the store's newest time may be ahead of the clock
_STALLED = 86_400.0  # seconds without a poll after which a carrier fails the check


class CheckFailedError(PointerBridgeError):
    """At least one of doctor's checks failed."""

    exit_code = 28


class Checked(NamedTuple):
    """A finding and what it is about: ``"home"`` or a carrier's name."""

    scope: str
    finding: Finding


class _Seen(NamedTuple):
    """What the store knows of a carrier: its cursor, its last poll (Unix seconds, None:
    never) and how many pointers wait to be posted to it."""

    cursor: str | None
    polled_at: float | None
    waiting: int


def _private(path: Path, mode: int) -> str | None:
    """Why ``path`` is not private (group or others may use it), or None."""
    actual = stat.S_IMODE(path.stat().st_mode)
    if actual & (stat.S_IRWXG | stat.S_IRWXO):
        return f"{path} is mode {actual:04o}, not {mode:04o} (chmod {mode:o} {path})"
    return None


def _folders(home: Home) -> Finding:
    for folder in dict.fromkeys((home.config_dir, home.data_dir)):
        if not folder.is_dir():
            return Finding("folders", "fail", f"{folder} does not exist: run 'pbridge init'")
        loose = _private(folder, 0o700)
        if loose:
            return Finding("folders", "fail", loose)
        if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
            owner, mode = folder.stat().st_uid, stat.S_IMODE(folder.stat().st_mode)
            why = unwritable(folder / "config.toml") or f"this user may not use {folder}"
            detail = f"{why} (this user: uid {os.getuid()}; {folder}: owner uid {owner}, mode {mode:04o})"
            return Finding("folders", "fail", f"{detail}; nothing in it is damaged")
    return Finding("folders", "ok", "private (0700)")


def _config(home: Home) -> tuple[Finding, Config | None]:
    try:
        config = load_config(home.config_path)
    except ConfigError as exc:
        return Finding("config", "fail", str(exc)), None
    if home.config_path.exists():
        loose = _private(home.config_path, 0o600)
        if loose:
            return Finding("config", "warn", loose), config
    return Finding("config", "ok", f"{len(config.carriers)} carrier(s) in {home.config_path}"), config


def _store(store: Store) -> list[Finding]:
    """The store, read only: its file's mode, integrity, schema version, identity."""
    try:
        problems = store.integrity_problems()
        version = store.schema_version
        identity = store.identity() if version else None
    except StoreError as exc:
        advice = "restore it from a backup, or move it away and rejoin" if exc.damaged else "nothing is damaged"
        return [Finding("store", "fail", f"{exc}; {advice}")]
    loose = _private(store.path, 0o600)
    locked_out = unwritable(store.path)  # doctor reads it read-only: every other command writes it
    findings = [
        Finding("store file", "fail", f"{locked_out}: every command but doctor writes it; nothing is damaged")
        if locked_out
        else Finding("store file", "warn", loose)
        if loose
        else Finding("store file", "ok", "0600")
    ]
    if problems:
        findings.append(Finding("store integrity", "fail", f"{store.path}: {'; '.join(problems)[:300]}"))
    else:
        findings.append(Finding("store integrity", "ok", "PRAGMA integrity_check: ok"))
    if version > SCHEMA_VERSION:
        findings.append(Finding("schema", "fail", f"version {version} is newer than this pbridge ({SCHEMA_VERSION})"))
    elif version < SCHEMA_VERSION:
        findings.append(
            Finding("schema", "warn", f"version {version}: the next command migrates it to {SCHEMA_VERSION}")
        )
    else:
        changed = store.schema_problems()
        findings.append(
            Finding(
                "schema",
                "fail",
                f"{store.path}: {'; '.join(changed)[:300]} (changed outside pbridge; restore it from a backup)",
            )
            if changed
            else Finding("schema", "ok", f"version {version}")
        )
        if not changed:
            findings.append(_sealed(store))
    findings.append(
        Finding("identity", "ok", f"username {identity.username!r}")
        if identity
        else Finding("identity", "fail", "no identity yet: run 'pbridge init'")
    )
    if version >= 1:
        findings.append(_clock(store))
    return findings


def _sealed(store: Store) -> Finding:
    """Whether the chat list is sealed (docs/AT-REST.md): a store the bot alone migrated
    keeps it in the clear until the next unlock with the master phrase."""
    damaged = store.damaged_to_seal()
    if damaged:
        ids = ", ".join(str(chat_id) for chat_id, _ in damaged[:10])
        return Finding(
            "chat list",
            "fail",
            f"{len(damaged)} chat(s) from before schema 10 (id {ids}) have a record that does not parse "
            f"({damaged[0][1]}): kept aside in the clear, out of the chat list, their pointers kept; "
            "restore the store from a backup",
        )
    waiting = store.waiting_to_seal()
    if waiting:
        return Finding(
            "chat list",
            "warn",
            f"{waiting} chat(s) from before schema 10 are still in the clear: the next command given the master "
            "phrase seals them (pbridge chat list)",
        )
    return Finding("chat list", "ok", f"{store.chat_count()} chat(s), sealed under the master phrase")


def _clock(store: Store) -> Finding:
    """This machine's clock against the newest time the store wrote: one far behind it
    has stepped back (carriers' windows, pacing and catch-up requests all read it)."""
    try:
        newest = store.newest_time()
    except StoreError as exc:  # a damaged table the integrity check named already
        return Finding("clock", "warn", f"cannot compare with the store ({exc})")
    ahead = (newest or 0.0) - time.time()
    if ahead > _CLOCK_SLACK:
        return Finding(
            "clock",
            "warn",
            f"the store has a time {elapsed(ahead)} ahead of this clock: did the clock step back? (check NTP)",
        )
    return Finding("clock", "ok", "not behind anything the store recorded")


def _carrier(
    name: str,
    carrier: CarrierConfig,
    store: Store | None,
    clash: str | None,
    factory: Callable[[str, CarrierConfig], Bridge],
) -> list[Finding]:
    if clash is not None:
        return [Finding("settings", "fail", clash)]
    try:
        bridge = factory(name, _quick(carrier))
    except BridgeError as exc:
        return [Finding("settings", "fail", str(exc))]
    seen = _seen(store, name)
    proxy = _proxy(carrier)
    try:
        findings = bridge.diagnose(seen.cursor if seen else None)
    except RetryableError as exc:
        findings = [Finding("reachable", "fail", f"unreachable now: {exc}")]
    except BridgeError as exc:  # the carrier refused the settings or the credential
        findings = [Finding("settings", "fail", str(exc))]
    finally:
        bridge.close()
    if seen is not None:
        findings.append(_last_poll(seen.polled_at, seen.waiting, carrier.poll_every))
    return findings if proxy is None else [proxy, *findings]


def _proxy(carrier: CarrierConfig) -> Finding | None:
    """Whether the carrier's SOCKS5 proxy (if it has one) answers as one. A SOCKS5 greeting
    offering no authentication, read by hand: python-socks has no call that greets
    without also asking for a destination, and doctor asks the carrier itself next."""
    url = carrier.settings.get("proxy")
    if not isinstance(url, str):
        return None
    try:
        proxy = parse_proxy(url)
    except ValueError:
        return None  # building the bridge has said what is wrong with it
    try:
        with socket.create_connection((proxy.host, proxy.port), timeout=_TIMEOUT) as sock:
            sock.sendall(b"\x05\x01\x00")
            answer = sock.recv(2)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return Finding(
            "proxy", "fail", f"{proxy.url} does not answer ({reason}): nothing of this carrier goes around it"
        )
    if answer != b"\x05\x00":
        return Finding("proxy", "fail", f"{proxy.url} does not answer as a SOCKS5 proxy without a password")
    return Finding("proxy", "ok", f"{proxy.url}: every connection and name lookup of this carrier goes through it")


def _last_poll(polled: float | None, waiting: int, poll_every: int) -> Finding:
    """How long ago the carrier was last polled: a warning past three of its intervals
    (is the timer, cron or daemon running?), a failure past a day (a health check sees a
    stalled bot)."""
    tail = f"{waiting} pointer(s) waiting to be posted"
    if polled is None:
        return Finding("last poll", "warn", f"never polled yet; {tail}")
    gap = time.time() - polled
    status: Status = "fail" if gap > _STALLED else "warn" if gap > 3 * poll_every + 120 else "ok"
    hint = "" if status == "ok" else " (is the timer, cron line or daemon running?)"
    return Finding("last poll", status, f"{elapsed(gap)} ago{hint}; {tail}")


def _seen(store: Store | None, name: str) -> _Seen | None:
    """What the store knows of a carrier, if it can tell."""
    if store is None:
        return None
    try:
        return _Seen(store.cursor(name), store.polled_at(name), store.waiting(name))
    except StoreError:
        return None  # the store's own checks have said what is wrong with it


def _quick(carrier: CarrierConfig) -> CarrierConfig:
    """The carrier with a request timeout and a rate-limit wait of at most ``_TIMEOUT``
    each, where it has them: doctor must answer in seconds."""
    try:
        network = issubclass(bridge_class(carrier.type).Settings, NetworkSettings)
        settings = carrier.settings
        quick = {k: _TIMEOUT for k in ("timeout", "max_retry_wait") if float(settings.get(k, _TIMEOUT + 1)) > _TIMEOUT}
    except (BridgeError, TypeError, ValueError):
        return carrier  # building the bridge says what is wrong
    return CarrierConfig.model_validate({**carrier.model_dump(), **quick}) if network and quick else carrier


def _unreadable_value(check: Callable[[], list[Finding]], path: Path | None) -> list[Finding]:
    """``check()``, or a failed finding when the store holds a value pbridge never writes
    (a row changed by hand): doctor reports a damaged store, it never crashes on one."""
    try:
        return check()
    except (StoreError, TypeError, ValueError) as exc:
        where = f"{path}: " if path else ""
        detail = f"{where}a stored value cannot be read ({exc}); restore it from a backup, or move it away and rejoin"
        return [Finding("store values", "fail", detail)]


def run_checks(home: Home, bridge_factory: Callable[[str, CarrierConfig], Bridge] | None = None) -> list[Checked]:
    """Every check of a home, in order: folders, config, store, then each carrier. A home
    with neither folder (a mistyped ``--home``) is :class:`NotInitialisedError`: there is
    nothing to check; a partial or damaged one is what the checks are for."""
    if not home.config_dir.exists() and not home.data_dir.exists():
        raise NotInitialisedError(f"no home at {home.data_dir}: run 'pbridge init' there, or give the right --home")
    factory = bridge_factory or default_bridge
    folders = _folders(home)
    out = [Checked("home", folders)]
    if folders.status == "fail" and not home.config_dir.is_dir():
        return out
    found, config = _config(home)
    out.append(Checked("home", found))
    try:
        opened: Store | None = Store.open_readonly(home.store_path)
    except StoreError as exc:
        opened = None
        missing = not exc.damaged and str(exc).endswith("does not exist")
        out.append(Checked("home", Finding("store", "fail", f"{exc}: run 'pbridge init'" if missing else str(exc))))
    try:
        store = opened
        if opened is not None:
            findings = _unreadable_value(lambda: _store(opened), opened.path)
            out += [Checked("home", f) for f in findings]
            if any(f.status == "fail" for f in findings if f.check in ("store", "store integrity", "schema")):
                store = None  # damaged or too new: nothing more is read from it
        if config is not None:
            clashes = carrier_clashes(config, factory)
            for name, carrier in config.carriers.items():

                def check(name: str = name, carrier: CarrierConfig = carrier) -> list[Finding]:
                    return _carrier(name, carrier, store, clashes.get(name), factory)

                out += [Checked(name, f) for f in _unreadable_value(check, None)]
            if not config.carriers:
                out.append(Checked("home", Finding("carriers", "warn", "none yet: pbridge carrier add")))
    finally:
        if opened is not None:
            opened.close()
    return out
