"""Ed25519 public keys this project accepts: canonical, and not of small order.

OpenSSL (and RFC 8032's verification equation without the cofactor) accepts a signature
``(R = identity, S = 0)`` under the identity point for every message, and degenerate
signatures under the other small-order points for many. A key that is one of the eight
points of order 1, 2, 4 or 8 was never made from a seed, so it has no owner: a pointer or
a rotation notice naming one is refused before any signature is checked. So is a key
whose encoding is not canonical (its y coordinate is p or more, or x = 0 with the sign
bit set), so that every accepted key has exactly one encoding (SPEC §7 step 8).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["SMALL_ORDER_Y", "is_strict_public_key", "verify"]

_P = 2**255 - 19
_Y_MASK = (1 << 255) - 1

# The y coordinates of the eight small-order points (each y with both signs of x, but for
# y = ±1 where x = 0): y = 1 (the identity, order 1), p - 1 (order 2), 0 (order 4), and
# the two of order 8. A y of p or more is refused as non-canonical before this set is
# asked, which covers the non-canonical encodings of these points too.
SMALL_ORDER_Y = frozenset(
    {
        1,
        _P - 1,
        0,
        0x05FC536D880238B13933C6D305ACDFD5F098EFF289F4C345B027B2C28F95E826,
        0x7A03AC9277FDC74EC6CC392CFA53202A0F67100D760B3CBA4FD84D3D706A17C7,
    }
)


def is_strict_public_key(key: bytes) -> bool:
    """Whether ``key`` is a 32-byte canonical encoding of a point not of small order.

    Costs one integer conversion (~0.2 µs); whether the point is on the curve at all is
    left to OpenSSL's decoding, which refuses it.
    """
    if len(key) != 32:
        return False
    y = int.from_bytes(key, "little") & _Y_MASK
    # y >= p is a non-canonical encoding; x = 0 (so a set sign bit is a second encoding of
    # the same point) happens only for y = ±1, both of small order.
    return y < _P and y not in SMALL_ORDER_Y


def verify(key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is ``key``'s over ``message`` and ``key`` is strict."""
    if not is_strict_public_key(key):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
