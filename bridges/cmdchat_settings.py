"""The CMD-CHAT carrier's settings as a pydantic model: loaded only for settings that are
not plainly valid (bridges/cmdchat.py takes those as they are, without pydantic), to
coerce them or say what is wrong."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from .cmdchat import DEFAULT_LINE_BYTES, DEFAULT_POINTER_CHARS, MAX_LINE_BYTES, MAX_POINTER_CHARS, USERNAME
from .network_settings import NetworkSettings

__all__ = ["CmdChatSettingsModel"]


class CmdChatSettingsModel(NetworkSettings):
    """A CMD-CHAT carrier's settings (config.toml), checked before anything connects."""

    credential_fields = ("password_env", "password_file")

    host: str = Field(min_length=1, max_length=253, pattern=r"^[^\s/]+$")
    port: int = Field(ge=1, le=65535)
    username: str = Field(pattern=USERNAME)  # this bot's own name in the room: no person or other bot may use it
    password_env: str | None = None  # the name of an environment variable holding the room password
    password_file: Path | None = None  # or a 0600 file holding it (neither: the front-end hands it over)
    max_pointer_chars: int = Field(default=DEFAULT_POINTER_CHARS, ge=1000, le=MAX_POINTER_CHARS)
    max_line_bytes: int = Field(default=DEFAULT_LINE_BYTES, ge=256 * 1024, le=MAX_LINE_BYTES)
    keepalive: float = Field(default=600.0, ge=1, le=1500)  # seconds without sending before a noop line
    post_interval: float = Field(default=0.0, ge=0, le=60)

    @model_validator(mode="after")
    def _one_credential(self) -> CmdChatSettingsModel:  # overrides NetworkSettings': none is allowed here
        if self.password_env is not None and self.password_file is not None:
            raise ValueError("give at most one of password_env and password_file")
        return self
