"""What a pb2 message says: its typed content record (SPEC §11.3).

A pb2 body is ``kind (1) || fields``: a text, a reply to a message, an edit or a delete of
the sender's own earlier message, a file's reference (its blob's key, hash, size, name,
type and where carriers keep it), or an identity rotation notice. A kind this version does
not know is kept as :class:`Unknown`: a message it cannot show, never an error.

Every bound is checked both ways: :func:`encode_content` refuses what a reader would
refuse (:class:`InvalidInputError`), :func:`decode_content` refuses a record that is not
exactly one content (:class:`MalformedError`). Each content has one encoding, so
``encode_content(decode_content(data)) == data``. Own code, not a serialization library:
the layout is the format's, byte for byte, and fits in a few length-prefixed fields.
"""

from __future__ import annotations

import re
import struct
import unicodedata
from dataclasses import dataclass
from typing import ClassVar

from .errors import InvalidInputError, MalformedError
from .rotation import NOTICE_FIXED_BYTES, notice_text

__all__ = [
    "ATTACHMENT",
    "DELETE",
    "EDIT",
    "KNOWN_KINDS",
    "REPLY",
    "ROTATION",
    "TEXT",
    "Attachment",
    "Content",
    "Delete",
    "Edit",
    "Locator",
    "Reply",
    "Rotation",
    "Text",
    "Unknown",
    "decode_content",
    "encode_content",
]

TEXT, REPLY, EDIT, DELETE, ATTACHMENT, ROTATION = 1, 2, 3, 4, 5, 6
KNOWN_KINDS = frozenset((TEXT, REPLY, EDIT, DELETE, ATTACHMENT, ROTATION))
_ID_BYTES = 16  # a message id: hex of 16 bytes (SPEC §7 step 9)
_KEY_BYTES = 32
_HASH_BYTES = 32
_MAX_SIZE = 2**64 - 1
_TARGET = re.compile(r"[0-9a-f]{32}")
_FIXED = struct.Struct(">32s32sQ")  # file_key, hash, size
_HIDING = frozenset({"Cf", "Zl", "Zp", "Co", "Cn"})  # format, line/paragraph separators, private, unassigned


@dataclass(frozen=True, slots=True)
class Text:
    """A plain text message (kind 0x01); every pb1 message is one."""

    kind: ClassVar[int] = TEXT
    text: str

    @property
    def body(self) -> str:
        """The text to show."""
        return self.text


@dataclass(frozen=True, slots=True)
class _Aimed:
    """A text aimed at an earlier message ``target`` (a message id, 32 hex digits)."""

    target: str
    text: str

    @property
    def body(self) -> str:
        """The text to show (this message's own)."""
        return self.text


@dataclass(frozen=True, slots=True)
class Reply(_Aimed):
    """A text answering the message ``target`` (kind 0x02)."""

    kind: ClassVar[int] = REPLY


@dataclass(frozen=True, slots=True)
class Edit(_Aimed):
    """A new text for the sender's own earlier message ``target`` (kind 0x03): a text, a
    reply, or an attachment's caption. Only the target's sender may edit it: a reader
    compares the two sender keys (an edit by anyone else is a forgery to show as such)."""

    kind: ClassVar[int] = EDIT


@dataclass(frozen=True, slots=True)
class Delete:
    """The sender takes back their own earlier message ``target`` (kind 0x04); a delete of
    anyone else's message is a forgery to show as such."""

    kind: ClassVar[int] = DELETE
    target: str

    @property
    def body(self) -> str:
        """Nothing to show: ``""``."""
        return ""


