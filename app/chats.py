"""Chats: create, unlock (any of a chat's secrets), add a secret, rekey, carriers, hide, delete.

A chat's key is derived from its typed secret and lives in RAM (:class:`UnlockedChat`);
the store gets a salted slow verifier of it and nothing else."""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pointerbridge.core.errors import InvalidInputError
from pointerbridge.home.store import ChatRow, Verifier

from .carriers import Carriers
from .errors import PostsWaitingError, StaleSecretError, WrongSecretError
from .models import UnlockedChat

if TYPE_CHECKING:
    from pointerbridge.core.keys import ChatKey

__all__ = ["HIDE_NOTE", "OPEN_CHAT_COST", "REKEY_COST", "Chats"]


# Said by every front-end wherever an open chat is made: what giving up the random salt costs.
OPEN_CHAT_COST = (
    "an open chat's key is salted by its name alone: anyone who sees one of its pointers can test guesses of the "
    "secret offline, and a dictionary computed once for this name serves every chat of that name. Only a strong "
    "secret protects it."
)


# Said by every front-end before a member rekeys: a rekey is not shared by the carrier.
REKEY_COST = (
    "the members who have not rekeyed yet see nothing you send until they rekey too, and what they send "
    "meanwhile stays under the old secret: a read shows it only with the old secret given too"
)


# Said by every front-end before a chat is hidden: what brings it back, and what stays on disk.
HIDE_NOTE = (
    "its invite and its secret are what bring it back (nothing here remembers either): a chat joined from an "
    "invite comes back only by joining that invite again ('pbridge chat join INVITE'), whose salt nothing else "
    "holds; an open chat comes back by its name and secret alone ('pbridge receive --chat NAME' with one of its "
    "pointers, or 'pbridge chat create NAME --open'). Its messages, yours too, stay on this disk as unclaimed "
    "pointers that cannot be told from a carrier's junk, and return with it; 'pbridge junk clear --unclaimed' "
    "would delete them for good. Which of them were in the trash is not kept."
)


_VERIFIER_INFO = b"pointerbridge store: chat secret verifier"


def _verifier(key: ChatKey) -> Verifier:
    """A new verifier of ``key``: a random salt for the check, and the key's own salt."""
    salt = os.urandom(16)
    return Verifier(salt, key.subkey(_VERIFIER_INFO, salt), key.salt)


