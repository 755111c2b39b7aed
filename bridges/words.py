"""Small helpers every bridge uses on words from a carrier or a config: credentials fit for
a header, spans of time for people, cursors kept as JSON, text made one printable line.
Given by name from ``pointerbridge.bridges.base``."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["elapsed", "header_safe", "json_cursor", "printable"]


def header_safe(token: str) -> bool:
    """Whether a credential can go into an HTTP header: non-empty printable ASCII, no spaces."""
    return bool(token) and token.isascii() and token.isprintable() and " " not in token


def elapsed(seconds: float) -> str:
    """A span of time for people: minutes under 1.5 hours, hours above."""
    seconds = max(seconds, 0.0)
    return f"{seconds / 3600:.0f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def json_cursor(cursor: str | None) -> dict[str, Any]:
    """A cursor a bridge keeps as a JSON object; an unreadable one is a fresh start, never a crash."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def printable(text: object, limit: int) -> str:
    """``text`` for one line of a message: at most ``limit`` characters, anything that is
    not printable (newlines, escape sequences) shown as ``?``. For words that come from
    someone else: a server's error, an invite's values."""
    return "".join(c if c.isprintable() else "?" for c in str(text or ""))[:limit]
