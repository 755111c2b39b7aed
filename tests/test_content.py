"""pb2's typed content records (core/content.py) and the pb2 pointer around them
(core/pointer2.py, read by core/pointer.py), beside pb1 (issue 21)."""

from __future__ import annotations

import dataclasses
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pointerbridge.core import (
    Attachment,
    ChatKey,
    Delete,
    Edit,
    Identity,
    InvalidInputError,
    Keyring,
    Locator,
    MalformedError,
    Message,
    NonCanonicalError,
    Part,
    Reassembler,
    Reply,
    Rotation,
    TamperedError,
    Text,
    Unknown,
    UnknownVersionError,
    decode_content,
    encode_content,
    new_stream,
    pointer,
    scan_pointers,
    seal,
    seal_content,
    unseal,
)
from pointerbridge.core.armor import armor, dearmor
from pointerbridge.core.pointer2 import MAX_SEQ
from pointerbridge.core.rotation import make_notice, notice_bytes, parse_notice

CHAT = ChatKey("family", bytes(range(32)))
ALICE = Identity("alice", bytes(32))
TARGET = "0123456789abcdef" * 2
FILE = Attachment(b"k" * 32, b"h" * 32, 5_000_000, "photo.jpg", "image/jpeg", (Locator("files", "blob-1.pbb"),), "hi")
EVERY_KIND = [
    Text("hello"),
    Text(""),
    Reply(TARGET, "yes"),
    Edit(TARGET, "fixed"),
    Delete(TARGET),
    FILE,
    Attachment(bytes(32), bytes(32), 0, "é" * 127, "a/b; c=d", (Locator("m", "v" * 65535),) * 255, ""),
    Rotation(notice_bytes(make_notice(Identity("alice", b"\x01" * 32), ALICE))),
    Unknown(7, b""),
    Unknown(0xFF, b"\x00later"),
]


@pytest.mark.parametrize("content", EVERY_KIND, ids=lambda c: type(c).__name__)
def test_every_kind_round_trips(content: object) -> None:
    record = encode_content(content)  # type: ignore[arg-type]
    assert record[0] == content.kind  # type: ignore[attr-defined]
    assert decode_content(record) == content
    assert encode_content(decode_content(record)) == record


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=300) | st.builds(lambda tail: b"\x05" + bytes(72) + tail, st.binary(max_size=80)))
def test_a_record_decodes_to_one_content_or_is_malformed(data: bytes) -> None:
    try:
        content = decode_content(data)
    except MalformedError:
        return
    assert encode_content(content) == data  # one encoding per content: nothing else is read


def _name_record(name: bytes) -> bytes:
    return encode_content(FILE)[:73] + bytes([len(name)]) + name + encode_content(FILE)[74 + len(FILE.name) :]


@pytest.mark.parametrize(
    "record",
    [
        b"",
        b"\x00",
        b"\x00text",
        b"\x01\xff",
        b"\x02" + bytes(15),
        b"\x03" + bytes(16) + b"\xc3",
        b"\x04" + bytes(15),
        b"\x04" + bytes(17),
        b"\x05" + bytes(71),
        _name_record(b""),
        _name_record(b"."),
        _name_record(b".."),
        _name_record(b"a/b"),
        _name_record(b"a\\b"),
        _name_record(b"a\x00b"),
        _name_record(b"a\nb"),
        _name_record(b"a\xc2\x85b"),  # U+0085, a C1 control
        _name_record(b"\xff"),
        b"\x06" + bytes(136),
        b"\x06\x01\xff" + bytes(136),
        b"\x06\x00" + bytes(137),
        b"\x06\x00" + bytes(136),  # no username
    ],
)
def test_malformed_records_are_refused(record: bytes) -> None:
    with pytest.raises(MalformedError):
        decode_content(record)


