"""How long a pointer may be (SPEC §4), apart from the armor itself: what a carrier needs
to know of a pointer's length without loading the armor's base62 (GMP, through gmpy2,
~40 ms to import: an idle poll imports this module, never :mod:`.armor`)."""

from __future__ import annotations

__all__ = ["MAX_PAYLOAD_BYTES", "MAX_POINTER_CHARS"]

MAX_PAYLOAD_BYTES = 32 * 1024
"""The largest payload a pointer carries."""

_HEADER_CHARS = 6  # "pb", the version, three length characters
_BLOCK_BYTES, _BLOCK_CHARS = 32, 43
_REST_CHARS = next(c for c in range(64) if 62**c >= 256 ** (MAX_PAYLOAD_BYTES % _BLOCK_BYTES))

MAX_POINTER_CHARS = _HEADER_CHARS + (MAX_PAYLOAD_BYTES // _BLOCK_BYTES) * _BLOCK_CHARS + _REST_CHARS
"""The characters of the longest pointer (its armor, no line breaks)."""
