"""CLM compatibility: every shared vector, and the integrity signal CLM has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pointerbridge.core import (
    ClmFormatError,
    ClmTamperedError,
    ClmWrongChatError,
    ClmWrongSecretError,
    clm,
)

# CLM's own vectors live in the project's shared/ folder, beside the repository.
SHARED = Path(__file__).resolve().parents[2] / "shared" / "clm" / "clm-vectors.jsonl"
if not SHARED.exists():
    raise FileNotFoundError(f"CLM vectors not found at {SHARED}: shared/ must sit beside the repository")
VECTORS = [json.loads(line) for line in SHARED.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("v", VECTORS, ids=[f"{i}-{v['kind']}" for i, v in enumerate(VECTORS)])
def test_shared_vector(v: dict[str, Any]) -> None:
    if v["kind"] == "pointer":
        assert clm.encode(v["chat_name"], v["username"], v["message"], v["chat_secret"], v["epoch"]) == v["pointer"]
        got = clm.decode(v["pointer"], v["chat_name"], v["chat_secret"])
        assert (got.chat, got.username, got.body, got.epoch) == (
            v["chat_name"],
            v["username"],
            v["message"],
            v["epoch"],
        )
    elif v["kind"] == "pointer_v1":
        assert (
            clm.encode_legacy(v["chat_id"], v["username"], v["message"], v["master_seed"], v["seed_suffix"], v["epoch"])
            == v["pointer"]
        )
        got = clm.decode_legacy(v["pointer"], v["master_seed"], v["seed_suffix"])
        assert (got.chat, got.username, got.body) == (v["chat_id"], v["username"], v["message"])
    elif v["kind"] == "auth":
        assert clm.auth_public_key(v["username"], v["secret"]) == v["public_key"]
    elif v["kind"] == "chat_secret_hash":
        assert clm.chat_secret_hash(v["chat_name"], v["chat_secret"]) == v["secret_hash"]
    else:
        raise AssertionError(f"unknown kind {v['kind']}")


def test_all_vector_kinds_present() -> None:
    assert {v["kind"] for v in VECTORS} == {"pointer", "pointer_v1", "auth", "chat_secret_hash"}


BASE = next(v for v in VECTORS if v["kind"] == "pointer")


def test_wrong_secret() -> None:
    with pytest.raises(ClmWrongSecretError):
        clm.decode(BASE["pointer"], "general", "not the secret")


def test_wrong_chat() -> None:
    with pytest.raises(ClmWrongChatError):
        clm.decode(BASE["pointer"], "random", BASE["chat_secret"])


def test_malleability_is_caught_by_the_nonce() -> None:
    obj = json.loads(BASE["pointer"])
    data = bytearray.fromhex(obj["d"])
    caught = 0
    for i in range(len(data)):
        data[i] ^= 0x01
        obj["d"] = data.hex()
        try:
            clm.decode(json.dumps(obj), "general", BASE["chat_secret"])
        except (ClmTamperedError, ClmWrongSecretError, ClmWrongChatError):
            caught += 1
        data[i] ^= 0x01
    assert caught == len(data)


def test_separator_inside_the_body_is_kept() -> None:
    pointer = clm.encode("c", "u", "a |¶| b", "s", 5)
    assert clm.decode(pointer, "c", "s").body == "a |¶| b"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "{}",
        '{"e": 1, "n": "x", "d": "00"}',
        '{"e": "1", "n": "0123456789abcdef", "d": "00"}',
        '{"e": 1, "n": "0123456789abcdef", "d": "zz"}',
        '{"e": 1, "n": "0123456789abcdef", "d": "00", "x": 1}',
        "[" * 100000,
        '{"e": 0, "n": "\\ud800aaaaaaaaaaaaaaa", "d": "00"}',
        '{"e": 0, "n": "ééééééééééééééééé", "d": "00"}',
        '{"e": 0, "n": "0123456789abcdef", "d": "00 11"}',
        '{"e": ' + "9" * 5000 + ', "n": "0123456789abcdef", "d": "00"}',
        '{"e": 99999999999999999999, "n": "0123456789abcdef", "d": "00"}',
    ],
)
def test_format_errors(text: str) -> None:
    with pytest.raises(ClmFormatError):
        clm.decode(text, "general", "s")


def test_legacy_wrong_seed() -> None:
    v = next(v for v in VECTORS if v["kind"] == "pointer_v1")
    with pytest.raises(ClmWrongSecretError):
        clm.decode_legacy(v["pointer"], "wrong seed", v["seed_suffix"])


def test_legacy_format_errors() -> None:
    with pytest.raises(ClmFormatError):
        clm.decode_legacy('{"c": 1, "e": 1, "d": "00"}', "seed", "general")
    with pytest.raises(ClmFormatError):
        clm.decode_legacy('{"c": "1", "e": ' + "1" * 5000 + ', "d": "00"}', "seed", "general")
