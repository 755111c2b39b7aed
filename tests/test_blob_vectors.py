"""Replay the blob vectors (blob.json), and check the file is the one docs/SPEC-blobs.md pins."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from pointerbridge.core.blob import SEALED_CHUNK_BYTES, BlobKey, check_blob, decrypt_stream, encrypt_stream
from pointerbridge.core.errors import BlobChunkError, BlobError, BlobHashError, BlobTruncatedError

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors" / "blob.json"
DATA = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]
BY_NAME = {v["name"]: v for v in DATA}
ERRORS: dict[str, type[BlobError]] = {e.expect: e for e in (BlobHashError, BlobChunkError, BlobTruncatedError)}


def plaintext(v: dict[str, Any]) -> bytes:
    return hashlib.shake_128(v["plaintext"]["shake128"].encode()).digest(v["plaintext"]["length"])


def spec_seal(key: bytes, plain: bytes) -> bytes:
    """SPEC-blobs.md §2, read literally: no code of core/blob.py."""
    chunks = [plain[i : i + 65536] for i in range(0, len(plain), 65536)] or [b""]
    aead = ChaCha20Poly1305(key)
    last = len(chunks) - 1
    return b"".join(
        aead.encrypt(i.to_bytes(11, "big") + (b"\x01" if i == last else b"\x00"), c, None) for i, c in enumerate(chunks)
    )


def blob_of(v: dict[str, Any]) -> bytes:
    if v["expect"] == "success":
        return spec_seal(bytes.fromhex(v["file_key"]), plaintext(v))
    base = blob_of(BY_NAME[v["blob"]["base"]])
    chunks = [base[i : i + SEALED_CHUNK_BYTES] for i in range(0, len(base), SEALED_CHUNK_BYTES)]
    out = b""
    for part in v["blob"]["parts"]:
        if "hex" in part:
            out += bytes.fromhex(part["hex"])
        else:
            chunk = bytearray(chunks[part["chunk"]])
            if "flip" in part:
                chunk[part["flip"]] ^= 1
            out += chunk
    return out


@pytest.mark.parametrize("vector", DATA, ids=[v["name"] for v in DATA])
def test_vector(vector: dict[str, Any]) -> None:
    blob = blob_of(vector)
    assert len(blob) == vector["blob_size"]
    if "blob_hex" in vector:
        assert blob.hex() == vector["blob_hex"]
    key, digest, size = BlobKey(bytes.fromhex(vector["file_key"])), bytes.fromhex(vector["hash"]), vector["size"]
    if vector["expect"] == "success":
        assert hashlib.sha256(blob).digest() == digest
        assert [blob[i - 16 : i].hex() for i in range(SEALED_CHUNK_BYTES, len(blob), SEALED_CHUNK_BYTES)] + [
            blob[-16:].hex()
        ] == vector["chunk_tags"]
        stream = encrypt_stream(key, [plaintext(vector)])
        assert b"".join(stream) == blob and stream.digest == (digest, size)
        assert b"".join(decrypt_stream(key, digest, size, [blob])) == plaintext(vector)
        return
    assert hashlib.sha256(blob).digest() == digest or vector["expect"] == "blob_hash"  # one defect each
    for cut in (len(blob) or 1, 4096):
        with pytest.raises(ERRORS[vector["expect"]]):
            b"".join(decrypt_stream(key, digest, size, [blob[i : i + cut] for i in range(0, len(blob), cut)]))
    if vector["expect"] in ("blob_hash", "blob_truncated"):  # what a reader without the key sees too
        with pytest.raises(ERRORS[vector["expect"]]):
            check_blob(digest, size, [blob])
    else:
        check_blob(digest, size, [blob])


def test_the_vectors_cover_every_outcome() -> None:
    assert {v["expect"] for v in DATA} == {"success", *ERRORS}
    assert len(BY_NAME) == len(DATA)
    sizes = {v["size"] for v in DATA if v["expect"] == "success"}
    assert {0, 65536, 65537} <= sizes and any(s > 2 * 65536 for s in sizes)
    assert VECTORS.stat().st_size < 16_000  # plaintexts and long blobs are seeds, not hex


def test_the_file_is_what_the_script_writes_and_the_spec_pins(tmp_path: Path) -> None:
    out = tmp_path / "blob.json"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_blob_vectors.py"), str(out)], check=True, capture_output=True
    )
    assert out.read_bytes() == VECTORS.read_bytes()
    spec = (ROOT / "docs" / "SPEC-blobs.md").read_text(encoding="utf-8")
    pinned = re.search(r"blob\.json` \(sha256 `([0-9a-f]{64})`\)", spec)
    assert pinned, "docs/SPEC-blobs.md does not pin blob.json"
    assert pinned.group(1) == hashlib.sha256(VECTORS.read_bytes()).hexdigest()
