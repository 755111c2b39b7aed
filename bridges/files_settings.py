"""The files carrier's settings as pydantic validates them (``FilesBridge.Settings``):
loaded only for settings that are not plainly valid (bridges/files.py takes those as they
are), and by what lists or checks a bridge's settings."""

from __future__ import annotations

from pathlib import Path

from pointerbridge.core.limits import MAX_POINTER_CHARS
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["FilesSettingsModel"]


class FilesSettingsModel(BaseModel):
    """A shared folder: its absolute path, the longest pointer, hours between full reads."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    # Lower it to test splitting, or when the folder is also read by a tool with a limit.
    max_pointer_chars: int = Field(default=MAX_POINTER_CHARS, ge=1000, le=MAX_POINTER_CHARS)
    # How often every file is read again whatever the cursor says (0: never).
    full_scan_hours: float = Field(default=24.0, ge=0)
    # The largest blob (an attachment's encrypted file) kept in blobs/ (0: this carrier keeps none).
    max_blob_bytes: int = Field(default=100 * 2**20, ge=0, le=2**40)

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        try:
            path = path.expanduser()
        except RuntimeError:  # ~user of no user, or no home for ~: pathlib's own error, not a crash
            raise ValueError("cannot expand its ~ (no such user, or no home folder)") from None
        if not path.is_absolute():
            raise ValueError("must be an absolute path")
        return path