def test_every_cut_of_an_attachment_record_is_refused_and_its_fields_are_bounded() -> None:
    record = encode_content(FILE)
    caption_at = len(record) - len(FILE.caption)
    for cut in range(1, caption_at):
        with pytest.raises(MalformedError):
            decode_content(record[:cut])
    head = record[: 74 + len(FILE.name)]  # kind, key, hash, size, the name
    locator = b"\x05files\x00\x0ablob-1.pbb"
    for bad in (
        head + b"\x00" + b"\x01" + locator,  # no media type
        head + b"\x03a\xffb" + b"\x01" + locator,  # not ASCII
        head + b"\x03a\x07b" + b"\x01" + locator,  # a control character
        head + b"\x01x" + b"\x00",  # no locator
        head + b"\x01x" + b"\x01\x05fi es\x00\x01v",  # a space in the carrier kind
        head + b"\x01x" + b"\x01\x05files\x00\x00",  # an empty value
        head + b"\x01x" + b"\x01\x05files\x00\x02\xc3",  # a value not UTF-8 (and cut)
        head + b"\x01x" + b"\x01\x05files\x00\x02\xc3(",  # a value not UTF-8
        head + b"\x01x" + b"\x02" + locator,  # a locator missing
        head + b"\x01x" + b"\x01" + locator + b"\xff",  # a caption not UTF-8
    ):
        with pytest.raises(MalformedError):
            decode_content(bad)
    assert decode_content(head + b"\x01x" + b"\x01" + locator + b"\xc3\xa9").caption == "é"  # type: ignore[union-attr]


def _with(**changes: object) -> Attachment:
    return dataclasses.replace(FILE, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "content",
    [
        Reply("ABCDEF0123456789" * 2, "upper case"),
        Edit(TARGET[:-1], "short"),
        Delete(TARGET + "00"),
        Text("\ud800"),
        _with(file_key=bytes(31)),
        _with(hash=bytes(33)),
        _with(size=-1),
        _with(size=2**64),
        _with(size=True),
        _with(name=""),
        _with(name=".."),
        _with(name="a/b"),
        _with(name="a\\b"),
        _with(name="a\tb"),
        _with(name="x" * 256),
        _with(media_type=""),
        _with(media_type="image/jpég"),
        _with(locators=()),
        _with(locators=[Locator("files", "x")]),
        _with(locators=(Locator("files", "x"),) * 256),
        _with(locators=(Locator("fi les", "x"),)),
        _with(locators=(Locator("files", ""),)),
        _with(locators=(Locator("files", "x" * 65536),)),
        Rotation(b"\x00" + bytes(136)),
        Unknown(0, b""),
        Unknown(1, b"a text by another name"),
        Unknown(256, b""),
    ],
)
def test_what_a_reader_would_refuse_is_not_encoded(content: object) -> None:
    with pytest.raises(InvalidInputError):
        encode_content(content)  # type: ignore[arg-type]


def test_bodies_are_what_is_shown_and_a_rotation_reads_as_pb1s_does() -> None:
    notice = make_notice(Identity("alice", b"\x01" * 32), ALICE)
    bodies = [
        c.body for c in (Text("t"), Reply(TARGET, "r"), Edit(TARGET, "e"), Delete(TARGET), FILE, Unknown(9, b"x"))
    ]
    assert bodies == ["t", "r", "e", "", "hi", ""]
    assert parse_notice(Rotation(notice_bytes(notice)).body) == notice


def _pb2(content: object = None, seq: int = 1, **kwargs: object) -> list[str]:
    return seal_content(CHAT, ALICE, content or Text("hi"), stream=b"\x01" * 8, seq=seq, **kwargs)  # type: ignore[arg-type]


def test_a_100_byte_text_from_a_5_byte_name_is_377_characters_as_in_pb1() -> None:
    text = "x" * 100
    (pb2,) = _pb2(Text(text))
    (pb1,) = seal(CHAT, ALICE, text)
    assert (len(pb2), len(pb1)) == (377, 377)
    assert pb2.startswith("pb2") and pb1.startswith("pb1")
    # 1+8+32+1+5+8+4+4 + 1+100 + 64 = 228 content bytes: the 240-byte bucket; one more byte is 241.
    assert len(_pb2(Text(text + "x" * 12))[0]) == 377  # 240 bytes: the bucket's last
    assert len(_pb2(Text(text + "x" * 13))[0]) > 377


