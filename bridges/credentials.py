"""A carrier's credential given by reference: an environment variable's name, or a file
its owner alone may read (``bridges.base`` gives it by name)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["UnusableReferenceError", "read_credential", "read_reference"]


class UnusableReferenceError(ValueError):
    """A reference that gives no value to use: no reference, or a file that cannot be
    read or that others may read. The message says which."""


def read_reference(env_var: str | None, path: Path | None) -> tuple[str, str]:
    """The value ``env_var`` holds, else the stripped text of ``path``, a file its owner
    alone may read; and where it came from (for the caller's own words). An empty value
    comes back empty, never as an error here; :class:`UnusableReferenceError` otherwise."""
    if env_var is not None:
        return os.environ.get(env_var, ""), f"environment variable {env_var}"
    if path is None:
        raise UnusableReferenceError("no credential configured")
    try:
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UnusableReferenceError(f"{path} must be readable by you only (chmod 600)")
        return path.read_text(encoding="utf-8").strip(), str(path)
    except OSError as exc:
        raise UnusableReferenceError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        return "", str(path)  # not text: the caller says it holds no usable value


def read_credential(carrier: str, env_var: str | None, path: Path | None) -> tuple[str, str]:
    """A carrier's credential given by reference (:func:`read_reference`), its failures a
    :class:`~pointerbridge.bridges.base.ConfigurationError` of ``carrier``."""
    from .base import ConfigurationError  # base re-exports this function

    try:
        return read_reference(env_var, path)
    except UnusableReferenceError as exc:
        raise ConfigurationError(carrier, str(exc)) from None
