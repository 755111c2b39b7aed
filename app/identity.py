"""This home's identity: make it, unlock it, rotate it (and tell every chat).

The identity is derived from the username, the master phrase and the recovery code;
the store keeps its public key and the code, never the phrase or the private key."""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Self

from pointerbridge.core.errors import InvalidInputError, PointerBridgeError

from .errors import (
    ChatsSealedError,
    IdentityExistsError,
    NoCarriersError,
    NotInitialisedError,
    PostsWaitingError,
    StaleSecretError,
    WrongSecretError,
)
from .models import UnlockedChat
from .outbox import Outbox

if TYPE_CHECKING:
    from pointerbridge.core.keys import Identity, RecoveryCode
    from pointerbridge.home.store import IdentityRow

__all__ = ["Identities"]


_READER_PURPOSE = b"store proofs"


def _new_recovery_code() -> RecoveryCode:
    """A fresh recovery code at the identity memory cost: the default, or less where
    ``PBRIDGE_IDENTITY_MEMORY_MIB`` says so (a small machine; the test suite)."""
    from pointerbridge.core.keys import IDENTITY_MEMORY_CHOICES, IDENTITY_MEMORY_MIB, RecoveryCode

    wanted = os.environ.get("PBRIDGE_IDENTITY_MEMORY_MIB", "").strip()
    if not wanted:
        return RecoveryCode.new(IDENTITY_MEMORY_MIB)
    if not wanted.isdigit() or int(wanted) not in IDENTITY_MEMORY_CHOICES:
        raise InvalidInputError(f"PBRIDGE_IDENTITY_MEMORY_MIB is one of {IDENTITY_MEMORY_CHOICES}, not {wanted!r}")
    return RecoveryCode.new(int(wanted))


