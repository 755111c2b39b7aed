"""Blob benchmark: what an attachment's encryption costs, and how long its pointer is. Usage:

    python bench/blob.py [--mib 64] [--rounds 5] [--json]

Throughput of ``core/blob.py`` over a file of ``--mib`` MiB, streamed in the pieces
``encrypt_file`` and ``decrypt_file`` read (64 KiB of the file, 65,552 bytes of the blob):
encrypt+hash (``encrypt_stream``: the sealed chunks and their SHA-256) and verify+decrypt
(``decrypt_stream``: length, each chunk, the hash), each beside its floor measured in the
same run, interleaved, best of ``--rounds``: ``cryptography``'s ChaCha20-Poly1305 over the
same 64 KiB chunks in a bare loop plus ``hashlib.sha256`` of the same sealed bytes. The
ratio is ours / floor (1.0: the framing costs nothing). The memory a streamed pass holds
(tracemalloc's peak, one untimed pass each way).

Pointer sizes: a pb1 pointer for a 100-byte text, sealed by the real codec; a pb2 one and
one for an attachment reference, **computed from the layout of issue 21's design** (§2,
§4: the pb2 inner plaintext and the attachment record) through the real padding and armor
until pb2's sealer lands. The same calculator given pb1's layout must give the real pb1
pointer's length; the benchmark checks it does.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from pointerbridge.core import ChatKey, Identity, seal
from pointerbridge.core.armor import armor
from pointerbridge.core.blob import (
    CHUNK_BYTES,
    SEALED_CHUNK_BYTES,
    BlobKey,
    decrypt_stream,
    encrypt_stream,
    encrypted_size,
)
from pointerbridge.core.padding import padded_length

MIB = 1024 * 1024


def _pieces(data: bytes, size: int) -> Iterator[memoryview]:
    view = memoryview(data)
    return (view[i : i + size] for i in range(0, len(view), size))


def _time(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def throughput(mib: int, rounds: int) -> dict[str, Any]:
    plain = hashlib.shake_128(b"bench blob").digest(mib * MIB)
    key = BlobKey(bytes(range(32)))
    aead = ChaCha20Poly1305(key.to_bytes())
    stream = encrypt_stream(key, _pieces(plain, CHUNK_BYTES))
    blob = b"".join(stream)
    digest = stream.digest
    last = len(blob) // SEALED_CHUNK_BYTES - (len(blob) % SEALED_CHUNK_BYTES == 0)

    def ours_encrypt() -> None:
        for _ in encrypt_stream(key, _pieces(plain, CHUNK_BYTES)):
            pass

    def floor_encrypt() -> bytes:
        hasher = hashlib.sha256()
        for index, chunk in enumerate(_pieces(plain, CHUNK_BYTES)):
            hasher.update(aead.encrypt(_nonce(index, index == last), chunk, None))
        return hasher.digest()

    def ours_decrypt() -> None:
        for _ in decrypt_stream(key, digest.hash, digest.size, _pieces(blob, SEALED_CHUNK_BYTES)):
            pass

    def floor_decrypt() -> None:
        hasher = hashlib.sha256()
        for index, sealed in enumerate(_pieces(blob, SEALED_CHUNK_BYTES)):
            hasher.update(sealed)
            aead.decrypt(_nonce(index, index == last), sealed, None)
        hasher.digest()

    def aead_alone() -> None:
        for index, chunk in enumerate(_pieces(plain, CHUNK_BYTES)):
            aead.encrypt(_nonce(index, index == last), chunk, None)

    def sha256_alone() -> None:
        hashlib.sha256(blob).digest()

    assert floor_encrypt() == digest.hash  # the floor does the same work: it makes the same blob
    calls = {
        "encrypt_hash": ours_encrypt,
        "encrypt_floor": floor_encrypt,
        "verify_decrypt": ours_decrypt,
        "decrypt_floor": floor_decrypt,
        "aead_alone": aead_alone,
        "sha256_alone": sha256_alone,
    }
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds):  # interleaved: every figure sees the same machine load
        for name, call in calls.items():
            best[name] = min(best[name], _time(call))
    mb = len(plain) / 1e6
    out: dict[str, Any] = {name: {"s": round(s, 6), "mb_s": round(mb / s, 1)} for name, s in best.items()}
    out["encrypt_ratio"] = round(best["encrypt_hash"] / best["encrypt_floor"], 3)
    out["decrypt_ratio"] = round(best["verify_decrypt"] / best["decrypt_floor"], 3)
    out["held_kib"] = _held_kib(key, plain, blob, digest.hash)
    out["file_mib"], out["blob_bytes"] = mib, len(blob)
    assert len(blob) == encrypted_size(len(plain))
    return out


def _held_kib(key: BlobKey, plain: bytes, blob: bytes, blob_hash: bytes) -> dict[str, int]:
    """tracemalloc's peak above what was there before, for one streamed pass each way."""
    held = {}
    tracemalloc.start()
    try:
        for name, call in (
            ("encrypt", lambda: [None for _ in encrypt_stream(key, _pieces(plain, CHUNK_BYTES))]),
            (
                "decrypt",
                lambda: [None for _ in decrypt_stream(key, blob_hash, len(plain), _pieces(blob, SEALED_CHUNK_BYTES))],
            ),
        ):
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            call()
            held[name] = (tracemalloc.get_traced_memory()[1] - base) // 1024
    finally:
        tracemalloc.stop()
    return held


