"""Replay the salted key-schedule vectors (keys2.json), and check the file is the one the spec pins."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pointerbridge.core import ChatKey, Identity, InvalidInputError, RecoveryCode
from pointerbridge.core.keys import _SALTED_CHAT_LABEL, _SALTED_IDENTITY_LABEL, _argon2_salt

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors" / "keys2.json"
DATA = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]


def _replay(v: dict[str, Any]) -> None:
    kind = v["kind"]
    if kind == "chat_key_salted":
        key = ChatKey.derive(v["chat_name"], v["secret"], bytes.fromhex(v["salt"]))
        assert key.normalized_name == v["normalized_name"]
        assert _argon2_salt(_SALTED_CHAT_LABEL, key.normalized_name, key.salt).hex() == v["argon2_salt"]
        assert (key._key.hex(), key._tag_key.hex(), key._chat_id.hex()) == (
            v["chat_key"],
            v["routing_tag_key"],
            v["chat_id"],
        )
    elif kind == "identity_salted":
        code = RecoveryCode.parse(v["recovery_code"])
        assert code.memory_mib == v["memory_mib"]
        ident = Identity.derive(v["username"], v["master_phrase"], code)
        assert _argon2_salt(_SALTED_IDENTITY_LABEL, ident.username, code.salt).hex() == v["argon2_salt"]
        assert Identity(v["username"], bytes.fromhex(v["seed"])).public_key == ident.public_key
        assert (ident.public_key.hex(), ident.fingerprint) == (v["public_key"], v["fingerprint"])
    elif kind == "recovery_code":
        code = RecoveryCode.parse(v["text"])
        assert (code.memory_mib, code.salt.hex()) == (v["memory_mib"], v["salt"])
    else:
        raise AssertionError(f"unknown kind {kind}")


@pytest.mark.parametrize("vector", DATA, ids=[v["name"] for v in DATA])
def test_vector(vector: dict[str, Any]) -> None:
    if vector["expect"] == "success":
        _replay(vector)
    else:
        assert vector["expect"] == "invalid"
        with pytest.raises(InvalidInputError):
            _replay(vector)


def test_each_vector_names_one_outcome() -> None:
    assert {v["expect"] for v in DATA} == {"success", "invalid"}
    assert len({v["name"] for v in DATA}) == len(DATA)


def test_same_name_and_secret_with_another_salt_is_an_unrelated_key() -> None:
    first, _, other = (v for v in DATA if v["kind"] == "chat_key_salted" and v["expect"] == "success")
    assert (first["chat_name"], first["secret"]) == (other["chat_name"], other["secret"])
    assert first["salt"] != other["salt"]
    for field in ("argon2_salt", "chat_key", "routing_tag_key", "chat_id"):
        assert first[field] != other[field]


def test_the_file_is_what_the_script_writes_and_the_spec_pins(tmp_path: Path) -> None:
    out = tmp_path / "keys2.json"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_key_vectors.py"), str(out)], check=True, capture_output=True
    )
    assert out.read_bytes() == VECTORS.read_bytes()
    spec = (ROOT / "docs" / "SPEC.md").read_text(encoding="utf-8")
    pinned = re.search(r"keys2\.json` \(sha256 `([0-9a-f]{64})`\)", spec)
    assert pinned, "docs/SPEC.md does not pin keys2.json"
    assert pinned.group(1) == hashlib.sha256(VECTORS.read_bytes()).hexdigest()
