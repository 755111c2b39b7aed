"""Write tests/vectors/blob.json: the vectors of attachments' blobs (docs/SPEC-blobs.md).

Each vector is one success or one failure, named in ``expect`` (``success``, ``blob_hash``,
``blob_chunk``, ``blob_truncated``). Every failure has exactly one defect: its reference's
hash is the SHA-256 of the blob it gives (but in the hash-mismatch vector), so a reader
that checks hash and length first and one that streams reach the same outcome.

The file stays small: a plaintext is given as a seed (SHAKE-128 of the seed's UTF-8,
``length`` bytes), a blob as its hash, size and each chunk's tag, and in hex only when it
is under 1 KiB; a failure's blob is built from a success vector's sealed chunks. The file
keys come from a fixed "random" function handed to ``new_file_key``, so the file is
reproducible. Run ``python scripts/make_blob_vectors.py`` after a deliberate change, then
pin the new sha256 in docs/SPEC-blobs.md; tests/test_blob_vectors.py checks both.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from pointerbridge.core.blob import SEALED_CHUNK_BYTES, TAG_BYTES, BlobKey, encrypt_stream, new_file_key

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "blob.json"
HEX_LIMIT = 1024  # blobs up to this many bytes are also given in hex


def _random(label: str) -> Any:
    """A fixed 'random' source for new_file_key: the vectors must not change between runs."""
    return lambda n: hashlib.sha256(b"blob vector " + label.encode()).digest()[:n]


def plaintext(seed: str, length: int) -> bytes:
    """The vectors' deterministic plaintext (SPEC-blobs.md §5)."""
    return hashlib.shake_128(seed.encode("utf-8")).digest(length)


def _sealed_chunks(blob: bytes) -> list[bytes]:
    return [blob[i : i + SEALED_CHUNK_BYTES] for i in range(0, len(blob), SEALED_CHUNK_BYTES)] or [b""]


class _Base:
    """A success vector: its key, plaintext and blob, for the failures built on it."""

    def __init__(self, name: str, seed: str, length: int) -> None:
        self.name, self.seed, self.length = name, seed, length
        self.key = new_file_key(_random(name))
        stream = encrypt_stream(self.key, [plaintext(seed, length)])
        self.blob = b"".join(stream)
        self.digest = stream.digest
        self.chunks = _sealed_chunks(self.blob)

    def vector(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "expect": "success",
            "file_key": self.key.to_bytes().hex(),
            "plaintext": {"shake128": self.seed, "length": self.length},
            "size": self.digest.size,
            "hash": self.digest.hash.hex(),
            "blob_size": len(self.blob),
            "chunk_tags": [chunk[-TAG_BYTES:].hex() for chunk in self.chunks],
        }
        if len(self.blob) <= HEX_LIMIT:
            out["blob_hex"] = self.blob.hex()
        return out

    def build(self, parts: list[dict[str, Any]]) -> bytes:
        """A blob made of this one's sealed chunks and literal bytes (SPEC-blobs.md §5)."""
        out = b""
        for part in parts:
            if "hex" in part:
                out += bytes.fromhex(part["hex"])
                continue
            chunk = bytearray(self.chunks[part["chunk"]])
            if "flip" in part:
                chunk[part["flip"]] ^= 0x01
            out += chunk
        return out


def _failure(
    base: _Base,
    name: str,
    expect: str,
    parts: list[dict[str, Any]],
    *,
    size: int | None = None,
    key: BlobKey | None = None,
    hash_of: bytes | None = None,
) -> dict[str, Any]:
    blob = base.build(parts)
    out: dict[str, Any] = {
        "name": name,
        "expect": expect,
        "file_key": (key or base.key).to_bytes().hex(),
        "size": base.length if size is None else size,
        "hash": hashlib.sha256(blob if hash_of is None else hash_of).hexdigest(),
        "blob": {"base": base.name, "parts": parts},
        "blob_size": len(blob),
    }
    if len(blob) <= HEX_LIMIT:
        out["blob_hex"] = blob.hex()
    return out


def vectors() -> list[dict[str, Any]]:
    empty = _Base("an empty file", "empty", 0)
    short = _Base("a 100-byte file", "short", 100)
    one = _Base("exactly one chunk", "one chunk", 65536)
    one_more = _Base("one chunk and one byte", "one chunk and one byte", 65537)
    three = _Base("three chunks", "three chunks", 2 * 65536 + 100)
    out = [base.vector() for base in (empty, short, one, one_more, three)]
    other_key = new_file_key(_random("another file key"))
    out += [
        _failure(three, "two chunks swapped", "blob_chunk", [{"chunk": 1}, {"chunk": 0}, {"chunk": 2}]),
        _failure(three, "the last chunk removed", "blob_truncated", [{"chunk": 0}, {"chunk": 1}]),
        _failure(
            three,
            "cut after a full chunk, the reference's size and hash made to match (a sender's lie)",
            "blob_chunk",
            [{"chunk": 0}, {"chunk": 1}],
            size=2 * 65536,
        ),
        _failure(short, "a chunk altered", "blob_chunk", [{"chunk": 0, "flip": 10}]),
        _failure(short, "a tag altered", "blob_chunk", [{"chunk": 0, "flip": 115}]),
        _failure(
            three, "the middle chunk altered", "blob_chunk", [{"chunk": 0}, {"chunk": 1, "flip": 0}, {"chunk": 2}]
        ),
        _failure(short, "a byte appended after the last chunk", "blob_truncated", [{"chunk": 0}, {"hex": "00"}]),
        _failure(empty, "a chunk after the last one", "blob_truncated", [{"chunk": 0}, {"hex": short.chunks[0].hex()}]),
        _failure(short, "hash mismatch", "blob_hash", [{"chunk": 0}], hash_of=short.blob + b"a blob with another hash"),
        _failure(short, "the reference's size one byte short", "blob_truncated", [{"chunk": 0}], size=99),
        _failure(short, "the reference's size one byte long", "blob_truncated", [{"chunk": 0}], size=101),
        _failure(short, "another file key", "blob_chunk", [{"chunk": 0}], key=other_key),
    ]
    return out


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    data = {
        "format": "pointerbridge blob 1",
        "chunk_bytes": 65536,
        "plaintext": "SHAKE-128 of the UTF-8 of 'shake128', 'length' bytes",
        "vectors": vectors(),
    }
    out.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{out}: {len(data['vectors'])} vectors, sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
