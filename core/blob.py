"""Blobs: the encrypted file of an attachment (docs/SPEC-blobs.md).

age's STREAM (C2SP age, "payload"): a fresh random 32-byte file key per file, the
plaintext cut into 64 KiB chunks (the last one 0..64 KiB; an empty file is one empty last
chunk), each sealed with ChaCha20-Poly1305 under the nonce ``index as 11 bytes big-endian
|| 0x01 if last else 0x00`` and no associated data. The blob is the sealed chunks in
order; its hash is SHA-256 of the blob (the ciphertext), so anyone who fetched it can
check it before decrypting. The attachment record inside the sealed pointer carries the
file key, the hash and the plaintext size (docs/SPEC.md §11).

No I/O of its own: it works on iterables of bytes and on open binary files handed to it,
and holds at most about one chunk at a time, so a 50 MB file streams through a few
hundred KiB of memory. ``cryptography``'s ChaCha20-Poly1305 seals each chunk; the
framing is this module's own (some 100 lines) because no well-kept Python library
implements age's STREAM without age's header, recipients and file format around it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, NamedTuple, NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .errors import BlobChunkError, BlobHashError, BlobTruncatedError, InvalidInputError

__all__ = [
    "CHUNK_BYTES",
    "HASH_BYTES",
    "KEY_BYTES",
    "MAX_SIZE",
    "SEALED_CHUNK_BYTES",
    "TAG_BYTES",
    "BlobDigest",
    "BlobKey",
    "EncryptedStream",
    "check_blob",
    "chunk_count",
    "decrypt_file",
    "decrypt_stream",
    "encrypt_file",
    "encrypt_stream",
    "encrypted_size",
    "new_file_key",
]

CHUNK_BYTES = 64 * 1024
"""Plaintext bytes of every chunk but the last."""
TAG_BYTES = 16
SEALED_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES
"""Bytes of every sealed chunk but the last: the most a reader holds of the blob at once."""
KEY_BYTES = 32
HASH_BYTES = 32
MAX_SIZE = 2**64 - 1
"""The largest plaintext size an attachment record can state (8 bytes)."""

Bytes = bytes | bytearray | memoryview
"""What the iterables may yield: any contiguous bytes."""


class BlobKey:
    """The file key of one blob: 32 random bytes, new for every file.

    It lives in RAM and in the sealed pointer only: it cannot be pickled and shows no key
    material in ``repr``.
    """

    __slots__ = ("_aead", "_key")

    def __init__(self, key: bytes) -> None:
        """Wrap 32 bytes (an attachment record's ``file_key``); a new file wants :func:`new_file_key`."""
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise InvalidInputError(f"a file key is {KEY_BYTES} bytes")
        self._key = key
        self._aead = ChaCha20Poly1305(key)

    def to_bytes(self) -> bytes:
        """The 32 bytes an attachment record carries."""
        return self._key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BlobKey) and hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash(hashlib.sha256(self._key).digest())

    def __repr__(self) -> str:
        return "BlobKey(...)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("BlobKey holds key material and is never serialized")


def new_file_key(random: Callable[[int], bytes] = os.urandom) -> BlobKey:
    """A fresh file key (``random`` is for reproducible test vectors; never pass one otherwise)."""
    return BlobKey(random(KEY_BYTES))


class BlobDigest(NamedTuple):
    """What an attachment record says of a blob besides its key."""

    hash: bytes
    """SHA-256 of the blob (the ciphertext), 32 bytes."""
    size: int
    """Bytes of the plaintext."""


def _check_size(size: int) -> int:
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
        raise InvalidInputError(f"a blob's size is a whole number of bytes from 0 to {MAX_SIZE}")
    return size


