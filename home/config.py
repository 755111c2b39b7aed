"""The home folder and its config.toml: which carriers a user has, validated by pydantic.

Secrets never live here: carriers name their credentials by reference (an environment
variable or a 0600 file), and chat secrets and master phrases are typed, not configured.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pointerbridge.core.errors import PointerBridgeError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from .private_file import write_private

__all__ = [
    "CARRIER_NAME_RULE",
    "CarrierConfig",
    "Config",
    "ConfigError",
    "Home",
    "load_config",
    "save_config",
    "valid_carrier_name",
]

_CARRIER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
CARRIER_NAME_RULE = "a carrier name is 1-32 of a-z 0-9 _ -, starting alphanumeric"


class ConfigError(PointerBridgeError):
    """config.toml cannot be read or does not validate; the message names file and key."""

    exit_code = 9


class CarrierConfig(BaseModel):
    """One carrier: its bridge ``type``, how often to poll, and the bridge's own settings."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    poll_every: int = Field(default=60, ge=5, le=86_400, description="seconds between daemon polls")
    poll_cron: str | None = Field(default=None, description="crontab line; replaces poll_every in the daemon")

    @property
    def settings(self) -> dict[str, Any]:
        """The keys this model does not know: the bridge validates them."""
        return dict(self.model_extra or {})


class Config(BaseModel):
    """The whole config.toml."""

    model_config = ConfigDict(extra="forbid")

    carriers: dict[str, CarrierConfig] = Field(default_factory=dict)

    @field_validator("carriers")
    @classmethod
    def _names(cls, carriers: dict[str, CarrierConfig]) -> dict[str, CarrierConfig]:
        for name in carriers:
            if not valid_carrier_name(name):
                raise ValueError(f"{name!r}: {CARRIER_NAME_RULE}")
        return carriers


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
    """Read and validate config.toml; a missing file is an empty config."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_plainly(exc.errors()[0])}") from None


def save_config(path: Path, config: Config) -> None:
    """Write config.toml atomically, 0600."""
    import tomli_w

    data = config.model_dump(mode="json", exclude_none=True)  # TOML has no null
    try:
        write_private(path, tomli_w.dumps(data).encode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be written ({exc.strerror})") from None


class Home:
    """Where one user's config and store live: ``--home``, ``PBRIDGE_HOME``, or platformdirs."""

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

    @property
    def lock_path(self) -> Path:
        """The lock that keeps two polls of this home from overlapping."""
        return self.data_dir / "poll.lock"

    def create(self) -> None:
        """Make the folders, private to the user."""
        for folder in {self.config_dir, self.data_dir}:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
