"""Desktop notifications that say nothing unless asked (issue 24): what one says, and
raising it on the freedesktop notification service (``org.freedesktop.Notifications``)
on the D-Bus session bus.

What a notification says is decided here for every front-end alike. Its summary is always
:data:`SUMMARY`, never anything a sender wrote. By default its body is a count alone
(:func:`count_notice`): no chat name, sender or text, so a screen someone else glances at
learns only that messages came. The daemon holds no key and can say nothing more. A
front-end that unlocked a chat may say more when the user set it for that chat
(:func:`chat_notice`; the setting is kept in the chat's sealed record, ``pbridge chat
notify``): ``names`` adds the chat's and the senders' names, ``text`` what they wrote,
``off`` raises none. Everything that came from others is made one visible line
(:func:`~.escape.safe_text`), cut short, and escaped as the spec's body markup asks
(``&``, ``<``, ``>``): a server that reads the body as markup shows it as written.

Raising one (:class:`Notifier`) is a call of the spec's ``Notify`` over dbus-fast, on a
connection opened for it and closed after: nothing stays open between notifications,
and a bus or service that came back since is found again. A failure of any kind (no
session bus, no service on it, an error reply, no answer within the timeout) is one
:class:`~.errors.NotifyUnavailableError` with the reason; the caller says it once and
goes on. dbus-fast is called directly, not through desktop-notifier (tried first; it runs
over dbus-fast too): desktop-notifier catches every failure itself and logs it as a
warning with a traceback, so a caller cannot tell a notification raised from one lost;
it keeps its D-Bus connection open with no public way to close it (a socket, and a
reader on the event loop, left behind per notifier); and it asks the service for its
introspection, capabilities and server information before the first ``Notify``. What it
adds is macOS and Windows, which this project does not run on.
"""

from __future__ import annotations

import asyncio
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pointerbridge.home.store.record import NOTIFY_SHOWS

from .errors import NotifyUnavailableError
from .escape import safe_text

if TYPE_CHECKING:
    from .models import Shown

__all__ = [
    "APP_NAME",
    "NEEDS_DBUS_FAST",
    "SUMMARY",
    "Notice",
    "Notifier",
    "chat_notice",
    "count_notice",
    "markup_safe",
    "said_by_others",
]

