"""The home folder and its config.toml: which carriers a user has, validated by pydantic
(home/config_model.py) whenever it is not plainly valid.

Secrets never live here: carriers name their credentials by reference (an environment
variable or a 0600 file), and chat secrets and master phrases are typed, not configured.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import re
import stat
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pointerbridge.core.errors import PointerBridgeError

from .private_file import write_private

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

    from .store import Store

__all__ = [
    "CARRIER_NAME_RULE",
    "CarrierConfig",
    "Config",
    "ConfigError",
    "Home",
    "PlaintextCredentialError",
    "load_config",
    "save_config",
    "valid_carrier_name",
]

_CARRIER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
CARRIER_NAME_RULE = "a carrier name is 1-32 of a-z 0-9 _ -, starting alphanumeric"


class ConfigError(PointerBridgeError):
    """config.toml cannot be read or does not validate; the message names file and key."""

    exit_code = 9


class PlaintextCredentialError(ConfigError):
    """A carrier's credential written into a carrier file itself (a ``password``, a
    ``token``): credentials are named by reference only, an environment variable
    (``..._env``) or a 0600 file (``..._file``)."""

    exit_code = 43


_TYPE = re.compile(r"[a-z][a-z0-9_]*")
_FIELDS = ("type", "poll_every", "poll_cron")


class CarrierConfig:
    """One carrier: its bridge ``type``, how often to poll, and the bridge's own settings.

    Made by :meth:`model_validate`, whose rules are pydantic's (:mod:`.config_model`);
    settings that are plainly valid (the types config.toml itself gives) are taken as they
    are, without importing pydantic, which would cost an idle cron poll more than the poll.
    """

    __slots__ = ("_settings", "poll_cron", "poll_every", "type")

    def __init__(self, type: str, poll_every: int, poll_cron: str | None, settings: dict[str, Any]) -> None:
        """Use :meth:`model_validate`: this one checks nothing."""
        self.type = type
        self.poll_every = poll_every
        self.poll_cron = poll_cron
        self._settings = settings

    @classmethod
    def model_validate(cls, data: Any) -> CarrierConfig:
        """A carrier from its table; raises pydantic's ``ValidationError`` when invalid."""
        plain = _plain_carrier(data)
        if plain is not None:
            return plain
        from .config_model import CarrierModel

        model = CarrierModel.model_validate(data)
        return cls(model.type, model.poll_every, model.poll_cron, dict(model.model_extra or {}))

    @property
    def settings(self) -> dict[str, Any]:
        """The keys this model does not know: the bridge validates them."""
        return dict(self._settings)

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        """The carrier's table: its fields, then its bridge's settings."""
        data = {"type": self.type, "poll_every": self.poll_every, "poll_cron": self.poll_cron, **self._settings}
        return {k: v for k, v in data.items() if v is not None} if exclude_none else data

    def model_copy(self, *, update: dict[str, Any]) -> CarrierConfig:
        """This carrier with ``update``'s values, validated."""
        return CarrierConfig.model_validate({**self.model_dump(), **update})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CarrierConfig) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]  # mutable, as pydantic's models are

    def __repr__(self) -> str:
        return f"CarrierConfig({self.model_dump(exclude_none=True)!r})"


def _plain_carrier(data: Any) -> CarrierConfig | None:
    """``data`` as a carrier when it is plainly valid: exactly the types pydantic would keep
    unchanged, within its bounds; else None (pydantic then validates, coerces or refuses)."""
    if isinstance(data, CarrierConfig):
        return data
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        return None
    kind, every, cron = data.get("type"), data.get("poll_every", 60), data.get("poll_cron")
    if type(kind) is not str or _TYPE.fullmatch(kind) is None:
        return None
    if type(every) is not int or not 5 <= every <= 86_400 or (cron is not None and type(cron) is not str):
        return None
    return CarrierConfig(kind, every, cron, {k: v for k, v in data.items() if k not in _FIELDS})


class Config:
    """The whole config.toml: its carriers by name."""

    __slots__ = ("carriers",)

    def __init__(self, carriers: dict[str, CarrierConfig] | None = None) -> None:
        """A config of these carriers (each named as :func:`valid_carrier_name` says)."""
        for name in carriers or {}:
            if not valid_carrier_name(name):
                raise ValueError(f"{name!r}: {CARRIER_NAME_RULE}")
        self.carriers: dict[str, CarrierConfig] = dict(carriers or {})

    @classmethod
    def model_validate(cls, data: Any) -> Config:
        """config.toml's table; raises pydantic's ``ValidationError`` when invalid."""
        if isinstance(data, dict) and set(data) <= {"carriers"} and isinstance(data.get("carriers", {}), dict):
            carriers = data.get("carriers", {})
            plain = {n: _plain_carrier(c) for n, c in carriers.items() if isinstance(n, str) and valid_carrier_name(n)}
            if len(plain) == len(carriers) and all(c is not None for c in plain.values()):
                return cls({n: c for n, c in plain.items() if c is not None})
        from .config_model import ConfigModel

        if isinstance(data, dict) and isinstance(data.get("carriers"), dict):  # carriers made already, as tables
            tables = {n: c.model_dump() if isinstance(c, CarrierConfig) else c for n, c in data["carriers"].items()}
            data = {**data, "carriers": tables}
        model = ConfigModel.model_validate(data)
        return cls({n: CarrierConfig.model_validate(c.model_dump()) for n, c in model.carriers.items()})

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        """config.toml's table."""
        return {"carriers": {n: c.model_dump(exclude_none=exclude_none) for n, c in self.carriers.items()}}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.carriers == other.carriers

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Config(carriers={self.carriers!r})"


