"""pb1 of another tree's core against this one, and both against the C floor, in one process.

Usage: python bench/codec_ab.py OLD_CORE_DIR [--seconds S] [--sizes 100,1024,4096,32768]

OLD_CORE_DIR is the ``core/`` folder of another checkout (``git worktree add /tmp/old main``
then ``/tmp/old/core``): it is imported as a package of its own (core uses relative imports
only), so both versions and the floor's C primitives take turns in the same process, sample
by sample (app/codec_floor.py, ``best_per_call``). Prints each version's ratio to the floor.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import sys
import tempfile
from pathlib import Path

from pointerbridge.app.codec_floor import FLOOR_SIZES, _floor_steps, best_per_call
from pointerbridge.core.armor import dearmor
from pointerbridge.core.keys import ChatKey, Identity
from pointerbridge.core.pointer import seal, unseal

_BODY = "abcdefghij klmnopqrstuvwxyz ABCDEFGHIJ 0123456789.,"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old_core", type=Path, help="the core/ folder of the other checkout")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per body size")
    parser.add_argument("--sizes", default=",".join(map(str, FLOOR_SIZES)), help="body sizes in bytes")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp())
    (home / "oldcore").symlink_to(args.old_core.resolve(), target_is_directory=True)
    sys.path.insert(0, str(home))
    old_keys, old_pointer = importlib.import_module("oldcore.keys"), importlib.import_module("oldcore.pointer")
    key, seed = hashlib.sha256(b"ab key").digest(), hashlib.sha256(b"ab identity").digest()
    chat, me = ChatKey("bench", key, bytes(16)), Identity("alice", seed)
    old_chat, old_me = old_keys.ChatKey("bench", key, bytes(16)), old_keys.Identity("alice", seed)
    print("  body   floor µs     old µs  (ratio)     new µs  (ratio)  new/old")
    for size in map(int, args.sizes.split(",")):
        body = (_BODY * (size // len(_BODY) + 1))[:size]
        fns = {
            "old": lambda b=body: [old_pointer.unseal(old_chat, t) for t in old_pointer.seal(old_chat, old_me, b)],
            "new": lambda b=body: [unseal(chat, t) for t in seal(chat, me, b)],
            **_floor_steps([len(dearmor(text)[1]) for text in seal(chat, me, body)]),
        }
        best = best_per_call(fns, args.seconds)
        floor = sum(value for name, value in best.items() if name not in ("old", "new"))
        old, new = best["old"], best["new"]
        print(
            f"{size:>6} {floor * 1e6:>10.1f} {old * 1e6:>10.1f} ({old / floor:>6.3f}) {new * 1e6:>10.1f}"
            f" ({new / floor:>6.3f}) {new / old:>8.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