@dataclass(frozen=True, slots=True)
class Locator:
    """Where one carrier keeps a blob: the carrier's kind (``files``, ``matrix``, ...,
    printable ASCII without spaces) and its value there (a file name, an mxc URI, ...)."""

    carrier: str
    value: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file (kind 0x05): its blob's key and SHA-256 (of the encrypted blob, docs/SPEC-blobs.md),
    its plaintext ``size`` in bytes, a base ``name`` (no folder), a ``media_type``, where
    carriers keep the blob (``locators``, at least one) and a ``caption`` (may be empty)."""

    kind: ClassVar[int] = ATTACHMENT
    file_key: bytes
    hash: bytes
    size: int
    name: str
    media_type: str
    locators: tuple[Locator, ...]
    caption: str = ""

    @property
    def body(self) -> str:
        """The text to show: the caption."""
        return self.caption


@dataclass(frozen=True, slots=True)
class Rotation:
    """An identity rotation notice (kind 0x06): its bytes as ``rotation.notice_bytes`` makes
    them (username, old and new key, time, the old key's signature). The record is checked
    for shape only; ``rotation.parse_notice(content.body)`` checks the notice itself."""

    kind: ClassVar[int] = ROTATION
    notice: bytes

    @property
    def body(self) -> str:
        """The body a pb1 message carrying this notice has (two lines: a sentence, then
        the ``pb-rotate-1`` line), so one reader serves both versions."""
        return notice_text(self.notice)


@dataclass(frozen=True, slots=True)
class Unknown:
    """A kind this version does not know (any but 0x00 and 0x01-0x06): a valid message it
    cannot show. Kept as it came (``data``: the record after the kind byte), never dropped."""

    kind: int
    data: bytes

    @property
    def body(self) -> str:
        """Nothing this version can show: ``""``."""
        return ""


Content = Text | Reply | Edit | Delete | Attachment | Rotation | Unknown
"""One message's content, as :func:`decode_content` gives it."""


def _utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError(f"the {what} is not valid UTF-8") from None


def _name_problem(name: str) -> str | None:
    """Why ``name`` is no base name (None: it is one): empty, over 255 bytes, a folder
    separator, NUL or another control character, ``.`` or ``..``; or a character that
    hides what the name shows (a bidi override or zero-width character: Unicode
    categories Cf, Zl, Zp, Co, Cn)."""
    size = len(name.encode("utf-8", "surrogatepass"))
    if not 1 <= size <= 255:
        return f"a file name is 1 to 255 bytes, not {size}"
    if name in (".", ".."):
        return f"{name!r} is not a file name"
    bad = next((c for c in name if c in "/\\" or ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0), None)
    if bad is not None:
        return f"a file name holds no folder separator or control character, not {bad!r}"
    hiding = next((c for c in name if unicodedata.category(c) in _HIDING), None)
    if hiding is not None:
        return f"a file name holds no invisible or direction-changing character, not U+{ord(hiding):04X}"
    return None


def _ascii_problem(text: str, what: str, low: int) -> str | None:
    """Why ``text`` is not 1 to 255 characters of ASCII from ``low`` to ``~`` (None: it is)."""
    if not 1 <= len(text) <= 255 or not all(low <= ord(c) <= 0x7E for c in text):
        return f"a {what} is 1 to 255 printable ASCII characters"
    return None


def _target_bytes(target: object) -> bytes:
    if not isinstance(target, str) or not _TARGET.fullmatch(target):
        raise InvalidInputError("a target is a message id: 32 lowercase hex digits")
    return bytes.fromhex(target)


def _text_bytes(text: object) -> bytes:
    if not isinstance(text, str):
        raise InvalidInputError("a message's text is a str")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError("a message's text is not encodable as UTF-8 (a lone surrogate)") from None


def _check(problem: str | None) -> None:
    if problem is not None:
        raise InvalidInputError(problem)


def _locator_bytes(locator: Locator) -> bytes:
    if not isinstance(locator, Locator) or not isinstance(locator.carrier, str) or not isinstance(locator.value, str):
        raise InvalidInputError("a locator is a Locator(carrier, value) of two str")
    _check(_ascii_problem(locator.carrier, "carrier kind", 0x21))
    value = _text_bytes(locator.value)
    if not 1 <= len(value) <= 0xFFFF:
        raise InvalidInputError(f"a locator's value is 1 to 65535 bytes, not {len(value)}")
    return b"".join(
        (bytes([len(locator.carrier)]), locator.carrier.encode("ascii"), struct.pack(">H", len(value)), value)
    )


def _attachment_fields(c: Attachment) -> bytes:
    if not (isinstance(c.file_key, bytes) and len(c.file_key) == _KEY_BYTES):
        raise InvalidInputError("a file key is 32 bytes")
    if not (isinstance(c.hash, bytes) and len(c.hash) == _HASH_BYTES):
        raise InvalidInputError("a blob's hash is 32 bytes")
    if type(c.size) is not int or not 0 <= c.size <= _MAX_SIZE:
        raise InvalidInputError("a file's size is 0 to 2^64 - 1 bytes")
    if not isinstance(c.name, str) or not isinstance(c.media_type, str):
        raise InvalidInputError("a file's name and media type are str")
    _check(_name_problem(c.name))
    _check(_ascii_problem(c.media_type, "media type", 0x20))
    if not isinstance(c.locators, tuple) or not 1 <= len(c.locators) <= 255:
        raise InvalidInputError("an attachment names 1 to 255 locators (a tuple)")
    name = _text_bytes(c.name)
    return b"".join(
        (
            _FIXED.pack(c.file_key, c.hash, c.size),
            bytes([len(name)]),
            name,
            bytes([len(c.media_type)]),
            c.media_type.encode("ascii"),
            bytes([len(c.locators)]),
            *map(_locator_bytes, c.locators),
            _text_bytes(c.caption),
        )
    )


def _rotation_problem(notice: bytes) -> str | None:
    if not notice or not notice[0] or len(notice) != NOTICE_FIXED_BYTES + notice[0]:
        return "a rotation record is a notice's bytes: no username, or the wrong length"
    try:
        notice[1 : 1 + notice[0]].decode("utf-8")
    except UnicodeDecodeError:
        return "the username of a rotation record is not valid UTF-8"
    return None


def encode_content(content: Content) -> bytes:
    """The content record of ``content`` (SPEC §11.3); :class:`InvalidInputError` for one a
    reader would refuse (a bad target, file name, media type, locator, ...)."""
    if isinstance(content, Text):
        fields = _text_bytes(content.text)
    elif isinstance(content, Reply | Edit):
        fields = _target_bytes(content.target) + _text_bytes(content.text)
    elif isinstance(content, Delete):
        fields = _target_bytes(content.target)
    elif isinstance(content, Attachment):
        fields = _attachment_fields(content)
    elif isinstance(content, Rotation):
        if not isinstance(content.notice, bytes):
            raise InvalidInputError("a rotation record holds bytes")
        _check(_rotation_problem(content.notice))
        fields = content.notice
    elif isinstance(content, Unknown):
        if type(content.kind) is not int or not 0 < content.kind <= 0xFF or content.kind in KNOWN_KINDS:
            raise InvalidInputError(f"kind {content.kind!r} is not a kind this version does not know")
        if not isinstance(content.data, bytes):
            raise InvalidInputError("an unknown kind's data is bytes")
        fields = content.data
    else:
        raise InvalidInputError(f"{type(content).__name__} is not a message content")
    return bytes([content.kind]) + fields


class _Reader:
    """Reads length-prefixed fields of a record; running past its end is malformed."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, size: int, what: str) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise MalformedError(f"the {what} runs past the end of the record")
        out, self.pos = self.data[self.pos : end], end
        return out

    def short(self, what: str, prefix: int = 1) -> bytes:
        """A field after its ``prefix``-byte length."""
        return self.take(int.from_bytes(self.take(prefix, f"length of the {what}"), "big"), what)

    def rest(self) -> bytes:
        return self.data[self.pos :]


def _malformed(problem: str | None) -> None:
    if problem is not None:
        raise MalformedError(problem)


def _decode_attachment(data: bytes) -> Attachment:
    read = _Reader(data)
    file_key, blob_hash, size = _FIXED.unpack(read.take(_FIXED.size, "file key, hash and size"))
    name = _utf8(read.short("file name"), "file name")
    _malformed(_name_problem(name))
    media_type = read.short("media type").decode("latin-1")  # any byte: refused below unless ASCII
    _malformed(_ascii_problem(media_type, "media type", 0x20))
    count = read.take(1, "locator count")[0]
    if not count:
        raise MalformedError("an attachment names no locator")
    locators = []
    for _ in range(count):
        carrier = read.short("carrier kind").decode("latin-1")
        _malformed(_ascii_problem(carrier, "carrier kind", 0x21))
        value = _utf8(read.short("locator value", 2), "locator value")
        if not value:
            raise MalformedError("a locator's value is empty")
        locators.append(Locator(carrier, value))
    caption = _utf8(read.rest(), "caption")
    return Attachment(file_key, blob_hash, size, name, media_type, tuple(locators), caption)


def decode_content(data: bytes) -> Content:
    """The content a record holds; :class:`MalformedError` unless it is exactly one (kind
    0x00, a field past the end, trailing bytes, text not UTF-8, a name that is not a base
    name, ...). A kind this version does not know is :class:`Unknown`, not an error."""
    if not data:
        raise MalformedError("the content record is empty")
    kind, fields = data[0], data[1:]
    if kind == TEXT:
        return Text(_utf8(fields, "message text"))
    if kind in (REPLY, EDIT, DELETE):
        if len(fields) < _ID_BYTES:
            raise MalformedError("the target runs past the end of the record")
        target = fields[:_ID_BYTES].hex()
        if kind == DELETE:
            if len(fields) != _ID_BYTES:
                raise MalformedError(f"{len(fields) - _ID_BYTES} bytes follow a delete's target")
            return Delete(target)
        text = _utf8(fields[_ID_BYTES:], "message text")
        return Reply(target, text) if kind == REPLY else Edit(target, text)
    if kind == ATTACHMENT:
        return _decode_attachment(fields)
    if kind == ROTATION:
        _malformed(_rotation_problem(fields))
        return Rotation(fields)
    if kind == 0:
        raise MalformedError("content kind 0 is not a kind")
    return Unknown(kind, fields)
