"""Chat invites: the chat's name and how to reach its carriers, never its secret.

An invite is ``pbinvite1.`` followed by base64url (no padding) of a JSON object
``{"v": 2, "chat": NAME, "salt": SALT, "carriers": {CARRIER: {"type": T, ...shareable settings}}}``.
``SALT`` is the base64url (no padding) of the random salt of the chat's current key
(16 to 32 bytes); an open chat's invite is version 1, without it. Only settings a bridge
lists in ``shareable_settings`` travel (a folder path, a room id), never credentials; the
secret is told separately, in person or on another channel. The salt is not secret, but
it is what makes a guess of the secret cost an Argon2id for this chat alone: it travels
here and never in a pointer (where it would link every pointer of the chat)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from pointerbridge.bridges.base import bridge_class, printable
from pointerbridge.core.errors import InvalidInputError
from pointerbridge.home.config import Config
from pointerbridge.home.store import ChatRow

__all__ = ["PREFIX", "Invite", "make_invite", "read_invite", "rekey_salt"]

PREFIX = "pbinvite1."
_MAX_CHARS = 8192


@dataclass(frozen=True, slots=True)
class Invite:
    """What an invite carries."""

    chat: str
    carriers: dict[str, dict[str, Any]]
    salt: bytes | None  # the chat key's random salt; None: an open chat (a version 1 invite)


def make_invite(chat: ChatRow, config: Config) -> str:
    """The invite text for a chat of this home (with the carriers this home still has)."""
    carriers: dict[str, dict[str, Any]] = {}
    for name in chat.carriers:
        carrier = config.carriers.get(name)
        if carrier is None:  # removed from this home's config since: nothing of it to share
            continue
        shareable = bridge_class(carrier.type).shareable_settings
        settings = {k: v for k, v in carrier.settings.items() if k in shareable}
        carriers[name] = {"type": carrier.type, **settings}
    fields: dict[str, Any] = {"v": 1, "chat": chat.name, "carriers": carriers}
    if chat.salt is not None:
        fields.update(v=2, salt=_b64(chat.salt))
    data = json.dumps(fields, separators=(",", ":"), sort_keys=True)
    return PREFIX + _b64(data.encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def read_invite(text: str) -> Invite:
    """Parse an invite (whitespace anywhere is ignored); raise InvalidInputError if it is not one."""
    compact = "".join(text.split())
    if not compact.startswith(PREFIX) or len(compact) > _MAX_CHARS:
        raise InvalidInputError(f"an invite starts with {PREFIX!r} and is at most {_MAX_CHARS} characters")
    body = compact[len(PREFIX) :]
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidInputError("the invite is damaged (it does not decode)") from None
    version = data.get("v") if isinstance(data, dict) else None
    if type(version) is not int or version not in (1, 2) or not isinstance(data.get("chat"), str):
        raise InvalidInputError("the invite is damaged or from a newer version")
    salt = _salt(data) if version == 2 else None
    carriers = data.get("carriers")
    if not isinstance(carriers, dict) or not all(
        isinstance(k, str) and isinstance(v, dict) and isinstance(v.get("type"), str) for k, v in carriers.items()
    ):
        raise InvalidInputError("the invite's carriers are damaged")
    return Invite(data["chat"], {name: _shareable(settings) for name, settings in carriers.items()}, salt)


def rekey_salt(chat_name: str, text: str) -> bytes:
    """The salt of a chat's new key, from the invite the member who changed its secret
    first shared: it must be that chat's, and a salted one."""
    from pointerbridge.core.keys import normalize_chat_name

    invite = read_invite(text)
    if normalize_chat_name(invite.chat) != normalize_chat_name(chat_name):
        raise InvalidInputError(f"that invite is for chat {printable(invite.chat, 80)!r}, not {chat_name!r}")
    if invite.salt is None:
        raise InvalidInputError("that invite is an open chat's (no salt): ask for the invite the new secret came with")
    return invite.salt


def _salt(data: dict[str, Any]) -> bytes:
    text = data.get("salt")
    if not isinstance(text, str) or not 22 <= len(text) <= 43:
        raise InvalidInputError("the invite's salt is damaged")
    try:
        salt = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInputError("the invite's salt is damaged") from None
    if not 16 <= len(salt) <= 32 or _b64(salt) != text:
        raise InvalidInputError("the invite's salt is damaged")
    return salt


def _shareable(settings: dict[str, Any]) -> dict[str, Any]:
    # What a bridge does not declare shareable never comes in from an invite, whoever made
    # it: a hostile invite must not set credentials' locations or a carrier's behaviour.
    shareable = bridge_class(settings["type"]).shareable_settings
    return {"type": settings["type"], **{k: v for k, v in settings.items() if k in shareable}}
