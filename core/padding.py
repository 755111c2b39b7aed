"""Length-hiding padding: Padmé buckets above a floor that hides short messages.

Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
Communication with PURBs", PETS 2019) rounds a length up so that only O(log log L)
bits of it remain visible, at a cost of at most ~12 % (SPEC §5). Below
:data:`MIN_PADDED` every sealed message looks the same size.
"""

from __future__ import annotations

__all__ = ["MIN_PADDED", "largest_padded_at_most", "padded_length"]

MIN_PADDED = 240


def padded_length(length: int) -> int:
    """The bucket a sealed plaintext of ``length`` bytes is padded to."""
    length = max(length, MIN_PADDED)
    exponent = length.bit_length() - 1  # floor(log2 L)
    kept = exponent - exponent.bit_length()  # E - (floor(log2 E) + 1)
    mask = (1 << kept) - 1
    return (length + mask) & ~mask


def largest_padded_at_most(limit: int) -> int:
    """The largest bucket not above ``limit`` (0 when even the smallest does not fit)."""
    if limit < MIN_PADDED:
        return 0
    exponent = limit.bit_length() - 1
    kept = exponent - exponent.bit_length()
    return limit & ~((1 << kept) - 1)
