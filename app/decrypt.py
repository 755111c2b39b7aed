"""Opening a chat's stored pointers under its unlocked keys: grouped by key, opened in
chunks (app/opening.py: proofs let a re-read skip signatures), split messages joined,
and every failure counted as refused or locked. ``progress(done, total)``, if given, is
called with 0 first, then after each chunk of pointers opened, last with the total."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TYPE_CHECKING

from pointerbridge.core.errors import PointerError

from .inbox import Inbox
from .models import UnlockedChat
from .order import Opened

if TYPE_CHECKING:
    from pointerbridge.core.keys import ChatKey

__all__ = ["Decrypting", "StoredRow"]


_CACHE_INFO = b"pointerbridge store: signature verified"


_PROOF_INFO = b"pointerbridge store: proof of a full open"


def _hkdf(key: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    from pointerbridge.core.keys import hkdf  # here, not at the top: polling never loads the cryptography

    return hkdf(key, info, salt)


# A stored pointer as reading needs it: (id, payload, trashed, proof, received at, version).
StoredRow = tuple[int, bytes, int, "bytes | None", float, int]


class Decrypting(Inbox):
    """Opening stored pointers into messages."""

    def _all_unlocked(self, chat: UnlockedChat) -> bool:
        return len(self.store.verifiers(chat.row.id)) <= len(chat.keys)

    @staticmethod
    def _under_other(keys: tuple[ChatKey, ...], payload: bytes) -> bool:
        """Whether a well-formed payload's routing tag is none of ``keys``'."""
        from pointerbridge.core.pointer import envelope

        try:
            nonce, tag = envelope(payload)
        except PointerError:
            return False  # malformed: refused, whatever the secret
        return not any(key.matches(nonce, tag) for key in keys)

    def _open_all(
        self,
        chat: UnlockedChat,
        rows: list[StoredRow],
        progress: Callable[[int, int], None] | None,
    ) -> tuple[list[Opened], int, int, int]:
        collecting = gc.isenabled()
        gc.disable()  # 100,000 messages allocate no cycles: collector passes would be pure cost
        try:
            return self._open_rows(chat, rows, progress)
        finally:
            if collecting:
                gc.enable()

    @staticmethod
    def _by_key(keys: tuple[ChatKey, ...], rows: list[StoredRow]) -> list[tuple[ChatKey, list[StoredRow]]]:
        """Rows grouped by the key whose routing tag they carry, each group in stored
        order; rows of no key go with the first (they fail there and are sorted out)."""
        from pointerbridge.core.pointer import envelope

        if len(keys) == 1:
            return [(keys[0], rows)]  # one key: no tag check here, opening checks it
        groups: dict[int, list[StoredRow]] = {}
        for row in rows:
            index = 0
            try:
                nonce, tag = envelope(row[1])
                index = next((i for i, key in enumerate(keys) if key.matches(nonce, tag)), 0)
            except PointerError:
                pass  # refused when opened
            groups.setdefault(index, []).append(row)
        return [(keys[i], group) for i, group in sorted(groups.items())]

    def _proof_key(self, key: ChatKey) -> bytes | None:
        """The key of the store's proofs for ``key``'s pointers: the reader's own (from the
        identity unlocked this session) bound to the chat key; None: no identity unlocked,
        so no proof is made or trusted (see app/opening.py)."""
        if self._reader is None:
            return None
        return _hkdf(self._reader, _PROOF_INFO, salt=key.subkey(_CACHE_INFO))

    def _open_rows(
        self,
        chat: UnlockedChat,
        rows: list[StoredRow],
        progress: Callable[[int, int], None] | None,
    ) -> tuple[list[Opened], int, int, int]:
        """Open rows under the chat's unlocked keys: (messages, refused, locked, parts of
        messages still incomplete), where locked counts pointers under a secret of the
        chat that was not unlocked. A split message whose sender gave one part two texts
        is refused whole, every pointer of it counted as refused."""
        from pointerbridge.app.opening import CHUNK, open_chunks
        from pointerbridge.core.pointer import Part, message_from_fields
        from pointerbridge.core.reassembly import Reassembler

        done: list[Opened] = []
        refused = locked = 0
        newly_verified: list[tuple[int, bytes]] = []
        everything = self._all_unlocked(chat)
        offset = incomplete = 0
        equivocated: set[int] = set()  # where in done joined messages refused afterwards are
        if progress and rows:
            progress(0, len(rows))
        for key, group in self._by_key(chat.keys, rows):
            joiner = Reassembler()  # one per key: parts of one message share its key
            chat_name = key.name
            pending: dict[tuple[bytes, str], tuple[list[int], float]] = {}  # ids and first receipt
            joined: dict[tuple[bytes, str], int] = {}  # where in done a joined message is
            for number, chunk in enumerate(open_chunks(key, self._proof_key(key), group)):
                start = number * CHUNK
                rows_here = group[start : start + CHUNK]
                if progress:
                    progress(offset + start + len(rows_here), len(rows))
                for (pointer_id, payload, trashed, _, received, _), (item, proof) in zip(rows_here, chunk, strict=True):
                    if item is None:
                        if not everything and self._under_other(chat.keys, payload):
                            locked += 1  # under a secret not unlocked: not a failed check
                        else:
                            refused += 1
                        continue
                    if proof is not None:
                        newly_verified.append((pointer_id, proof))
                    if type(item) is tuple:
                        message = message_from_fields(chat_name, item)
                        done.append((pointer_id, message, (pointer_id,), bool(trashed), received))
                        continue
                    assert isinstance(item, Part)
                    part_of = (item.sender_key, item.message_id)  # as the reassembler groups them
                    try:
                        joined_message = joiner.add(item)
                    except PointerError:
                        refused += 1
                        if joiner.refuses(item):  # two texts under one id: the message is refused whole
                            refused += len(pending.pop(part_of, ((), 0.0))[0])
                            if part_of in joined:
                                equivocated.add(joined.pop(part_of))
                        continue
                    if part_of in joined:  # a copy of a part of a message joined already: one of its pointers
                        at = joined[part_of]
                        first_id, whole, ids_before, was_trashed, first_receipt = done[at]
                        done[at] = (first_id, whole, (*ids_before, pointer_id), was_trashed, first_receipt)
                        continue
                    ids, first_receipt = pending.get(part_of, ([], received))
                    ids.append(pointer_id)
                    pending[part_of] = (ids, min(first_receipt, received))
                    if joined_message is not None:
                        del pending[part_of]
                        joined[part_of] = len(done)
                        done.append((min(ids), joined_message, tuple(ids), bool(trashed), min(first_receipt, received)))
            offset += len(group)
            incomplete += sum(len(ids) for ids, _ in pending.values())
        if equivocated:
            refused += sum(len(done[i][2]) for i in equivocated)
            done = [item for i, item in enumerate(done) if i not in equivocated]
        if newly_verified:
            self.store.set_verified(newly_verified)
        return done, refused, locked, incomplete
