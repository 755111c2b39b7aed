"""The gateway's app side: the chats unlocked at start, kept in a
:class:`~pointerbridge.app.session.Session`, worked on one thread of their own.

Everything that touches the app runs on the hub's worker thread (the session's "front-end
thread"): what the user typed is sealed there (:meth:`App.send`) and posted at once on a
poll thread, as the console posts (:meth:`Session.start_poll`, :meth:`Session.run_poll`,
:meth:`Session.finish_poll`); carriers that push are listened to live
(:meth:`Session.start_listening`), the others polled every ``poll_every`` seconds. Each
:class:`~pointerbridge.app.session.NewMessages` reads the chat as its view (the CLI's
``read``: replies quoted, edits and deletes applied, gaps counted) and hands every line not
shown yet, worded by :mod:`pointerbridge.app.display`, to ``deliver`` as an
:class:`Outgoing`, on the worker thread. Nothing is written but what the app itself
stores (the pointers, sealed).

A line shown carries its XMPP id (:mod:`.ids`); one that changes afterwards is a
correction or retraction of it, a reply points at what it answers. The user's replies,
corrections and retractions name messages by XMPP ids: the gateway's own, or their
client's, remembered in memory for the messages they sent this run."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pointerbridge.app.display import gap_lines, plain_line, safe_text, shown_name, view_body
from pointerbridge.app.errors import EmptyMessageError, MessageNotFoundError, NotChangeableError, NotYourMessageError
from pointerbridge.app.session import Event, ListenEvent, ListenFailed, NewMessages, Polled, PollFailed, PollOutcome
from pointerbridge.app.trust import Trust
from pointerbridge.core.errors import InvalidInputError, PointerBridgeError

from .ids import IdMap, xmpp_id

if TYPE_CHECKING:
    from pointerbridge.app.models import UnlockedChat
    from pointerbridge.app.session import Session
    from pointerbridge.app.view import ChatView, MessageView

__all__ = ["HELP", "Hub", "Outgoing", "Typed"]

HELP = (
    "Type a message to send it to the chat. /history [N]: its last N messages again (20 unless said); "
    "//text sends /text; /help: this."
)
_HISTORY = 20
_UNKNOWN = "the gateway does not know the message your client names (it remembers this run's messages only)"
_RETRY_BUSY = 2.0  # seconds before posting again when another process's poll held the home


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A line for the user: from the chat ``chat`` (a chat id), or from the gateway itself
    (None: a note about a carrier or the gateway). A line that is a chat's message carries
    its XMPP ``id`` (:func:`~.ids.xmpp_id`); one that changes a line shown before names
    it in ``replaces`` (an edit, or a reply whose quote changed) or ``retracts`` (a
    delete); a reply names the message it answers in ``reply_to`` (the user's own when
    ``reply_to_user``) with ``quote``, (name, first line), to show before it."""

    chat: int | None
    body: str
    id: str | None = None
    replaces: str | None = None
    retracts: str | None = None
    reply_to: str | None = None
    reply_to_user: bool = False
    quote: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Typed:
    """What the user sent to chat ``chat``: ``kind`` text, edit, delete or reply (the last
    three of the message their client calls ``target``); ``ids``: their client's ids for
    this one (its later corrections name them)."""

    chat: int
    text: str
    kind: str = "text"
    target: str | None = None
    ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Finished:
    outcome: PollOutcome


_STOP = "stop"
_Work = Typed | _Finished | ListenEvent | str


