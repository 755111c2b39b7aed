"""Text made safe to show: control and format characters a sender wrote (ESC, bidi
overrides, zero-width marks) shown as escapes, and a body's line breaks indented so it
cannot pass for another message. Its own module: the cron line's output needs it and
nothing else of :mod:`.display`."""

from __future__ import annotations

import unicodedata

__all__ = ["safe_text"]

_INDENT = "\n    "  # continuation lines of a body: a body cannot fake the start of another message


def _shown_char(char: str) -> str:
    # Control and format characters (ESC, bidi overrides, zero-width marks) would let a
    # sender move the cursor, recolour the terminal or reorder what the reader sees.
    if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"):
        return f"\\u{ord(char):04x}" if ord(char) > 0xFF else f"\\x{ord(char):02x}"
    return char


def safe_text(text: str, *, multiline: bool = False) -> str:
    """``text`` with control and format characters made visible (``\\x1b``, ``\\u202e``).

    With ``multiline`` a newline stays a line break but the next line is indented, so a
    message body cannot pass for a message of its own; otherwise it shows as ``\\x0a``.
    """
    if text.isprintable():
        return text  # the common case, a C-speed check
    if multiline:
        return _INDENT.join("".join(map(_shown_char, line)) for line in text.replace("\r\n", "\n").split("\n"))
    return "".join(map(_shown_char, text))
