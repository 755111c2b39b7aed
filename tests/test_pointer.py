"""Sealing and opening pb1 pointers: round trips, every failure, hostile input."""

from __future__ import annotations

import itertools
import pickle
from datetime import UTC, datetime, timedelta

import pytest
from helpers import raw_chat, raw_identity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pointerbridge.core import (
    MAX_MESSAGE_BYTES,
    ArmorError,
    ChatKey,
    Identity,
    InvalidInputError,
    Keyring,
    MalformedError,
    Message,
    NotForThisChatError,
    Part,
    PointerError,
    Reassembler,
    TamperedError,
    TooLargeError,
    TruncatedError,
    seal,
    unseal,
)
from pointerbridge.core.armor import armor, dearmor

BODIES = {
    "empty": "",
    "one byte": "a",
    "100 B": "x" * 100,
    "4 KB": "four kilobytes! " * 256,
    "emoji": "🔐🌉 👩‍👩‍👧 👍🏽 ✉️",
    "mixed scripts": "Привет · مرحبا · 你好 · नमस्ते · e\u0301 · Ελληνικά · עברית",
}


def open_all(chat: ChatKey, pointers: list[str]) -> Message:
    joiner = Reassembler()
    done = [m for m in (joiner.add(unseal(chat, p)) for p in pointers) if m is not None]
    assert len(done) == 1 and joiner.pending == 0
    return done[0]


@pytest.mark.parametrize("name", BODIES)
def test_round_trip(name: str, chat: ChatKey, alice: Identity) -> None:
    before = datetime.now(UTC)
    (pointer,) = seal(chat, alice, BODIES[name])
    message = unseal(chat, pointer)
    assert isinstance(message, Message)
    assert message.body == BODIES[name]
    assert (message.username, message.sender_key, message.chat) == ("alice", alice.public_key, "general")
    assert before - timedelta(seconds=1) <= message.sent_at <= datetime.now(UTC)
    assert message.fingerprint == alice.fingerprint
    assert len(message.id) == 32


def test_a_burst_of_seals_has_strictly_increasing_send_times(chat: ChatKey, alice: Identity) -> None:
    times = [unseal(chat, seal(chat, alice, f"m{i}")[0]).sent_at for i in range(50)]  # well within 50 ms
    assert all(a < b for a, b in itertools.pairwise(times))


def test_one_megabyte_is_split_and_joined(chat: ChatKey, alice: Identity) -> None:
    body = ("1 MB of text, with ünïcödé and 🙂. " * 30000)[: 1 << 20]
    pointers = seal(chat, alice, body, max_chars=4096)
    assert len(pointers) > 250
    assert all(len(p) <= 4096 for p in pointers)
    message = open_all(chat, pointers[::-1])  # any order
    assert message.body == body


