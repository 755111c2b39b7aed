"""Reading a chat: its whole history or a page of it, judged for trust (app/trust.py) and
shown in display order (app/order.py); settling what pages left provisional."""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import TYPE_CHECKING

from pointerbridge.core.errors import InvalidInputError

from .decrypt import Decrypting
from .models import ChatOverview, Page, Shown, UnlockedChat
from .names import lookalikes
from .order import SKEW, Opened, display_order

if TYPE_CHECKING:
    from pointerbridge.app.trust import TrustWalk

__all__ = ["History"]


class History(Decrypting):
    """Reading, paging, settling and searching chats."""

    def read(
        self,
        chat: UnlockedChat,
        *,
        include_trash: bool = False,
        trash_only: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[list[Shown], int]:
        """Decrypt a chat's history on demand; return (messages oldest first, refused count).

        Each pointer is opened with the unlocked key whose routing tag it carries. Each is
        opened fully (signature included) once; afterwards a MAC over its payload, under
        a key from this reader's identity and that chat key, stands for the checks (no
        member can forge it: they hold the chat key, not the reader's master phrase). With
        no identity unlocked this session, every read opens every pointer fully. The AEAD
        runs on every read. Pointers under a secret of this chat that was not unlocked are
        not refused: :meth:`locked_count` counts them; pointers with this chat's routing
        tag whose AEAD does not open are left unrouted and counted as refused. Messages
        come in send-time order held to arrival (:attr:`Shown.arrived_late`).
        """
        self._route(chat)
        rows = self.store.history(chat.row.id, include_trash=include_trash or trash_only, trash_only=trash_only)
        done, refused, _, _ = self._open_all(chat, rows, progress)
        if not trash_only:
            refused += len(self._doubtful.get(chat.row.id, ()))
        # The trash alone is not the chat's history: judging it must not pin or store anything.
        shown = self._judge(chat, done, persist=not trash_only)
        if rows and not trash_only:
            self.store.set_judged(chat.row.id, rows[-1][0])
        return shown, refused

    def read_page(
        self,
        chat: UnlockedChat,
        *,
        before: int | None = None,
        limit: int = 200,
        include_trash: bool = False,
        trash_only: bool = False,
    ) -> Page:
        """The last ``limit`` pointers of the chat below pointer id ``before`` (None: the
        newest), opened and judged: one index range scan, however long the history.

        A split message belongs to the page holding its last part: a page whose messages
        miss earlier parts reaches further down for them (at most ``4 * limit`` pointers
        more), and ``older`` then starts below what it took. A message still incomplete
        is left out (a full :meth:`read` shows it). Trust is judged against the stored
        pins and rotations; nothing new is pinned or stored unless the page reaches the
        chat's first pointer (see :attr:`Page.unsettled`). Send times are held to arrival
        as in :meth:`read`; what arrived before the page counts by its receipt time.
        """
        if not isinstance(limit, int) or limit < 1:
            raise InvalidInputError("a page holds at least one pointer")
        self._route(chat)
        flags = {"include_trash": include_trash or trash_only, "trash_only": trash_only}
        rows = self.store.history_page(chat.row.id, before, limit + 1, **flags)
        more = len(rows) > limit
        rows = rows[1:] if more else rows
        budget = 4 * limit
        done, refused, locked, incomplete = self._open_all(chat, rows, None)
        while incomplete and more and budget > 0:
            wanted = min(budget, max(64, 2 * incomplete))
            extra = self.store.history_page(chat.row.id, rows[0][0], wanted + 1, **flags)
            more = len(extra) > wanted
            extra = extra[1:] if more else extra
            budget -= len(extra)
            rows = extra + rows
            done, refused, locked, incomplete = self._open_all(chat, rows, None)
        older = rows[0][0] if more and rows else None
        if not trash_only:  # the pointers of this chat's tag that do not open, in the page's range
            top = (1 << 63) if before is None else before
            refused += sum((older or 0) < pid < top for pid in self._doubtful.get(chat.row.id, ()))
        # A backdated message is held below what arrived an hour before it on earlier pages
        # too: asked of the store only if a send time on the page is that early.
        first = min((item[4] for item in done), default=0.0)
        floor = None
        if older is not None and any(item[1].sent_at.timestamp() < first - SKEW for item in done):
            floor = self.store.received_before(chat.row.id, older, first - SKEW)
        shown = self._judge(chat, done, persist=older is None, floor=float("-inf") if floor is None else floor)
        if older is None and rows and not trash_only:
            self.store.set_judged(chat.row.id, rows[-1][0])
        pins = self.store.pins(chat.row.id)
        judged = self.store.judged_through(chat.row.id)
        unsettled = bool(rows) and (rows[-1][0] > judged or any(s.message.username not in pins for s in shown))
        return Page(shown, refused, older, unsettled, locked)

    def settle(self, chat: UnlockedChat, progress: Callable[[int, int], None] | None = None) -> None:
        """Judge for good, in arrival order, the pointers no full read has judged yet (all
        of them the first time), so that pages of history stop being ``unsettled``: new
        names are pinned and rotation notices stored. The stored pins and rotations are
        the state of the walk up to the judged mark, so only what came after it is read.
        (A split message whose first parts were judged incomplete is not judged again.)
        ``progress(done, total)``: pointers opened so far, as :meth:`read` reports them."""
        self._route(chat)
        judged = self.store.judged_through(chat.row.id)
        rows = self.store.history(chat.row.id, after=judged)
        if rows:
            done, _, _, _ = self._open_all(chat, rows, progress)
            self._judge(chat, done, from_start=not judged)
            self.store.set_judged(chat.row.id, rows[-1][0])

    def locked_count(self, chat: UnlockedChat, *, include_trash: bool = False, trash_only: bool = False) -> int:
        """How many of the chat's pointers (as :meth:`read` with the same flags sees them)
        are under a secret of this chat that ``chat`` does not hold (before or after a
        rekey): reading with that secret, or :meth:`add_secret`, shows them. Free when
        every secret of the chat is unlocked."""
        if self._all_unlocked(chat):
            return 0
        rows = self.store.history(chat.row.id, include_trash=include_trash or trash_only, trash_only=trash_only)
        return sum(self._under_other(chat.keys, row[1]) for row in rows)

    def search(
        self,
        chat: UnlockedChat,
        needle: str,
        *,
        trash_only: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[list[Shown], int]:
        """Messages of the chat containing ``needle`` (any case), trash included (or only
        the trash), oldest first; and how many pointers were refused (as :meth:`read`)."""
        folded = needle.casefold()
        shown, refused = self.read(chat, include_trash=True, trash_only=trash_only, progress=progress)
        return [s for s in shown if folded in s.message.body.casefold()], refused

    def chat_overview(self) -> list[ChatOverview]:
        """Every chat with its unread count and last activity, the most recent first."""
        items = [ChatOverview(row, *self.store.activity(row.id)) for row in self.store.chats()]
        return sorted(items, key=lambda item: -(item.last_activity or 0.0))

    def mark_seen(self, chat: UnlockedChat) -> None:
        """The chat has been read up to its newest pointer: its unread count drops to 0."""
        self.store.mark_seen(chat.row.id)

    def _trust_walk(self, chat: UnlockedChat) -> TrustWalk:
        """A trust walk starting from what the store holds for the chat."""
        from pointerbridge.app.trust import StoredConflict, StoredRotation, TrustWalk

        pins = self.store.pins(chat.row.id)
        known = self.store.identity()
        if known is not None and known.username not in pins:
            self.store.pin(chat.row.id, known.username, known.public_key)
            pins[known.username] = known.public_key
        rotations = [StoredRotation(*row) for row in self.store.rotations(chat.row.id)]
        conflicts = [StoredConflict(*row) for row in self.store.conflicts(chat.row.id)]
        return TrustWalk(pins, rotations, conflicts, self.store.received_at, self.store.verified_keys(chat.row.id))

    def _store_walk(self, chat: UnlockedChat, walk: TrustWalk) -> None:
        """Store the pins, rotations and conflicts a full walk found (a crash between
        them is harmless: the next full read finds the rest again)."""
        for name, key in walk.new_pins.items():
            self.store.pin(chat.row.id, name, key)
        for name, key in walk.repinned.items():
            self.store.repin(chat.row.id, name, key)
        for rotation in walk.new_rotations:
            self.store.add_rotation(chat.row.id, *rotation, walk.notices.get(rotation[:3]))
        if walk.notices:  # rotations accepted before their notices were kept get them now
            self.store.keep_notices(chat.row.id, walk.notices)
        if walk.new_conflicts:
            self.store.add_conflicts(chat.row.id, walk.new_conflicts)

    def trust_key(self, chat_name: str, username: str, fingerprint: str) -> bytes:
        """Settle a frozen name (a rotation conflict, docs/KEYS.md): after verifying in
        person, re-pin ``username`` in the chat to the key with ``fingerprint``, one of
        the keys the leaked old key named. Its notice becomes the accepted rotation, the
        other keys' messages show as changed. Return the key."""
        from pointerbridge.core.keys import fingerprint as fingerprint_of

        row = self.chat_row(chat_name)
        named = self.store.conflict_keys(row.id, username)
        if not named:
            raise InvalidInputError(
                f"{username!r} is not frozen by a key conflict in chat {row.name!r}: nothing to re-pin"
            )
        wanted = "".join(ch for ch in fingerprint if ch.isdigit())
        found = [key for key in named if fingerprint_of(key).replace(" ", "") == wanted]
        if not found:
            choices = "; ".join(fingerprint_of(key) for key in named)
            raise InvalidInputError(f"no key {username!r} was moved to has that fingerprint (the keys: {choices})")
        self.store.choose_conflict_key(row.id, username, found[0])
        return found[0]

    def _judge(
        self,
        chat: UnlockedChat,
        done: list[Opened],
        *,
        persist: bool = True,
        from_start: bool = True,
        floor: float = float("-inf"),
    ) -> list[Shown]:
        # Trust in arrival order (app/trust.py has the rules). This user's own name is
        # pinned to their own key before anyone else can claim it, and followed back
        # through their own rotations when ``done`` starts at the chat's first pointer
        # (``from_start``). ``persist=False`` (a page of history) judges against what is
        # stored and stores nothing new.
        walk = self._trust_walk(chat)
        done.sort(key=itemgetter(0))  # arrival order (first pointer id)
        known = self.store.identity()
        if from_start and persist and known is not None:  # this user's own older keys, if they rotated
            walk.trace_back(known.username, known.public_key, ((item[0], item[1]) for item in done))
        for first_id, message, _, _, _ in done:
            walk.judge(first_id, message)
        if persist:
            self._store_walk(chat, walk)
        verdicts = walk.verdicts
        # By send time, held to arrival where it is not believable (flagged); equal send
        # times (another sender's clock, or a burst) fall back on arrival order.
        order, late = display_order(done, floor)
        # Every name the chat has seen (pinned, or first seen now): a newcomer whose name
        # looks like a member's is flagged, and so is the member's (app/names.py).
        alike = lookalikes(walk.current) if len(walk.current) > 1 else {}
        return [
            Shown(
                done[i][1],
                verdicts[i].trust,
                done[i][2],
                done[i][3],
                verdicts[i].notice,
                late[i],
                alike.get(done[i][1].username, ()),
                verdicts[i].replaced_verified,
            )
            for i in order
        ]