def valid_carrier_name(name: str) -> bool:
    """Whether ``name`` can name a carrier (it also names the carrier's token file)."""
    return _CARRIER_NAME.fullmatch(name) is not None


def _where(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top level)"


def _plainly(error: ErrorDetails) -> str:
    """One validation error as a person fixing config.toml needs it: the key and the table."""
    loc = [str(part) for part in error["loc"]]
    if error["type"] == "extra_forbidden" and len(loc) == 1:
        if loc[0] == "carrier":
            return "unknown table [carrier]: carriers are declared as [carriers.NAME]"
        return f"unknown key {loc[0]!r}: config.toml holds only carriers, as [carriers.NAME] tables"
    if error["type"] == "missing" and len(loc) == 3 and loc[0] == "carriers":
        return f"[carriers.{loc[1]}] needs {loc[2]!r}"
    if error["type"] == "dict_type" and loc == ["carriers"]:
        return "carriers must be tables, one per carrier: [carriers.NAME] with its type and settings"
    if error["type"] == "model_type" and len(loc) == 2 and loc[0] == "carriers":
        return f"carriers.{loc[1]} must be a table, [carriers.{loc[1]}], with its type and settings"
    return f"{_where(error)}: {error['msg']}"


def load_config(path: Path) -> Config:
    """Read and validate config.toml; a missing file is an empty config. A text parsed
    before (the same bytes) is not parsed again: a daemon's 200 listeners each open the
    home, and parsing 200 carriers' TOML takes ~10 ms. Each caller gets a copy of its own."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    cached = _LOADED.get(path)
    if cached is not None and cached[0] == raw:
        return copy.deepcopy(cached[1])
    config = _parsed(path, raw)
    _LOADED[path] = (raw, copy.deepcopy(config))
    return config


_LOADED: dict[Path, tuple[str, Config]] = {}  # load_config's last parse per path: (its text, the config)


def _parsed(path: Path, raw: str) -> Config:
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Config.model_validate(data)
    except ValueError as exc:  # pydantic's ValidationError is one (loaded by then: not imported before)
        from pydantic import ValidationError

        if not isinstance(exc, ValidationError):
            raise
        raise ConfigError(f"{path}: {_plainly(exc.errors()[0])}") from None


def save_config(path: Path, config: Config) -> None:
    """Write config.toml atomically, 0600."""
    import tomli_w

    from .config_model import ConfigModel

    # Through pydantic's JSON mode, as ever: TOML has no null, and no Path either.
    data = ConfigModel.model_validate(config.model_dump()).model_dump(mode="json", exclude_none=True)
    try:
        write_private(path, tomli_w.dumps(data).encode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be written ({exc.strerror})") from None


class Home:
    """Where one user's config and store live: ``--home``, ``PBRIDGE_HOME``, or platformdirs.

    The app reaches the home only through the methods below (config, store, locks), so a
    home kept elsewhere (:class:`~pointerbridge.home.memory.MemoryHome`: in RAM, for a live
    session) is one more subclass, not a branch in the app."""

    def __init__(self, config_dir: Path, data_dir: Path) -> None:
        """Use these folders (created 0700 on first use)."""
        self.config_dir = config_dir
        self.data_dir = data_dir

    @classmethod
    def resolve(cls, home: Path | None = None) -> Home:
        """``home`` if given, else ``$PBRIDGE_HOME``, else the platform's per-user folders."""
        chosen = home or (Path(os.environ["PBRIDGE_HOME"]) if os.environ.get("PBRIDGE_HOME") else None)
        if chosen is not None:
            return cls(chosen, chosen)
        import platformdirs

        return cls(platformdirs.user_config_path("pointerbridge"), platformdirs.user_data_path("pointerbridge"))

    @property
    def config_path(self) -> Path:
        """config.toml."""
        return self.config_dir / "config.toml"

    @property
    def store_path(self) -> Path:
        """The SQLite store."""
        return self.data_dir / "store.db"

    def create(self) -> None:
        """Make the folders, private to the user."""
        for folder in {self.config_dir, self.data_dir}:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)

    @property
    def where(self) -> str:
        """Where this home is, for messages: its data folder."""
        return str(self.data_dir.absolute())

    def load_config(self) -> Config:
        """Its config.toml, validated (a missing file: no carriers yet)."""
        return load_config(self.config_path)

    def save_config(self, config: Config) -> None:
        """Write its config.toml (atomically, 0600)."""
        save_config(self.config_path, config)

    def has_store(self) -> bool:
        """Whether its store exists (``init`` or ``import`` made it)."""
        return self.store_path.is_file()

    def open_store(self, *, readonly: bool = False) -> Store:
        """Its store, created and migrated on first use; ``readonly``: an existing one only
        read (nothing created, set or migrated)."""
        from .store import Store

        return Store.open_readonly(self.store_path) if readonly else Store.open(self.store_path)

    def temp_folder(self) -> Path:
        """Its folder for temporary files (``tmp`` in the data folder, made 0700; a link or
        a file there is refused): an attachment's blob, encrypted, while it is put or
        fetched. Never the system's /tmp: the home is where the user chose to keep data."""
        folder = self.data_dir / "tmp"
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o700)
        found = os.lstat(folder)
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
            raise ConfigError(f"{folder} is not this user's folder (a link or a file): not used")
        if stat.S_IMODE(found.st_mode) != 0o700:
            os.chmod(folder, 0o700)
        return folder

    @contextmanager
    def hold(self, lock: str) -> Iterator[bool]:
        """Hold this home's lock called ``lock`` (``poll``, ``listen-CARRIER``) while the
        block runs, against every process and thread; yields False, holding nothing, when
        someone else holds it. A file lock (``flock``) in the data folder."""
        from .store import home_failure

        try:
            fd = os.open(self.data_dir / f"{lock}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise home_failure(exc) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)
