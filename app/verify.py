"""Keys checked in person: a chat's members, the safety code of a member's key and this
user's (core/safety.py, docs/SPEC.md §12), and the pin it makes verified.

A pin becomes verified only by a code: the front-end shows :meth:`Verifying.safety_check`
to a person, who compares it with the other member's, and hands the code back to
:meth:`Verifying.mark_verified`, which computes it again from the key the name holds now
and marks that key only if the two agree. A key that moved in between (a rotation read
meanwhile) is refused, never marked unseen. Nothing from an import reaches here: an
export carries no verified keys (docs/EXPORT.md).
"""

from __future__ import annotations

import hmac
from typing import NamedTuple

from .compose import Composing
from .errors import NoMemberKeyError, NotInitialisedError, SafetyCodeMismatchError
from .trust import StoredConflict, StoredRotation, Trust, current_keys

__all__ = ["Member", "SafetyCheck", "Verifying"]


class Member(NamedTuple):
    """A name of a chat and the key it holds as far as the chat's last full read judged.

    ``trust``: :attr:`Trust.VERIFIED` (that key was verified in person),
    :attr:`Trust.PINNED`, or :attr:`Trust.CONFLICT` (frozen by a key conflict); ``you``:
    this home's own name; ``replaced``: a key of the name was verified, and a signed
    rotation has moved the name to another since (verify it again)."""

    username: str
    public_key: bytes
    fingerprint: str
    trust: Trust
    you: bool = False
    replaced: bool = False


class SafetyCheck(NamedTuple):
    """What two members compare: ``code`` (twelve groups of five digits; ``digits``
    without spaces, for a QR code) from the chat, ``username``'s key and this user's.
    ``verified``: that key is verified already."""

    chat: str
    username: str
    public_key: bytes
    fingerprint: str
    code: str
    digits: str
    verified: bool


class Verifying(Composing):
    """Members, safety codes, verified pins."""

    def members(self, chat_name: str) -> list[Member]:
        """Every name pinned in the chat, by name, with its key now and its trust."""
        from pointerbridge.core.keys import fingerprint

        row = self.chat_row(chat_name)
        keys, frozen = self._member_keys(row.id)
        verified = self.store.verified_keys(row.id)
        known = self.store.identity()
        out = []
        for name in sorted(keys):
            key, checked = keys[name], verified.get(name)
            sure = checked is not None and hmac.compare_digest(checked, key)
            trust = Trust.CONFLICT if name in frozen else Trust.VERIFIED if sure else Trust.PINNED
            you = known is not None and name == known.username
            out.append(Member(name, key, fingerprint(key), trust, you, checked is not None and not sure))
        return out

    def safety_check(self, chat_name: str, username: str) -> SafetyCheck:
        """The safety code of ``username``'s key in the chat and this user's, to compare
        in person. :class:`NoMemberKeyError` for a name with no key here (never read in
        this chat: read it first), one frozen by a key conflict, or this user's own."""
        from pointerbridge.core.keys import fingerprint, normalize_username
        from pointerbridge.core.safety import Member as Side
        from pointerbridge.core.safety import safety_code

        row = self.chat_row(chat_name)
        known = self.store.identity()
        if known is None:
            raise NotInitialisedError("this home has no identity yet: run 'pbridge init'")
        name = normalize_username(username)
        if name == known.username:
            raise NoMemberKeyError("that is your own name: a safety code is between you and another member")
        keys, frozen = self._member_keys(row.id)
        if name not in keys:
            others = ", ".join(repr(n) for n in sorted(keys) if n != known.username) or "none yet"
            raise NoMemberKeyError(
                f"no key is pinned for {name!r} in chat {row.name!r} (read the chat first; its members: {others})"
            )
        if name in frozen:
            raise NoMemberKeyError(
                f"{name!r} is frozen by a key conflict in chat {row.name!r}: re-pin the key you verified first "
                "(pbridge chat trust)"
            )
        key = keys[name]
        code = safety_code(row.normalized_name, Side(name, key), Side(known.username, known.public_key))
        checked = self.store.verified_keys(row.id).get(name)
        verified = checked is not None and hmac.compare_digest(checked, key)
        return SafetyCheck(row.name, name, key, fingerprint(key), code, code.replace(" ", ""), verified)

    def mark_verified(self, chat_name: str, username: str, code: str) -> SafetyCheck:
        """Mark ``username``'s key verified in the chat, if ``code`` (spaces and dashes
        ignored) is the safety code of the key it holds now: the code a person compared.
        :class:`SafetyCodeMismatchError` otherwise; nothing is marked."""
        check = self.safety_check(chat_name, username)
        given = "".join(ch for ch in code if ch.isdigit())
        if not hmac.compare_digest(given.encode(), check.digits.encode()):
            raise SafetyCodeMismatchError(
                f"that is not the safety code of {check.username!r}'s key in chat {check.chat!r} now "
                "(mistyped, or their key changed since it was shown): nothing was marked verified"
            )
        self.store.verify_key(self.chat_row(chat_name).id, check.username, check.public_key)
        return check._replace(verified=True)

    def unverify(self, chat_name: str, username: str) -> bool:
        """Take back the verification of ``username`` in the chat (its pin stays, as
        trust on first use); False: the name had none."""
        from pointerbridge.core.keys import normalize_username

        return self.store.unverify_key(self.chat_row(chat_name).id, normalize_username(username))

    def _member_keys(self, chat_id: int) -> tuple[dict[str, bytes], set[str]]:
        rotations = [StoredRotation(*r) for r in self.store.rotations(chat_id)]
        conflicts = [StoredConflict(*c) for c in self.store.conflicts(chat_id)]
        return current_keys(self.store.pins(chat_id), rotations, conflicts)
