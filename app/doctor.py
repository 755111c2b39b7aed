"""``pbridge doctor``: is this home fit to run? One finding per check.

Doctor only looks: it creates no folder, fixes no permission, migrates no store, posts
nothing and moves no cursor (a Telegram bot's getUpdates is never called: it would
confirm updates the next poll has not stored). Each carrier's bridge reaches its carrier
once through :meth:`Bridge.diagnose`, with a short request timeout.
"""

from __future__ import annotations

import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from pointerbridge.bridges.base import Bridge, BridgeError, Finding, NetworkSettings, RetryableError, bridge_class
from pointerbridge.core.config import CarrierConfig, Config, ConfigError, Home, load_config
from pointerbridge.core.errors import PointerBridgeError
from pointerbridge.core.store import SCHEMA_VERSION, Store, StoreError

from .service import _default_bridge, carrier_clashes

__all__ = ["CheckFailedError", "Checked", "run_checks"]

_TIMEOUT = 10.0  # seconds per request to a carrier, at most, while diagnosing


class CheckFailedError(PointerBridgeError):
    """At least one of doctor's checks failed."""


class Checked(NamedTuple):
    """A finding and what it is about: ``"home"`` or a carrier's name."""

    scope: str
    finding: Finding


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


def _store(home: Home) -> list[Finding]:
    """The store file, opened read-only: integrity, schema version, identity."""
    path = home.store_path
    if not path.exists():
        return [Finding("store", "fail", f"{path} does not exist: run 'pbridge init'")]
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check(5)")]
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            identity = db.execute("SELECT username FROM identity").fetchone() if version else None
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return [Finding("store", "fail", f"{path}: {exc} (restore it from a backup, or move it away and rejoin)")]
    findings = [_private_store(path)]
    if problems != ["ok"]:
        findings.append(Finding("store integrity", "fail", f"{path}: {'; '.join(problems)[:300]}"))
    else:
        findings.append(Finding("store integrity", "ok", "PRAGMA integrity_check: ok"))
    if version > SCHEMA_VERSION:
        findings.append(Finding("schema", "fail", f"version {version} is newer than this pbridge ({SCHEMA_VERSION})"))
    elif version < SCHEMA_VERSION:
        findings.append(Finding("schema", "warn", f"version {version}: the next command migrates it to "
                                                  f"{SCHEMA_VERSION}"))
    else:
        findings.append(Finding("schema", "ok", f"version {version}"))
    findings.append(Finding("identity", "ok", f"username {identity[0]!r}") if identity
                    else Finding("identity", "fail", "no identity yet: run 'pbridge init'"))
    return findings


def _private_store(path: Path) -> Finding:
    loose = _private(path, 0o600)
    return Finding("store file", "warn", loose) if loose else Finding("store file", "ok", "0600")


def _ago(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def _carrier(name: str, carrier: CarrierConfig, store: Store | None, clash: str | None,
             factory: Callable[[str, CarrierConfig], Bridge]) -> list[Finding]:
    if clash is not None:
        return [Finding("settings", "fail", clash)]
    try:
        bridge = factory(name, _quick(carrier))
    except BridgeError as exc:
        return [Finding("settings", "fail", str(exc))]
    cursor = store.cursor(name) if store else None
    try:
        findings = bridge.diagnose(cursor)
    except RetryableError as exc:
        findings = [Finding("reachable", "fail", f"unreachable now: {exc}")]
    except BridgeError as exc:  # the carrier refused the settings or the credential
        findings = [Finding("settings", "fail", str(exc))]
    finally:
        bridge.close()
    if store is not None:
        polled = store.polled_at(name)
        waiting = len(store.outbox(name))
        when = f"{_ago(max(time.time() - polled, 0))} ago" if polled is not None else "never polled yet"
        findings.append(Finding("last poll", "ok" if polled is not None else "warn",
                                f"{when}; {waiting} pointer(s) waiting to be posted"))
    return findings


def _quick(carrier: CarrierConfig) -> CarrierConfig:
    """The carrier with a request timeout of at most ``_TIMEOUT``, where it has one."""
    try:
        network = issubclass(bridge_class(carrier.type).Settings, NetworkSettings)
        timeout = float(carrier.settings.get("timeout", _TIMEOUT + 1))
    except (BridgeError, TypeError, ValueError):
        return carrier  # building the bridge says what is wrong
    if network and timeout > _TIMEOUT:
        return CarrierConfig.model_validate({**carrier.model_dump(), "timeout": _TIMEOUT})
    return carrier


def run_checks(home: Home, bridge_factory: Callable[[str, CarrierConfig], Bridge] | None = None) -> list[Checked]:
    """Every check of a home, in order: folders, config, store, then each carrier."""
    factory = bridge_factory or _default_bridge
    folders = _folders(home)
    out = [Checked("home", folders)]
    if folders.status == "fail" and not home.config_dir.is_dir():
        return out
    found, config = _config(home)
    out.append(Checked("home", found))
    store_findings = _store(home)
    out += [Checked("home", f) for f in store_findings]
    if config is None:
        return out
    store = None
    if all(f.status == "ok" for f in store_findings if f.check in ("store", "schema")):  # never migrates
        try:
            store = Store.open(home.store_path)
        except StoreError as exc:
            out.append(Checked("home", Finding("store", "fail", str(exc))))
    try:
        clashes = carrier_clashes(config, factory)
        for name, carrier in config.carriers.items():
            out += [Checked(name, f) for f in _carrier(name, carrier, store, clashes.get(name), factory)]
    finally:
        if store is not None:
            store.close()
    if not config.carriers:
        out.append(Checked("home", Finding("carriers", "warn", "none yet: pbridge carrier add")))
    return out
