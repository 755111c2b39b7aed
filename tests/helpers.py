"""Keys for tests, built from raw bytes so most tests skip the 150 ms Argon2id."""

from __future__ import annotations

import hashlib

from pointerbridge.core import ChatKey, Identity


def raw_chat(name: str) -> ChatKey:
    return ChatKey(name, hashlib.sha256(b"test chat " + name.encode()).digest())


def raw_identity(username: str) -> Identity:
    return Identity(username, hashlib.sha256(b"test identity " + username.encode()).digest())
