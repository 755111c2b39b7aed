"""The trust walk of one chat: who each message is from, judged in arrival order (pure).

Trust on first use in the order pointers reached the store, never by the sent time a
sender wrote: a forger must not win a name by backdating. A name moves to a new key only
by a rotation notice its current key signed, at the notice's place in arrival order;
rotations accepted before are replayed from the store, so trashing or purging a notice
changes nothing.

An old key that signed two notices naming different new keys for one name has leaked
(its owner rotates once; someone else holds the old phrase): from the first of those
notices on, the name is **frozen** in the chat and everything under it is ``conflict``,
until the user re-pins one of the named keys after verifying it in person (a stored
conflict with a ``chosen`` key). docs/KEYS.md has the rules; this module reads and writes
nothing: the caller loads the stored state and stores what :class:`TrustWalk` collects.

A key the user verified in person (``pbridge chat verify``: a safety code compared) is
that exact key: its messages show as :attr:`Trust.VERIFIED` while the name holds it, a
rotation moves the name to a key nobody verified (shown as pinned; the rotation itself
says it replaced the verified key: :attr:`Verdict.replaced_verified`), and another key
under the name while it holds the verified one is :attr:`Trust.VERIFIED_CHANGED`, louder
than an ordinary changed key.

A chat this user joins again after rotating (``chat hide`` then ``chat join``, or another
machine with the new identity) pins their current key for their own name before anyone
can claim it, yet its history holds their messages under older keys. A full walk from the
chat's first pointer first follows their own rotation notices back from the key they hold
(:meth:`TrustWalk.trace_back`) and starts the name from the oldest key reached, so those
notices are accepted in order as any member's would be.

Importing it loads no cryptography (the front-ends' presenters import :class:`Trust`, and
``pbridge poll`` must stay cheap): rotation notices are parsed by the walk's methods.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from pointerbridge.core.pointer import Message
    from pointerbridge.core.rotation import RotationNotice

__all__ = [
    "FUTURE_SLACK_MS",
    "MAX_TRACE",
    "StoredConflict",
    "StoredRotation",
    "Trust",
    "TrustWalk",
    "Verdict",
    "current_keys",
]

# A notice may be dated this much after it reached this store (clocks disagree); one dated
# later claims a rotation that has not happened yet, and is not accepted.
FUTURE_SLACK_MS = 86_400_000

# How many rotations :meth:`TrustWalk.trace_back` follows back from a key: far more than a
# user makes, and a bound on the notices a hostile history makes it verify.
MAX_TRACE = 64


class Trust(StrEnum):
    """Who a message is from, as the walk judged it: the mark it shows with (a ``str``, so
    JSON and comparisons with the plain names are unchanged)."""

    VERIFIED = "verified"  # the pinned key, and the very key the user verified in person
    PINNED = "pinned"  # the key seen before under this name, or the one its owner rotated to
    NEW = "new"  # the first message under this name: its key is pinned now
    ROTATED = "rotated"  # a rotation notice signed by the name's trusted key (Verdict.notice)
    RETIRED = "retired"  # sent with a key its owner replaced: someone may hold the old phrase
    CHANGED = "changed"  # the name is pinned to another key: someone else may be using it
    VERIFIED_CHANGED = "verified_changed"  # as CHANGED, but the pinned key was verified in person
    CONFLICT = "conflict"  # the name is frozen: its old key signed two different rotations


class Verdict(NamedTuple):
    """The walk's judgement of one message: its trust, and the rotation notice it carries
    when that notice was accepted (``trust`` is then :attr:`Trust.ROTATED`);
    ``replaced_verified``: that rotation moved the name off the key the user verified in
    person (the new key is not verified: louder than any rotation)."""

    trust: Trust
    notice: RotationNotice | None = None
    replaced_verified: bool = False


_PLAIN = {trust: Verdict(trust) for trust in Trust}  # one shared verdict per mark, for the common case


class _Freeze(NamedTuple):
    """A name frozen from the message whose first pointer id is ``at_pointer`` on."""

    at_pointer: int
    username: str


class _Rotated(NamedTuple):
    """Where a name's old key moved it in this walk: to ``new_key``, at ``at_pointer``."""

    new_key: bytes
    at_pointer: int


