"""The Telegram carrier's settings as a pydantic model: loaded only for settings that are
not plainly valid (bridges/telegram.py takes those as they are, without pydantic), to
coerce them or say what is wrong."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from .network_settings import NetworkSettings
from .telegram import MAX_TEXT

__all__ = ["TelegramSettingsModel"]


class TelegramSettingsModel(NetworkSettings):
    """A Telegram carrier's settings (config.toml), checked before anything connects."""

    credential_fields = ("token_env", "token_file")

    token_env: str | None = None  # the name of an environment variable holding the bot token
    token_file: Path | None = None  # or a 0600 file holding it
    chat_id: int  # the group, channel or private chat the pointers travel in
    private_from: list[int] = Field(default_factory=list)  # people whose private messages to the bot count
    base_url: str = Field(default="https://api.telegram.org/bot", pattern=r"^https?://")
    base_file_url: str = Field(default="https://api.telegram.org/file/bot", pattern=r"^https?://")
    max_pointer_chars: int = Field(default=MAX_TEXT, ge=500, le=MAX_TEXT)
    post_interval: float = Field(default=3.1, ge=0, le=60)  # 20 a minute per group, with a margin
