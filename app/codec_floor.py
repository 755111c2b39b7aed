"""The C floor of pb1: what a seal+unseal costs when every step is a C primitive.

``pbridge bench`` compares pb1 with the same work done by C code alone, measured in the
same process and interleaved with it (best of N rounds): per pointer, two HKDF-SHA256
derivations with cryptography's ``HKDF`` (not the project's wrappers), two keyed BLAKE2s
routing tags, ChaCha20-Poly1305 encrypt and decrypt (key object built per message, as
each message has its own key), Ed25519 sign and verify (keys loaded once: pb1 keeps
each sender's key loaded too), and base64 through ``binascii`` as a C armor. Each of pb1's own steps is timed
beside the floor step it stands for, so the report shows where every microsecond above
the floor goes (the remainder rows are pb1's framing, padding and parsing in Python).
"""

from __future__ import annotations

import binascii
import hashlib
import os
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pointerbridge.core.armor import armor, dearmor
from pointerbridge.core.ed25519 import is_strict_public_key
from pointerbridge.core.keys import MESSAGE_KEY_INFO, ChatKey, Identity
from pointerbridge.core.pointer import NONCE_BYTES, SIGNATURE_BYTES, seal, unseal

__all__ = ["FLOOR_SIZES", "STEPS", "best_per_call", "measure"]

FLOOR_SIZES = (100, 1024, 4096, 32768)
_ENVELOPE = NONCE_BYTES + 4
_AD = b"pb1 additional data!"[:_ENVELOPE]

# Each floor step: the pb1 step that does the same work (None: pb1 calls the very same
# primitive, so its cost is the floor's) and whether seal, unseal or both (half each) run it.
STEPS: dict[str, tuple[str | None, str]] = {
    "hkdf_x2": ("message_key_x2", "both"),
    "routing_tag_x2": ("routing_tag_x2", "both"),
    "aead_encrypt": (None, "seal"),
    "aead_decrypt": (None, "unseal"),
    "ed25519_sign": (None, "seal"),
    "ed25519_verify": ("strict_key_check", "unseal"),  # pb1 checks the key first (SPEC §7), then verifies
    "base64_encode": ("armor_encode", "seal"),
    "base64_decode": ("armor_decode", "unseal"),
}


def best_per_call(fns: dict[str, Callable[[], object]], seconds: float, sample: float = 100e-6) -> dict[str, float]:
    """Seconds per call of each function: the best of many short interleaved samples.

    Each sample is about ``sample`` seconds (a few calls, or one), and the functions take
    turns sample by sample for ``seconds`` in all: on a machine shared with other work, the
    best sample of each is the one that ran uninterrupted, and every function had as many
    chances at it as the others."""
    per_sample = {}
    for name, fn in fns.items():
        fn()
        start = time.perf_counter()
        fn()
        per_sample[name] = max(1, round(sample / max(time.perf_counter() - start, 1e-9)))
    best = dict.fromkeys(fns, float("inf"))
    clock = time.perf_counter
    stop = clock() + seconds
    rounds = 0
    while rounds < 3 or clock() < stop:
        rounds += 1
        for name, fn in fns.items():
            loops = per_sample[name]
            start = clock()
            for _ in range(loops):
                fn()
            best[name] = min(best[name], (clock() - start) / loops)
    return best


def _hkdf(key: bytes, salt: bytes) -> bytes:
    return HKDF(SHA256(), 32, salt, MESSAGE_KEY_INFO).derive(key)