class StoredRotation(NamedTuple):
    """An accepted rotation: ``username`` moved from ``old_key`` to ``new_key`` at the
    message whose first pointer id is ``at_pointer``."""

    username: str
    old_key: bytes
    new_key: bytes
    at_pointer: int


class StoredConflict(NamedTuple):
    """One new key an equivocating ``old_key`` named for ``username``, at its notice's
    first pointer id; ``chosen``: the key the user re-pinned after verifying in person."""

    username: str
    old_key: bytes
    new_key: bytes
    at_pointer: int
    chosen: bool = False


def _same(a: bytes | None, b: bytes | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a, b)


class TrustWalk:
    """Judge a chat's messages one by one, in arrival order (:meth:`judge`).

    Starts from the stored pins, rotations and conflicts; ``arrived`` gives a pointer's
    arrival time (Unix seconds) for the date check of notices; ``verified``: the keys the
    user verified in person, by name. Afterwards ``verdicts``
    holds a :class:`Verdict` per judged message, in the order judged, and
    ``new_pins``, ``new_rotations`` and ``new_conflicts`` what the store does not hold yet.
    """

    _marker: str  # what every rotation notice's body holds (core.rotation.MARKER)

    def __init__(
        self,
        pins: dict[str, bytes],
        rotations: list[StoredRotation],
        conflicts: list[StoredConflict],
        arrived: Callable[[int], float | None],
        verified: dict[str, bytes] | None = None,
    ) -> None:
        from pointerbridge.core.rotation import MARKER

        self._marker = MARKER
        self.verified = dict(verified or {})
        self.current = dict(pins)  # username -> the key it has now, at this point of the walk
        self.retired: dict[str, list[bytes]] = {}
        self.rotated_to: dict[tuple[str, bytes], _Rotated] = {}  # (name, old key) -> where it moved
        self.chosen = {(c.username, c.old_key): c.new_key for c in conflicts if c.chosen}
        self.frozen: set[str] = set()
        self.conflict_groups = {(c.username, c.old_key) for c in conflicts}
        self.known_conflicts = {(c.username, c.old_key, c.new_key) for c in conflicts}
        self._rotations = sorted(rotations, key=lambda r: r.at_pointer)
        self._replayed = {(r.username, r.old_key) for r in rotations}
        # An unresolved conflict freezes its name from the first notice its old key signed:
        # the accepted rotation's, if this home accepted one, else the earliest conflicting one.
        unresolved = self.conflict_groups - self.chosen.keys()
        starts = [_Freeze(c.at_pointer, c.username) for c in conflicts if (c.username, c.old_key) in unresolved]
        starts += [_Freeze(r.at_pointer + 1, r.username) for r in rotations if (r.username, r.old_key) in unresolved]
        self._freezes = sorted(starts)
        self._arrived = arrived
        self._ids: list[tuple[str, int]] = []  # (username, first pointer id) per verdict
        self.verdicts: list[Verdict] = []
        self.new_pins: dict[str, bytes] = {}
        self.new_rotations: list[StoredRotation] = []
        self.new_conflicts: list[StoredConflict] = []
        self.repinned: dict[str, bytes] = {}  # name -> the older key trace_back started it from
        # (name, old key, new key) -> the body of the signed notice accepted for it: the
        # store keeps it with the rotation, so an export can carry it (docs/EXPORT.md).
        self.notices: dict[tuple[str, bytes, bytes], str] = {}

    def judge(self, first_id: int, message: Message) -> None:
        """Judge the next message in arrival order (``first_id``: its first pointer id)."""
        if self._rotations or self._freezes:
            self._replay(first_id)
        name = message.username
        self._ids.append((name, first_id))
        notice = self._notice(first_id, message) if self._marker in message.body else None  # rare: skip the call
        if name in self.frozen:
            if notice is not None and (name, notice.old_key) in self.conflict_groups:
                self._record_conflict(name, notice.old_key, notice.new_key, first_id)
            self.verdicts.append(_PLAIN[Trust.CONFLICT])
        elif notice is None or not self._by_notice(first_id, name, notice):
            self.verdicts.append(_PLAIN[self._ordinary(name, message.sender_key)])
        elif self.verdicts[-1].trust is Trust.ROTATED:
            self.notices[(name, notice.old_key, notice.new_key)] = message.body

    def trace_back(self, name: str, key: bytes, opened: Iterable[tuple[int, Message]]) -> None:
        """Before judging (``opened``: the whole history, first pointer id and message): if
        the name is pinned to ``key`` or an older key of the chain below, start it from the
        oldest key its chain of rotations reaches back from ``key`` (the key this user holds:
        only for their own name), and note it in :attr:`repinned`.

        A link from key K back to key J is a rotation notice of the name signed by J, sealed
        by K and accepted as :meth:`judge` would (:meth:`_notice`), or a stored rotation
        J -> K; it must come before the link after it in arrival order, or the walk could not
        follow it. The chain stops at a key that two older keys claim (someone holding it
        vouched for another: neither is followed), at a key already in it, and after
        :data:`MAX_TRACE` links. A name with a stored conflict is left as it is. Only
        notices sealed by a key of the chain are verified: a forger's notices cost nothing."""
        pinned = self.current.get(name)
        if pinned is None or any(user == name for user, _ in self.conflict_groups):
            return
        stored: dict[bytes, list[tuple[int, bytes]]] = {}  # new key -> (at pointer, old key)
        for rotation in self._rotations:
            if rotation.username == name:
                stored.setdefault(rotation.new_key, []).append((rotation.at_pointer, rotation.old_key))
        sealed: dict[bytes, list[tuple[int, Message]]] = {}  # sender key -> what may be a notice
        for first_id, message in opened:
            if self._marker in message.body and message.username == name:
                sealed.setdefault(message.sender_key, []).append((first_id, message))
        chain, bound = [key], 1 << 63
        while len(chain) <= MAX_TRACE:
            links = {old: at for at, old in stored.get(chain[-1], ()) if at < bound}
            for first_id, message in sealed.get(chain[-1], ()):
                notice = self._notice(first_id, message) if first_id < bound else None
                if notice is not None:
                    links[notice.old_key] = min(first_id, links.get(notice.old_key, first_id))
            if len(links) != 1:
                break
            ((old, bound),) = links.items()
            if old in chain:
                break
            chain.append(old)
        if pinned in chain[:-1]:
            self.current[name] = self.repinned[name] = chain[-1]

    def _replay(self, first_id: int) -> None:
        # A stored rotation applies after its notice (the notice itself is judged as it
        # comes), and only to a name whose key it names as the old one at that point, as a
        # notice would: one for a name not pinned yet moves nothing (an imported rotation
        # cannot give a name its first key); a stored conflict freezes the name from its
        # first notice on.
        while self._rotations and self._rotations[0].at_pointer < first_id:
            name, old, new, at = self._rotations.pop(0)
            new = self.chosen.get((name, old), new)
            if _same(self.current.get(name), old):
                self._rotate(name, old, new, at + 1)  # what it covers starts above at_pointer
        while self._freezes and self._freezes[0].at_pointer <= first_id:
            self.frozen.add(self._freezes.pop(0).username)

    def _notice(self, first_id: int, message: Message) -> RotationNotice | None:
        """The notice the message carries, if it is one for its own name sealed by the key
        it names and not dated in the future; a broken or forged one is judged as the
        ordinary message it is."""
        from pointerbridge.core.rotation import RotationError, parse_notice

        try:
            notice = parse_notice(message.body)
        except RotationError:
            return None
        if notice is None or notice.username != message.username or not _same(notice.new_key, message.sender_key):
            return None
        arrived = self._arrived(first_id)
        if arrived is not None and notice.at.timestamp() * 1000 > arrived * 1000 + FUTURE_SLACK_MS:
            return None
        return notice

    def _by_notice(self, first_id: int, name: str, notice: RotationNotice) -> bool:
        """Judge a notice signed by a key trusted for the name; False: it is not one."""
        old, new, pinned = notice.old_key, notice.new_key, self.current.get(name)
        group = (name, old)
        earlier = self.rotated_to.get(group)
        if group in self.chosen:
            if not _same(self.chosen[group], new):
                return False  # the user re-pinned another key this old key named
        elif group in self.conflict_groups or (earlier is not None and not _same(earlier.new_key, new)):
            self._freeze(name, old, [earlier] if earlier is not None else [], _Rotated(new, first_id))
            return True
        replaced_verified = False
        if _same(pinned, old):
            replaced_verified = _same(self.verified.get(name), old)
            self._rotate(name, old, new, first_id)
            if group not in self._replayed:
                self.new_rotations.append(StoredRotation(name, old, new, first_id))
                self._replayed.add(group)
        elif not (_same(pinned, new) and earlier is not None):
            return False  # not the name's key, nor a copy of the rotation applied already
        self.verdicts.append(Verdict(Trust.ROTATED, notice, replaced_verified))
        return True

    def _freeze(self, name: str, old: bytes, earlier: list[_Rotated], this: _Rotated) -> None:
        """The old key named two new keys (``earlier``: the one it moved the name to in this
        walk, if any): freeze the name from the first of their notices on, the messages
        judged since included."""
        self.frozen.add(name)
        self.conflict_groups.add((name, old))
        for new, at in (*earlier, this):
            self._record_conflict(name, old, new, at)
        self.verdicts.append(_PLAIN[Trust.CONFLICT])
        start = min(moved.at_pointer for moved in (*earlier, this))
        for index, (who, first_id) in enumerate(self._ids):
            if who == name and first_id >= start:
                self.verdicts[index] = _PLAIN[Trust.CONFLICT]

    def _record_conflict(self, name: str, old: bytes, new: bytes, at: int) -> None:
        if (name, old, new) not in self.known_conflicts:
            self.known_conflicts.add((name, old, new))
            self.new_conflicts.append(StoredConflict(name, old, new, at))

    def _rotate(self, name: str, old: bytes, new: bytes, at: int) -> None:
        self.current[name] = new
        self.retired.setdefault(name, []).append(old)
        self.rotated_to[(name, old)] = _Rotated(new, at)

    def settle(self) -> None:
        """Apply every stored rotation and conflict, as if the walk had judged the whole
        chat: :attr:`current` and :attr:`frozen` are then the names' keys and frozen names
        as the store says now (:func:`current_keys`)."""
        self._replay(1 << 63)

    def _ordinary(self, name: str, key: bytes) -> Trust:
        pinned = self.current.get(name)
        if pinned == key:  # the common case first (public keys: no timing to hide)
            return Trust.VERIFIED if _same(self.verified.get(name), key) else Trust.PINNED
        if pinned is None:
            self.current[name] = self.new_pins[name] = key
            return Trust.NEW
        if _same(pinned, key):
            return Trust.VERIFIED if _same(self.verified.get(name), key) else Trust.PINNED
        if any(_same(old, key) for old in self.retired.get(name, ())):
            return Trust.RETIRED
        # the name still holds the key the user verified in person: this one is not theirs
        return Trust.VERIFIED_CHANGED if _same(self.verified.get(name), pinned) else Trust.CHANGED


def current_keys(
    pins: dict[str, bytes], rotations: list[StoredRotation], conflicts: list[StoredConflict]
) -> tuple[dict[str, bytes], set[str]]:
    """Each pinned name's key now (its pin moved by the stored rotations, as a walk of the
    whole chat would), and the names frozen by a key conflict: what a chat's members are,
    as far as its last full read judged."""
    walk = TrustWalk(pins, rotations, conflicts, lambda _: None)
    walk.settle()
    return walk.current, walk.frozen
