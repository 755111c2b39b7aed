"""Blobs (core/blob.py, docs/SPEC-blobs.md): round trips, streaming in bounded memory, every failure."""

from __future__ import annotations

import hashlib
import io
import pickle
import tracemalloc
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from pointerbridge.core.blob import (
    CHUNK_BYTES,
    SEALED_CHUNK_BYTES,
    BlobKey,
    check_blob,
    chunk_count,
    decrypt_file,
    decrypt_stream,
    encrypt_file,
    encrypt_stream,
    encrypted_size,
    new_file_key,
)
from pointerbridge.core.errors import (
    BlobChunkError,
    BlobError,
    BlobHashError,
    BlobTruncatedError,
    InvalidInputError,
    PointerBridgeError,
)

KEY = BlobKey(bytes(range(32)))
SIZES = (0, 1, 100, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 2 * CHUNK_BYTES + 100, 3 * CHUNK_BYTES)


def data(size: int, seed: str = "data") -> bytes:
    return hashlib.shake_128(seed.encode()).digest(size)


def pieces(blob: bytes, size: int) -> list[bytes]:
    return [blob[i : i + size] for i in range(0, len(blob), size)]


def reference_seal(key: bytes, plain: bytes) -> bytes:
    """The format as SPEC-blobs.md writes it, whole, without the module's streaming."""
    aead, chunks = ChaCha20Poly1305(key), pieces(plain, CHUNK_BYTES) or [b""]
    return b"".join(
        aead.encrypt(i.to_bytes(11, "big") + bytes([i == len(chunks) - 1]), chunk, None)
        for i, chunk in enumerate(chunks)
    )


def seal(plain: bytes, key: BlobKey = KEY) -> tuple[bytes, bytes]:
    stream = encrypt_stream(key, [plain])
    blob = b"".join(stream)
    assert stream.digest.size == len(plain)
    return blob, stream.digest.hash


def open_blob(blob: Iterable[bytes], digest: bytes, size: int, key: BlobKey = KEY) -> bytes:
    return b"".join(decrypt_stream(key, digest, size, blob))


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_whatever_the_pieces(size: int) -> None:
    plain = data(size)
    expected = reference_seal(KEY.to_bytes(), plain)
    assert len(expected) == encrypted_size(size) == size + 16 * chunk_count(size)
    for cut in (1000, CHUNK_BYTES, CHUNK_BYTES + 7, 10**6):
        stream = encrypt_stream(KEY, [b"", *pieces(plain, cut), b""])
        sealed = list(stream)
        assert b"".join(sealed) == expected
        assert all(len(chunk) == SEALED_CHUNK_BYTES for chunk in sealed[:-1]) and len(sealed) == chunk_count(size)
        assert stream.digest == (hashlib.sha256(expected).digest(), size)
    digest = hashlib.sha256(expected).digest()
    for cut in (7777, SEALED_CHUNK_BYTES, SEALED_CHUNK_BYTES + 1, 10**6):
        pieces_in = [memoryview(p) if i % 2 else bytearray(p) for i, p in enumerate(pieces(expected, cut))]
        assert open_blob(pieces_in, digest, size) == plain
    check_blob(digest, size, [expected])


def test_chunk_counts() -> None:
    assert [chunk_count(n) for n in SIZES] == [1, 1, 1, 1, 1, 2, 3, 3]
    assert encrypted_size(0) == 16 and encrypted_size(CHUNK_BYTES + 1) == CHUNK_BYTES + 1 + 32
    for bad in (-1, 2**64, 1.5, True):
        with pytest.raises(InvalidInputError):
            encrypted_size(bad)  # type: ignore[arg-type]


def test_a_fresh_key_per_file() -> None:
    first, second = new_file_key(), new_file_key()
    assert first != second and first == BlobKey(first.to_bytes()) and len(first.to_bytes()) == 32
    assert seal(b"same file", first)[0] != seal(b"same file", second)[0]
    assert repr(first) == "BlobKey(...)" and first.to_bytes().hex() not in repr(first)
    with pytest.raises(TypeError):
        pickle.dumps(first)
    for bad in (bytes(31), bytes(33), "k" * 32):
        with pytest.raises(InvalidInputError):
            BlobKey(bad)  # type: ignore[arg-type]


def test_the_digest_is_known_only_at_the_end() -> None:
    stream = encrypt_stream(KEY, [data(CHUNK_BYTES + 1)])
    next(stream)
    with pytest.raises(InvalidInputError):
        _ = stream.digest
    next(stream)
    with pytest.raises(StopIteration):
        next(stream)
    assert stream.digest.size == CHUNK_BYTES + 1


