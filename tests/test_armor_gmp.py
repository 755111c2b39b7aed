"""The armor's base62 goes through GMP (gmpy2), and refuses exactly what SPEC §4 refuses (issue 19).

gmpy2.mpz(text, 62) reads more than the pointer alphabet (signs, "_", whitespace): none of
it may reach it, and every armor failure vector fails as it did with the pure-Python
conversion (class and message, pinned below from the code before issue 19).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import gmpy2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pointerbridge.core import (
    ArmorError,
    ChatKey,
    NonCanonicalError,
    PointerError,
    TooLargeError,
    TruncatedError,
    UnknownVersionError,
    unseal,
)
from pointerbridge.core import armor as armor_module
from pointerbridge.core.armor import ALPHABET, armor, dearmor, encoded_length

VECTORS = json.loads((Path(__file__).parent / "vectors" / "pb1.json").read_text(encoding="utf-8"))["vectors"]
ARMOR_OUTCOMES = {"armor", "noncanonical", "version", "truncated", "oversize"}

# What the pure-Python conversion said for each armor-level failure vector (before issue 19).
BEFORE: dict[int, tuple[type[PointerError], str]] = {
    19: (ArmorError, "the text does not start with the pointer prefix 'pb'"),
    20: (ArmorError, "character '+' is not in the pointer alphabet"),
    21: (ArmorError, "2 characters follow the end of the pointer"),
    22: (ArmorError, "the pointer declares an empty payload"),
    23: (ArmorError, "the text does not start with the pointer prefix 'pb'"),
    24: (NonCanonicalError, "block at byte 0 holds more than 32 bytes"),
    25: (NonCanonicalError, "block at byte 256 holds more than 20 bytes"),
    26: (UnknownVersionError, "pointer version '3' is not supported (this reads pb1 and pb2)"),
    27: (UnknownVersionError, "pointer version 'Z' is not supported (this reads pb1 and pb2)"),
    28: (TruncatedError, "the pointer has 367 of its 377 characters"),
    29: (TruncatedError, "the text ends inside the pointer header"),
    30: (TruncatedError, "200 bytes is shorter than any pb1 pointer"),
    31: (TooLargeError, "the pointer declares 40000 bytes; the limit is 32768"),
}


def _reference_armor(payload: bytes) -> str:
    """SPEC §4 written out the slow way: the encoding every pointer ever made used."""

    def number(value: int, chars: int) -> str:
        out = ""
        for _ in range(chars):
            value, digit = divmod(value, 62)
            out = ALPHABET[digit] + out
        assert value == 0
        return out

    blocks = [payload[i : i + 32] for i in range(0, len(payload), 32)]
    chars = [next(c for c in range(64) if 62**c >= 256 ** len(b)) for b in blocks]
    return (
        "pb1"
        + number(len(payload), 3)
        + "".join(number(int.from_bytes(b, "big"), c) for b, c in zip(blocks, chars, strict=True))
    )


@pytest.fixture
def gmp_calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every text the armor hands to gmpy2.mpz (the real one still does the work)."""
    seen: list[Any] = []
    real = armor_module._mpz

    def counting(text: Any, base: int) -> Any:
        seen.append(text)
        return real(text, base)

    monkeypatch.setattr(armor_module, "_mpz", counting)
    return seen


def test_gmp_base_62_digits_are_the_pointer_alphabet() -> None:
    assert "".join(gmpy2.digits(gmpy2.mpz(i), 62) for i in range(62)) == ALPHABET
    assert [int(gmpy2.mpz(c, 62)) for c in ALPHABET] == list(range(62))


def test_decoding_goes_through_gmp(gmp_calls: list[Any]) -> None:
    payload = os.urandom(32 * 5 + 7)
    assert dearmor(armor(1, payload)) == (1, payload)
    assert len(gmp_calls) == 1 + 6  # the length field, five full blocks and the last one


