"""Joining a chat: from an invite (its carriers and salt), or, for an open chat, by
receiving pointers its secret opens (CLM's way)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pointerbridge.bridges.base import ConfigurationError, bridge_class, printable
from pointerbridge.core.errors import InvalidInputError, NotForThisChatError
from pointerbridge.home.config import CARRIER_NAME_RULE, CarrierConfig, Config, valid_carrier_name
from pointerbridge.home.store import ChatRow

from .base import _storable
from .chats import Chats
from .models import UnlockedChat

if TYPE_CHECKING:
    from pointerbridge.core.keys import ChatKey

__all__ = ["Joining", "SecretReplacement"]


@dataclass(frozen=True, slots=True)
class SecretReplacement:
    """A checked replacement of a chat's current secret (:meth:`Joining.plan_secret_replacement`):
    the chat, the new key, how many waiting pointers it opens, and whether it is an
    earlier secret of the chat going back to being its current one."""

    row: ChatRow
    key: ChatKey
    opens: int
    earlier: bool


class _Printable(dict[str, Any]):
    """Invite values for a one-line command hint: printable characters only, each quoted
    for the shell (an invite is someone else's text), a gap shown as ?."""

    def __getitem__(self, key: str) -> str:
        import shlex

        return shlex.quote(printable(self.get(key, "?"), 200))


class Joining(Chats):
    """Joining chats made elsewhere."""

    def join_invite(self, invite_text: str, secret: str, paths: dict[str, str]) -> UnlockedChat:
        """Join a chat from an invite: use this home's carrier where it has one of that name
        or reaching the same place (the same Matrix room), else add the invite's carrier
        (``paths`` overrides folder paths) to config.toml; then create the chat. config.toml
        is written only once the chat exists: a failed join changes nothing."""
        from pointerbridge.app.invite import read_invite
        from pointerbridge.core.keys import normalize_chat_name

        invite = read_invite(invite_text)
        normalized = normalize_chat_name(invite.chat)
        existing = self.store.chat(normalized)
        if existing is not None:
            mistyped = "" if self.store.opened_any(existing.id) else "; if you mistyped its secret: --replace-secret"
            raise InvalidInputError(
                f"a chat named {invite.chat!r} exists already here (if its secret changed: "
                f"pbridge chat rekey CHAT --invite INVITE{mistyped})"
            )
        carriers = dict(self.config.carriers)
        names = [self._carrier_for(name, settings, paths, carriers) for name, settings in invite.carriers.items()]
        config = Config.model_validate({"carriers": {k: v.model_dump() for k, v in carriers.items()}})
        before, self.config = self.config, config
        try:
            # The secret was chosen by whoever made the chat: joining checks nothing.
            chat = self.create_chat(
                invite.chat, secret, names, open_chat=invite.salt is None, salt=invite.salt, allow_weak=True
            )
        except BaseException:
            self.config = before
            raise
        try:
            if config != before:
                self.home.save_config(config)
        except BaseException:  # a chat whose carriers were not saved is undone, not left half-joined
            self.store.delete_chat(chat.row.id)
            self.config = before
            raise
        return chat

    def plan_secret_replacement(self, chat: str, secret: str) -> SecretReplacement:
        """Check that ``secret`` may become the current secret of a chat joined with a
        mistyped one (:meth:`replace_secret` makes it so, once the user confirmed).
        ``chat``: the chat's name, or the invite it was joined with.

        Nothing is ever dropped: the secret it has stays as an earlier secret (what it
        opened stays readable with it, and giving it here again makes it current again).
        A secret new to the chat is taken only while the chat has opened nothing that
        arrived, and only if it opens some of the pointers waiting unopened here (it is
        then provably a secret of this chat's name and salt, though not necessarily the
        one its members use: anyone who has the invite can post under a secret of their
        own, so see the check of what arrived since the join, below)."""
        from pointerbridge.app.invite import PREFIX, read_invite
        from pointerbridge.core.keys import ChatKey
        from pointerbridge.core.pointer import belongs_to, tag_matches

        if chat.startswith(PREFIX):
            invite = read_invite(chat)
            row = self.chat_row(invite.chat)
            if invite.salt != row.salt:
                raise InvalidInputError(
                    f"that invite is not the one chat {row.name!r} was joined with (after a rekey: "
                    f"pbridge chat rekey {row.name} --invite INVITE)"
                )
        else:
            row = self.chat_row(chat)
        key = ChatKey.derive(row.name, secret, row.salt) if row.salt else ChatKey.derive_open(row.name, secret)
        index = self._verifier_index(row, key)
        if index == 0:
            raise InvalidInputError(f"that is the current secret of chat {row.name!r} already: nothing to replace")
        opens = sum(belongs_to(key, r.payload, version=r.version) for r in self.store.unrouted() if r.payload)
        if index is not None:  # an earlier secret of the chat (set aside by a replacement): back to it
            return SecretReplacement(row, key, opens, earlier=True)
        if self.store.opened_any(row.id):
            raise InvalidInputError(
                f"chat {row.name!r} has opened messages with its secret (or an earlier one of it): that secret "
                "works, nothing replaced (a new secret for everyone: pbridge chat rekey)"
            )
        if not opens:
            raise NotForThisChatError(
                "that secret opens none of the pointers waiting here either: nothing replaced "
                "(if nothing has arrived yet, poll first)"
            )
        # The secret it has cannot be tested without typing it, but what arrived since it
        # was set can be: a pointer on the chat's carriers that the new key's routing tag
        # does not explain may be under the secret it has, which would then be the right
        # one (a member of the chat posted it) and the new one an outsider's, who has the
        # invite and posts under a secret of their own to take the chat over. So any such
        # pointer refuses the replacement; it may also be another chat's (reading that
        # chat sorts it away), or junk: refusing then costs a retry, never a message.
        since = self.store.secret_set_at(row.id)
        unexplained = sum(not tag_matches(key, p) for p in self.store.unrouted_from(row.carriers, since))
        if unexplained:
            raise InvalidInputError(
                f"{unexplained} pointer(s) that arrived on the carriers of chat {row.name!r} since its secret was "
                "set are not under that secret: they may be under the secret it has, which would then be right; "
                "nothing replaced (if they are another chat's, reading that chat sorts them: then try again)"
            )
        return SecretReplacement(row, key, opens, earlier=False)

    def replace_secret(self, plan: SecretReplacement) -> UnlockedChat:
        """Make ``plan``'s secret the chat's current one (:meth:`plan_secret_replacement`);
        the secret it had stays as an earlier one. Return the chat unlocked with it."""
        from .chats import _verifier

        row, key = plan.row, plan.key
        index = self._verifier_index(row, key)
        if index == 0:
            raise InvalidInputError(f"that is the current secret of chat {row.name!r} already: nothing to replace")
        if index is None:
            self.store.add_verifier(row.id, _verifier(key))
        else:
            self.store.make_current(row.id, index, _verifier(key))
        self._routed.pop(row.id, None)
        return UnlockedChat(self.chat_row(row.name), key)

    def unopened_waiting(self, chat: UnlockedChat) -> int:
        """How many pointers that arrived on the chat's carriers no chat has opened, while
        this chat has opened none (0 once it has): after a read, the sign of a secret
        mistyped when joining (or of another chat's pointers, not read yet)."""
        if self.store.opened_any(chat.row.id):
            return 0
        return len(self.store.unrouted_from(chat.row.carriers))

    def _carrier_for(
        self, name: str, shared: dict[str, Any], paths: dict[str, str], carriers: dict[str, CarrierConfig]
    ) -> str:
        """This home's name for an invite's carrier, adding it to ``carriers`` if new."""
        from pydantic import ValidationError

        if name in carriers:
            return name  # this home's own settings for a carrier it already has win
        if not valid_carrier_name(name):  # before any hint tells the user to use this name
            raise InvalidInputError(f"the invite's carrier name {printable(name, 40)!r}: {CARRIER_NAME_RULE}")
        kind = bridge_class(shared["type"])
        for local, config in carriers.items():
            if config.type == shared["type"] and kind.same_place(config.settings, shared):
                return local
        merged = {**shared, **({"path": paths[name]} if name in paths else {})}
        try:
            carriers[name] = CarrierConfig.model_validate(merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInputError(f"the invite's carrier {name!r}: {where}: {first['msg']}") from None
        try:
            self._bridge_factory(name, carriers[name])  # the bridge checks its settings
        except ConfigurationError as exc:
            if not kind.setup_hint:
                raise
            hint = kind.setup_hint.format_map(_Printable({**shared, "name": name}))
            raise ConfigurationError(name, f"this home cannot reach it yet: {hint}") from exc
        return name

    def invite(self, row: ChatRow) -> str:
        """The chat's invite: its name, salt and carriers' shared settings, never the secret."""
        from pointerbridge.app.invite import make_invite

        return make_invite(row, self.config)

    def open_or_join(self, name: str, secret: str, text: str) -> tuple[UnlockedChat, bool]:
        """Open the chat called ``name`` if this home has one, else join it from the pointers
        in ``text`` (:meth:`join_by_receiving`); the flag says whether it was joined."""
        if self.has_chat(name):
            return self.unlock_chat(name, secret), False
        return self.join_by_receiving(name, secret, text), True

    def join_by_receiving(self, name: str, secret: str, text: str) -> UnlockedChat:
        """Create an open chat from received pointers, as CLM does: only if the secret opens
        one. (A chat with a random salt is joined from its invite, which carries the salt.)
        Text holding no usable pointer says so (:meth:`Received.problem`), not that the
        secret opens none."""
        from pointerbridge.core.keys import ChatKey

        from .received import sort_pasted

        key = ChatKey.derive_open(name, secret)
        problem = sort_pasted(text, {name: (key,)})[0].problem()
        if problem is not None:
            raise problem
        return self._add_chat(key, [])

    def matching_pointers(self, text: str, key: ChatKey) -> list[str]:
        """The pointers in ``text`` sealed under ``key``: routing tag and AEAD (a tag
        alone collides, by chance or made to)."""
        from pointerbridge.core.armor import find_pointers  # GMP: not on an idle poll's path
        from pointerbridge.core.pointer import belongs_to

        out = []
        for pointer, payload in _storable(find_pointers(text)):
            if not payload:
                continue  # a later version: this release cannot tell
            if belongs_to(key, payload):
                out.append(pointer)
        return out
