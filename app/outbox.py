"""Sending: seal a message into pointers, queue them per carrier, and post the queue at
each carrier's pace."""

from __future__ import annotations

import functools
import hmac
import time
from typing import TYPE_CHECKING

from pointerbridge.bridges.base import Bridge
from pointerbridge.home.store import Direction

from .carriers import bridge_call
from .errors import NoCarriersError, WrongSecretError
from .join import Joining
from .models import UnlockedChat

if TYPE_CHECKING:
    from pointerbridge.core.keys import Identity

__all__ = ["Outbox"]


class Outbox(Joining):
    """Sealing messages and notices into the outbox, and posting it."""

    def send(self, chat: UnlockedChat, sender: Identity, body: str) -> list[int]:
        """Seal ``body`` and queue its pointers for every carrier of the chat (after the
        chat's pending rotation notice, if there is one). A username holding a trust mark's
        glyph (an identity made before they were refused) does not send: app/names.py."""
        from pointerbridge.core.pointer import seal

        from .names import check_own_username

        check_own_username(sender.username)
        self._check_current(chat)
        if not chat.row.carriers:
            name = chat.row.name
            raise NoCarriersError(f"chat {name!r} has no carriers: pbridge chat carriers {name!r} --carrier C")
        self.post_notice(chat, sender)  # a new key's first message in a chat follows its notice
        pointers = seal(chat.key, sender, body, max_chars=self._max_chars(chat))
        items = [(p, _payload(p)) for p in pointers]
        return self.store.add_pointers(items, Direction.OUT, chat_id=chat.row.id, post_to=chat.row.carriers)

    def post_notice(self, chat: UnlockedChat, identity: Identity) -> bool:
        """Queue the chat's pending rotation notice, sealed by ``identity`` (this home's
        current one), for the chat's carriers; return whether there was one to queue. It
        waits while the chat has no carriers or ``chat`` holds an earlier secret."""
        from pointerbridge.core.pointer import seal

        body = self.store.pending_notice(chat.row.id)
        if body is None or not chat.row.carriers or not chat.current:
            return False
        known = self.store.identity()
        if known is None or not hmac.compare_digest(identity.public_key, known.public_key):
            raise WrongSecretError("the notice is posted by this home's current identity: give its master phrase")
        pointers = seal(chat.key, identity, body, max_chars=self._max_chars(chat))
        items = [(p, _payload(p)) for p in pointers]
        self.store.add_pointers(items, Direction.OUT, chat_id=chat.row.id, post_to=chat.row.carriers, posts_notice=True)
        return True

    def _max_chars(self, chat: UnlockedChat) -> int | None:
        bridges = [self.bridge(c) for c in chat.row.carriers]
        return min((b.limits.max_pointer_chars for b in bridges), default=None)

    def _flush(self, bridge: Bridge) -> int:
        """Post the outbox at the carrier's pace, counted from this home's last post to it
        in any run (a ``send`` right after a poll must wait too); what does not fit this
        run's time budget waits for the next run (a cron poll must not run for minutes)."""
        outbox = self.store.outbox(bridge.name)
        interval = bridge.limits.min_post_interval
        if not outbox:
            return 0
        started = time.monotonic()
        previous = self.store.last_posted(bridge.name) if interval else None
        # The wall clock only places the last run's post; within a run, the monotonic one.
        due = started + (min(max(previous + interval - time.time(), 0.0), interval) if previous is not None else 0.0)
        posted = 0
        for pointer_id, text in outbox:
            if interval:
                if due - started > self.flush_budget:  # the first post's wait counts too
                    break
                time.sleep(max(0.0, due - time.monotonic()))
            reference = bridge_call(bridge.name, functools.partial(bridge.post, text))
            due = time.monotonic() + interval
            self.store.mark_posted(pointer_id, bridge.name, reference)  # durably, before the next post
            posted += 1
        return posted


def _payload(pointer: str) -> bytes:
    # Imported here: the armor loads GMP (gmpy2, ~40 ms), which an idle poll never needs.
    from pointerbridge.core.armor import dearmor

    return dearmor(pointer)[1]
