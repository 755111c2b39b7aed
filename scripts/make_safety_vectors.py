"""Write tests/vectors/safety.json: vectors for the safety code two members compare in
person (SPEC §12). Each vector tests exactly one success or one failure and names it in
``expect``. Run ``python scripts/make_safety_vectors.py`` after a deliberate change, then
pin the new sha256 in docs/SPEC.md §12; tests/test_safety_code.py checks both.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from pointerbridge.core.keys import Identity
from pointerbridge.core.safety import Member, safety_code

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "safety.json"


def _key(label: str) -> bytes:
    """A real Ed25519 public key from a fixed seed, so the file is reproducible."""
    return Identity("x", hashlib.sha256(label.encode()).digest()).public_key


def _vector(name: str, chat: str, one: tuple[str, bytes], other: tuple[str, bytes]) -> dict[str, Any]:
    members = [{"username": u, "public_key": k.hex()} for u, k in (one, other)]
    out: dict[str, Any] = {"kind": "safety_code", "name": name, "chat_name": chat, "members": members}
    try:
        code = safety_code(chat, Member(*one), Member(*other))
    except ValueError:
        return {**out, "expect": "invalid"}
    return {**out, "expect": "success", "code": code}


def vectors() -> list[dict[str, Any]]:
    alice, bob, mallory = _key("alice"), _key("bob"), _key("mallory")
    return [
        _vector("alice and bob in 'Family'", "Family", ("alice", alice), ("bob", bob)),
        _vector("the same, the other way round", "Family", ("bob", bob), ("alice", alice)),
        _vector("the same chat by its normalized name", "  family ", ("alice", alice), ("bob", bob)),
        _vector("another chat", "work", ("alice", alice), ("bob", bob)),
        _vector("another key under bob's name", "Family", ("alice", alice), ("bob", mallory)),
        _vector("bob's key under another name", "Family", ("alice", alice), ("Bob", bob)),
        _vector("names beyond ASCII", "Fämïly ☕", ("José", alice), ("Zoë", bob)),
        _vector("one key on both sides", "Family", ("alice", alice), ("bob", alice)),
        _vector("a key of 31 bytes", "Family", ("alice", alice), ("bob", bob[:31])),
        _vector("an empty username", "Family", ("alice", alice), ("", bob)),
    ]


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    found = vectors()
    data = json.dumps({"format": "pointerbridge safety code 1", "vectors": found}, ensure_ascii=False, indent=1)
    out.write_text(data + "\n", encoding="utf-8")
    print(f"{out}: {len(found)} vectors, sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
