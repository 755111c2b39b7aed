"""The identity's Argon2id (512 MiB, 2 passes, 4 lanes) through cryptography, as
``core/keys.py`` derives it, against argon2-cffi (libargon2, one thread per lane), in one
process, interleaved, best of ``rounds`` (issue 19: measured and reported, not switched).
Usage (argon2-cffi is no dependency of the project: ``pip install argon2-cffi`` first):

    python bench/argon2_lanes.py [--rounds 3] [--mib 512] [--json]

Both must give the same 32 bytes for the same phrase and salt; the ratio is cryptography's
time over argon2-cffi's.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any


def measure(rounds: int, mib: int) -> dict[str, Any]:
    """Best-of-``rounds`` seconds of each, and whether their output bytes agree."""
    from argon2.low_level import Type, hash_secret_raw
    from pointerbridge.core.keys import ARGON2_LANES, IDENTITY_ITERATIONS, KEY_BYTES, _argon2

    secret, salt = b"a master phrase for the benchmark", os.urandom(32)
    work = {
        "cryptography": lambda: _argon2(salt, secret, mib * 1024, IDENTITY_ITERATIONS),
        "argon2-cffi": lambda: hash_secret_raw(
            secret,
            salt,
            time_cost=IDENTITY_ITERATIONS,
            memory_cost=mib * 1024,
            parallelism=ARGON2_LANES,
            hash_len=KEY_BYTES,
            type=Type.ID,
        ),
    }
    best, outputs = dict.fromkeys(work, float("inf")), {}
    for _ in range(rounds):
        for name, call in work.items():
            start = time.perf_counter()
            outputs[name] = call()
            best[name] = min(best[name], time.perf_counter() - start)
    return {
        "memory_mib": mib,
        "passes": IDENTITY_ITERATIONS,
        "lanes": ARGON2_LANES,
        "cpus": os.cpu_count(),
        "same_bytes": outputs["cryptography"] == outputs["argon2-cffi"],
        **{f"{name}_ms": round(seconds * 1000, 1) for name, seconds in best.items()},
        "ratio": round(best["cryptography"] / best["argon2-cffi"], 2),
    }


def main() -> None:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.rounds, args.mib)
    print(json.dumps(result, indent=2) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