class Hub:
    """The unlocked chats of one gateway run. :meth:`start`, then :meth:`typed` from any
    thread; :meth:`stop` ends it (and closes the session)."""

    def __init__(self, session: Session) -> None:
        """A hub over ``session`` (its identity and chats unlocked)."""
        if session.identity is None:
            raise ValueError("unlock the identity first")
        self.session = session
        self._own_key = session.identity.public_key
        self._deliver: Callable[[Outgoing], None] = lambda _out: None
        self._work: queue.Queue[_Work] = queue.Queue()
        self._shown: dict[int, dict[str, str]] = {}  # chat id -> message id -> the line the user got
        self._gaps: dict[int, set[str]] = {}  # chat id -> the gap lines the user got
        self._ids = IdMap()  # the user's XMPP ids of what they sent, to pb2 message ids
        self._troubles: dict[str, str] = {}  # carrier -> the failure last told (told again only if it changes)
        self._thread: threading.Thread | None = None
        self._post_again: tuple[float, list[str]] | None = None
        session.subscribe(self._on_event)

    @property
    def chats(self) -> dict[int, UnlockedChat]:
        """The unlocked chats, by id."""
        return self.session.unlocked

    def start(self, deliver: Callable[[Outgoing], None]) -> None:
        """Take what is stored now as shown (the user is told of what arrives from now on,
        and /history shows the rest), listen live, and start the hub's thread: it posts
        what waits and polls at once, then every ``poll_every`` seconds. ``deliver`` is
        called on the hub's thread with each line for the user."""
        self._deliver = deliver
        for chat in self.chats.values():
            view, _ = self.session.app.read_view(chat)
            self._remember(chat.row.id, view)
        self.session.start_listening(self._work.put)
        self._thread = threading.Thread(target=self._run, name="gateway-hub", daemon=True)
        self._thread.start()

    def typed(self, typed: Typed) -> None:
        """What the user sent (any thread): sealed and sent, or a command run."""
        self._work.put(typed)

    def stop(self, wait: float = 5.0) -> None:
        """Stop listening and the hub's thread (up to ``wait`` seconds), forget every key."""
        self.session.stop_listening()
        self._work.put(_STOP)
        if self._thread is not None:
            self._thread.join(wait)
        self.session.close()

    # the hub's thread --------------------------------------------------------------------

    def _run(self) -> None:
        every = self.session.poll_every
        next_poll = time.monotonic()
        while True:
            due = [t for t in (next_poll if every else None, self._retry_at()) if t is not None]
            try:
                work = self._work.get(timeout=max(0.0, min(due) - time.monotonic()) if due else None)
            except queue.Empty:
                work = None
            try:
                if work == _STOP:
                    return
                self._do(work)
                if every and time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + every
                    self._poll(None, fetch=True)
                if self._post_again is not None and time.monotonic() >= self._post_again[0]:
                    carriers, self._post_again = self._post_again[1], None
                    self._poll(carriers, fetch=False)
            except PointerBridgeError as exc:  # the home failed under us (a chat deleted meanwhile): said, and on
                self._note(f"failed: {exc}")

    def _retry_at(self) -> float | None:
        return None if self._post_again is None else self._post_again[0]

    def _do(self, work: _Work | None) -> None:
        if isinstance(work, Typed):
            self._typed(work)
        elif isinstance(work, _Finished):
            self._finished(work.outcome)
        elif work is not None and not isinstance(work, str):
            self.session.heard(work)  # a listener's event: routed into the chats, then emitted

    def _typed(self, typed: Typed) -> None:
        chat = self.chats.get(typed.chat)
        if chat is None:
            return
        text = typed.text
        if typed.kind != "text":
            self._change(chat, typed)
            return
        if text.startswith("/") and not text.startswith("//"):
            self._command(chat, text)
            return
        if not text.strip():
            return
        assert self.session.identity is not None
        sent = self.session.app.send(chat, self.session.identity, text.removeprefix("/"))
        self._sent(chat, typed.ids, sent)
        self._poll(chat.row.carriers, fetch=False)

    def _change(self, chat: UnlockedChat, typed: Typed) -> None:
        """An edit, delete or reply of the message the user's client names: sent, or one
        line saying why not (an id this run does not know, a message not the user's)."""
        app, me, told = self.session.app, self.session.identity, chat.row.id
        assert me is not None
        action = {"edit": "correct", "delete": "retract", "reply": "answer"}[typed.kind]
        aimed = None if typed.target is None else self._ids.pb2(told, typed.target)
        try:
            if aimed is None:
                raise MessageNotFoundError(_UNKNOWN)
            if typed.kind != "delete" and not typed.text.strip():
                raise EmptyMessageError("its text is empty (to take a message back, retract it)")
            if typed.kind == "edit":
                app.edit(chat, me, aimed, typed.text)
                self._ids.add(told, typed.ids, aimed)  # a correction of this correction edits the same message
            elif typed.kind == "delete":
                app.delete_for_everyone(chat, me, aimed)
            else:
                self._sent(chat, typed.ids, app.reply(chat, me, aimed, typed.text))
        except MessageNotFoundError:
            why = _UNKNOWN  # the app's own words name 'pbridge read', no help in a Jabber client
        except (NotYourMessageError, NotChangeableError, EmptyMessageError, InvalidInputError) as exc:
            why = safe_text(str(exc))
        else:
            self._poll(chat.row.carriers, fetch=False)
            return
        self._deliver(Outgoing(told, f"(cannot {action} it: {why}; nothing was sent)"))

    def _sent(self, chat: UnlockedChat, ids: tuple[str, ...], pointers: list[int]) -> None:
        """Remember which pb2 message the user's XMPP ``ids`` became (sealed as ``pointers``)."""
        if ids:
            view, _ = self.session.app.read_view(chat)
            sealed = set(pointers)
            line = next((m for m in reversed(view.messages) if sealed & set(m.shown.pointer_ids)), None)
            if line is not None:
                self._ids.add(chat.row.id, ids, line.id)

    def _command(self, chat: UnlockedChat, text: str) -> None:
        word, _, rest = text.partition(" ")
        if word == "/history":
            count = int(rest) if rest.strip().isdigit() else _HISTORY
            view, _ = self.session.app.read_view(chat)
            lines = [plain_line(line.shown, view_body(line)) for line in view.messages[-count:]] if count else []
            self._deliver(Outgoing(chat.row.id, "\n".join(lines) or "(no messages yet)"))
        elif word == "/help":
            self._deliver(Outgoing(chat.row.id, HELP))
        else:
            self._deliver(Outgoing(chat.row.id, f"({safe_text(word)}: no such command. {HELP})"))

    def _poll(self, carriers: list[str] | None, *, fetch: bool) -> None:
        """Post (and with ``fetch``, fetch) on a poll thread of its own, if the session lets
        one start now; its outcome comes back to this thread."""
        if not self.session.start_poll(carriers, fetch):
            return
        run = self.session.run_poll

        def poll() -> None:
            self._work.put(_Finished(run(carriers, fetch)))

        threading.Thread(target=poll, name="gateway-poll", daemon=True).start()

    def _finished(self, outcome: PollOutcome) -> None:
        waiting = self.session.finish_poll(outcome)  # its events reach _on_event first
        failure = outcome.failure
        if failure is not None and failure.busy and not outcome.fetch and outcome.carriers:
            self._post_again = (time.monotonic() + _RETRY_BUSY, outcome.carriers)  # cron's poll: again soon
        if waiting:
            self._poll(waiting, fetch=False)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, NewMessages):
            self._show(event.chat)
        elif isinstance(event, PollFailed) and not event.busy:
            self._trouble("poll", event.message)
        elif isinstance(event, Polled):
            summary = event.summary
            for name in {*summary.posted, *summary.received} & set(self._troubles) - set(summary.errors):
                self._trouble(name, None)
            if event.fetch:
                self._trouble("poll", None)
            for name, error in summary.errors.items():
                self._trouble(name, f"{name}: {error} (what waits is posted again)")
        elif isinstance(event, ListenFailed):
            self._trouble(event.carrier, f"{event.carrier}: {event.message}")

    def _trouble(self, key: str, message: str | None) -> None:
        """Tell the user of a carrier's failure once, and once when it works again."""
        before = self._troubles.pop(key, None)
        if message is not None:
            self._troubles[key] = message
            if message != before:
                self._note(message)
        elif before is not None:
            self._note(f"{key}: works again")

    def _note(self, text: str) -> None:
        self._deliver(Outgoing(None, f"({safe_text(text)})"))

    def _show(self, chat: UnlockedChat) -> None:
        """Hand the user every line of the chat's view not given yet, or changed since (an
        edit or delete arrived: a correction or retraction of the message shown), and every
        new gap; their own messages are not echoed."""
        view, _ = self.session.app.read_view(chat)
        shown = self._shown.setdefault(chat.row.id, {})
        for line in view.messages:
            said = _as_said(line)
            before = shown.get(line.id)
            shown[line.id] = said
            if said == before or line.shown.message.sender_key == self._own_key:
                continue
            self._deliver(self._outgoing(chat.row.id, view, line, shown_before=before is not None))
        told = self._gaps.setdefault(chat.row.id, set())
        for gap in gap_lines(view.gaps):
            if gap not in told:
                told.add(gap)
                self._deliver(Outgoing(chat.row.id, f"({safe_text(gap)})"))

    def _outgoing(self, chat: int, view: ChatView, line: MessageView, *, shown_before: bool) -> Outgoing:
        """The message for ``line``: new, or correcting or retracting the one shown before;
        a reply points at the message it answers (an arrival by the id the gateway gave it,
        the user's own by their client's id while remembered) with the quote before it."""
        body = plain_line(line.shown, view_body(line, quote=False))
        ours = xmpp_id(line.id)
        if line.deleted:
            return Outgoing(chat, body, retracts=ours if shown_before else None, id=None if shown_before else ours)
        reply_to, to_user, quote = None, False, None
        if line.kind == "reply" and line.target is not None and not line.forged:
            aimed = view.find(line.target)
            to_user = aimed is not None and aimed.shown.message.sender_key == self._own_key
            reply_to = self._ids.xmpp(chat, line.target) if to_user else xmpp_id(line.target)
            if reply_to is None:  # the user's own message, sent before this run: the quote in words
                body = plain_line(line.shown, view_body(line))
            elif line.quote is not None:
                quote = (shown_name(line.quote_from or ""), safe_text(line.quote))
        if shown_before:
            return Outgoing(chat, body, replaces=ours, reply_to=reply_to, reply_to_user=to_user, quote=quote)
        return Outgoing(chat, body, id=ours, reply_to=reply_to, reply_to_user=to_user, quote=quote)

    def _remember(self, chat_id: int, view: ChatView) -> None:
        self._shown[chat_id] = {line.id: _as_said(line) for line in view.messages}
        self._gaps[chat_id] = set(gap_lines(view.gaps))


# A key verified (or unverified) in person moves every earlier line of its sender between
# ✓ and ✔: a change of mark, not of the message. Sent again, a verify would resend the
# member's whole history as corrections (found by the review).
_SAME_MARK = {Trust.VERIFIED: Trust.PINNED, Trust.VERIFIED_CHANGED: Trust.CHANGED}


def _as_said(line: MessageView) -> str:
    """What decides whether a line shown before has changed: its words and its mark, with
    the verified marks counted as the marks they stand above."""
    shown = line.shown
    mark = _SAME_MARK.get(shown.trust)
    return plain_line(shown if mark is None else shown._replace(trust=mark), view_body(line))
