"""Chat invites: the chat's name and how to reach its carriers, never its secret.

An invite is ``pbinvite1.`` followed by base64url (no padding) of a JSON object
``{"v": 1, "chat": NAME, "carriers": {CARRIER: {"type": T, ...shareable settings}}}``.
Only settings a bridge lists in ``shareable_settings`` travel (a folder path, a room id),
never credentials; the secret is told separately, in person or on another channel.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from pointerbridge.bridges.base import bridge_class
from pointerbridge.core.config import Config
from pointerbridge.core.errors import InvalidInputError
from pointerbridge.core.store import ChatRow

__all__ = ["PREFIX", "Invite", "make_invite", "read_invite"]

PREFIX = "pbinvite1."
_MAX_CHARS = 8192


@dataclass(frozen=True, slots=True)
class Invite:
    """What an invite carries."""

    chat: str
    carriers: dict[str, dict[str, Any]]


def make_invite(chat: ChatRow, config: Config) -> str:
    """The invite text for a chat of this home."""
    carriers: dict[str, dict[str, Any]] = {}
    for name in chat.carriers:
        carrier = config.carriers[name]
        shareable = bridge_class(carrier.type).shareable_settings
        settings = {k: v for k, v in carrier.settings.items() if k in shareable}
        carriers[name] = {"type": carrier.type, **settings}
    data = json.dumps({"v": 1, "chat": chat.name, "carriers": carriers}, separators=(",", ":"), sort_keys=True)
    return PREFIX + base64.urlsafe_b64encode(data.encode()).decode("ascii").rstrip("=")


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
    if not isinstance(data, dict) or data.get("v") != 1 or not isinstance(data.get("chat"), str):
        raise InvalidInputError("the invite is damaged or from a newer version")
    carriers = data.get("carriers")
    if not isinstance(carriers, dict) or not all(
        isinstance(k, str) and isinstance(v, dict) and isinstance(v.get("type"), str) for k, v in carriers.items()
    ):
        raise InvalidInputError("the invite's carriers are damaged")
    return Invite(data["chat"], {name: _shareable(settings) for name, settings in carriers.items()})


def _shareable(settings: dict[str, Any]) -> dict[str, Any]:
    # What a bridge does not declare shareable never comes in from an invite, whoever made
    # it: a hostile invite must not set credentials' locations or a carrier's behaviour.
    shareable = bridge_class(settings["type"]).shareable_settings
    return {"type": settings["type"], **{k: v for k, v in settings.items() if k in shareable}}