def _chars(version: int, inner_bytes: int) -> int:
    """A pointer's characters for an inner plaintext (signature included) of this many bytes:
    padded (Padmé), nonce 16 + tag 4 + AEAD tag 16 around it, armored."""
    return len(armor(version, bytes(16 + 4 + padded_length(inner_bytes) + 16)))


USERNAME = "alice"  # 5 bytes, as the design's worked example
PB1_FIXED = 1 + 8 + 32 + 1 + 4 + 64  # flags, sent_at, key, ulen, body_len, signature
PB2_FIXED = PB1_FIXED + 8 + 4  # + stream, seq


def attachment_record(name: int, media_type: int, locators: list[tuple[str, int]], caption: int) -> int:
    """Bytes of a content record of kind 0x05 (design §4), kind byte included."""
    size = 1 + 32 + 32 + 8 + 1 + name + 1 + media_type + 1
    size += sum(1 + len(kind) + 2 + value for kind, value in locators)
    return size + caption


def pointer_sizes() -> dict[str, Any]:
    chat = ChatKey("bench", bytes(32))
    me = Identity(USERNAME, bytes(range(32)))
    (pb1,) = seal(chat, me, "x" * 100)
    ulen = len(USERNAME)
    calculated_pb1 = _chars(1, PB1_FIXED + ulen + 100)
    assert calculated_pb1 == len(pb1), (calculated_pb1, len(pb1))  # the calculator is the codec's
    one = [("matrix", 60)]
    every = [("files", 60), ("matrix", 60), ("email", 60), ("telegram", 60)]
    text_record = 1 + 100
    return {
        "pb1_text_100": len(pb1),
        "pb2_text_100": _chars(2, PB2_FIXED + ulen + text_record),
        "pb2_text_100_inner": PB2_FIXED + ulen + text_record,
        "pb2_attachment_1_locator": _chars(2, PB2_FIXED + ulen + attachment_record(20, 10, one, 0)),
        "pb2_attachment_1_locator_inner": PB2_FIXED + ulen + attachment_record(20, 10, one, 0),
        "pb2_attachment_4_locators": _chars(2, PB2_FIXED + ulen + attachment_record(20, 10, every, 0)),
        "pb2_attachment_4_locators_inner": PB2_FIXED + ulen + attachment_record(20, 10, every, 0),
        "pb2_computed_from_layout": True,
    }


def main() -> None:
    mib = int(sys.argv[sys.argv.index("--mib") + 1]) if "--mib" in sys.argv else 64
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 5
    result = {"throughput": throughput(mib, rounds), "pointers": pointer_sizes()}
    if "--json" in sys.argv:
        print(json.dumps(result, indent=2))
        return
    t = result["throughput"]
    print(f"{mib} MiB streamed (64 KiB pieces of the file, 65,552 of the blob), best of {rounds}, interleaved:")
    for ours, floor, ratio in (
        ("encrypt_hash", "encrypt_floor", "encrypt_ratio"),
        ("verify_decrypt", "decrypt_floor", "decrypt_ratio"),
    ):
        print(f"  {ours:>15}: {t[ours]['mb_s']:7.1f} MB/s   floor {t[floor]['mb_s']:7.1f} MB/s   x{t[ratio]}")
    print(f"  ChaCha20-Poly1305 alone {t['aead_alone']['mb_s']} MB/s, SHA-256 alone {t['sha256_alone']['mb_s']} MB/s")
    print(
        f"  held while streaming: {t['held_kib']['encrypt']} KiB encrypting, {t['held_kib']['decrypt']} KiB decrypting"
    )
    p = result["pointers"]
    print(f"pointer, 100 B text: pb1 {p['pb1_text_100']} chars (sealed), pb2 {p['pb2_text_100']} (from the layout)")
    print(
        f"pointer, attachment reference (from the layout): {p['pb2_attachment_1_locator']} chars with one locator, "
        f"{p['pb2_attachment_4_locators']} with four"
    )


if __name__ == "__main__":
    main()