class Counted:
    """An iterable of pieces that counts what was taken from it."""

    def __init__(self, total: int, piece: int, seed: str = "stream") -> None:
        self.total, self.piece, self.taken = total, piece, 0
        self._shake = hashlib.shake_128(seed.encode()).digest(total)

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, self.total, self.piece):
            chunk = self._shake[start : start + self.piece]
            self.taken += len(chunk)
            yield chunk


FIVE_MB = 5 * 1000 * 1000


def test_five_megabytes_stream_through_a_chunk_or_two() -> None:
    source = Counted(FIVE_MB, 4096)
    stream = encrypt_stream(KEY, source)
    blob_hash, sealed_chunks = hashlib.sha256(), []
    for index, sealed in enumerate(stream):
        # Before chunk i is handed out, at most chunk i, one more byte... one piece more was read.
        assert source.taken - index * CHUNK_BYTES <= CHUNK_BYTES + source.piece
        assert len(sealed) <= SEALED_CHUNK_BYTES
        blob_hash.update(sealed)
        sealed_chunks.append(sealed)
    assert stream.digest == (blob_hash.digest(), FIVE_MB) and len(sealed_chunks) == chunk_count(FIVE_MB)
    blob = b"".join(sealed_chunks)

    class Fetch:
        taken = 0

        def __iter__(self) -> Iterator[bytes]:
            for piece in pieces(blob, 10_000):
                self.taken += len(piece)
                yield piece

    fetch, out = Fetch(), hashlib.sha256()
    for index, plain in enumerate(decrypt_stream(KEY, stream.digest.hash, FIVE_MB, fetch)):
        assert fetch.taken - index * SEALED_CHUNK_BYTES <= SEALED_CHUNK_BYTES + 10_000
        out.update(plain)
    assert out.digest() == hashlib.sha256(source._shake).digest()


def test_memory_stays_bounded_for_a_streamed_file() -> None:
    # Nothing kept but a chunk or two: tracemalloc's peak over 5 MB in and out.
    blob = b"".join(encrypt_stream(KEY, Counted(FIVE_MB, 4096)))
    digest = hashlib.sha256(blob).digest()

    def fetch() -> Iterator[bytes]:
        for start in range(0, len(blob), 8192):
            yield blob[start : start + 8192]

    tracemalloc.start()
    try:
        for _ in encrypt_stream(KEY, Counted(FIVE_MB, 4096, "other")):
            pass
        encrypting = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        for _ in decrypt_stream(KEY, digest, FIVE_MB, fetch()):
            pass
        decrypting = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Counted holds its 5 MB source; the encryptor adds a few chunks at most.
    assert encrypting < FIVE_MB + 6 * SEALED_CHUNK_BYTES
    assert decrypting < 6 * SEALED_CHUNK_BYTES


def test_a_big_piece_is_cut_without_copying_it_whole() -> None:
    plain = data(FIVE_MB)
    tracemalloc.start()
    try:
        blob_parts = [len(c) for c in encrypt_stream(KEY, [plain])]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(blob_parts) == encrypted_size(FIVE_MB) and peak < 6 * SEALED_CHUNK_BYTES


def test_files(tmp_path: Path) -> None:
    plain = data(3 * CHUNK_BYTES + 5)
    (tmp_path / "plain").write_bytes(plain)
    with (tmp_path / "plain").open("rb") as src, (tmp_path / "blob").open("wb") as dst:
        digest = encrypt_file(KEY, src, dst)
    assert digest.size == len(plain) and (tmp_path / "blob").stat().st_size == encrypted_size(len(plain))
    assert digest.hash == hashlib.sha256((tmp_path / "blob").read_bytes()).digest()
    with (tmp_path / "blob").open("rb") as src, (tmp_path / "back").open("wb") as dst:
        decrypt_file(KEY, digest.hash, digest.size, src, dst)
    assert (tmp_path / "back").read_bytes() == plain
    with (tmp_path / "blob").open("rb") as src, pytest.raises(BlobHashError):
        decrypt_file(KEY, bytes(32), digest.size, src, io.BytesIO())


THREE = data(2 * CHUNK_BYTES + 100)
THREE_BLOB = seal(THREE)[0]
C0, C1, C2 = pieces(THREE_BLOB, SEALED_CHUNK_BYTES)
SHORT_BLOB = seal(b"a short file")[0]


