"""A chat's sealed record: everything the store knows about one chat, as one plaintext.

Its name, carriers, the verifiers of its secrets, the keys pinned for its members (and
which of them the user verified in person), the rotations it accepted (with their
notices) and their conflicts, the notice it still has to send, how far it was judged
and read, this device's sending stream, the numbers of the pb2 messages purged from it
(:mod:`.purged`: who sent how many messages is what the seal hides, so never in a column
of its own), and what a desktop notification of its new messages may show (its name is
what the chat list hides). The store keeps it only sealed under the store
key (:mod:`pointerbridge.core.store_key`, docs/AT-REST.md), one row per chat, found by a keyed hash
of its name. Its JSON is the one schema 10's migration writes from the earlier tables
(bytes as hex), so one parser reads both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .purged import MAX_RUNS, MAX_SEQ, Purged, PurgedStream
from .rows import StoreError, Verifier

__all__ = ["NOTIFY_DEFAULT", "NOTIFY_SHOWS", "ChatRecord", "Conflict", "Rotation", "SecretCheck", "SendStream"]

# What a desktop notification of the chat's new messages shows (app/notify.py): nothing
# (none is raised), their count alone (the default), the chat's and senders' names too, or
# the text as well. Kept in the sealed record: which chat is set to what names the chat.
NOTIFY_SHOWS = ("off", "count", "names", "text")
NOTIFY_DEFAULT = "count"


@dataclass(frozen=True, slots=True)
class SendStream:
    """This device's pb2 numbering in a chat (SPEC §11): ``stream`` (8 random bytes) and the
    last ``seq`` sent in it, for messages signed by ``owner`` (an identity's public key)
    under the secret whose verifier salt is ``secret``. Another identity (rotation, ``init
    --force``) or secret (rekey) starts a new stream. Kept in the sealed record: the stream
    id is not secret, but in the clear it would link a chat's row to the pointers it sends."""

    owner: bytes
    secret: bytes
    stream: bytes
    seq: int


@dataclass(slots=True)
class SecretCheck:
    """A verifier of one of the chat's secrets and when that secret was set."""

    verifier: Verifier
    created_at: float


@dataclass(slots=True)
class Rotation:
    """An accepted rotation: ``username`` signs with ``new_key`` from pointer ``at_pointer`` on."""

    username: str
    old_key: bytes
    new_key: bytes
    at_pointer: int
    notice: str | None


@dataclass(slots=True)
class Conflict:
    """A new key an equivocating old key named, and whether the user chose it."""

    username: str
    old_key: bytes
    new_key: bytes
    at_pointer: int
    chosen: bool


@dataclass(slots=True)
class ChatRecord:
    """One chat as sealed. ``checks`` oldest first (the last is the current secret's)."""

    name: str
    normalized_name: str
    carriers: list[str]
    created_at: float
    checks: list[SecretCheck] = field(default_factory=list)
    pins: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    # username -> (the exact key the user verified in person, when): beside the pin, and
    # only ever for that key (a rotation or re-pin moves the pin, never this)
    verified: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    rotations: list[Rotation] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    notice_out: str | None = None
    judged: int = 0
    seen: int = 0
    stream: SendStream | None = None
    purged: Purged = field(default_factory=dict)
    notify: str = NOTIFY_DEFAULT

    def to_bytes(self) -> bytes:
        """The record's JSON (UTF-8), what is sealed."""
        data = {
            "name": self.name,
            "normalized_name": self.normalized_name,
            "carriers": self.carriers,
            "created_at": self.created_at,
            "verifiers": [
                {
                    "salt": c.verifier.salt.hex(),
                    "verifier": c.verifier.verifier.hex(),
                    "key_salt": c.verifier.key_salt.hex() if c.verifier.key_salt is not None else None,
                    "created_at": c.created_at,
                }
                for c in self.checks
            ],
            "pins": [
                {"username": name, "public_key": key.hex(), "first_seen": seen}
                for name, (key, seen) in self.pins.items()
            ],
            "rotations": [
                {
                    "username": r.username,
                    "old_key": r.old_key.hex(),
                    "new_key": r.new_key.hex(),
                    "at_pointer": r.at_pointer,
                    "notice": r.notice,
                }
                for r in self.rotations
            ],
            "conflicts": [
                {
                    "username": c.username,
                    "old_key": c.old_key.hex(),
                    "new_key": c.new_key.hex(),
                    "at_pointer": c.at_pointer,
                    "chosen": c.chosen,
                }
                for c in self.conflicts
            ],
            "notice_out": self.notice_out,
            "judged": self.judged,
            "seen": self.seen,
        }
        if self.verified:  # absent until a key is verified: older records read the same
            data["verified"] = [
                {"username": name, "public_key": key.hex(), "at": at} for name, (key, at) in self.verified.items()
            ]
        if self.stream is not None:
            s = self.stream
            data["stream"] = {"owner": s.owner.hex(), "secret": s.secret.hex(), "id": s.stream.hex(), "seq": s.seq}
        if self.purged:
            data["purged"] = [
                {"key": key.hex(), "stream": stream.hex(), "below": p.below, "runs": [list(run) for run in p.runs]}
                for (key, stream), p in self.purged.items()
            ]
        if self.notify != NOTIFY_DEFAULT:
            data["notify"] = self.notify
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> ChatRecord:
        """Parse :meth:`to_bytes` (or schema 10's migration of a chat); anything else is a
        damaged store (:class:`StoreError`)."""
        try:
            data = json.loads(raw)
            return cls(
                name=_text(data["name"]),
                normalized_name=_text(data["normalized_name"]),
                carriers=_carriers(data["carriers"]),
                created_at=float(data["created_at"]),
                checks=[_check(v) for v in data["verifiers"] or []],
                pins={
                    _text(p["username"]): (_hex(p["public_key"]), float(p["first_seen"])) for p in data["pins"] or []
                },
                verified={
                    _text(v["username"]): (_hex(v["public_key"]), float(v["at"])) for v in data.get("verified") or []
                },
                rotations=[_rotation(r) for r in data["rotations"] or []],
                conflicts=[_conflict(c) for c in data["conflicts"] or []],
                notice_out=_text_or_none(data["notice_out"]),
                judged=int(data["judged"] or 0),
                seen=int(data["seen"] or 0),
                stream=_stream(data.get("stream")),
                purged=_purged(data.get("purged")),  # absent before purged numbers were kept: none
                notify=_notify(data.get("notify", NOTIFY_DEFAULT)),  # absent: the default
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            raise StoreError("a chat's record is damaged in the store (pbridge doctor)", damaged=True) from None

    @classmethod
    def from_migration(cls, raw: bytes | str) -> ChatRecord:
        """Parse a record schema 10's migration wrote to ``to_seal``. SQLite promises no
        order of ``json_group_array``'s items, so each list is put in its order here: the
        secrets by their row in the earlier table (``seq``: the newest row was the current
        secret, whatever the clock said when it was set; by when they were set only for a
        record written before ``seq`` was), the pins by when they were first seen,
        rotations and conflicts by the pointer they start at."""
        record = cls.from_bytes(raw)
        try:
            data = json.loads(raw)
            seqs = [v.get("seq") for v in data["verifiers"] or []]
            by_row = all(isinstance(seq, int) for seq in seqs)
        except (ValueError, TypeError, AttributeError):
            raise StoreError("a chat's record is damaged in the store (pbridge doctor)", damaged=True) from None
        order = sorted(range(len(record.checks)), key=lambda i: seqs[i] if by_row else record.checks[i].created_at)
        record.checks = [record.checks[i] for i in order]
        record.pins = dict(sorted(record.pins.items(), key=lambda item: item[1][1]))
        record.rotations.sort(key=lambda r: r.at_pointer)
        record.conflicts.sort(key=lambda c: c.at_pointer)
        return record

    @property
    def verifiers(self) -> list[Verifier]:
        """The verifiers, newest (the current secret's) first."""
        return [c.verifier for c in reversed(self.checks)]


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not text")
    return value


def _text_or_none(value: Any) -> str | None:
    return None if value is None else _text(value)


def _hex(value: Any) -> bytes:
    return bytes.fromhex(_text(value))


def _carriers(value: Any) -> list[str]:
    # schema 10's migration copies the earlier column as it was: a JSON list in a string
    carriers = json.loads(value) if isinstance(value, str) else value
    if not isinstance(carriers, list) or not all(isinstance(c, str) for c in carriers):
        raise TypeError("carriers are a list of names")
    return carriers


def _check(item: dict[str, Any]) -> SecretCheck:
    key_salt = item.get("key_salt")
    verifier = Verifier(_hex(item["salt"]), _hex(item["verifier"]), None if key_salt is None else _hex(key_salt))
    return SecretCheck(verifier, float(item["created_at"]))


def _rotation(item: dict[str, Any]) -> Rotation:
    return Rotation(
        _text(item["username"]),
        _hex(item["old_key"]),
        _hex(item["new_key"]),
        int(item["at_pointer"]),
        _text_or_none(item.get("notice")),
    )


def _stream(item: Any) -> SendStream | None:
    if item is None:
        return None
    return SendStream(_hex(item["owner"]), _hex(item["secret"]), _hex(item["id"]), int(item["seq"]))


def _notify(value: Any) -> str:
    if value not in NOTIFY_SHOWS:
        raise ValueError("not a notification setting")
    return str(value)


def _purged(items: Any) -> Purged:
    purged: Purged = {}
    for item in items or []:
        runs = [(int(first), int(last), int(at)) for first, last, at in item["runs"]]
        below = int(item["below"])
        if len(runs) > MAX_RUNS or not 0 <= below <= MAX_SEQ or not all(1 <= a <= b <= MAX_SEQ for a, b, _ in runs):
            raise ValueError("purged numbers out of range")
        purged[(_hex(item["key"]), _hex(item["stream"]))] = PurgedStream(runs, below)
    return purged


def _conflict(item: dict[str, Any]) -> Conflict:
    return Conflict(
        _text(item["username"]),
        _hex(item["old_key"]),
        _hex(item["new_key"]),
        int(item["at_pointer"]),
        bool(item["chosen"]),
    )
