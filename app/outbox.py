"""Sending: seal a message into pointers, queue them per carrier, and post the queue at
each carrier's pace."""

from __future__ import annotations

import functools
import hmac
import time
from typing import TYPE_CHECKING

from pointerbridge.bridges.base import Bridge
from pointerbridge.home.store import Direction, SendStream, StreamMovedError

from .carriers import bridge_call
from .errors import NoCarriersError, WrongSecretError
from .join import Joining
from .models import UnlockedChat

_FLUSH_ROUNDS = 10  # outbox reads per post run: what other processes queue meanwhile is posted too
_SEAL_ATTEMPTS = 20  # senders racing for one chat's next number: each loss costs one seal (~0.1 ms)

if TYPE_CHECKING:
    from pointerbridge.core.content import Content
    from pointerbridge.core.keys import Identity

__all__ = ["Outbox"]


class Outbox(Joining):
    """Sealing messages and notices into the outbox, and posting it."""

    def send(self, chat: UnlockedChat, sender: Identity, body: str) -> list[int]:
        """Seal the text ``body`` and queue it: :meth:`send_content` with a ``Text``."""
        from pointerbridge.core.content import Text

        return self.send_content(chat, sender, Text(body))

    def send_content(self, chat: UnlockedChat, sender: Identity, content: Content) -> list[int]:
        """Seal ``content`` (any pb2 content: a text, reply, edit, delete, attachment) as
        the next message of this device's stream in the chat, and queue its pointers for
        every carrier of the chat (after the chat's pending rotation notice, if there is
        one); return their ids. A username holding a trust mark's glyph (an identity made
        before they were refused) does not send: app/names.py."""
        from .names import check_own_username

        check_own_username(sender.username)
        self._check_current(chat)
        if not chat.row.carriers:
            name = chat.row.name
            raise NoCarriersError(f"chat {name!r} has no carriers: pbridge chat carriers {name!r} --carrier C")
        self.post_notice(chat, sender)  # a new key's first message in a chat follows its notice
        return self._queue(chat, sender, content)

    def _queue(self, chat: UnlockedChat, sender: Identity, content: Content, *, notice: bool = False) -> list[int]:
        """Seal ``content`` as pb2 with the chat's next (stream, seq) and queue it; the
        stream's new seq is saved with the pointers, in one transaction."""
        from pointerbridge.core.pointer2 import seal_content

        attempts = 0
        while True:
            stream = self._next_stream(chat, sender)
            pointers = seal_content(
                chat.key, sender, content, stream=stream.stream, seq=stream.seq, max_chars=self._max_chars(chat)
            )
            items = [(p, _payload(p)) for p in pointers]
            try:
                return self.store.add_pointers(
                    items,
                    Direction.OUT,
                    chat_id=chat.row.id,
                    post_to=chat.row.carriers,
                    posts_notice=notice,
                    stream=stream,
                )
            except StreamMovedError:  # another process took that number: seal again with the next
                attempts += 1
                if attempts == _SEAL_ATTEMPTS:
                    raise

    def _next_stream(self, chat: UnlockedChat, sender: Identity) -> SendStream:
        """The (stream, seq) of this device's next message in ``chat``: the saved stream's
        next number while it is this identity's under the chat's current secret; else (a
        first message, a rotated or replaced identity, a rekeyed chat, a full stream) a
        new stream at 1."""
        from pointerbridge.core.pointer2 import MAX_SEQ, new_stream

        secret = self.store.verifiers(chat.row.id)[0].salt
        last = self.store.send_stream(chat.row.id)
        if (
            last is None
            or not hmac.compare_digest(last.owner, sender.public_key)
            or last.secret != secret
            or last.seq >= MAX_SEQ
        ):
            return SendStream(sender.public_key, secret, new_stream(), 1)
        return SendStream(last.owner, last.secret, last.stream, last.seq + 1)

    def post_notice(self, chat: UnlockedChat, identity: Identity) -> bool:
        """Queue the chat's pending rotation notice, sealed by ``identity`` (this home's
        current one) as a pb2 rotation record, for the chat's carriers; return whether
        there was one to queue. It waits while the chat has no carriers or ``chat`` holds
        an earlier secret."""
        from pointerbridge.core.content import Rotation
        from pointerbridge.core.rotation import notice_bytes, parse_notice

        body = self.store.pending_notice(chat.row.id)
        if body is None or not chat.row.carriers or not chat.current:
            return False
        known = self.store.identity()
        if known is None or not hmac.compare_digest(identity.public_key, known.public_key):
            raise WrongSecretError("the notice is posted by this home's current identity: give its master phrase")
        notice = parse_notice(body)
        if notice is None:  # stored by this app from a notice it made: never happens unless the store was edited
            raise WrongSecretError("the pending rotation notice of this chat is damaged")
        self._queue(chat, identity, Rotation(notice_bytes(notice)), notice=True)
        return True

    def _max_chars(self, chat: UnlockedChat) -> int | None:
        bridges = [self.bridge(c) for c in chat.row.carriers]
        return min((b.limits.max_pointer_chars for b in bridges), default=None)

    def _flush(self, bridge: Bridge) -> int:
        """Post the outbox at the carrier's pace, counted from this home's last post to it
        in any run (a ``send`` right after a poll must wait too); what does not fit this
        run's time budget waits for the next run (a cron poll must not run for minutes).
        What another process queues while this one posts is posted too (its ``send`` was
        told that this poll would post it), for a few rounds at most."""
        interval = bridge.limits.min_post_interval
        started = time.monotonic()
        due: float | None = None
        posted = 0
        for _ in range(_FLUSH_ROUNDS):
            outbox = self.store.outbox(bridge.name)
            if not outbox:
                break
            if due is None:
                previous = self.store.last_posted(bridge.name) if interval else None
                # The wall clock only places the last run's post; within a run, the monotonic one.
                wait = min(max(previous + interval - time.time(), 0.0), interval) if previous is not None else 0.0
                due = started + wait
            for pointer_id, text in outbox:
                if interval:
                    if due - started > self.flush_budget:  # the first post's wait counts too
                        return posted
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
