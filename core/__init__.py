"""Pointer Bridge core: seal chat messages into short text pointers and open them.

Nothing here touches the network or the disk. The whole public API::

    from pointerbridge.core import ChatKey, Identity, RecoveryCode, new_chat_salt, seal, unseal

    salt = new_chat_salt()                                       # the chat's, carried by its invite
    chat = ChatKey.derive("family", "our shared secret", salt)   # Argon2id, ~150 ms
    me = Identity.derive("alice", "my master phrase", RecoveryCode.new())
    pointers = seal(chat, me, "dinner at eight?")               # ['pb14Xo...']
    message = unseal(chat, pointers[0])                          # Message(body=...)

pb2 (typed content, numbered per sending device; docs/SPEC.md §11)::

    stream = new_stream()                                        # kept per chat and key
    pointers = seal_content(chat, me, Reply(message.id, "yes!"), stream=stream, seq=1)
    unseal(chat, pointers[0]).content                            # Reply(target=..., text='yes!')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .armor import MAX_PAYLOAD_BYTES, Scan, find_pointers, scan_pointers
    from .content import (
        Attachment,
        Content,
        Delete,
        Edit,
        Locator,
        Reply,
        Rotation,
        Text,
        Unknown,
        decode_content,
        encode_content,
    )
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
        WeakKeyError,
    )
    from .keys import (
        ChatKey,
        Identity,
        RecoveryCode,
        fingerprint,
        new_chat_salt,
        normalize_chat_name,
        normalize_username,
    )
    from .pointer import MAX_MESSAGE_BYTES, Keyring, Message, Part, belongs_to, seal, unseal
    from .pointer2 import new_stream, seal_content
    from .reassembly import Reassembler
    from .store_key import SealedDataError, StoreKey

# Where each public name lives. Loaded on first use, so a command that only moves pointers
# (``pbridge poll``) never pays for the cryptography it does not run.
_HOMES = {
    "MAX_PAYLOAD_BYTES": "armor",
    "Scan": "armor",
    "find_pointers": "armor",
    "scan_pointers": "armor",
    "Attachment": "content",
    "Content": "content",
    "Delete": "content",
    "Edit": "content",
    "Locator": "content",
    "Reply": "content",
    "Rotation": "content",
    "Text": "content",
    "Unknown": "content",
    "decode_content": "content",
    "encode_content": "content",
    "ChatKey": "keys",
    "Identity": "keys",
    "fingerprint": "keys",
    "normalize_chat_name": "keys",
    "normalize_username": "keys",
    "RecoveryCode": "keys",
    "new_chat_salt": "keys",
    "MAX_MESSAGE_BYTES": "pointer",
    "Keyring": "pointer",
    "Message": "pointer",
    "Part": "pointer",
    "Reassembler": "reassembly",
    "SealedDataError": "store_key",
    "StoreKey": "store_key",
    "belongs_to": "pointer",
    "seal": "pointer",
    "unseal": "pointer",
    "new_stream": "pointer2",
    "seal_content": "pointer2",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        module = importlib.import_module(f".{_HOMES[name]}", __name__)
    elif name[0].isupper() and name.endswith("Error"):
        module = importlib.import_module(".errors", __name__)
    elif name in (
        "armor",
        "clm",
        "content",
        "ed25519",
        "errors",
        "keys",
        "layout",
        "padding",
        "pointer",
        "pointer2",
        "reassembly",
        "rotation",
        "safety",
        "store_key",
    ):
        return importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_PAYLOAD_BYTES",
    "ArmorError",
    "Attachment",
    "BadSignatureError",
    "ChatKey",
    "ClmError",
    "ClmFormatError",
    "ClmTamperedError",
    "ClmWrongChatError",
    "ClmWrongSecretError",
    "Content",
    "Delete",
    "Edit",
    "Identity",
    "InvalidInputError",
    "Keyring",
    "Locator",
    "MalformedError",
    "Message",
    "NonCanonicalError",
    "NotForThisChatError",
    "PaddingError",
    "Part",
    "PointerBridgeError",
    "PointerError",
    "Reassembler",
    "RecoveryCode",
    "Reply",
    "Rotation",
    "Scan",
    "SealedDataError",
    "StoreKey",
    "TamperedError",
    "Text",
    "TooLargeError",
    "TruncatedError",
    "Unknown",
    "UnknownVersionError",
    "WeakKeyError",
    "belongs_to",
    "decode_content",
    "encode_content",
    "find_pointers",
    "fingerprint",
    "new_chat_salt",
    "new_stream",
    "normalize_chat_name",
    "normalize_username",
    "scan_pointers",
    "seal",
    "seal_content",
    "unseal",
]
