"""The text armor on its own: lengths, canonical form, and finding pointers in text."""

from __future__ import annotations

import os
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pointerbridge.core import (
    ArmorError,
    NonCanonicalError,
    TooLargeError,
    TruncatedError,
    UnknownVersionError,
    find_pointers,
    scan_pointers,
)
from pointerbridge.core.armor import (
    ALPHABET,
    MAX_INPUT_CHARS,
    MAX_PAYLOAD_BYTES,
    armor,
    dearmor,
    encoded_length,
    max_payload_bytes,
)


@pytest.mark.parametrize("size", [*range(1, 70), 255, 256, 1000, MAX_PAYLOAD_BYTES])
def test_round_trip_and_length(size: int) -> None:
    data = os.urandom(size)
    text = armor(1, data)
    assert dearmor(text) == (1, data)
    assert len(text) == encoded_length(size)
    assert set(text) <= set(ALPHABET)


def test_edge_values_round_trip() -> None:
    for data in (bytes(32), b"\xff" * 32, b"\x00" * 31 + b"\x01", b"\xff" * 33):
        assert dearmor(armor(1, data))[1] == data


@given(st.integers(0, 50_000))
def test_max_payload_bytes_is_tight(max_chars: int) -> None:
    n = max_payload_bytes(max_chars)
    if n:
        assert encoded_length(n) <= max_chars
    if n < MAX_PAYLOAD_BYTES:
        assert encoded_length(n + 1) > max_chars


def test_payload_limits_on_encode() -> None:
    for size in (0, MAX_PAYLOAD_BYTES + 1):
        with pytest.raises(TooLargeError):
            armor(1, bytes(size))


def test_noncanonical_blocks_are_refused() -> None:
    text = armor(1, b"\xff" * 40)
    with pytest.raises(NonCanonicalError):
        dearmor(text[:6] + "z" * 43 + text[49:])
    with pytest.raises(NonCanonicalError):
        dearmor(text[:49] + "z" * (len(text) - 49))


def test_header_errors() -> None:
    good = armor(1, os.urandom(50))
    with pytest.raises(UnknownVersionError):
        dearmor("pb7" + good[3:])
    with pytest.raises(ArmorError):
        dearmor("PB1" + good[3:])
    with pytest.raises(TruncatedError):
        dearmor("pb1z")
    with pytest.raises(TooLargeError):
        dearmor("pb1zzz" + good[6:])
    with pytest.raises(TooLargeError):
        dearmor("pb1" + "0" * MAX_INPUT_CHARS)
    with pytest.raises(ArmorError):
        dearmor(good + "Z")
    with pytest.raises(ArmorError):
        dearmor(good[:20] + "-" + good[20:])
    with pytest.raises(ArmorError):
        dearmor(12345)  # type: ignore[arg-type]


def test_find_in_a_chat_message_and_an_email() -> None:
    a, b = armor(1, os.urandom(300)), armor(1, os.urandom(500))
    assert find_pointers(f"here: {a}, and there: {b}!") == [a, b]
    mail = (
        "Hi,\n\nOn Tue Alice wrote:\n"
        + "\n".join("> > " + a[i : i + 72] for i in range(0, len(a), 72))
        + "\n> \n> "
        + b
        + "\n-- \nsig"
    )
    assert find_pointers(mail) == [a, b]
    assert find_pointers(a + "\n" + b) == [a, b]
    assert find_pointers(a + b) == [a, b]  # glued: the length field separates them
    assert find_pointers(a + "thanks") == [a]


def test_find_skips_and_reports_lookalikes() -> None:
    a = armor(1, os.urandom(300))
    scan = scan_pointers(f"pb1 pencils, {a[:100]} cut off. Then pb12 and {a}")
    assert scan.pointers == [a]
    assert any(isinstance(e, TruncatedError) for e in scan.rejected)
    assert find_pointers("xpb1" + a[3:]) == []


def test_find_returns_later_versions_for_unseal_to_name() -> None:
    a = armor(1, os.urandom(40))
    future = "pb2" + a[3:]
    assert find_pointers(f"new: {future} old: {a}") == [future, a]


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=2000))
def test_find_never_raises(text: str) -> None:
    scan = scan_pointers(text)
    for pointer in scan.pointers:
        assert pointer.startswith("pb")


def test_hostile_text_stays_linear_and_bounded() -> None:
    # Quadratic scanning took minutes on inputs like these; linear scanning takes well under a second.
    for text in ("pb17 " * 40_000, "pb1 " * 50_000, ("pb1" + "0Az" * 5 + " ") * 10_000):
        scan = scan_pointers(text)
        assert scan.rejected_count >= len(scan.rejected) and len(scan.rejected) <= 100
        assert all(e.__traceback__ is None for e in scan.rejected)


_MIB = 1024 * 1024


@pytest.mark.parametrize(
    "junk",
    [
        "pb1 " * (2 * _MIB),  # the audit's file: ~650 MB and ~9 s per poll before issue 17
        ("pb10Az " * _MIB)[: 2 * _MIB],  # a header that declares a possible length, again and again
        "pb18WW" + " x" * (4 * _MIB - 3),  # one candidate whose run is all the rest: pieces of one character
    ],
    ids=["pb1", "possible-headers", "one-long-run"],
)
def test_scanning_junk_takes_memory_linear_in_its_size(junk: str) -> None:
    # Issue 17, item 10: scanning streams, so hostile text costs a small multiple of its size.
    tracemalloc.start()
    try:
        scan = scan_pointers(junk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert scan.pointers == [] or all(p.startswith("pb1") for p in scan.pointers)
    assert peak < 4 * len(junk), f"{peak / _MIB:.0f} MiB to scan {len(junk) / _MIB:.0f} MiB"


def test_pointers_across_windows_and_chunks_are_all_found() -> None:
    # A scan holds a bounded window of a run, read a chunk at a time: pointers that straddle
    # both, wrapped a character a line or glued, are found as when the run was read whole.
    pointers = [armor(1, os.urandom(n)) for n in (32768, 5000, 32768, 40, 20000, 32768, 300)]
    text = " x" * 40_000 + " "
    for i, p in enumerate(pointers):
        text += {0: p, 1: " ".join(p), 2: "\n> ".join(p[j : j + 72] for j in range(0, len(p), 72))}[i % 3]
        text += ("pb1 " * 3000, "", " x" * 30_000 + " ")[i % 3]
    assert find_pointers(text) == pointers


def test_the_whitespace_list_is_what_str_split_and_the_regexes_use() -> None:
    from pointerbridge.core.finding import _WHITESPACE

    assert set(_WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}


def test_later_versions_must_declare_a_possible_length() -> None:
    assert find_pointers("pb2000") == []
    assert find_pointers("pb2zzz" + "0" * 100) == []


def test_scan_refuses_non_text() -> None:
    with pytest.raises(ArmorError):
        scan_pointers(b"pb1")  # type: ignore[arg-type]