def test_pb2_opens_through_every_entry_point_and_pb1_reads_as_before() -> None:
    (text,) = _pb2(Reply(TARGET, "yes"), seq=42)
    message = unseal(CHAT, text)
    assert isinstance(message, Message)
    assert (message.content, message.body, message.stream, message.seq, message.version) == (
        Reply(TARGET, "yes"),
        "yes",
        b"\x01" * 8,
        42,
        2,
    )
    version, payload = dearmor(text)
    assert version == 2
    assert pointer.open_payload(CHAT, payload, version=2) == message
    assert pointer.open_payload(CHAT, payload, False, version=2) == message
    deferred, check = pointer.open_payload_deferred(CHAT, payload, version=2)
    assert deferred == message and pointer.signature_holds(check)
    fields = pointer.open_known_fields(CHAT, payload, version=2)
    assert isinstance(fields, tuple) and pointer.message_from_fields("family", fields) == message
    assert pointer.message_fields(message) == fields
    assert pointer.belongs_to(CHAT, payload, version=2) and not pointer.belongs_to(CHAT, payload)
    assert Keyring([CHAT]).unseal(text) == (CHAT, message)
    with pytest.raises(TamperedError):  # a payload opens under its own version's labels alone
        pointer.open_payload(CHAT, payload)

    (old,) = seal(CHAT, ALICE, "as before")
    read = unseal(CHAT, old)
    assert isinstance(read, Message)
    assert (read.body, read.content, read.stream, read.seq, read.version) == (
        "as before",
        Text("as before"),
        None,
        None,
        1,
    )
    known = pointer.open_known_fields(CHAT, dearmor(old)[1])
    assert isinstance(known, tuple) and len(known) == 5 and pointer.message_from_fields("family", known) == read


def test_a_split_pb2_message_joins_with_one_seq_and_does_not_mix_with_pb1() -> None:
    content = Edit(TARGET, "long " * 400)
    parts = _pb2(content, seq=7, max_chars=600)
    opened = [unseal(CHAT, p) for p in parts]
    assert len(parts) > 2 and all(isinstance(p, Part) and (p.seq, p.version) == (7, 2) for p in opened)
    assert len({len(p) for p in parts}) == 1  # balanced: every part in one bucket
    joiner = Reassembler()
    results = [joiner.add(p) for p in reversed(opened)]
    joined = results[-1]
    assert isinstance(joined, Message) and (joined.content, joined.seq) == (content, 7)
    assert results[:-1] == [None] * (len(parts) - 1)

    first = opened[0]
    assert isinstance(first, Part)
    pb1_twin = dataclasses.replace(first, index=1, data=b"x", stream=None, seq=None)  # one id, pb1's layout
    mixed = Reassembler()
    mixed.add(first)
    with pytest.raises(MalformedError):
        mixed.add(pb1_twin)


@pytest.mark.parametrize(
    ("stream", "seq"), [(bytes(8), 1), (b"\x01" * 7, 1), ("12345678", 1), (b"\x01" * 8, 0), (b"\x01" * 8, MAX_SEQ + 1)]
)
def test_a_bad_stream_or_seq_is_not_sealed(stream: object, seq: int) -> None:
    with pytest.raises(InvalidInputError):
        seal_content(CHAT, ALICE, Text("x"), stream=stream, seq=seq)  # type: ignore[arg-type]
    assert len(new_stream()) == 8 and new_stream() != bytes(8)


def test_the_armor_reads_pb2_and_the_finder_judges_its_blocks() -> None:
    (text,) = _pb2()
    assert dearmor(text)[0] == 2
    with pytest.raises(UnknownVersionError):
        dearmor("pb3" + text[3:])
    noncanonical = text[:6] + "z" * 43 + text[49:]
    with pytest.raises(NonCanonicalError):
        dearmor(noncanonical)
    scan = scan_pointers(f"a {noncanonical} b {text} c {'pb3' + text[3:]}")
    assert scan.pointers == [text, "pb3" + text[3:]]  # a later version: by its length alone
    assert [type(e) for e in scan.rejected] == [NonCanonicalError]
    with pytest.raises(InvalidInputError):
        armor(0, b"x")


def test_the_app_keeps_pb2_with_its_payload() -> None:
    # issue 21: the app reads pb2 now, so it keeps its payload (before: by its text alone)
    from pointerbridge.app.base import _storable

    (pb2,) = _pb2()
    (pb1,) = seal(CHAT, ALICE, "x")
    assert _storable([pb2, pb1]) == [(pb2, dearmor(pb2)[1]), (pb1, dearmor(pb1)[1])]


def test_stream_zero_and_seq_zero_are_malformed_even_when_signed() -> None:
    from pointerbridge.core import layout

    for stream, seq in ((bytes(8), 1), (b"\x01" * 8, 0)):
        nonce = os.urandom(16)
        sealed = layout._content(ALICE, 1, b"\x01hi", None, struct.pack(">8sI", stream, seq), 2)
        inner = sealed.head + sealed.body + ALICE._sign(sealed.signed(CHAT, nonce))
        text = layout._encrypt(CHAT, nonce, inner + bytes(240 - len(inner)), 2)
        with pytest.raises(MalformedError):
            unseal(CHAT, text)
