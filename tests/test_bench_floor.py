"""The C floor of `pbridge bench` does pb1's work with C primitives alone (issue 19)."""

from __future__ import annotations

import binascii
import hashlib
import os

import pytest
from pointerbridge.app import codec_floor
from pointerbridge.core.armor import dearmor
from pointerbridge.core.keys import ChatKey, Identity
from pointerbridge.core.pointer import seal

CHAT = ChatKey("bench", hashlib.sha256(b"floor test").digest(), bytes(16))
ME = Identity("alice", hashlib.sha256(b"floor identity").digest())


def test_the_floor_derives_the_same_message_key_with_cryptographys_hkdf() -> None:
    nonce = os.urandom(16)
    assert codec_floor._hkdf(CHAT._key, nonce) == CHAT.message_key(nonce)


def test_the_floor_armors_as_many_bytes_as_pb1_in_base64() -> None:
    pointers = seal(CHAT, ME, "x" * 1024)
    sizes = [len(dearmor(text)[1]) for text in pointers]
    steps = codec_floor._floor_steps(sizes)
    assert set(steps) == set(codec_floor.STEPS)
    (encoded,) = steps["base64_encode"]()  # type: ignore[misc]
    assert len(binascii.a2b_base64(encoded)) == sizes[0]


def test_every_microsecond_above_the_floor_is_accounted_for() -> None:
    row = codec_floor.measure(CHAT, ME, "y" * 100, 0.05)
    floor = row["floor"]
    assert floor["total_us"] == pytest.approx(sum(v for k, v in floor.items() if k != "total_us"), abs=0.02)
    assert row["ratio"] == pytest.approx(row["pb1_us"] / floor["total_us"], abs=0.002)
    above = row["above_floor"]
    # Each step's pb1 time is its floor plus what is above it; the steps and the Python
    # around them add up to seal plus unseal, measured on their own.
    for step, cells in above.items():
        assert cells["pb1_us"] == pytest.approx(cells["floor_us"] + cells["above_us"], abs=0.02), step
    assert sum(cells["pb1_us"] for cells in above.values()) == pytest.approx(
        row["pb1_seal_us"] + row["pb1_unseal_us"], abs=0.05
    )


def test_best_per_call_gives_every_function_its_turn() -> None:
    calls = {"a": 0, "b": 0}

    def a() -> None:
        calls["a"] += 1

    def b() -> None:
        calls["b"] += 1

    best = codec_floor.best_per_call({"a": a, "b": b}, 0.01)
    assert set(best) == {"a", "b"} and all(0 < v < 1 for v in best.values())
    assert calls["a"] >= 5 and calls["b"] >= 5  # calibration (2) and three rounds at least