class Chats(Carriers):
    """Creating, unlocking, rekeying and deleting chats."""

    def create_chat(
        self,
        name: str,
        secret: str,
        carriers: Iterable[str],
        *,
        open_chat: bool = False,
        salt: bytes | None = None,
        allow_weak: bool = False,
    ) -> UnlockedChat:
        """Create a chat: derive its key, store only a salted slow verifier.

        The key is salted with a fresh random salt (or ``salt``, an invite's), which its
        invite carries. ``open_chat=True`` makes an open chat instead (CLM's model: name and
        secret alone; see :meth:`ChatKey.derive_open` for what that costs). A secret
        estimated weak is refused unless ``allow_weak`` (:mod:`.secret_policy`).
        """
        from pointerbridge.app.secret_policy import check_strength
        from pointerbridge.core.keys import ChatKey, new_chat_salt, normalize_chat_name

        check_strength(secret, what="chat secret", allow_weak=allow_weak, user_inputs=self._guessable(name))
        names = self._check_carriers(carriers)
        if self.store.chat(normalize_chat_name(name)) is not None:
            raise InvalidInputError(f"a chat named {name!r} exists already")
        if open_chat:
            if salt is not None:
                raise InvalidInputError("an open chat has no salt")
            return self._add_chat(ChatKey.derive_open(name, secret), names)
        return self._add_chat(ChatKey.derive(name, secret, salt if salt is not None else new_chat_salt()), names)

    def _add_chat(self, key: ChatKey, names: list[str]) -> UnlockedChat:
        row = self.store.add_chat(key.name, key.normalized_name, _verifier(key), names)
        return UnlockedChat(row, key)

    def unlock_chat(self, name: str, secret: str) -> UnlockedChat:
        """Derive the chat key and check it against the stored verifiers (Argon2id first).

        Any of the chat's secrets opens it; ``current`` tells whether it was the newest.
        """

        row = self.chat_row(name)
        key, index = self._derive_known(row, secret)
        return UnlockedChat(row, key, current=index == 0)

    def _derive_known(self, row: ChatRow, secret: str) -> tuple[ChatKey, int]:
        """The key ``secret`` gives and the index of the verifier it matches (0: the
        current secret); WrongSecretError if it is none of the chat's secrets."""
        found = self._match_secret(row, secret)
        if found is None:
            raise WrongSecretError(f"wrong secret for chat {row.name!r}{self._wrong_secret_hint(row)}")
        return found

    def _wrong_secret_hint(self, row: ChatRow) -> str:
        """The way out a refused secret is told, when the chat's current secret has opened
        nothing that arrived since it was set: it may be the mistyped one (at the join,
        or at the rekey this home followed)."""
        verifiers = self.store.verifiers(row.id)
        if self.store.opened_any(row.id, self.store.secret_set_at(row.id)):
            return ""
        if any(v.key_salt != verifiers[0].key_salt for v in verifiers[1:]):  # rekeyed
            return (
                " (its current secret, set by a rekey, has opened nothing since: if it was mistyped, "
                f"'pbridge chat rekey {row.name} --invite INVITE' again with the right one corrects it, "
                "keeping the mistyped one as an earlier secret)"
            )
        if not self.store.opened_any(row.id) and self.store.unrouted_from(row.carriers):
            from .display import replace_command

            return (
                " (it has opened nothing of what arrived: if its secret was mistyped when you joined, "
                f"{replace_command(row.name)} sets this one and keeps the chat)"
            )
        return ""

    def _match_secret(self, row: ChatRow, secret: str) -> tuple[ChatKey, int] | None:
        """Try ``secret`` under each key salt the chat's secrets were derived with, the
        current one's first: an Argon2id each, so one for a chat never rekeyed or opened
        with its current secret."""
        from pointerbridge.core.keys import ChatKey

        for key_salt in dict.fromkeys(v.key_salt for v in self.store.verifiers(row.id)):
            key = ChatKey.derive(row.name, secret, key_salt) if key_salt else ChatKey.derive_open(row.name, secret)
            index = self._verifier_index(row, key)
            if index is not None:
                return key, index
        return None

    def _verifier_index(self, row: ChatRow, key: ChatKey) -> int | None:
        """Which of the chat's verifiers ``key`` matches (0: the newest), if any. Every
        verifier is checked, so the time taken does not tell which one matched."""
        found = None
        for index, (salt, verifier, _) in enumerate(self.store.verifiers(row.id)):
            if hmac.compare_digest(key.subkey(_VERIFIER_INFO, salt), verifier) and found is None:
                found = index
        return found

    def add_secret(self, chat: UnlockedChat, secret: str) -> UnlockedChat:
        """Unlock another of the chat's secrets (an earlier one, or the current one) too:
        the result reads pointers under every key unlocked so far. If ``secret`` is the
        current one, it becomes the result's ``key`` (it sends) and the previous key
        moves to ``older``."""
        key, index = self._derive_known(chat.row, secret)
        if any(key.same_key(k) for k in chat.keys):
            return chat  # unlocked already
        if index == 0:
            return UnlockedChat(chat.row, key, current=True, older=chat.keys)
        return UnlockedChat(chat.row, chat.key, current=chat.current, older=(*chat.older, key))

    def rekey_chat(
        self, chat: UnlockedChat, new_secret: str, *, salt: bytes | None = None, allow_weak: bool = False
    ) -> UnlockedChat:
        """Give the chat a new secret: new pointers are sealed under it, older history
        stays readable with the earlier ones (their verifiers are kept). ``chat`` must
        hold the current secret; a secret this chat had before is refused. The new key
        gets a fresh random salt (the member who rekeys first; the chat's new invite
        carries it) or ``salt``, taken from that invite by the other members: so a rekey
        also moves an open chat to a salted key. Returns the chat unlocked with the new
        key (the earlier keys in ``older``). A new secret estimated weak is refused unless
        ``allow_weak``."""
        from pointerbridge.app.secret_policy import check_strength
        from pointerbridge.core.keys import ChatKey, new_chat_salt

        if salt is None:  # the first to rekey chooses; the others take what was chosen, as a join does
            words = self._guessable(chat.row.name)
            check_strength(new_secret, what="chat secret", allow_weak=allow_weak, user_inputs=words)
        salts = [v.key_salt for v in self.store.verifiers(chat.row.id)]
        if salt is not None and salt == salts[0] and any(other != salt for other in salts):
            return self._correct_rekey(chat, new_secret, salt)  # the invite this home followed last, again
        self._check_current(chat)
        if salt is not None and salt in salts:
            raise InvalidInputError(
                f"that invite is an earlier one of chat {chat.row.name!r}: ask for the one the new secret came with"
            )
        found = self._match_secret(chat.row, new_secret)
        # Taking the first member's salt for the secret this home already took under a
        # salt of its own (rekeyed without the invite) corrects it; anything else repeats.
        correcting = found is not None and salt is not None and found[1] == 0
        if found is not None and not correcting:
            raise InvalidInputError(f"chat {chat.row.name!r} had that secret before: choose a new one")
        key = ChatKey.derive(chat.row.name, new_secret, salt if salt is not None else new_chat_salt())
        self.store.add_verifier(chat.row.id, _verifier(key))
        row = self.chat_row(chat.row.name)
        return UnlockedChat(row, key, current=True, older=chat.keys)

    def _correct_rekey(self, chat: UnlockedChat, new_secret: str, salt: bytes) -> UnlockedChat:
        """Follow the same rekey invite again with another secret (the first was mistyped):
        only while the chat's current secret has opened nothing that arrived since it
        was set. Given, what it opened is checked by its routing tag; not given (it may
        be the mistyped one), every pointer routed to the chat since it was set must carry
        the routing tag of a secret given now. The secret replaced stays as an earlier
        one, never dropped."""
        from pointerbridge.core.keys import ChatKey
        from pointerbridge.core.pointer import tag_matches

        row = chat.row
        key = ChatKey.derive(row.name, new_secret, salt)
        index = self._verifier_index(row, key)
        if index == 0:
            raise InvalidInputError(f"chat {row.name!r} has that secret already: nothing changed")
        if chat.current:  # the current secret was given: what it opened is known
            opened = [p for p in self.store.opened_since(row.id, 0.0) if tag_matches(chat.key, p)]
        else:  # what arrived since it was set and was opened, but by none of the secrets given
            since = self.store.secret_set_at(row.id)
            opened = [
                p for p in self.store.opened_since(row.id, since) if not any(tag_matches(k, p) for k in chat.keys)
            ]
        if opened:
            raise InvalidInputError(
                f"the current secret of chat {row.name!r} has opened {len(opened)} pointer(s) that arrived: "
                "it may well be right, nothing changed"
            )
        if index is None:
            self.store.add_verifier(row.id, _verifier(key))
        else:  # a secret set aside by an earlier correction: current again
            self.store.make_current(row.id, index, _verifier(key))
        self._routed.pop(row.id, None)
        return UnlockedChat(self.chat_row(row.name), key, current=True, older=chat.keys)

    def _check_current(self, chat: UnlockedChat) -> None:
        # Against the store, not only the flag: another process may have rekeyed since.
        if not chat.current or self._verifier_index(chat.row, chat.key) != 0:
            raise StaleSecretError(
                f"the secret of chat {chat.row.name!r} was changed: unlock it with the current one to send"
            )

    def set_chat_carriers(self, name: str, carriers: Iterable[str]) -> ChatRow:
        """Replace the carriers a chat's messages are posted to."""
        row = self.chat_row(name)
        return self.store.set_chat_carriers(row.id, self._check_carriers(carriers))

    def notify_show(self, name: str) -> str:
        """What a desktop notification of the chat's new messages shows (app/notify.py):
        ``off``, ``count`` (the default), ``names`` or ``text``."""
        return self.store.chat_notify(self.chat_row(name).id)

    def set_notify_show(self, name: str, show: str) -> str:
        """Set what a desktop notification of the chat's new messages shows, and return it;
        kept in the chat's sealed record (its name, and so the setting, is what the chat
        list hides)."""
        from pointerbridge.home.store.record import NOTIFY_SHOWS

        if show not in NOTIFY_SHOWS:
            raise InvalidInputError(f"{show!r}: a notification shows one of {', '.join(NOTIFY_SHOWS)}")
        self.store.set_chat_notify(self.chat_row(name).id, show)
        return show

    def hide_chat(self, name: str) -> int:
        """Hide a chat (docs/AT-REST.md §7): its sealed record is deleted, its pointers are
        kept as unclaimed ones (chat unlinked, received, out of the trash), until the chat
        is joined again with its name and secret. Returns how many pointers were kept.
        Refused (:class:`PostsWaitingError`) while any of its pointers waits to be posted
        to a carrier this home has (one removed since will never take them: they are dropped)."""
        row = self.chat_row(name)
        kept, waiting = self.store.hide_chat(row.id, self.config.carriers.keys())
        if waiting:
            raise PostsWaitingError(_still_waiting(row.name, waiting))
        self._routed.pop(row.id, None)  # its id may be given to the next chat made
        self._doubtful.pop(row.id, None)
        return kept

    def check_hideable(self, name: str) -> ChatRow:
        """The chat's row, if :meth:`hide_chat` would hide it now; else
        :class:`PostsWaitingError` (asked before its invite is shown and y/N asked)."""
        row = self.chat_row(name)
        waiting = self.store.posts_waiting(row.id, self.config.carriers.keys())
        if waiting:
            raise PostsWaitingError(_still_waiting(row.name, waiting))
        return row

    def delete_chat(self, name: str) -> None:
        """Delete a chat and all its pointers."""
        self.store.delete_chat(self.chat_row(name).id)
        self._routed.clear()  # freed ids can be given again: rescan from the start


def _still_waiting(name: str, waiting: int) -> str:
    return (
        f"{waiting} post(s) of chat {name!r} still wait to be posted: poll first (pbridge poll), "
        "then hide it; nothing changed"
    )
