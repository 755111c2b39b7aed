"""The safety code two members of a chat read to each other to verify their keys in person.

Both compute it from what both hold: the chat's normalized name and each member's
normalized username and Ed25519 public key, the two members in the order of their keys,
so either side gets the same code (docs/SPEC.md §12). Nothing derived from the chat's
secret goes in: the code is read aloud, and must give a listener no test for guesses of
the secret.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from .errors import InvalidInputError
from .keys import normalize_chat_name, normalize_username

__all__ = ["SAFETY_GROUPS", "Member", "safety_code", "safety_digits"]

_LABEL = b"pointerbridge safety code v1"
SAFETY_GROUPS = 12  # of five digits: about 199 bits, far beyond a search for two keys that share one
_KEY_BYTES = 32


class Member(NamedTuple):
    """One side of the code: a username (normalized here) and its Ed25519 public key."""

    username: str
    public_key: bytes


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def safety_digits(chat_name: str, one: Member, other: Member) -> str:
    """The code as 60 decimal digits, no spaces (what its QR code holds). Refuses a key
    that is not 32 bytes, and one member twice (the same key on both sides)."""
    chat = normalize_chat_name(chat_name).encode("utf-8")
    sides = []
    for member in (one, other):
        key = bytes(member.public_key)
        if len(key) != _KEY_BYTES:
            raise InvalidInputError("a public key is 32 bytes")
        sides.append(key + _field(normalize_username(member.username).encode("utf-8")))
    if sides[0][:_KEY_BYTES] == sides[1][:_KEY_BYTES]:
        raise InvalidInputError("a safety code is between two different keys")
    sides.sort()  # by public key first: order-independent, and two keys never tie
    digest = hashlib.sha512(_LABEL + b"\x00" + _field(chat) + b"".join(sides)).digest()
    groups = (int.from_bytes(digest[i : i + 5], "big") % 100_000 for i in range(0, 5 * SAFETY_GROUPS, 5))
    return "".join(f"{g:05d}" for g in groups)


def safety_code(chat_name: str, one: Member, other: Member) -> str:
    """The code as people read it: twelve groups of five digits, separated by spaces."""
    digits = safety_digits(chat_name, one, other)
    return " ".join(digits[i : i + 5] for i in range(0, len(digits), 5))