def test_default_limit_splits_only_beyond_32_kib(chat: ChatKey, alice: Identity) -> None:
    assert len(seal(chat, alice, "y" * 30_000)) == 1
    pointers = seal(chat, alice, "y" * 100_000)
    assert len(pointers) == 4
    assert open_all(chat, pointers).body == "y" * 100_000


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 20_000), max_chars=st.integers(700, 9000))
def test_every_part_fits_max_chars(size: int, max_chars: int) -> None:
    chat, alice = raw_chat("limits"), raw_identity("alice")
    pointers = seal(chat, alice, "é" * (size // 2) + "z" * (size % 2), max_chars=max_chars)
    assert all(len(p) <= max_chars for p in pointers)
    assert open_all(chat, pointers).body == "é" * (size // 2) + "z" * (size % 2)


def test_too_small_max_chars_is_refused(chat: ChatKey, alice: Identity) -> None:
    with pytest.raises(InvalidInputError):
        seal(chat, alice, "x" * 1000, max_chars=300)
    with pytest.raises(InvalidInputError):
        seal(chat, alice, "x", max_chars=0)


def test_oversized_message_is_refused(chat: ChatKey, alice: Identity) -> None:
    with pytest.raises(TooLargeError):
        seal(chat, alice, "z" * (MAX_MESSAGE_BYTES + 1))


def test_body_must_be_text(chat: ChatKey, alice: Identity) -> None:
    with pytest.raises(InvalidInputError):
        seal(chat, alice, b"bytes")  # type: ignore[arg-type]


def test_hundred_byte_pointer_is_short(chat: ChatKey, alice: Identity) -> None:
    assert len(seal(chat, alice, "x" * 100)[0]) <= 400


def test_same_body_twice_shares_nothing_visible(chat: ChatKey, alice: Identity) -> None:
    a, b = seal(chat, alice, "same words"), seal(chat, alice, "same words")
    pa, pb = dearmor(a[0])[1], dearmor(b[0])[1]
    assert a != b and len(pa) == len(pb)  # the length bucket is the one shared fact
    assert pa[:16] != pb[:16] and pa[16:20] != pb[16:20]
    assert sum(x == y for x, y in zip(pa, pb, strict=True)) < len(pa) // 16  # ~1/256 by chance
    # no run of 8 equal characters after the 6-character header
    text_a, text_b = a[0][6:], b[0][6:]
    assert not any(text_a[i : i + 8] in text_b for i in range(len(text_a) - 8))


def test_wrong_secret_and_other_chat(alice: Identity) -> None:
    right = ChatKey.derive_open("general", "correct horse")
    wrong = ChatKey.derive_open("general", "correct horse!")
    (pointer,) = seal(right, alice, "hello")
    assert unseal(right, pointer).body == "hello"  # type: ignore[union-attr]
    with pytest.raises(NotForThisChatError):
        unseal(wrong, pointer)
    with pytest.raises(NotForThisChatError):
        unseal(raw_chat("general"), pointer)


def test_chat_names_normalize_but_secrets_do_not() -> None:
    a = ChatKey.derive_open("  Family\u00a0CHAT\u200b ", "se\u0301same")
    b = ChatKey.derive_open("family chat", "s\u00e9same")  # NFC of the same secret
    c = ChatKey.derive_open("family chat", "Sésame")
    assert a._key == b._key != c._key
    assert a.normalized_name == "family chat"


@pytest.mark.parametrize("bad", ["", "   ", "a\x00b", "x" * 129])
def test_bad_chat_names(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        ChatKey(bad, bytes(32))


def test_identity_is_reproducible_and_distinct() -> None:
    a1 = Identity.derive_unsalted("alice", "phrase one")
    a2 = Identity.derive_unsalted(" alice ", "phrase one")
    b = Identity.derive_unsalted("alice", "phrase two")
    assert a1.public_key == a2.public_key != b.public_key
    assert len(a1.fingerprint.split()) == 6 and a1.fingerprint != b.fingerprint


def test_keys_never_serialize_or_show(chat: ChatKey, alice: Identity) -> None:
    for obj in (chat, alice):
        with pytest.raises(TypeError):
            pickle.dumps(obj)
    assert chat._key.hex() not in repr(chat) and "general" in repr(chat)
    assert "alice" in repr(alice)


def _expected_for_flipped_byte(index: int) -> type[PointerError]:
    return NotForThisChatError if index < 20 else TamperedError


def test_every_flipped_bit_is_caught(chat: ChatKey, alice: Identity) -> None:
    payload = bytearray(dearmor(seal(chat, alice, "flip me")[0])[1])
    for index in range(len(payload)):
        for bit in range(8):
            payload[index] ^= 1 << bit
            with pytest.raises(_expected_for_flipped_byte(index)):
                unseal(chat, armor(1, bytes(payload)))
            payload[index] ^= 1 << bit


def test_every_changed_character_is_caught(chat: ChatKey, alice: Identity) -> None:
    (pointer,) = seal(chat, alice, "change me")
    for i, ch in enumerate(pointer):
        for new in {"0", "z", "A"} - {ch}:
            with pytest.raises(PointerError):
                unseal(chat, pointer[:i] + new + pointer[i + 1 :])


def test_every_truncation_is_caught(chat: ChatKey, alice: Identity) -> None:
    (pointer,) = seal(chat, alice, "cut me")
    for end in range(2, len(pointer)):
        with pytest.raises(TruncatedError):
            unseal(chat, pointer[:end])
    for text in ("", "p"):
        with pytest.raises(ArmorError):
            unseal(chat, text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_inserted_whitespace_and_quotes_are_ignored(data: st.DataObject, chat: ChatKey, alice: Identity) -> None:
    (pointer,) = seal(chat, alice, "wrapped")
    noise = st.sampled_from([" ", "\n", "\r\n", "\t", "\n> ", "\n> > ", "\u00a0", "\u200b", "\u00ad"])
    positions = data.draw(st.lists(st.integers(0, len(pointer)), max_size=40))
    text = pointer
    for pos in sorted(positions, reverse=True):
        text = text[:pos] + data.draw(noise) + text[pos:]
    assert unseal(chat, text).body == "wrapped"  # type: ignore[union-attr]


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.one_of(
        st.text(max_size=300),
        st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz \n>", max_size=600).map(
            lambda s: "pb1" + s
        ),
        st.binary(min_size=1, max_size=1200).map(lambda b: armor(1, b)),
    )
)
def test_garbage_gives_a_documented_error(text: str, chat: ChatKey) -> None:
    with pytest.raises(PointerError) as caught:
        unseal(chat, text)
    assert type(caught.value) is not PointerError and caught.value.expect != "error"


def test_keyring_routes_to_the_right_chat(alice: Identity) -> None:
    chats = [raw_chat(f"room {i}") for i in range(300)]
    ring = Keyring(chats)
    for target in (chats[0], chats[150], chats[-1]):
        (pointer,) = seal(target, alice, f"to {target.name}")
        found, message = ring.unseal(pointer)
        assert found is target and message.body == f"to {target.name}"  # type: ignore[union-attr]
    with pytest.raises(NotForThisChatError):
        ring.unseal(seal(raw_chat("stranger"), alice, "?")[0])


def test_keyring_reports_tampering_of_a_matching_chat(chat: ChatKey, alice: Identity) -> None:
    payload = bytearray(dearmor(seal(chat, alice, "x")[0])[1])
    payload[-1] ^= 1
    with pytest.raises(TamperedError):
        Keyring([raw_chat("a"), chat]).unseal(armor(1, bytes(payload)))


def test_reassembler_ignores_duplicates_and_rejects_mixtures(chat: ChatKey, alice: Identity, bob: Identity) -> None:
    first = seal(chat, alice, "a" * 3000, max_chars=1000)
    joiner = Reassembler()
    assert joiner.add(unseal(chat, first[0])) is None
    assert joiner.add(unseal(chat, first[0])) is None
    assert joiner.pending == 1
    parts = [unseal(chat, p) for p in first[1:]]
    assert all(isinstance(p, Part) for p in parts)
    results = [joiner.add(p) for p in parts]
    assert results[-1] is not None and results[-1].body == "a" * 3000 and joiner.pending == 0
    # the same message id from another sender is another message, never mixed in
    other = unseal(chat, seal(chat, bob, "b" * 3000, max_chars=1000)[0])
    assert joiner.add(other) is None and joiner.pending == 1


def test_reassembler_bounds_memory(chat: ChatKey, alice: Identity) -> None:
    # Room for the first parts (each ~640 bytes of memory, and ~960 for the message), not all 10.
    joiner = Reassembler(max_pending_bytes=2500)
    pointers = seal(chat, alice, "m" * 5000, max_chars=1000)
    joiner.add(unseal(chat, pointers[0]))
    with pytest.raises(TooLargeError):
        for p in pointers[1:-1]:
            joiner.add(unseal(chat, p))


def test_part_disagreeing_with_siblings_is_malformed(chat: ChatKey, alice: Identity) -> None:
    joiner = Reassembler()
    parts = [unseal(chat, p) for p in seal(chat, alice, "q" * 3000, max_chars=1000)]
    first = parts[0]
    assert isinstance(first, Part)
    joiner.add(first)
    forged = Part(
        first.chat, first.username, first.sender_key, first.sent_at, first.message_id, 1, first.count + 1, b"zz"
    )
    with pytest.raises(MalformedError):
        joiner.add(forged)


def test_message_ids_are_bound_to_the_sender(chat: ChatKey, alice: Identity, bob: Identity) -> None:
    from pointerbridge.core import pointer as internals

    same_random = [b"\x07" * 16]
    a = internals._seal(chat, alice, "hi", None, lambda n: same_random[0][:n], 1)
    b = internals._seal(chat, bob, "hi", None, lambda n: same_random[0][:n], 1)
    assert unseal(chat, a[0]).id != unseal(chat, b[0]).id  # type: ignore[union-attr]


def test_reassembler_refuses_messages_over_the_limit(chat: ChatKey, alice: Identity) -> None:
    joiner = Reassembler()
    sent_at = datetime.now(UTC)
    big = b"x" * (MAX_MESSAGE_BYTES // 2 + 1)
    joiner.add(Part("general", "alice", alice.public_key, sent_at, "ab" * 16, 0, 3, big))
    with pytest.raises(TooLargeError):
        joiner.add(Part("general", "alice", alice.public_key, sent_at, "ab" * 16, 1, 3, big))
    assert joiner.pending == 1


def test_reassembler_refusal_leaves_no_entry(chat: ChatKey, alice: Identity) -> None:
    joiner = Reassembler(max_pending_bytes=100)
    part = Part("general", "alice", alice.public_key, datetime.now(UTC), "cd" * 16, 0, 2, b"y" * 200)
    with pytest.raises(TooLargeError):
        joiner.add(part)
    assert joiner.pending == 0


def test_reassembler_refuses_impossible_parts(alice: Identity) -> None:
    joiner = Reassembler()
    for index, count in ((1, 1), (2, 2), (-1, 3), (0, 70000)):
        with pytest.raises(MalformedError):
            joiner.add(Part("general", "alice", alice.public_key, datetime.now(UTC), "ef" * 16, index, count, b"z"))


def test_reassembler_groups_by_normalized_chat(alice: Identity) -> None:
    joiner = Reassembler()
    when = datetime.now(UTC)
    joiner.add(Part("Family", "alice", alice.public_key, when, "01" * 16, 0, 2, b"a"))
    done = joiner.add(Part("family", "alice", alice.public_key, when, "01" * 16, 1, 2, b"b"))
    assert done is not None and done.body == "ab"


def test_chat_name_limit_applies_after_case_folding() -> None:
    with pytest.raises(InvalidInputError):
        ChatKey("\u0390" * 64, bytes(32))  # 128 bytes, but 384 once case-folded


def test_secrets_that_are_not_unicode_are_refused_without_echo() -> None:
    with pytest.raises(InvalidInputError) as caught:
        ChatKey.derive_open("general", "hunter2\ud800")
    assert "hunter2" not in str(caught.value) and caught.value.__cause__ is None


def test_the_short_hmac_is_hmac_sha256() -> None:
    import hmac
    import os

    from pointerbridge.core.keys import _short_hmac

    for length in range(65):
        key, message = os.urandom(length), os.urandom(length * 3)
        assert _short_hmac(key, message) == hmac.digest(key, message, "sha256")
    with pytest.raises(ValueError):
        _short_hmac(bytes(65), b"")


def test_reopening_a_known_pointer_gives_the_same_message() -> None:
    from pointerbridge.core.armor import dearmor
    from pointerbridge.core.pointer import open_payload

    chat, alice = raw_chat("known"), raw_identity("alice")
    for body in ("", "hello", "ünïcödé " * 40, "x" * 5000):
        for pointer in seal(chat, alice, body, max_chars=2000):
            payload = dearmor(pointer)[1]
            assert open_payload(chat, payload, verify=False) == open_payload(chat, payload)
    tampered = bytearray(dearmor(seal(chat, alice, "hi")[0])[1])
    tampered[40] ^= 1
    with pytest.raises(TamperedError):
        open_payload(chat, bytes(tampered), verify=False)  # the AEAD is never skipped


# Review findings (issue 15, item 7) --------------------------------------------------------

_IDENTITY_POINT = bytes([1]) + bytes(31)  # (0, 1): the identity, of order 1
_SMALL_ORDER_ENCODINGS = [
    _IDENTITY_POINT,
    bytes([1]) + bytes(30) + b"\x80",  # the identity again, with the sign bit of x = 0 set
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  # order 2
    bytes(32),  # order 4
    bytes(31) + b"\x80",
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),  # order 8
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
    bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  # p: 0, not canonical
    bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  # p + 1: the identity
]
_IDENTITY_SIGNATURE = _IDENTITY_POINT + bytes(32)  # R = identity, S = 0


def _pointer_from_key(chat: ChatKey, key: bytes, signature: bytes, body: bytes = b"I am alice") -> str:
    from pointerbridge.core import pointer as internals
    from pointerbridge.core.padding import padded_length

    user = b"alice"
    head = internals._HEAD.pack(0, 1_790_000_000_000, key, len(user)) + user + internals._U32.pack(len(body))
    inner = head + body + signature
    return internals._encrypt(chat, bytes(range(16)), inner + bytes(padded_length(len(inner)) - len(inner)))


def test_openssl_takes_the_identity_key_signature_that_pointers_refuse(chat: ChatKey) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from pointerbridge.core import BadSignatureError, WeakKeyError
    from pointerbridge.core.ed25519 import is_strict_public_key, verify

    # Why the check exists: OpenSSL verifies (identity, 0) under the identity for anything.
    Ed25519PublicKey.from_public_bytes(_IDENTITY_POINT).verify(_IDENTITY_SIGNATURE, b"any message at all")
    for key in _SMALL_ORDER_ENCODINGS:
        assert not is_strict_public_key(key), key.hex()
        assert not verify(key, _IDENTITY_SIGNATURE, b"x")
        with pytest.raises(WeakKeyError) as caught:
            unseal(chat, _pointer_from_key(chat, key, _IDENTITY_SIGNATURE))
        assert isinstance(caught.value, BadSignatureError) and caught.value.expect == "signature"
    y_at_least_p = (2**255 - 19 + 5).to_bytes(32, "little")  # y = 5 + p: not canonical
    assert not is_strict_public_key(y_at_least_p)
    assert is_strict_public_key(raw_identity("alice").public_key)


@pytest.mark.parametrize("size", [1000, 2345, 3000, 5001, 12_345, 40_000])
def test_the_parts_of_a_split_message_all_pad_to_one_bucket(chat: ChatKey, alice: Identity, size: int) -> None:
    body = "s" * size
    pointers = seal(chat, alice, body, max_chars=1000)
    assert len(pointers) >= 2
    lengths = {len(dearmor(p)[1]) for p in pointers}
    assert len(lengths) == 1, lengths  # the last part does not tell the length
    parts = [unseal(chat, p) for p in pointers]
    sizes = [len(p.data) for p in parts if isinstance(p, Part)]
    assert max(sizes) - min(sizes) <= 1
    # the fewest parts that fit: one fewer would need a part above the limit
    from pointerbridge.core import pointer as internals

    capacity = internals._part_capacity(internals.FIXED_BYTES + 5 + internals._SPLIT_BYTES, 1000)
    assert len(pointers) == -(-size // capacity)
    assert open_all(chat, pointers).body == body


def test_a_split_message_whose_parts_equivocate_is_refused(chat: ChatKey, alice: Identity) -> None:
    from pointerbridge.core import pointer as internals

    # One message id and one send time, two texts: what an equivocating sender would post.
    first = internals._seal(chat, alice, "A" * 3000, 1000, lambda n: b"\x42" * n, 7)
    other = internals._seal(chat, alice, "B" * 3000, 1000, lambda n: b"\x42" * n, 7)
    assert len(first) == len(other) >= 2
    a = [unseal(chat, p) for p in first]
    b = [unseal(chat, p) for p in other]
    assert isinstance(a[0], Part) and isinstance(b[0], Part) and a[0].message_id == b[0].message_id
    # Before the message is complete: the second part 0 is refused, and so is the message.
    joiner = Reassembler()
    assert joiner.add(a[0]) is None
    with pytest.raises(MalformedError):
        joiner.add(b[0])
    assert joiner.refuses(a[0]) and joiner.pending == 0
    for part in a[1:]:
        with pytest.raises(MalformedError):
            joiner.add(part)
    # After it is complete: a different part for it refuses it too, and a copy is ignored.
    joiner = Reassembler()
    done = [joiner.add(p) for p in a]
    assert done[-1] is not None and done[-1].body == "A" * 3000
    assert joiner.add(a[0]) is None and not joiner.refuses(a[0])
    with pytest.raises(MalformedError):
        joiner.add(b[1])
    assert joiner.refuses(b[1])
