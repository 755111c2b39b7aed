"""A carrier's credential given by reference: an environment variable's name, or a file
its owner alone may read (``bridges.base`` gives it by name)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["read_credential"]


def read_credential(carrier: str, env_var: str | None, path: Path | None) -> tuple[str, str]:
    """A credential given by reference: the value of ``env_var``, else the stripped text of
    ``path``, which must be readable by its owner only. Returns (value, where it came from)
    for the caller's own checks; an empty value comes back empty, never as an error here."""
    from .base import ConfigurationError  # base re-exports this function

    if env_var is not None:
        return os.environ.get(env_var, ""), f"environment variable {env_var}"
    if path is None:
        raise ConfigurationError(carrier, "no credential configured")
    try:
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigurationError(carrier, f"{path} must be readable by you only (chmod 600)")
        return path.read_text(encoding="utf-8").strip(), str(path)
    except OSError as exc:
        raise ConfigurationError(carrier, f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        return "", str(path)  # not text: the caller says it holds no usable credential
