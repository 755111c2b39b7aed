"""What a chat knows of its members, kept in its sealed record (:mod:`.record`): pinned
keys and the ones verified in person, accepted rotations and their conflicts, the rotation
notice still to send, how far the chat was judged and read, the numbers of the messages
purged from it, and what its desktop notifications show."""

from __future__ import annotations

import time
from collections.abc import Iterable

from .chats import ChatTables
from .purged import Purged
from .record import NOTIFY_SHOWS, Conflict, Rotation, SendStream
from .rows import ConflictRow, RotationRow, StoreError

__all__ = ["MemberTables"]


class MemberTables(ChatTables):
    """Pins, rotations, conflicts and marks of each chat (all sealed)."""

    def chat_ids(self) -> set[int]:
        """The ids of the chats this store holds (nothing opened: a cheap "is it still here")."""
        return {row[0] for row in self._db.execute("SELECT id FROM chats")}

    def pins(self, chat_id: int) -> dict[str, bytes]:
        """username -> pinned public key, for one chat."""
        return {name: key for name, (key, _) in self._load(chat_id).pins.items()}

    def pin(self, chat_id: int, username: str, public_key: bytes) -> None:
        """Pin a sender's key on first use (an existing pin is kept)."""
        if username in self._load(chat_id).pins:
            return  # most reads pin nothing new: no write
        with self._editing(chat_id) as record:
            record.pins.setdefault(username, (public_key, time.time()))

    def repin(self, chat_id: int, username: str, public_key: bytes) -> None:
        """Move a pin to an older key of the same user: the one a full read followed their
        own rotations back to (app/trust.py, ``TrustWalk.trace_back``); the stored rotations
        then lead from it to the key they hold."""
        with self._editing(chat_id) as record:
            record.pins[username] = (public_key, time.time())

    def chat_notify(self, chat_id: int) -> str:
        """What a desktop notification of the chat's new messages shows (one of
        :data:`~.record.NOTIFY_SHOWS`)."""
        return self._load(chat_id).notify

    def set_chat_notify(self, chat_id: int, show: str) -> None:
        """Set what a desktop notification of the chat's new messages shows."""
        if show not in NOTIFY_SHOWS:
            raise StoreError(f"{show!r} is not a notification setting ({', '.join(NOTIFY_SHOWS)})")
        with self._editing(chat_id) as record:
            record.notify = show

    def verified_keys(self, chat_id: int) -> dict[str, bytes]:
        """username -> the exact key the user verified in person, for one chat."""
        return {name: key for name, (key, _) in self._load(chat_id).verified.items()}

    def verify_key(self, chat_id: int, username: str, public_key: bytes) -> None:
        """Mark ``public_key`` verified in person for ``username`` (that key only)."""
        with self._editing(chat_id) as record:
            record.verified[username] = (public_key, time.time())

    def unverify_key(self, chat_id: int, username: str) -> bool:
        """Take back a verification; False: the name had none."""
        if username not in self._load(chat_id).verified:
            return False
        with self._editing(chat_id) as record:
            del record.verified[username]
        return True

    def pending_notice(self, chat_id: int) -> str | None:
        """The rotation notice body a chat still waits for, if any."""
        return self._load(chat_id).notice_out

    def send_stream(self, chat_id: int) -> SendStream | None:
        """This device's pb2 sending stream in a chat, as last saved (None: none yet)."""
        return self._load(chat_id).stream

    def pending_notices(self) -> list[str]:
        """Names of the chats whose rotation notice is not posted yet."""
        return sorted(r.name for _, r in self._all_records() if r.notice_out is not None)

    def rotations(self, chat_id: int) -> list[RotationRow]:
        """(username, old key, new key, first pointer id of the notice) of the rotations
        accepted in a chat, in arrival order."""
        found = sorted(self._load(chat_id).rotations, key=lambda r: r.at_pointer)
        return [RotationRow(r.username, r.old_key, r.new_key, r.at_pointer) for r in found]

    def rotation_notices(self, chat_id: int) -> list[tuple[RotationRow, str | None]]:
        """Each accepted rotation with the body of its signed notice (None: accepted before
        notices were kept), in arrival order."""
        found = sorted(self._load(chat_id).rotations, key=lambda r: r.at_pointer)
        return [(RotationRow(r.username, r.old_key, r.new_key, r.at_pointer), r.notice) for r in found]

    def add_rotation(
        self, chat_id: int, username: str, old_key: bytes, new_key: bytes, at_pointer: int, notice: str | None = None
    ) -> None:
        """Record an accepted rotation (one per chat, username and old key) with the body of
        its signed notice."""
        with self._editing(chat_id) as record:
            if not any(r.username == username and r.old_key == old_key for r in record.rotations):
                record.rotations.append(Rotation(username, old_key, new_key, at_pointer, notice))

    def keep_notices(self, chat_id: int, notices: dict[tuple[str, bytes, bytes], str]) -> None:
        """Keep the notice bodies of rotations accepted before notices were kept (a full read
        met their notice again): (username, old key, new key) -> body."""
        with self._editing(chat_id) as record:
            for r in record.rotations:
                if r.notice is None:
                    r.notice = notices.get((r.username, r.old_key, r.new_key))

    def conflicts(self, chat_id: int) -> list[ConflictRow]:
        """(username, old key, new key, first pointer id of its notice, chosen) of every new
        key an equivocating old key named in a chat, in arrival order."""
        found = sorted(self._load(chat_id).conflicts, key=lambda c: c.at_pointer)
        return [ConflictRow(c.username, c.old_key, c.new_key, c.at_pointer, c.chosen) for c in found]

    def add_conflicts(self, chat_id: int, rows: Iterable[tuple[str, bytes, bytes, int, bool]]) -> None:
        """Record rotation conflicts (a row already stored stays as it is)."""
        with self._editing(chat_id) as record:
            for username, old, new, at, _ in rows:
                if not any((c.username, c.old_key, c.new_key) == (username, old, new) for c in record.conflicts):
                    record.conflicts.append(Conflict(username, old, new, at, False))

    def conflict_keys(self, chat_id: int, username: str) -> list[bytes]:
        """The new keys conflicting notices named for ``username`` in a chat."""
        return [c.new_key for c in self.conflicts(chat_id) if c.username == username]

    def choose_conflict_key(self, chat_id: int, username: str, new_key: bytes) -> None:
        """Mark ``new_key`` the chosen one of the conflicts naming it (and no other of the
        same old key)."""
        with self._editing(chat_id) as record:
            olds = {c.old_key for c in record.conflicts if c.username == username and c.new_key == new_key}
            for c in record.conflicts:
                if c.username == username and c.old_key in olds:
                    c.chosen = c.new_key == new_key

    # -- marks kept in the record ----------------------------------------------------

    def judged_through(self, chat_id: int) -> int:
        """The highest pointer id a full read of the chat has judged (0: none)."""
        return self._load(chat_id).judged

    def set_judged(self, chat_id: int, through: int) -> None:
        """Record that a full read judged (pinned, rotated) the chat up to pointer ``through``."""
        if self._load(chat_id).judged >= through:
            return
        with self._editing(chat_id) as record:
            record.judged = max(record.judged, through)

    def seen_through(self, chat_id: int) -> int:
        """The newest pointer id the chat was read up to (0: never read)."""
        return self._load(chat_id).seen

    def mark_seen(self, chat_id: int) -> None:
        """Note that a chat has been read up to its newest pointer (written only when that
        moved: a chat on screen is marked after every poll)."""
        newest = self._db.execute("SELECT coalesce(max(id), 0) FROM pointers WHERE chat_id = ?", (chat_id,)).fetchone()
        if self.seen_through(chat_id) != newest[0]:
            self._set_seen(chat_id, int(newest[0]))

    def purged_numbers(self, chat_id: int) -> Purged:
        """The numbers of the pb2 messages purged from a chat, per (sender key, stream)."""
        return self._load(chat_id).purged

    def _set_seen(self, chat_id: int, newest: int) -> None:
        with self._editing(chat_id) as record:
            record.seen = newest
