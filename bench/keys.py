"""Key-derivation benchmark: what unlocking costs at each identity memory cost, and a chat key. Usage:

    python bench/keys.py [--rounds 3] [--json]

For each Argon2id memory cost a recovery code can name (64 MiB to 1 GiB; 2 passes, 4
lanes), ``Identity.derive`` (the project's path: normalizing, the salt, Argon2id, the
Ed25519 key) beside the floor: ``cryptography``'s Argon2id alone with the same parameters,
measured interleaved in the same run. The same for a salted chat key (64 MiB, 3 passes)
and an open one. Best of ``rounds`` runs each, in milliseconds, and the ratio to the floor.
The default identity cost (512 MiB) is the largest that unlocks within about a second here.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from pointerbridge.core import ChatKey, Identity, RecoveryCode
from pointerbridge.core.keys import (
    ARGON2_ITERATIONS,
    ARGON2_LANES,
    ARGON2_MEMORY_KIB,
    IDENTITY_ITERATIONS,
    IDENTITY_MEMORY_CHOICES,
    IDENTITY_MEMORY_MIB,
)


def _best_ms(call: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 1)


def _floor(memory_kib: int, iterations: int) -> Callable[[], object]:
    def derive() -> bytes:
        kdf = Argon2id(salt=bytes(32), length=32, iterations=iterations, lanes=ARGON2_LANES, memory_cost=memory_kib)
        return kdf.derive(b"a phrase of the benchmark")

    return derive


def _pair(ours: Callable[[], object], floor: Callable[[], object], rounds: int) -> dict[str, float]:
    # Interleaved, so both see the same machine load.
    mine, base = [], []
    for _ in range(rounds):
        mine.append(_best_ms(ours, 1))
        base.append(_best_ms(floor, 1))
    return {"ms": min(mine), "floor_ms": min(base), "ratio": round(min(mine) / min(base), 3)}


def run(rounds: int) -> dict[str, Any]:
    identities = {}
    for memory in IDENTITY_MEMORY_CHOICES:
        code = RecoveryCode.new(memory)
        identities[f"{memory} MiB"] = _pair(
            lambda c=code: Identity.derive("alice", "a phrase of the benchmark", c),
            _floor(memory * 1024, IDENTITY_ITERATIONS),
            rounds,
        )
    salt = bytes(16)
    chat_floor = _floor(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS)
    return {
        "identity": identities,
        "identity_default_mib": IDENTITY_MEMORY_MIB,
        "chat_key_salted": _pair(lambda: ChatKey.derive("family", "a secret", salt), chat_floor, rounds),
        "chat_key_open": _pair(lambda: ChatKey.derive_open("family", "a secret"), chat_floor, rounds),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    result = run(rounds)
    if "--json" in sys.argv:
        print(json.dumps(result, indent=2))
        return
    for name, row in result["identity"].items():
        mark = "  (default)" if name == f"{result['identity_default_mib']} MiB" else ""
        print(f"identity, {name:>8}: {row['ms']:7.1f} ms   floor {row['floor_ms']:7.1f} ms   x{row['ratio']}{mark}")
    for name in ("chat_key_salted", "chat_key_open"):
        row = result[name]
        print(f"{name:>18}: {row['ms']:7.1f} ms   floor {row['floor_ms']:7.1f} ms   x{row['ratio']}")
    print(f"peak RSS {result['peak_rss_mib']} MiB")


if __name__ == "__main__":
    main()
