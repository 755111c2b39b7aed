"""Pointer Bridge core: seal chat messages into short text pointers and open them.

Nothing here touches the network or the disk. The whole public API::

    from pointerbridge.core import ChatKey, Identity, seal, unseal, find_pointers

    chat = ChatKey.derive("family", "our shared secret")      # Argon2id, ~150 ms
    me = Identity.derive("alice", "my master phrase")
    pointers = seal(chat, me, "dinner at eight?")               # ['pb14Xo...']
    message = unseal(chat, pointers[0])                          # Message(body=...)
"""

from .armor import MAX_PAYLOAD_BYTES, Scan, find_pointers, scan_pointers
from .errors import (
    ArmorError,
    BadSignatureError,
    ClmError,
    ClmFormatError,
    ClmTamperedError,
    ClmWrongChatError,
    ClmWrongSecretError,
    InvalidInputError,
    MalformedError,
    NonCanonicalError,
    NotForThisChatError,
    PaddingError,
    PointerBridgeError,
    PointerError,
    TamperedError,
    TooLargeError,
    TruncatedError,
    UnknownVersionError,
)
from .keys import ChatKey, Identity, fingerprint, normalize_chat_name, normalize_username
from .pointer import MAX_MESSAGE_BYTES, Keyring, Message, Part, Reassembler, seal, unseal

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_PAYLOAD_BYTES",
    "ArmorError",
    "BadSignatureError",
    "ChatKey",
    "ClmError",
    "ClmFormatError",
    "ClmTamperedError",
    "ClmWrongChatError",
    "ClmWrongSecretError",
    "Identity",
    "InvalidInputError",
    "Keyring",
    "MalformedError",
    "Message",
    "NonCanonicalError",
    "NotForThisChatError",
    "PaddingError",
    "Part",
    "PointerBridgeError",
    "PointerError",
    "Reassembler",
    "Scan",
    "TamperedError",
    "TooLargeError",
    "TruncatedError",
    "UnknownVersionError",
    "find_pointers",
    "fingerprint",
    "normalize_chat_name",
    "normalize_username",
    "scan_pointers",
    "seal",
    "unseal",
]