APP_NAME = "Pointer Bridge"
SUMMARY = "New messages"
SHOWS = NOTIFY_SHOWS  # what a chat's notifications may show, least first
SHOWS_MEANING = {
    "off": "none",
    "count": "'new messages' and how many, no name or text (the default)",
    "names": "the chat's and the senders' names too",
    "text": "what they wrote too",
}
NEEDS_DBUS_FAST = "desktop notifications need dbus-fast: pip install 'pointerbridge[notify]'"
_SERVICE = "org.freedesktop.Notifications"
_PATH = "/org/freedesktop/Notifications"
_LINES = 3  # messages a ``text`` notification quotes (the newest); the rest are counted
_CHARS = 120  # characters of one name or text shown


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification: ``summary`` (plain text, always this module's own words) and
    ``body`` (the spec's body markup: whatever came from others is escaped in it)."""

    summary: str
    body: str


def count_notice(pointers: int) -> Notice:
    """New messages and how many pointers brought them: nothing else (the default, and
    all the daemon can know)."""
    return Notice(SUMMARY, f"{pointers} new pointer{'' if pointers == 1 else 's'} arrived")


def markup_safe(text: str, limit: int = _CHARS) -> str:
    """``text`` (a name or message from others) as one line of notification body: control
    and format characters made visible, a line break too (it cannot start a line of its
    own), cut to ``limit`` characters, then escaped for the body markup."""
    line = safe_text(text)
    if len(line) > limit:
        line = line[: limit - 1] + "…"
    return html.escape(line, quote=False)


def chat_notice(show: str, chat_name: str, said: Sequence[tuple[str, str]], pointers: int) -> Notice | None:
    """The notification for one unlocked chat's new messages, as the chat is set to
    ``show`` (``off``: None; ``count``: :func:`count_notice`). ``said``: the new messages
    of others, oldest first, as (sender's shown name, text); with ``names`` or ``text``
    and none of them (what came was this home's own, or part of a message still
    incomplete), None: there is nothing of others to tell."""
    if show == "off":
        return None
    if show == "count":
        return count_notice(pointers)
    if not said:
        return None
    lines = [f"in {markup_safe(chat_name)}"]
    if show == "names":
        senders = dict.fromkeys(sender for sender, _ in said)
        lines.append("from " + ", ".join(markup_safe(sender) for sender in senders))
    else:
        lines += [f"{markup_safe(sender)}: {markup_safe(text)}" for sender, text in said[-_LINES:]]
        if len(said) > _LINES:
            lines.append(f"and {len(said) - _LINES} more")
    return Notice(SUMMARY, "\n".join(lines))


def said_by_others(messages: Sequence[Shown], after: int, own_key: bytes) -> list[tuple[str, str]]:
    """What :func:`chat_notice` quotes of ``messages`` (a page of the chat, oldest first):
    those completed by a pointer above ``after`` (the newest the front-end had seen), not
    sent by ``own_key``, with text or a file, as (sender's name with its trust mark and any
    name warning, as the plain output shows them; text, a file's as ``[file]`` and its
    caption if it has one)."""
    from pointerbridge.core.content import Attachment

    from .display import PLAIN_MARKS, name_warning, shown_name  # a front-end's, never the daemon's
    from .trust import Trust

    said = []
    for shown in messages:
        message = shown.message
        text = message.body
        if isinstance(message.content, Attachment):  # a file with no caption is news too
            text = f"[file] {text}" if text else "[file]"
        if max(shown.pointer_ids) <= after or message.sender_key == own_key or not text:
            continue
        warning = name_warning(shown)
        sender = shown_name(message.username) + PLAIN_MARKS.get(Trust(shown.trust), "")
        said.append((f"{sender} !! {warning} !!" if warning else sender, text))
    return said


def session_bus_address() -> str:
    """The D-Bus session bus's address: ``DBUS_SESSION_BUS_ADDRESS``, or the socket a
    systemd user session keeps in ``XDG_RUNTIME_DIR`` (where libdbus looks too)."""
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
    if address:
        return address
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and (Path(runtime) / "bus").is_socket():
        return f"unix:path={Path(runtime) / 'bus'}"
    raise NotifyUnavailableError(
        "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set): desktop notifications need the desktop "
        "session's bus"
    )


class Notifier:
    """Raises :class:`Notice` s on the session bus's notification service (``address``:
    another bus; None: the session's), each within ``timeout`` seconds."""

    def __init__(self, address: str | None = None, *, timeout: float = 5.0) -> None:
        """A notifier of the bus at ``address`` (None: :func:`session_bus_address`, read
        at each notification)."""
        self.address = address
        self.timeout = timeout

    def send(self, notice: Notice) -> int:
        """Raise ``notice`` from a thread with no running event loop (the daemon's); the
        service's id for it. :class:`NotifyUnavailableError` when it cannot be raised."""
        return asyncio.run(self.send_async(notice))

    async def send_async(self, notice: Notice) -> int:
        """:meth:`send` on the running event loop (the console's)."""
        try:
            return await asyncio.wait_for(self._notify(notice), self.timeout)
        except TimeoutError:
            raise NotifyUnavailableError(
                f"the desktop notification service did not answer within {self.timeout:g} s"
            ) from None

    async def _notify(self, notice: Notice) -> int:
        try:
            from dbus_fast import Message, MessageType, Variant
            from dbus_fast.aio import MessageBus
            from dbus_fast.errors import DBusFastError
        except ImportError:
            raise NotifyUnavailableError(NEEDS_DBUS_FAST) from None

        address = self.address or session_bus_address()
        try:
            bus = await MessageBus(bus_address=address).connect()
        except (OSError, EOFError, DBusFastError) as exc:
            raise NotifyUnavailableError(f"cannot reach the D-Bus session bus: {exc}") from None
        try:
            reply = await bus.call(
                Message(
                    destination=_SERVICE,
                    path=_PATH,
                    interface=_SERVICE,
                    member="Notify",
                    signature="susssasa{sv}i",
                    # no icon, no actions, the service's own expiry; the spec's category for chat
                    body=[
                        APP_NAME,
                        0,
                        "",
                        notice.summary,
                        notice.body,
                        [],
                        {"category": Variant("s", "im.received"), "urgency": Variant("y", 1)},
                        -1,
                    ],
                )
            )
        except (OSError, EOFError, DBusFastError) as exc:
            raise NotifyUnavailableError(f"the D-Bus session bus failed: {exc}") from None
        finally:
            bus.disconnect()
        if reply is None or reply.message_type != MessageType.METHOD_RETURN:
            why = reply.body[0] if reply is not None and reply.body else "no reply"
            name = reply.error_name if reply is not None else None
            raise NotifyUnavailableError(f"no desktop notification service answered: {name or 'error'}: {why}")
        return int(reply.body[0])
