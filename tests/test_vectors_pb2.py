"""Replay every pb2 test vector (SPEC §11), and check the file is the one the spec pins."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pointerbridge.core import (
    Attachment,
    ChatKey,
    Content,
    Delete,
    Edit,
    Identity,
    Locator,
    Message,
    Part,
    Reply,
    Rotation,
    Text,
    Unknown,
    encode_content,
    find_pointers,
    pointer2,
)
from test_vectors import _join, _outcome, _unsealed, assert_generated, assert_pinned

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors" / "pb2.json"
DATA = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]


def _content(want: dict[str, Any]) -> Content:
    """The content a vector writes as JSON (bytes as hex)."""
    kind = want["kind"]
    if kind == "attachment":
        locators = tuple(Locator(loc["carrier"], loc["value"]) for loc in want["locators"])
        fields = (bytes.fromhex(want["file_key"]), bytes.fromhex(want["hash"]), want["size"])
        return Attachment(*fields, want["name"], want["media_type"], locators, want["caption"])
    simple: dict[str, Callable[[], Content]] = {
        "text": lambda: Text(want["text"]),
        "reply": lambda: Reply(want["target"], want["text"]),
        "edit": lambda: Edit(want["target"], want["text"]),
        "delete": lambda: Delete(want["target"]),
        "rotation": lambda: Rotation(bytes.fromhex(want["notice"])),
        "unknown": lambda: Unknown(want["code"], bytes.fromhex(want["data"])),
    }
    return simple[kind]()


def _check_message(got: Message, want: dict[str, Any], chat: str) -> None:
    assert (got.chat, got.username, got.sender_key.hex()) == (chat, want["username"], want["sender_key"])
    assert got.sent_at == datetime.fromtimestamp(want["sent_at_ms"] / 1000, tz=UTC)
    assert (got.body, got.id, got.version) == (want["body"], want["id"], 2)
    assert (got.stream.hex() if got.stream else None, got.seq) == (want["stream"], want["seq"])
    assert got.content == _content(want["content"])
    assert encode_content(got.content).hex() == want["record"]


def _replay_seal(v: dict[str, Any], chat: ChatKey) -> None:
    drawn = bytearray(bytes.fromhex(v["random"]))

    def replay_random(n: int) -> bytes:
        out = bytes(drawn[:n])
        assert len(out) == n, "the seal drew more random bytes than the vector lists"
        del drawn[:n]
        return out

    content = _content(v["content"])
    assert encode_content(content).hex() == v["record"]
    sender = Identity(v["username"], bytes.fromhex(v["sender_seed"]))
    stream = bytes.fromhex(v["stream"])
    got = pointer2._seal2(chat, sender, content, stream, v["seq"], v["max_chars"], replay_random, v["sent_at_ms"])
    assert got == v["pointers"]
    assert not drawn, "the seal drew fewer random bytes than the vector lists"


def _replay(v: dict[str, Any]) -> None:
    kind, expect = v["kind"], v["expect"]
    if kind == "find":
        assert find_pointers(v["text"]) == v["pointers"]
        return
    chat = ChatKey(v["chat_name"], bytes.fromhex(v["chat_key"]))
    if kind == "seal":
        _replay_seal(v, chat)
    elif kind == "unseal":
        result = _unsealed(chat, v)
        if "message" in v:
            assert isinstance(result, Message)
            _check_message(result, v["message"], v["chat_name"])
        if "part" in v:
            assert isinstance(result, Part)
            want = v["part"]
            assert (result.message_id, result.index, result.count) == (want["message_id"], want["index"], want["count"])
            assert (result.stream.hex() if result.stream else None, result.seq) == (want["stream"], want["seq"])
    elif kind == "join":
        outcome, result = _outcome(lambda: _join(chat, v["pointers"]))
        assert outcome == expect, result
        if expect == "success":
            assert isinstance(result, Message)
            _check_message(result, v["message"], v["chat_name"])
    else:
        raise AssertionError(f"unknown vector kind {kind}")


@pytest.mark.parametrize("vector", DATA, ids=[f"{v['id']}-{v['name'][:60]}" for v in DATA])
def test_vector(vector: dict[str, Any]) -> None:
    _replay(vector)


def test_vectors_cover_every_kind_and_outcome() -> None:
    assert {v["expect"] for v in DATA} == {"success", "no_match", "aead", "malformed", "signature"}
    assert {v["kind"] for v in DATA} == {"seal", "unseal", "join", "find"}
    sealed = {v["content"]["kind"] for v in DATA if v["kind"] == "seal"}
    assert sealed == {"text", "reply", "edit", "delete", "attachment", "rotation", "unknown"}
    opened = {v["message"]["content"]["kind"] for v in DATA if v["kind"] == "unseal" and "message" in v}
    assert opened == sealed


def test_spec_pins_the_vector_file() -> None:
    assert_pinned(VECTORS, r"`tests/vectors/pb2\.json` \(sha256 `([0-9a-f]{64})`\)")


def test_generator_reproduces_the_file(tmp_path: Path) -> None:
    assert_generated("make_pb2_vectors.py", VECTORS, tmp_path)


def test_every_millisecond_a_pointer_may_carry_is_read_exactly() -> None:
    # core/millis.py: through a float, 44 % of the times after ~2100 came back 1 ms early.
    from pointerbridge.core.layout import _EPOCH, _MILLISECOND, MAX_SENT_AT_MS
    from pointerbridge.core.millis import datetime_of_ms

    for ms in (0, 1, 4_102_444_800_001, 253_402_300_799_998, MAX_SENT_AT_MS):
        assert (datetime_of_ms(ms) - _EPOCH) // _MILLISECOND == ms
