"""The Matrix carrier's settings as a pydantic model: loaded only for settings that are not
plainly valid (bridges/matrix.py takes those as they are, without pydantic), to coerce
them or say what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from .matrix import EVENT_LIMIT_SAFE_CHARS
from .matrix_blobs import DEFAULT_BLOB_BYTES
from .network_settings import NetworkSettings

__all__ = ["MatrixSettingsModel"]


class MatrixSettingsModel(NetworkSettings):
    """A Matrix carrier's settings (config.toml), checked before anything connects."""

    credential_fields = ("access_token_env", "access_token_file")

    homeserver: str = Field(pattern=r"^https?://")
    user_id: str = Field(pattern=r"^@[^:]+:.+$")
    device_id: str = Field(min_length=1)
    access_token_env: str | None = None  # the name of an environment variable holding the token
    access_token_file: Path | None = None  # or a 0600 file holding it
    room_id: str = Field(pattern=r"^!.+")  # room version 12 ids have no server part
    start: Literal["now", "history"] = "now"  # where a first poll (no cursor) begins
    msgtype: Literal["m.text", "m.notice"] = "m.text"
    max_pointer_chars: int = Field(default=EVENT_LIMIT_SAFE_CHARS, ge=1000, le=EVENT_LIMIT_SAFE_CHARS)
    post_interval: float = Field(default=0.0, ge=0, le=60)  # seconds between posts, for a strict server
    # the largest blob to upload when the homeserver's media config does not say its limit
    max_blob_bytes: int = Field(default=DEFAULT_BLOB_BYTES, ge=1, le=2**40)