def _floor_steps(payload_sizes: list[int]) -> dict[str, Callable[[], object]]:
    """The C primitives for pointers of these payload sizes, each step over all of them."""
    key, tag_key = os.urandom(32), os.urandom(32)
    signer = Ed25519PrivateKey.generate()
    verifier = signer.public_key()
    nonce12 = bytes(12)
    cases = []
    for size in payload_sizes:
        inner = os.urandom(size - _ENVELOPE - 16)
        nonce = os.urandom(NONCE_BYTES)
        message = inner[: len(inner) - SIGNATURE_BYTES]
        payload = nonce + b"tag!" + ChaCha20Poly1305(key).encrypt(nonce12, inner, _AD)
        text = binascii.b2a_base64(payload, newline=False)
        cases.append((nonce, inner, message, signer.sign(message), payload, text))

    def each(step: Callable[..., object]) -> Callable[[], object]:
        return lambda: [step(*case) for case in cases]

    return {
        "hkdf_x2": each(lambda n, *_: (_hkdf(key, n), _hkdf(key, n))),
        "routing_tag_x2": each(
            lambda n, *_: (
                hashlib.blake2s(n, key=tag_key).digest()[:4],
                hashlib.blake2s(n, key=tag_key).digest()[:4],
            )
        ),
        "aead_encrypt": each(lambda n, i, *_: ChaCha20Poly1305(key).encrypt(nonce12, i, _AD)),
        "aead_decrypt": each(lambda n, i, m, s, p, t: ChaCha20Poly1305(key).decrypt(nonce12, p[_ENVELOPE:], _AD)),
        "ed25519_sign": each(lambda n, i, m, *_: signer.sign(m)),
        "ed25519_verify": each(lambda n, i, m, s, *_: verifier.verify(s, m)),
        "base64_encode": each(lambda *c: binascii.b2a_base64(c[4], newline=False)),
        "base64_decode": each(lambda *c: binascii.a2b_base64(c[5])),
    }


def _pb1_steps(chat: ChatKey, me: Identity, body: str) -> dict[str, Callable[[], object]]:
    """pb1 as a whole, seal and unseal alone, and pb1's own code for each floor step."""
    pointers = seal(chat, me, body)
    payloads = [dearmor(text)[1] for text in pointers]
    nonces = [payload[:NONCE_BYTES] for payload in payloads]
    key = me.public_key
    return {
        "pb1": lambda: [unseal(chat, text) for text in seal(chat, me, body)],
        "seal": lambda: seal(chat, me, body),
        "unseal": lambda: [unseal(chat, text) for text in pointers],
        "message_key_x2": lambda: [(chat.message_key(n), chat.message_key(n)) for n in nonces],
        "routing_tag_x2": lambda: [chat.matches(n, chat.routing_tag(n)) for n in nonces],
        "strict_key_check": lambda: [is_strict_public_key(key) for _ in nonces],
        "armor_encode": lambda: [armor(1, payload) for payload in payloads],
        "armor_decode": lambda: [dearmor(text) for text in pointers],
    }


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 2)


def _above(pb1: dict[str, float], floor: dict[str, float]) -> dict[str, dict[str, float]]:
    """Each step: pb1's time, its floor's, and the difference; the two remainder rows are
    what seal and unseal spend around the primitives (framing, padding, parsing: Python)."""
    rows: dict[str, dict[str, float]] = {}
    inside = {"seal": 0.0, "unseal": 0.0}
    for step, (own, side) in STEPS.items():
        spent = floor[step] if own is None else pb1[own] + (floor[step] if own == "strict_key_check" else 0.0)
        rows[step] = {"pb1_us": round(spent, 2), "floor_us": floor[step], "above_us": round(spent - floor[step], 2)}
        for half in ("seal", "unseal") if side == "both" else (side,):
            inside[half] += spent / 2 if side == "both" else spent
    for half in ("seal", "unseal"):
        rest = round(pb1[half] - inside[half], 2)
        rows[f"{half}_python"] = {"pb1_us": rest, "floor_us": 0.0, "above_us": rest}
    return rows


def measure(chat: ChatKey, me: Identity, body: str, seconds: float) -> dict[str, Any]:
    """pb1 against its C floor for one body, every figure interleaved in one block of
    about ``seconds``."""
    sizes = [len(dearmor(text)[1]) for text in seal(chat, me, body)]
    floor_fns = _floor_steps(sizes)
    pb1_fns = _pb1_steps(chat, me, body)
    fns = {**{f"floor {k}": v for k, v in floor_fns.items()}, **{f"pb1 {k}": v for k, v in pb1_fns.items()}}
    measured = {name: _us(value) for name, value in best_per_call(fns, seconds).items()}
    floor = {k: measured[f"floor {k}"] for k in floor_fns}
    pb1 = {k: measured[f"pb1 {k}"] for k in pb1_fns}
    total = round(sum(floor.values()), 2)
    return {
        "pointers": len(sizes),
        "payload_bytes": sum(sizes),
        "floor": {**floor, "total_us": total},
        "pb1_us": pb1["pb1"],
        "ratio": round(pb1["pb1"] / total, 3),
        "pb1_seal_us": pb1["seal"],
        "pb1_unseal_us": pb1["unseal"],
        "above_floor": _above(pb1, floor),
    }