@pytest.mark.parametrize("vector", [v for v in VECTORS if v["kind"] == "unseal" and v["expect"] in ARMOR_OUTCOMES])
def test_every_armor_failure_vector_fails_as_before(vector: dict[str, Any]) -> None:
    chat = ChatKey(vector["chat_name"], bytes.fromhex(vector["chat_key"]))
    kind, message = BEFORE[vector["id"]]
    with pytest.raises(PointerError) as raised:
        unseal(chat, vector["pointer"])
    assert (type(raised.value), str(raised.value), raised.value.expect) == (kind, message, vector["expect"])


def test_every_armor_failure_vector_is_pinned() -> None:
    ids = {v["id"] for v in VECTORS if v["kind"] == "unseal" and v["expect"] in ARMOR_OUTCOMES}
    assert ids == set(BEFORE)


@pytest.mark.parametrize("text", ["+1", "-1", "+zz", "1_0", "_10", " 1", "1 ", "1\n", "\u200b1", "１", ""])
def test_what_gmp_would_read_is_refused_before_it(text: str, gmp_calls: list[Any]) -> None:
    with pytest.raises(ArmorError):
        armor_module._decode_number(text)
    assert gmp_calls == []


@pytest.mark.parametrize("text", ["0x1", "0b1", "0o7", "0X1"])
def test_prefix_lookalikes_are_plain_base62_digits(text: str) -> None:
    value = 0
    for char in text:
        value = value * 62 + ALPHABET.index(char)
    assert armor_module._decode_number(text) == value


@pytest.mark.parametrize("inserted", ["+", "-", "_", "+0x", "-0x"])
def test_signs_and_underscores_inside_a_pointer_are_refused(inserted: str, gmp_calls: list[Any]) -> None:
    text = armor(1, os.urandom(100))
    with pytest.raises(ArmorError, match="is not in the pointer alphabet"):
        dearmor(text[:50] + inserted + text[50:])
    with pytest.raises(ArmorError, match="is not in the pointer alphabet"):
        armor_module._decode_blocks(text[6:50] + inserted + text[50:], 100)
    assert gmp_calls == []


def test_whitespace_and_a_leading_zero_width_are_ignored_as_the_spec_says() -> None:
    payload = os.urandom(100)
    text = armor(1, payload)
    assert dearmor("\u200b" + text[:50] + " \n> " + text[50:]) == (1, payload)


def test_oversized_blocks_are_refused_at_exactly_256_to_the_n() -> None:
    top = armor(1, b"\xff" * 64)
    over = gmpy2.digits(gmpy2.mpz(256**32), 62).zfill(43)
    with pytest.raises(NonCanonicalError, match="block at byte 32 holds more than 32 bytes"):
        dearmor(top[:49] + over)
    with pytest.raises(NonCanonicalError, match="block at byte 0 holds more than 32 bytes"):
        dearmor(top[:6] + over + top[49:])
    short = armor(1, b"\xff" * 33)  # a 1-byte last block is 2 digits: 256 is the first refused
    assert dearmor(short) == (1, b"\xff" * 33)
    with pytest.raises(NonCanonicalError, match="block at byte 32 holds more than 1 bytes"):
        dearmor(short[:-2] + gmpy2.digits(gmpy2.mpz(256), 62).zfill(2))


@given(st.text(alphabet=ALPHABET, min_size=43, max_size=43))
def test_a_full_block_is_accepted_exactly_when_it_fits_32_bytes(digits: str) -> None:
    text = "pb1" + "00W" + digits  # a 32-byte payload
    assert encoded_length(32) == len(text)
    value = int(gmpy2.mpz(digits, 62))
    if value < 256**32:
        assert dearmor(text) == (1, value.to_bytes(32, "big"))
    else:
        with pytest.raises(NonCanonicalError):
            dearmor(text)


@given(st.binary(min_size=1, max_size=300))
def test_the_encoding_is_the_specs_to_the_byte(payload: bytes) -> None:
    assert armor(1, payload) == _reference_armor(payload)
    assert dearmor(_reference_armor(payload)) == (1, payload)