class Identities(Outbox):
    """Making, unlocking and rotating this home's identity."""

    def init(
        self,
        username: str,
        master_phrase: str,
        *,
        recovery: RecoveryCode | None = None,
        unsalted: bool = False,
        allow_weak: bool = False,
        replace: bool = False,
        hide_chats: bool = False,
    ) -> Identity:
        """Derive this user's identity and record its public half and recovery code.

        ``recovery``: the code shown when the identity was first made (regenerating it on
        another machine); ``unsalted``: regenerate an identity made before recovery codes
        (SPEC §2.3's first schedule); neither: a new identity with a fresh code
        (:meth:`recovery_code`). A new master phrase estimated weak is refused unless
        ``allow_weak`` (:mod:`.secret_policy`); one regenerated is not judged again. A home
        keeps its identity: init again gives it back only if it is the same one; another one
        raises :class:`IdentityExistsError` (it would leave every chat's pin behind without a
        notice: that is ``rotate_identity``) unless ``replace``, which makes the new one this
        home's without telling any chat. Its chats are sealed again under the new identity
        when the one replaced was unlocked first (:meth:`unlock_identity`, with the old
        phrase); else they are hidden if ``hide_chats`` (:class:`ChatsSealedError` if not;
        :class:`PostsWaitingError` while their posts wait). A new identity's username must not hold a trust
        mark's glyph or a blank (:func:`~pointerbridge.app.names.check_new_username`); a
        regenerated one is let in, to read (it cannot send).
        """
        from pointerbridge.app.secret_policy import check_strength
        from pointerbridge.core.keys import Identity

        from .names import check_new_username

        if recovery is not None and unsalted:
            raise InvalidInputError("an identity is regenerated with its recovery code or without one, not both")
        known = self.store.identity()
        code = recovery
        identity = None
        if known is not None and recovery is None and not unsalted:
            again = self._derive_identity(username, master_phrase)  # the same identity again: a no-op
            if _same(known, again) or not replace:
                identity = again
        if identity is None:
            if recovery is None and not unsalted:  # a new identity: its name and phrase judged, its code drawn
                check_new_username(username)
                check_strength(master_phrase, what="master phrase", allow_weak=allow_weak, user_inputs=(username,))
                code = _new_recovery_code()
            identity = (
                Identity.derive_unsalted(username, master_phrase)
                if code is None
                else Identity.derive(username, master_phrase, code)
            )
        if known is None:
            self.store.set_identity(identity.username, identity.public_key, code.to_bytes() if code else None)
        elif not _same(known, identity):
            if not replace:
                raise IdentityExistsError(
                    f"this home is {known.username!r}'s already, and that is another identity (another name, "
                    "phrase or recovery code): to change your master phrase, pbridge identity rotate (it tells your "
                    "chats); pbridge init --force replaces it without telling anyone"
                )
            self._replace(identity, code, hide_chats)
        self._remember_reader(identity)
        return identity

    def _replace(self, identity: Identity, code: RecoveryCode | None, hide_chats: bool) -> None:
        # Unlocked (the caller unlocked the identity being replaced: its phrase was given),
        # every chat is sealed again under the new one; locked, each is hidden, if allowed.
        chats = self.store.chat_count()
        if chats and not self.store.unlocked and not hide_chats:
            raise ChatsSealedError(
                f"this home's {chats} chat(s) are sealed under the master phrase of the identity being replaced: "
                "give that phrase to keep them (--old-phrase-fd), or --hide-chats to hide them; nothing changed"
            )
        recovery = code.to_bytes() if code else None
        hidden, waiting = self.store.replace_identity(
            identity.username, identity.public_key, recovery, identity.store_key(), self.config.carriers.keys()
        )
        if waiting:
            raise PostsWaitingError(
                f"{waiting} post(s) still wait to be posted in chats that would be hidden: poll first (pbridge "
                "poll), or give the replaced identity's master phrase to keep the chats; nothing changed"
            )
        self.hidden_by_replace = hidden

    def _remember_reader(self, identity: Identity) -> None:
        # Only the identity's holder makes the proofs that let a re-read skip signatures,
        # and opens the chat list sealed at rest (docs/AT-REST.md).
        self._reader = identity.local_key(_READER_PURPOSE)
        self.store.unlock(identity.store_key())

    def sibling(self) -> Self:
        """This home again on a store connection of its own (a worker thread needs one),
        unlocked as this one is: the chat list's key and the reader's proof key, nothing
        derived again. Close it when done."""
        other = type(self)(self.home, self._bridge_factory)
        other._reader = self._reader
        other.store.unlock_like(self.store)
        return other

    def recovery_code(self) -> RecoveryCode | None:
        """The identity's recovery code (None: an identity of the first, unsalted schedule)."""
        from pointerbridge.core.keys import RecoveryCode

        raw = self.store.recovery()
        return RecoveryCode.from_bytes(raw) if raw is not None else None

    def _derive_identity(self, username: str, master_phrase: str, recovery: bytes | None = None) -> Identity:
        from pointerbridge.core.keys import Identity, RecoveryCode

        code = self.recovery_code() if recovery is None else RecoveryCode.from_bytes(recovery)
        if code is None:
            return Identity.derive_unsalted(username, master_phrase)
        return Identity.derive(username, master_phrase, code)

    def unlock_identity(self, master_phrase: str) -> Identity:
        """Re-derive the identity; refuse a master phrase that gives another key. It opens
        the chat list, sealed under it (docs/AT-REST.md)."""
        known = self.store.identity()
        if known is None:
            raise NotInitialisedError("this home has no identity yet: run 'pbridge init'")
        return self._unlock_as(known.username, known.public_key, self.store.recovery(), master_phrase)

    def _unlock_as(self, username: str, public_key: bytes, recovery: bytes | None, master_phrase: str) -> Identity:
        """Unlock the identity of this username, public key and recovery code (an import's,
        into a home with none yet) with ``master_phrase``."""
        from pointerbridge.core.keys import Identity

        identity = (
            Identity.derive_unsalted(username, master_phrase)
            if recovery is None
            else self._derive_identity(username, master_phrase, recovery)
        )
        if not hmac.compare_digest(identity.public_key, public_key):
            raise WrongSecretError("wrong master phrase")
        self._remember_reader(identity)
        return identity

    def rotate_identity(
        self, old: Identity, new_master_phrase: str, chats: Iterable[UnlockedChat] = (), *, allow_weak: bool = False
    ) -> Identity:
        """Replace this home's identity by the one ``new_master_phrase`` gives (same
        username). ``old`` must be the current identity. In one transaction: every chat
        pins the old key for this user where it had no pin yet, and gets a rotation notice
        signed by the old key; the store's identity becomes the new key. The notice is
        queued at once (:meth:`post_notice`) in each of ``chats`` (unlocked with their
        current secret, and with carriers); the others' wait for the next message there
        (:meth:`pending_notices` names them). A new phrase estimated weak is refused
        unless ``allow_weak``."""
        from pointerbridge.app.secret_policy import check_strength
        from pointerbridge.core.keys import Identity
        from pointerbridge.core.rotation import make_notice, notice_body

        check_strength(new_master_phrase, what="master phrase", allow_weak=allow_weak, user_inputs=(old.username,))
        known = self.store.identity()
        if known is None:
            raise NotInitialisedError("this home has no identity yet: run 'pbridge init'")
        if not hmac.compare_digest(old.public_key, known.public_key) or old.username != known.username:
            raise WrongSecretError("that is not this home's current identity")
        waiting = self.pending_notices()
        if waiting:
            # The next notice must be signed by the key the waiting one names, which is
            # not held any more once it is replaced: post the waiting ones first.
            raise InvalidInputError(
                f"rotation notices still wait in {', '.join(map(repr, waiting))}: post them "
                "first (pbridge identity notify CHAT)"
            )
        # The old phrase again would make a new key under a new salt, but the salt is no
        # secret: whoever learnt the phrase would hold the new key too. Tried under the
        # current schedule (one more Argon2id), so it is refused whatever the salt.
        if hmac.compare_digest(self._derive_identity(old.username, new_master_phrase).public_key, old.public_key):
            raise InvalidInputError("the new master phrase gives the same key: choose another one")
        # A rotation always lands on the salted schedule: it is how identities made
        # before recovery codes move to one.
        code = _new_recovery_code()
        new = Identity.derive(old.username, new_master_phrase, code)
        body = notice_body(make_notice(old, new))
        self.store.rotate_identity(old.username, old.public_key, new.public_key, body, code.to_bytes(), new.store_key())
        self._post_notices(chats, new)
        self._remember_reader(new)
        return new

    def _post_notices(self, chats: Iterable[UnlockedChat], identity: Identity) -> None:
        for chat in chats:
            try:
                self.post_notice(chat, identity)
            except PointerBridgeError:
                # The rotation is done: a chat whose carrier is misconfigured keeps its
                # notice waiting (pending_notices reports it) rather than hide the others'.
                continue

    def notify(self, chat: UnlockedChat, identity: Identity) -> bool:
        """Queue the chat's waiting rotation notice now, as its user asked (``pbridge identity
        notify``); False: none waits. One that cannot go yet says why: the chat was unlocked
        with an earlier secret, or it has no carriers."""
        if not self.has_pending_notice(chat):
            return False
        if self.post_notice(chat, identity):
            return True
        name = chat.row.name
        if not chat.current:
            raise StaleSecretError(f"the secret of chat {name!r} was changed: unlock it with the current one to post")
        raise NoCarriersError(f"chat {name!r} has no carriers: pbridge chat carriers {name!r} --carrier C")

    def has_pending_notice(self, chat: UnlockedChat) -> bool:
        """Whether the chat still waits for this home's rotation notice."""
        return self.store.pending_notice(chat.row.id) is not None

    def pending_notices(self) -> list[str]:
        """Names of the chats whose rotation notice is not posted yet."""
        return self.store.pending_notices()


def _same(known: IdentityRow, identity: Identity) -> bool:
    return known.username == identity.username and hmac.compare_digest(known.public_key, identity.public_key)
