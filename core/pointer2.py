"""The pb2 pointer (SPEC §11): pb1's envelope and layout with a stream and sequence number
after the username, a typed content record as the body (:mod:`.content`), and labels of
its own, so that a reader older than pb2 refuses it as a later version (never as a broken
pb1 pointer) and no pb1 pointer opens as a pb2 one or the other way round.

Sealing is here (:func:`seal_content`); opening is :mod:`.pointer`'s, for both versions,
through :data:`_PB2`. Numbering is the caller's: a sending device keeps one ``stream`` (8
random bytes, :func:`new_stream`) per chat and identity key, and counts ``seq`` from 1.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

from .content import Content, decode_content, encode_content
from .errors import InvalidInputError, MalformedError
from .keys import ChatKey, Identity
from .layout import _Format, _max_chars, _seal_bytes
from .pointer import _next_sent_ms

__all__ = ["MAX_SEQ", "STREAM_BYTES", "new_stream", "seal_content"]

STREAM_BYTES = 8
MAX_SEQ = 2**32 - 1
"""The last sequence number of a stream (4 bytes); a device that reaches it starts a new stream."""
_STREAM = struct.Struct(">8sI")
_NO_STREAM = bytes(STREAM_BYTES)


def _read_stream(inner: bytes, pos: int) -> tuple[bytes, int]:
    """The stream and seq at ``pos`` of a pb2 plaintext (SPEC §11.4 step 5)."""
    if pos + _STREAM.size > len(inner):
        raise MalformedError("the stream and sequence number run past the end")
    stream, seq = _STREAM.unpack_from(inner, pos)
    if stream == _NO_STREAM:
        raise MalformedError("stream 0 is not a stream")
    if not seq:
        raise MalformedError("sequence numbers start at 1")
    return stream, seq


def _read_content(data: bytes) -> tuple[Content, str]:
    content = decode_content(data)
    return content, content.body


_PB2 = _Format(
    version=2,
    ad=b"pb2",
    signature=b"pb2 signature\x00",
    id_label=b"pb2 message id\x00",
    key_expand=b"pb2 message key\x01",
    extra=_STREAM.size,
    read_extra=_read_stream,
    read_body=_read_content,
)


def new_stream() -> bytes:
    """A fresh stream id: 8 random bytes, never all zero."""
    while True:
        stream = os.urandom(STREAM_BYTES)
        if stream != _NO_STREAM:
            return stream


def _seal2(
    chat: ChatKey,
    sender: Identity,
    content: Content,
    stream: bytes,
    seq: int,
    max_chars: int | None,
    random: Callable[[int], bytes],
    sent_ms: int,
) -> list[str]:
    """:func:`seal_content` with its randomness and time given (the vectors' sealer)."""
    if not isinstance(stream, bytes) or len(stream) != STREAM_BYTES or stream == _NO_STREAM:
        raise InvalidInputError("a stream is 8 bytes, not all zero")
    if type(seq) is not int or not 1 <= seq <= MAX_SEQ:
        raise InvalidInputError(f"a sequence number is 1 to {MAX_SEQ}")
    record = encode_content(content)
    return _seal_bytes(chat, sender, record, max_chars, random, sent_ms, _STREAM.pack(stream, seq), 2)


def seal_content(
    chat: ChatKey, sender: Identity, content: Content, *, stream: bytes, seq: int, max_chars: int | None = None
) -> list[str]:
    """Seal ``content`` from ``sender`` into pb2 pointers for ``chat``: one pointer when it
    fits, otherwise the parts of a split message (SPEC §8: balanced chunks, one ``seq`` for
    every part), each at most ``max_chars`` characters (default: 32 KiB of payload).

    ``stream`` (8 bytes, not all zero) and ``seq`` (1 to :data:`MAX_SEQ`) are the sending
    device's: one stream per chat and identity key, one number per message. Raises
    :class:`InvalidInputError` for a content a reader would refuse, a bad stream or seq,
    and :class:`TooLargeError` above 16 MiB or 65535 parts."""
    return _seal2(chat, sender, content, stream, seq, _max_chars(max_chars), os.urandom, _next_sent_ms())