def fails(blob: bytes, size: int, error: type[BlobError], digest: bytes | None = None, key: BlobKey = KEY) -> str:
    """Open ``blob`` (whole, and in small pieces) and return the error's message."""
    digest = hashlib.sha256(blob).digest() if digest is None else digest
    messages = set()
    for cut in (len(blob) or 1, 1000):
        with pytest.raises(BlobError) as caught:
            open_blob(pieces(blob, cut), digest, size, key)
        assert type(caught.value) is error
        messages.add(str(caught.value))
    (message,) = messages
    assert "\n" not in message
    return message


def test_two_chunks_swapped() -> None:
    assert "chunk 0" in fails(C1 + C0 + C2, len(THREE), BlobChunkError)
    assert "chunk 1" in fails(C0 + C2 + C1, len(THREE), BlobChunkError)


def test_the_last_chunk_removed() -> None:
    assert "end is missing" in fails(C0 + C1, len(THREE), BlobTruncatedError)
    # A sender who also made the size match is caught by the last-chunk flag.
    assert "chunk 1" in fails(C0 + C1, 2 * CHUNK_BYTES, BlobChunkError)


def test_a_chunk_altered() -> None:
    for offset in (0, SEALED_CHUNK_BYTES - 1, 2 * SEALED_CHUNK_BYTES + 3):
        altered = bytearray(THREE_BLOB)
        altered[offset] ^= 0x80
        fails(bytes(altered), len(THREE), BlobChunkError)


def test_data_after_the_last_chunk() -> None:
    assert "after its last chunk" in fails(SHORT_BLOB + b"\x00", 12, BlobTruncatedError)
    fails(THREE_BLOB + C0, len(THREE), BlobTruncatedError)


def test_a_hash_mismatch() -> None:
    fails(THREE_BLOB, len(THREE), BlobHashError, digest=hashlib.sha256(b"another blob").digest())
    with pytest.raises(BlobHashError):
        check_blob(bytes(32), len(THREE), [THREE_BLOB])


def test_a_wrong_size() -> None:
    for size in (11, 13, 0, len(THREE) - 1, len(THREE) + 1):
        fails(SHORT_BLOB if size < 100 else THREE_BLOB, size, BlobTruncatedError)
    with pytest.raises(BlobTruncatedError):
        check_blob(hashlib.sha256(SHORT_BLOB).digest(), 13, [SHORT_BLOB])


def test_another_key() -> None:
    fails(SHORT_BLOB, 12, BlobChunkError, key=new_file_key())


def test_an_endless_blob_is_refused_at_its_reference_s_length() -> None:
    taken = 0

    def endless() -> Iterator[bytes]:
        nonlocal taken
        while True:
            taken += SEALED_CHUNK_BYTES
            yield C0

    with pytest.raises(BlobTruncatedError):
        check_blob(bytes(32), len(THREE), endless())
    assert taken == 3 * SEALED_CHUNK_BYTES  # the third piece already goes past 2 chunks + 148 bytes


def test_arguments_are_checked_before_any_byte_is_read() -> None:
    for digest, size in ((bytes(31), 1), (bytes(32), -1), (bytes(32), 2**64)):
        with pytest.raises(InvalidInputError):
            decrypt_stream(KEY, digest, size, [])
    with pytest.raises(InvalidInputError):
        decrypt_stream(b"k" * 32, bytes(32), 0, [])  # type: ignore[arg-type]


def test_each_failure_has_its_name_and_exit_code() -> None:
    errors = (BlobHashError, BlobChunkError, BlobTruncatedError)
    assert [e.expect for e in errors] == ["blob_hash", "blob_chunk", "blob_truncated"]
    assert [e.exit_code for e in errors] == [48, 50, 53]
    assert all(issubclass(e, BlobError) and issubclass(e, PointerBridgeError) for e in errors)


def test_the_benchmark_reports_ratios_and_pointer_sizes() -> None:
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, str(root / "bench" / "blob.py"), "--mib", "1", "--rounds", "1", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(result.stdout)
    t = data["throughput"]
    assert t["encrypt_ratio"] == pytest.approx(t["encrypt_hash"]["s"] / t["encrypt_floor"]["s"], rel=0.02)
    assert t["decrypt_ratio"] == pytest.approx(t["verify_decrypt"]["s"] / t["decrypt_floor"]["s"], rel=0.02)
    assert t["blob_bytes"] == encrypted_size(1024 * 1024) and t["held_kib"]["decrypt"] < 1024
    pointers = data["pointers"]
    assert pointers["pb1_text_100"] == pointers["pb2_text_100"] == 377 and pointers["pb2_text_100_inner"] == 228
    assert pointers["pb2_attachment_1_locator"] == 463
