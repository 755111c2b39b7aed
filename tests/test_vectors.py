"""Replay every pb1 test vector, and check the file is the one the spec pins."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pointerbridge.core import (
    ChatKey,
    Identity,
    Message,
    Part,
    PointerError,
    Reassembler,
    find_pointers,
    pointer,
    unseal,
)

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors" / "pb1.json"
DATA = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]


def _check_message(got: Message, want: dict[str, Any], chat: str) -> None:
    assert got.chat == chat
    assert got.username == want["username"]
    assert got.sender_key.hex() == want["sender_key"]
    assert got.sent_at == datetime.fromtimestamp(want["sent_at_ms"] / 1000, tz=UTC)
    assert got.body == want["body"]
    assert got.id == want["id"]


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "success", fn()
    except PointerError as exc:
        return exc.expect, exc


def _unsealed(chat: ChatKey, v: dict[str, Any]) -> Any:
    """The vector's pointer opened (or its error), once the outcome is the one it expects."""
    outcome, result = _outcome(lambda: unseal(chat, v["pointer"]))
    assert outcome == v["expect"], result
    return result


def _join(chat: ChatKey, pointers: list[str]) -> Message | None:
    """Unseal each pointer and join them in the order given: the last result."""
    joiner = Reassembler()
    done = None
    for text in pointers:
        done = joiner.add(unseal(chat, text))
    return done


def _replay(v: dict[str, Any]) -> None:
    kind, expect = v["kind"], v["expect"]
    if kind == "chat_key":
        key = ChatKey.derive_open(v["chat_name"], v["secret"])
        assert key.normalized_name == v["normalized_name"]
        assert (key._key.hex(), key._tag_key.hex(), key._chat_id.hex()) == (
            v["chat_key"],
            v["routing_tag_key"],
            v["chat_id"],
        )
        return
    if kind == "identity":
        ident = Identity.derive_unsalted(v["username"], v["master_phrase"])
        assert Identity(v["username"], bytes.fromhex(v["seed"])).public_key == ident.public_key
        assert (ident.public_key.hex(), ident.fingerprint) == (v["public_key"], v["fingerprint"])
        return
    if kind == "find":
        assert find_pointers(v["text"]) == v["pointers"]
        return
    chat = ChatKey(v["chat_name"], bytes.fromhex(v["chat_key"]))
    if kind == "seal":
        drawn = bytes.fromhex(v["random"])
        stream = iter([drawn])
        buffer = bytearray()

        def replay_random(n: int) -> bytes:
            while len(buffer) < n:
                buffer.extend(next(stream))
            out = bytes(buffer[:n])
            del buffer[:n]
            return out

        sender = Identity(v["username"], bytes.fromhex(v["sender_seed"]))
        got = pointer._seal(chat, sender, v["body"], v["max_chars"], replay_random, v["sent_at_ms"])
        assert got == v["pointers"]
        assert not buffer, "the seal drew fewer random bytes than the vector lists"
        return
    if kind == "unseal":
        result = _unsealed(chat, v)
        if "message" in v:
            assert isinstance(result, Message)
            _check_message(result, v["message"], v["chat_name"])
        if "part" in v:
            assert isinstance(result, Part)
            want = v["part"]
            assert (result.message_id, result.index, result.count) == (want["message_id"], want["index"], want["count"])
            assert result.data.hex() == want["data"]
        return
    if kind == "join":
        outcome, result = _outcome(lambda: _join(chat, v["pointers"]))
        assert outcome == expect, result
        if expect == "success":
            assert isinstance(result, Message)
            _check_message(result, v["message"], v["chat_name"])
        return
    raise AssertionError(f"unknown vector kind {kind}")


@pytest.mark.parametrize("vector", DATA, ids=[f"{v['id']}-{v['name']}" for v in DATA])
def test_vector(vector: dict[str, Any]) -> None:
    _replay(vector)


def test_vectors_cover_every_outcome() -> None:
    expects = {v["expect"] for v in DATA}
    assert len(DATA) >= 40
    assert expects == {
        "success",
        "armor",
        "noncanonical",
        "version",
        "truncated",
        "oversize",
        "no_match",
        "aead",
        "padding",
        "malformed",
        "signature",
    }
    assert {v["kind"] for v in DATA} == {"chat_key", "identity", "seal", "unseal", "join", "find"}


def assert_pinned(vectors: Path, pin: str) -> None:
    """The file's sha256 is the one docs/SPEC.md gives where ``pin`` (a pattern) matches."""
    pinned = re.search(pin, (ROOT / "docs" / "SPEC.md").read_text(encoding="utf-8"))
    assert pinned, f"docs/SPEC.md must pin the sha256 of {vectors.name}"
    assert hashlib.sha256(vectors.read_bytes()).hexdigest() == pinned.group(1)


def assert_generated(script: str, vectors: Path, tmp_path: Path) -> None:
    """``scripts/<script>`` writes exactly the file."""
    out = tmp_path / vectors.name
    subprocess.run([sys.executable, str(ROOT / "scripts" / script), str(out)], check=True, capture_output=True)
    assert out.read_bytes() == vectors.read_bytes()


def test_spec_pins_the_vector_file() -> None:
    assert_pinned(VECTORS, r"sha256 `([0-9a-f]{64})`")


def test_generator_reproduces_the_file(tmp_path: Path) -> None:
    assert_generated("make_vectors.py", VECTORS, tmp_path)
