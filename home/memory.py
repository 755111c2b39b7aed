"""A home with nothing on disk, for a live session (``pbridge live``): its carriers come
from a carrier file the user keeps (read once, never written), its store lives in this
process's RAM (SQLite's ``memdb``: :meth:`Store.open_memory`), its locks are in-process
locks, and its config is changed in RAM only. When the session ends and the process exits,
nothing of it remains.

It is a :class:`Home` whose every way to the disk is replaced; it has no folders, and
asking for one (a token file, a lock file) is a bug that raises rather than writing."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from .config import Config, ConfigError, Home, PlaintextCredentialError, load_config
from .store import Store

__all__ = ["MemoryHome", "load_carrier_file"]

# Setting names that hold a credential's value; ..._env and ..._file name where it is.
_CREDENTIAL = re.compile(r"password|passwd|passphrase|token|secret|api_key|private_key|credential")
_BY_REFERENCE = ("_env", "_file")


def load_carrier_file(path: Path) -> Config:
    """The carriers of a carrier file (``[carriers.NAME]`` tables, as in config.toml),
    validated; a missing file is a :class:`ConfigError` (not an empty config), a
    credential written into it a :class:`PlaintextCredentialError`."""
    try:
        if not path.is_file():
            raise ConfigError(f"{path}: no such carrier file")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    config = load_config(path)
    if not config.carriers:
        raise ConfigError(f"{path}: no carriers in it ([carriers.NAME] tables, as in config.toml)")
    for name, carrier in config.carriers.items():
        for key in carrier.settings:
            if _CREDENTIAL.search(key.lower()) and not key.lower().endswith(_BY_REFERENCE):
                raise PlaintextCredentialError(
                    f"{path}: [carriers.{name}] {key} holds a credential in the file itself: name it by "
                    f"reference instead, {key}_env (an environment variable) or {key}_file (a 0600 file)"
                )
    return config


class MemoryHome(Home):
    """A home in RAM: the carriers given, a store in memory, in-process locks. Close it
    (or use ``with``) to drop the store once every app on it is closed."""

    def __init__(self, config: Config, source: Path) -> None:
        """A home of ``config``'s carriers (read from ``source``, named in messages)."""
        self._config = config
        self._source = source
        self._name = f"pbridge-live-{secrets.token_hex(16)}"
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._keeper: Store | None = Store.open_memory(self._name)  # the store lasts while it is open

    @classmethod
    def from_carrier_file(cls, path: Path) -> Self:
        """A home in RAM of the carriers in the carrier file at ``path`` (:func:`load_carrier_file`)."""
        return cls(load_carrier_file(path), path)

    def close(self) -> None:
        """Drop the store (its memory is freed once the last app on it closes)."""
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def config_dir(self) -> Path:
        """Refused: a home in RAM has no folder (a caller that asks for one is a bug)."""
        raise RuntimeError("a home in memory has no folder")

    @config_dir.setter
    def config_dir(self, _value: Path) -> None:
        raise RuntimeError("a home in memory has no folder")

    @property
    def data_dir(self) -> Path:
        """Refused: a home in RAM has no folder (a caller that asks for one is a bug)."""
        raise RuntimeError("a home in memory has no folder")

    @data_dir.setter
    def data_dir(self, _value: Path) -> None:
        raise RuntimeError("a home in memory has no folder")

    @property
    def config_path(self) -> Path:
        """The carrier file its carriers came from (named where a carrier is to be fixed)."""
        return self._source

    @property
    def where(self) -> str:
        """Where this home is, for messages."""
        return "memory (a live session)"

    def create(self) -> None:
        """Nothing to make."""

    def load_config(self) -> Config:
        """Its carriers, as given or as changed since."""
        return Config(self._config.carriers)

    def save_config(self, config: Config) -> None:
        """Keep ``config`` in RAM: the carrier file is never written."""
        self._config = Config(config.carriers)

    def has_store(self) -> bool:
        """Whether the store is still there (until :meth:`close`)."""
        return self._keeper is not None

    def open_store(self, *, readonly: bool = False) -> Store:
        """A connection of its own to the store in RAM (``readonly`` changes nothing: there
        is no file to spare)."""
        if self._keeper is None:
            raise RuntimeError("this home in memory is closed")
        return Store.open_memory(self._name)

    @contextmanager
    def hold(self, lock: str) -> Iterator[bool]:
        """As :meth:`Home.hold`, with a lock of this process (no lock file)."""
        with self._guard:
            held = self._locks.setdefault(lock, threading.Lock())
        if not held.acquire(blocking=False):
            yield False
            return
        try:
            yield True
        finally:
            held.release()
