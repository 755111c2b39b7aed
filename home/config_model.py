"""config.toml's rules as pydantic models: what :mod:`.config` falls back on for anything
that is not plainly valid, so pydantic says what is wrong, and what writes config.toml.
Imported only then: an idle cron poll of a plainly valid config.toml never loads pydantic."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["CarrierModel", "ConfigModel"]


class CarrierModel(BaseModel):
    """One carrier: its bridge ``type``, how often to poll, and the bridge's own settings."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    poll_every: int = Field(default=60, ge=5, le=86_400, description="seconds between daemon polls")
    poll_cron: str | None = Field(default=None, description="crontab line; replaces poll_every in the daemon")


class ConfigModel(BaseModel):
    """The whole config.toml."""

    model_config = ConfigDict(extra="forbid")

    carriers: dict[str, CarrierModel] = Field(default_factory=dict)

    @field_validator("carriers")
    @classmethod
    def _names(cls, carriers: dict[str, CarrierModel]) -> dict[str, CarrierModel]:
        from .config import CARRIER_NAME_RULE, valid_carrier_name

        for name in carriers:
            if not valid_carrier_name(name):
                raise ValueError(f"{name!r}: {CARRIER_NAME_RULE}")
        return carriers
