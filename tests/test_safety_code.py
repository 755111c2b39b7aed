"""The safety code (SPEC §12): its vectors replayed, the file the spec pins, and one code
computed here from the spec's text alone (not by the code under test)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pointerbridge.core import InvalidInputError
from pointerbridge.core.safety import Member, safety_code, safety_digits

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors" / "safety.json"
DATA: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]


def _members(v: dict[str, Any]) -> tuple[Member, Member]:
    one, other = (Member(m["username"], bytes.fromhex(m["public_key"])) for m in v["members"])
    return one, other


@pytest.mark.parametrize("v", DATA, ids=[v["name"] for v in DATA])
def test_vector(v: dict[str, Any]) -> None:
    one, other = _members(v)
    if v["expect"] == "invalid":
        with pytest.raises(InvalidInputError):
            safety_code(v["chat_name"], one, other)
        return
    assert safety_code(v["chat_name"], one, other) == v["code"]
    assert safety_code(v["chat_name"], other, one) == v["code"]  # either member's side
    assert safety_digits(v["chat_name"], one, other) == v["code"].replace(" ", "")


def test_the_vectors_cover_order_names_chats_and_keys() -> None:
    codes = {v["name"]: v.get("code") for v in DATA}
    first = codes["alice and bob in 'Family'"]
    assert first == codes["the same, the other way round"] == codes["the same chat by its normalized name"]
    others = [codes[n] for n in ("another chat", "another key under bob's name", "bob's key under another name")]
    assert len({first, *others}) == 4
    assert {v["expect"] for v in DATA} == {"success", "invalid"}
    assert re.fullmatch(r"(\d{5} ){11}\d{5}", first or "")


def test_a_code_computed_from_the_spec_alone() -> None:
    (v,) = [v for v in DATA if v["name"] == "names beyond ASCII"]
    chat = "fämïly ☕".encode()  # normalized by hand: case folded, trimmed
    sides = sorted(bytes.fromhex(m["public_key"]) + len(u := m["username"].encode()).to_bytes(2, "big") + u
                   for m in v["members"])  # fmt: skip
    digest = hashlib.sha512(b"pointerbridge safety code v1\x00" + len(chat).to_bytes(2, "big") + chat + b"".join(sides))
    groups = [int.from_bytes(digest.digest()[i : i + 5], "big") % 100_000 for i in range(0, 60, 5)]
    assert " ".join(f"{g:05d}" for g in groups) == v["code"]


def test_the_file_is_what_the_script_writes_and_the_spec_pins(tmp_path: Path) -> None:
    out = tmp_path / "safety.json"
    script = ROOT / "scripts" / "make_safety_vectors.py"
    subprocess.run([sys.executable, str(script), str(out)], check=True, capture_output=True)
    assert out.read_bytes() == VECTORS.read_bytes()
    spec = (ROOT / "docs" / "SPEC.md").read_text(encoding="utf-8")
    pinned = re.search(r"safety\.json` \(sha256 `([0-9a-f]{64})`\)", spec)
    assert pinned, "docs/SPEC.md does not pin safety.json"
    assert pinned.group(1) == hashlib.sha256(VECTORS.read_bytes()).hexdigest()
