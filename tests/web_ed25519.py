"""Ed25519 points in plain integers, to build signatures a library would refuse to make:
here, a key with a small-order component (a*B + T, T of order 8). Its y is not one of the
small-order points', so SPEC §7 step 8's key rule lets it through; OpenSSL's cofactorless
equation then refuses its signatures (7 times in 8) while a cofactored one accepts them.
Test code only: slow, not constant time."""

from __future__ import annotations

import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, -1, P) % P
Point = tuple[int, int]


def _x_of(y: int, odd: bool) -> int:
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = pow(u * pow(v, -1, P), (P + 3) // 8, P)
    if (x * x - u * pow(v, -1, P)) % P:
        x = x * pow(2, (P - 1) // 4, P) % P
    return P - x if (x & 1) != odd else x


def add(a: Point, b: Point) -> Point:
    """The sum of two points (affine Edwards addition)."""
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P


def times(k: int, point: Point) -> Point:
    """``k`` times ``point``."""
    out: Point = (0, 1)
    while k:
        if k & 1:
            out = add(out, point)
        point, k = add(point, point), k >> 1
    return out


def encode(point: Point) -> bytes:
    """RFC 8032's encoding: y little-endian, x's low bit as the top bit."""
    x, y = point
    return (y | (x & 1) << 255).to_bytes(32, "little")


BASE: Point = (_x_of(4 * pow(5, -1, P) % P, False), 4 * pow(5, -1, P) % P)
ORDER_8: Point = (
    _x_of(0x05FC536D880238B13933C6D305ACDFD5F098EFF289F4C345B027B2C28F95E826, False),
    0x05FC536D880238B13933C6D305ACDFD5F098EFF289F4C345B027B2C28F95E826,
)


def mixed_order_signature(message: bytes) -> tuple[bytes, bytes] | None:
    """(key, signature) of ``message`` under a*B + T (T of order 8), signed as RFC 8032 signs
    with the scalar a; None when the challenge is a multiple of 8 (then both equations hold)."""
    a, r = 0x1234567 * 2**200 + 99, 0x7654321 * 2**190 + 7
    key = encode(add(times(a, BASE), ORDER_8))
    big_r = encode(times(r, BASE))
    k = int.from_bytes(hashlib.sha512(big_r + key + message).digest(), "little") % L
    if k % 8 == 0:
        return None
    return key, big_r + ((r + k * a) % L).to_bytes(32, "little")