def chunk_count(plain_size: int) -> int:
    """How many chunks a file of ``plain_size`` bytes makes (an empty file: one)."""
    return max(1, -(-_check_size(plain_size) // CHUNK_BYTES))


def encrypted_size(plain_size: int) -> int:
    """Bytes of the blob of a file of ``plain_size`` bytes: 16 more per chunk."""
    return plain_size + TAG_BYTES * chunk_count(plain_size)


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class EncryptedStream:
    """The blob of a file, chunk by chunk: iterate it to the end, then read :attr:`digest`.

    Each item is one sealed chunk (at most :data:`SEALED_CHUNK_BYTES`). It reads its
    input only as far as the next chunk needs, so it holds at most one chunk of plaintext
    plus the piece of input it is cutting.
    """

    __slots__ = ("_chunks", "_done", "_hasher", "_size")

    def __init__(self, key: BlobKey, pieces: Iterable[Bytes]) -> None:
        """Seal ``pieces`` (the file's bytes, cut in any sizes) under ``key``."""
        if not isinstance(key, BlobKey):
            raise InvalidInputError("a blob is sealed under a BlobKey")
        self._hasher = hashlib.sha256()
        self._size = 0
        self._done = False
        self._chunks = self._seal(key, iter(pieces))

    def __iter__(self) -> EncryptedStream:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    @property
    def digest(self) -> BlobDigest:
        """The blob's hash and the file's size, once every chunk was taken."""
        if not self._done:
            raise InvalidInputError("the blob's hash is known only once all of it was read")
        return BlobDigest(self._hasher.digest(), self._size)

    def _seal(self, key: BlobKey, pieces: Iterator[Bytes]) -> Iterator[bytes]:
        aead, index, held = key._aead, 0, bytearray()
        for piece in pieces:
            view = memoryview(piece).cast("B")
            self._size += len(view)
            _check_size(self._size)
            while view:
                # A full chunk is sealed only once more bytes follow it: until then it may
                # be the last one, whose nonce differs.
                if len(held) == CHUNK_BYTES:
                    yield self._hashed(aead.encrypt(_nonce(index, False), held, None))
                    index += 1
                    held.clear()
                if not held and len(view) > CHUNK_BYTES:  # a whole chunk, more after it: no copy
                    yield self._hashed(aead.encrypt(_nonce(index, False), view[:CHUNK_BYTES], None))
                    index += 1
                    view = view[CHUNK_BYTES:]
                    continue
                take = CHUNK_BYTES - len(held)
                held += view[:take]
                view = view[take:]
        yield self._hashed(aead.encrypt(_nonce(index, True), held, None))
        self._done = True

    def _hashed(self, sealed: bytes) -> bytes:
        self._hasher.update(sealed)
        return sealed


def encrypt_stream(key: BlobKey, chunks: Iterable[Bytes]) -> EncryptedStream:
    """The blob of the file whose bytes ``chunks`` yields (in pieces of any size), as an
    iterator of sealed chunks; its :attr:`~EncryptedStream.digest` (hash, size) once exhausted."""
    return EncryptedStream(key, chunks)


def _expected(expected_hash: bytes, expected_size: int) -> int:
    if not isinstance(expected_hash, bytes) or len(expected_hash) != HASH_BYTES:
        raise InvalidInputError(f"a blob's hash is {HASH_BYTES} bytes")
    return encrypted_size(expected_size)


def _pieces_within(blob_chunks: Iterable[Bytes], limit: int, update: Callable[[Bytes], None]) -> Iterator[memoryview]:
    """The blob's bytes, hashed, refused as soon as they go past ``limit``; a blob shorter
    than ``limit`` is refused at its end."""
    seen = 0
    for piece in blob_chunks:
        view = memoryview(piece).cast("B")
        seen += len(view)
        if seen > limit:
            raise BlobTruncatedError(f"the blob goes on after its last chunk, past the {limit} bytes its size makes")
        update(view)
        yield view
    if seen < limit:
        raise BlobTruncatedError(f"the blob ends after {seen} of the {limit} bytes its size makes: its end is missing")


def _check_hash(digest: bytes, expected_hash: bytes) -> None:
    if not hmac.compare_digest(digest, expected_hash):
        raise BlobHashError("the blob's SHA-256 is not the one its reference names: it was changed or is another file")


def decrypt_stream(
    key: BlobKey, expected_hash: bytes, expected_size: int, blob_chunks: Iterable[Bytes]
) -> Iterator[bytes]:
    """The plaintext of a blob, chunk by chunk, checked as it goes.

    ``blob_chunks`` yields the blob's bytes in pieces of any size (as fetched);
    ``expected_hash`` and ``expected_size`` are the attachment record's. It holds at most
    one sealed chunk, and reads no further than ``encrypted_size(expected_size)`` bytes.
    Raises, from the iteration:

    - :class:`BlobTruncatedError`: the blob ends before that length or goes on after it
      (the last chunk missing, bytes appended, or the size not the reference's);
    - :class:`BlobChunkError`: a chunk does not authenticate (altered, reordered, another key);
    - :class:`BlobHashError`: after the last chunk, the blob's SHA-256 is not ``expected_hash``.

    The hash can be judged only at the end, after every chunk was yielded, and each
    chunk yielded is only authentic in itself: **write the plaintext to a temporary file
    (0600, beside the destination) and rename it into place only once the iterator is
    exhausted without an error**; on any error remove the temporary file. (To refuse a
    changed blob before decrypting anything, run :func:`check_blob` over it first.)
    """
    limit = _expected(expected_hash, expected_size)
    if not isinstance(key, BlobKey):
        raise InvalidInputError("a blob is opened with a BlobKey")
    return _decrypt(key, expected_hash, chunk_count(expected_size), limit, blob_chunks)


def _decrypt(key: BlobKey, expected_hash: bytes, count: int, limit: int, blob: Iterable[Bytes]) -> Iterator[bytes]:
    aead, index, held, hasher = key._aead, 0, bytearray(), hashlib.sha256()

    def opened(sealed: Bytes, last: bool) -> bytes:
        try:
            return aead.decrypt(_nonce(index, last), sealed, None)
        except InvalidTag:
            raise BlobChunkError(
                f"chunk {index} of the blob does not authenticate: altered, moved or under another key"
            ) from None

    for view in _pieces_within(blob, limit, hasher.update):
        while view and index < count - 1:
            if not held and len(view) >= SEALED_CHUNK_BYTES:  # a whole chunk in the piece: no copy
                yield opened(view[:SEALED_CHUNK_BYTES], False)
                view = view[SEALED_CHUNK_BYTES:]
            else:
                take = SEALED_CHUNK_BYTES - len(held)
                held += view[:take]
                view = view[take:]
                if len(held) < SEALED_CHUNK_BYTES:
                    break
                yield opened(held, False)
                held.clear()
            index += 1
        held += view  # the last chunk: never more than its length, _pieces_within bounds it
    # The stream ended at exactly the length the size makes: what is held is the last chunk.
    yield opened(held, True)
    _check_hash(hasher.digest(), expected_hash)


def check_blob(expected_hash: bytes, expected_size: int, blob_chunks: Iterable[Bytes]) -> None:
    """Check a fetched blob's length and hash against its reference without its key:
    :class:`BlobTruncatedError` or :class:`BlobHashError` as :func:`decrypt_stream` would."""
    limit, hasher = _expected(expected_hash, expected_size), hashlib.sha256()
    for _ in _pieces_within(blob_chunks, limit, hasher.update):
        pass
    _check_hash(hasher.digest(), expected_hash)


def _read_pieces(src: BinaryIO, size: int) -> Iterator[bytes]:
    return iter(functools.partial(src.read, size), b"")


def encrypt_file(key: BlobKey, src: BinaryIO, dst: BinaryIO) -> BlobDigest:
    """Seal the open file ``src`` (read to its end) into the open file ``dst``; return the
    blob's hash and the file's size, what the attachment record carries."""
    stream = encrypt_stream(key, _read_pieces(src, CHUNK_BYTES))
    for sealed in stream:
        dst.write(sealed)
    return stream.digest


def decrypt_file(key: BlobKey, expected_hash: bytes, expected_size: int, src: BinaryIO, dst: BinaryIO) -> None:
    """Open the blob in the open file ``src`` into the open file ``dst``, checked as
    :func:`decrypt_stream` checks it. ``dst`` must be a temporary file that the caller
    renames into place only if this returns, and removes if it raises."""
    for plain in decrypt_stream(key, expected_hash, expected_size, _read_pieces(src, SEALED_CHUNK_BYTES)):
        dst.write(plain)
