"""Write tests/vectors/keys2.json: vectors for the salted key schedules (SPEC §2.2, §2.3).

pb1.json pins the first schedules (open chats, unsalted identities) and the pointer
format; this file pins the second: a chat key salted with the chat's random salt, an
identity salted with its recovery code's, and the recovery code's text form. Each vector
tests exactly one success or one failure and names it in ``expect``. Run
``python scripts/make_key_vectors.py`` after a deliberate change, then pin the new
sha256 in docs/SPEC.md §10; tests/test_key_vectors.py checks both.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from pointerbridge.core.keys import (
    _SALTED_CHAT_LABEL,
    _SALTED_IDENTITY_LABEL,
    ChatKey,
    Identity,
    RecoveryCode,
    _argon2_salt,
)

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "keys2.json"


def _bytes(label: str, n: int) -> bytes:
    """Fixed 'random' bytes, so the file is reproducible."""
    return hashlib.sha256(label.encode()).digest()[:n]


def chat_vectors() -> list[dict[str, Any]]:
    out = []
    cases = (
        ("general", "correct horse battery staple", 16),
        ("  Family\u00a0CHAT ", "se\u0301same", 32),
        ("general", "correct horse battery staple", 16),
    )
    for number, (name, secret, size) in enumerate(cases):
        salt = _bytes(f"chat salt {number % 2}" if number < 2 else "chat salt other", size)
        key = ChatKey.derive(name, secret, salt)
        out.append(
            {
                "kind": "chat_key_salted",
                "name": f"salted chat key {number} for {name!r}",
                "chat_name": name,
                "secret": secret,
                "salt": salt.hex(),
                "expect": "success",
                "normalized_name": key.normalized_name,
                "argon2_salt": _argon2_salt(_SALTED_CHAT_LABEL, key.normalized_name, salt).hex(),
                "chat_key": key._key.hex(),
                "routing_tag_key": key._tag_key.hex(),
                "chat_id": key._chat_id.hex(),
            }
        )
    for name, salt_hex in (("a 15-byte salt", "00" * 15), ("a 33-byte salt", "00" * 33)):
        out.append(
            {
                "kind": "chat_key_salted",
                "name": name,
                "chat_name": "general",
                "secret": "s",
                "salt": salt_hex,
                "expect": "invalid",
            }
        )
    return out


def identity_vectors() -> list[dict[str, Any]]:
    out = []
    for user, phrase, memory in (
        ("alice", "alice's master phrase", 64),
        ("Алиса", "фраза", 64),
        ("alice", "alice's master phrase", 512),
    ):
        code = RecoveryCode(memory, _bytes(f"recovery {user} {memory}", 8))
        ident = Identity.derive(user, phrase, code)
        out.append(
            {
                "kind": "identity_salted",
                "name": f"identity of {user!r} at {memory} MiB",
                "username": user,
                "master_phrase": phrase,
                "recovery_code": code.text,
                "expect": "success",
                "memory_mib": memory,
                "iterations": 2,
                "lanes": 4,
                "argon2_salt": _argon2_salt(_SALTED_IDENTITY_LABEL, ident.username, code.salt).hex(),
                "seed": ident._private.private_bytes_raw().hex(),
                "public_key": ident.public_key.hex(),
                "fingerprint": ident.fingerprint,
            }
        )
    return out


def code_vectors() -> list[dict[str, Any]]:
    good = RecoveryCode(256, _bytes("recovery code", 8))
    raw = good.to_bytes()
    flipped = bytearray(raw)
    flipped[3] ^= 1
    newer = bytes([2 << 4 | 3]) + raw[1:-1]
    newer += hashlib.sha256(b"pointerbridge recovery code\x00" + newer).digest()[:1]

    def text(data: bytes) -> str:
        return base64.b32encode(data).decode()

    return [
        {
            "kind": "recovery_code",
            "name": "a code as written",
            "text": good.text,
            "expect": "success",
            "memory_mib": 256,
            "salt": good.salt.hex(),
        },
        {
            "kind": "recovery_code",
            "name": "lower case, spaces, 0 for O",
            "expect": "success",
            "text": " ".join(good.text.lower().split("-")).replace("o", "0"),
            "memory_mib": 256,
            "salt": good.salt.hex(),
        },
        {"kind": "recovery_code", "name": "one bit changed", "text": text(bytes(flipped)), "expect": "invalid"},
        {"kind": "recovery_code", "name": "a newer version", "text": text(newer), "expect": "invalid"},
        {"kind": "recovery_code", "name": "too short", "text": good.text[:-4], "expect": "invalid"},
    ]


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    vectors = chat_vectors() + identity_vectors() + code_vectors()
    data = json.dumps({"format": "pointerbridge key schedule 2", "vectors": vectors}, ensure_ascii=False, indent=1)
    out.write_text(data + "\n", encoding="utf-8")
    print(f"{out}: {len(vectors)} vectors, sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
