"""The app's own failures: each a typed error a front-end reports in one line.

With them, the carriers' two failures (``bridges.base``), so a front-end that needs their
types (``pbridge poll`` exits with their codes) reaches them through the app.
"""

from __future__ import annotations

from pointerbridge.bridges.base import ConfigurationError, RetryableError
from pointerbridge.core.errors import PointerBridgeError

__all__ = [
    "CarrierExistsError",
    "ChatNotFoundError",
    "ChatsSealedError",
    "CodesDifferError",
    "ConfigurationError",
    "DestinationExistsError",
    "DestinationWriteError",
    "ExportExistsError",
    "IdentityExistsError",
    "MessageNotFoundError",
    "NoCarriersError",
    "NoFileCarrierError",
    "NoMemberKeyError",
    "NotAFileError",
    "NotChangeableError",
    "NotInitialisedError",
    "NotYourMessageError",
    "NotifyUnavailableError",
    "PollBusyError",
    "PostsWaitingError",
    "RetryableError",
    "SafetyCodeMismatchError",
    "StaleSecretError",
    "UnconfirmedVerifyError",
    "WrongSecretError",
]


class WrongSecretError(PointerBridgeError):
    """The typed secret or master phrase does not match what this home knows."""

    exit_code = 5


class CarrierExistsError(PointerBridgeError):
    """``carrier add`` with the name of a carrier this home has: replacing it takes
    ``--replace``."""

    exit_code = 49


class IdentityExistsError(PointerBridgeError):
    """``init`` with another identity on a home that has one: that is ``identity rotate``
    (which tells every chat), or ``init --force`` (which tells none). Also ``import`` of
    another identity's export: it goes into a home of its own."""

    exit_code = 34


class ExportExistsError(PointerBridgeError):
    """``export`` to a file that exists: it is replaced only when asked (``--replace``)."""

    exit_code = 35


class NotInitialisedError(PointerBridgeError):
    """This home has no identity yet: run ``pbridge init``."""

    exit_code = 6


class ChatNotFoundError(PointerBridgeError):
    """No chat of that name in this home."""

    exit_code = 7


class NoCarriersError(PointerBridgeError):
    """The chat has no carrier to post to (it was created by receiving)."""

    exit_code = 27


class PollBusyError(PointerBridgeError):
    """Another poll of this home is running."""

    exit_code = 26


class StaleSecretError(PointerBridgeError):
    """The chat was unlocked with one of its earlier secrets: it reads, it does not send
    or rekey (the chat's secret was changed since)."""

    exit_code = 29


class ChatsSealedError(PointerBridgeError):
    """``init --force`` on a home whose chats are sealed under the master phrase of the
    identity it replaces, given neither that phrase (to seal them again under the new one)
    nor leave to hide them."""

    exit_code = 39


class PostsWaitingError(PointerBridgeError):
    """``chat hide`` of a chat whose pointers still wait to be posted (or ``init --force``
    hiding every chat): hidden, they would go out as received pointers (``pbridge poll``
    first)."""

    exit_code = 38


class MessageNotFoundError(PointerBridgeError):
    """``send --reply-to``, ``edit`` or ``delete --for-everyone`` name an id that is no
    message of this chat (as ``read`` shows them)."""

    exit_code = 54


class NotYourMessageError(PointerBridgeError):
    """``edit`` or ``delete --for-everyone`` of a message this identity did not sign:
    refused before anything is sent (every reader would flag it as a forgery)."""

    exit_code = 55


class NotChangeableError(PointerBridgeError):
    """``edit`` or ``delete --for-everyone`` of a message that cannot be changed: deleted
    already, or not a text, reply or attachment (a rotation notice, an edit, a delete)."""

    exit_code = 56


class NoFileCarrierError(PointerBridgeError):
    """No carrier can carry this file: sending, none of the chat's carriers keeps files or
    takes one this large; saving, none of the carriers the file was put on is one of this
    chat's carriers in this home. The message names each carrier and why."""

    exit_code = 57


class DestinationExistsError(PointerBridgeError):
    """``pbridge save`` to a file that exists: it is replaced only when asked (``--force``)."""

    exit_code = 58


class DestinationWriteError(PointerBridgeError):
    """``pbridge save`` could not write its file: the folder is not writable, the disk is
    full, or the filesystem refused (the message names the file and the system's reason)."""

    exit_code = 60


class EmptyMessageError(PointerBridgeError):
    """``send`` or ``edit`` of a text that is empty or only whitespace (an empty stdin, most
    often a pipe whose writer failed): refused, nothing is sealed or sent. A file's caption
    may be empty."""

    exit_code = 63


class NotAFileError(PointerBridgeError):
    """``pbridge save`` of a message that holds no file (a text, or one this version cannot read)."""

    exit_code = 59


class NotifyUnavailableError(PointerBridgeError):
    """A desktop notification could not be raised: no D-Bus session bus, no notification
    service on it, or it failed or did not answer (app/notify.py). It never ends a command:
    the daemon and the console say so once and go on."""

    exit_code = 74


class NoMemberKeyError(PointerBridgeError):
    """``chat verify`` of a name the chat has no key to verify for: never read there,
    frozen by a key conflict, or this user's own."""

    exit_code = 78


class SafetyCodeMismatchError(PointerBridgeError):
    """A key was to be marked verified, but the code confirmed is not the code of the key
    the name holds now (mistyped, or the key moved since the code was shown)."""

    exit_code = 79


class UnconfirmedVerifyError(PointerBridgeError):
    """``chat verify`` with no terminal to ask "does the code match?" on and no code given
    to confirm: nothing is marked verified without a person comparing."""

    exit_code = 80


class CodesDifferError(PointerBridgeError):
    """``chat verify`` at a terminal answered "no, the codes differ": nothing is marked
    verified, and one of the two does not hold the other's real key."""

    exit_code = 81
