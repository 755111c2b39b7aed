"""Issue 21's acceptance over a network carrier, one scenario for e-mail, Telegram and
Matrix through the CLI: a 5 MB file sent, read and saved byte-identical; a reply, an edit
and a delete shown right on every side; and a forged edit and a forged delete-for-everyone
of alice's message, sealed by mallory (a member: she holds the invite and the secret) and
put on the carrier by a member's bot, flagged FORGED with their target unchanged.

Each carrier's test says how to run ``pbridge`` as a member, how the homes exchange what
they queued, and how a bot other than alice's and bob's posts a pointer."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import raw_identity
from pointerbridge.app.invite import read_invite
from pointerbridge.bridges.base import bridge_class
from pointerbridge.core.content import Delete, Edit
from pointerbridge.core.keys import ChatKey
from pointerbridge.core.pointer2 import new_stream, seal_content

__all__ = ["Members", "a_file_a_reply_an_edit_a_delete_and_forgeries", "post_as_bot"]

SIZE = 5 * 1024 * 1024


@dataclass(frozen=True)
class Members:
    """Alice, bob (and any other readers) of ``chat`` on one network carrier."""

    pbridge: Callable[..., str]  # (user, *args, stdin=...) -> stdout; the command must succeed
    exchange: Callable[[], None]  # every home posts what it queued and polls: all of it has arrived
    post: Callable[[str], None]  # a pointer posted on the carrier by a third member's bot
    chat: str
    invite: str
    secret: str
    readers: tuple[str, ...] = ("alice", "bob")
    queue: tuple[str, ...] = ()  # ("--queue",): sends only queue, ``exchange`` posts

    def read(self, user: str) -> dict[str, dict[str, Any]]:
        """``user``'s ``read --json`` of the chat, by message id."""
        shown = json.loads(self.pbridge(user, "read", self.chat, "--json"))["messages"]
        return {m["id"]: m for m in shown}


def post_as_bot(carrier_type: str, name: str, settings: dict[str, Any]) -> Callable[[str], None]:
    """A pointer posted by the carrier's own bridge with ``settings`` (a member's bot)."""

    def post(pointer: str) -> None:
        bridge = bridge_class(carrier_type).from_config(name, settings)
        try:
            bridge.post(pointer)
        finally:
            bridge.close()

    return post


def a_file_a_reply_an_edit_a_delete_and_forgeries(members: Members, folder: Path) -> None:
    """The whole acceptance: what the files-carrier tests show, over ``members``' carrier."""
    pbridge, chat, queue = members.pbridge, members.chat, members.queue
    original = folder / "beach.jpg"
    original.write_bytes(os.urandom(SIZE))
    pbridge("alice", "send", chat, "--file", str(original), "--caption", "the beach", *queue)
    pbridge("alice", "send", chat, "-", "--lines", *queue, stdin="a typo\ntake this back\nmeet at noon")
    members.exchange()
    seen = {m["body"]: m for m in members.read("bob").values()}
    photo, typo, back, noon = (seen[b] for b in ("the beach", "a typo", "take this back", "meet at noon"))
    assert photo["kind"] == "attachment" and photo["file"]["size"] == SIZE and photo["file"]["name"] == "beach.jpg"
    saves = folder / "saves"
    saves.mkdir()
    pbridge("bob", "save", chat, photo["id"][:12], str(saves))
    assert (saves / "beach.jpg").read_bytes() == original.read_bytes()

    pbridge("bob", "send", chat, "--reply-to", typo["id"][:12], *queue, stdin="what typo?")
    pbridge("alice", "edit", chat, typo["id"][:12], *queue, stdin="no typo")
    pbridge("alice", "delete", chat, back["id"][:12], "--for-everyone", *queue)
    members.exchange()
    for user in members.readers:  # every side shows the same chat
        by_id = members.read(user)
        assert (by_id[typo["id"]]["body"], by_id[typo["id"]]["edited"]) == ("no typo", True)
        assert by_id[back["id"]]["deleted"] and by_id[back["id"]]["body"] == ""
        (reply,) = [m for m in by_id.values() if m["kind"] == "reply"]
        assert reply["reply_to"] == typo["id"] and reply["body"] == "what typo?"
        assert not [m for m in by_id.values() if m["kind"] in ("edit", "delete")]  # folded into their targets

    _forgeries(members, noon["id"])


def _forgeries(members: Members, target: str) -> None:
    """Mallory's edit and delete of alice's ``target``, over the carrier: flagged, the target unchanged."""
    invite = read_invite(members.invite)
    key = (
        ChatKey.derive(invite.chat, members.secret, invite.salt)
        if invite.salt is not None
        else ChatKey.derive_open(invite.chat, members.secret)
    )
    mallory, stream = raw_identity("mallory"), new_stream()
    (edit,) = seal_content(key, mallory, Edit(target, "meet at midnight"), stream=stream, seq=1)
    (delete,) = seal_content(key, mallory, Delete(target), stream=stream, seq=2)
    members.post(edit)
    members.post(delete)
    members.exchange()
    for user in members.readers:
        by_id = members.read(user)
        noon = by_id[target]
        assert (noon["body"], noon["edited"], noon["deleted"]) == ("meet at noon", False, False)
        forged = sorted((m["kind"], m["target"], m["body"]) for m in by_id.values() if m["forged"])
        assert forged == [("delete", target, ""), ("edit", target, "meet at midnight")], forged
        assert all(m["username"] == "mallory" for m in by_id.values() if m["forged"])
        plain = members.pbridge(user, "read", members.chat)
        assert plain.count("FORGED") == 2 and f"FORGED: an edit of alice's message #{target[:8]}" in plain
