"""What pb2 and the chat view cost a re-read (issue 21), as ratios in one run.

A chat of N pb1 messages and a chat of N pb2 messages (every tenth an edit, a reply or a
delete) in one home; each read once to make its proofs, then re-read interleaved, best of
``--rounds``: ``read`` of pb1 (the floor), ``read`` of pb2, and ``read_view`` of pb2 (the
view: edits applied, replies quoted, gaps counted). Printed: the seconds and the ratios
pb2/pb1 and view/read. Run: ``.venv/bin/python bench/content_read.py [N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PBRIDGE_IDENTITY_MEMORY_MIB", "64")

from pointerbridge.app.service import App, UnlockedChat
from pointerbridge.core.armor import dearmor
from pointerbridge.core.content import Delete, Edit, Reply, Text
from pointerbridge.core.keys import Identity
from pointerbridge.core.pointer import seal
from pointerbridge.core.pointer2 import new_stream, seal_content
from pointerbridge.home.config import Home


def _fill(app: App, chat: UnlockedChat, count: int, pb2: bool) -> None:
    sender = Identity("bench", os.urandom(32))
    stream, texts, last = new_stream(), [], ""
    for i in range(count):
        if not pb2:
            texts += seal(chat.key, sender, f"message {i}")
            continue
        content = Text(f"message {i}")
        if last and i % 10 == 3:
            content = Edit(last, f"edited {i}")
        elif last and i % 10 == 6:
            content = Reply(last, f"reply {i}")
        elif last and i % 10 == 9:
            content = Delete(last)
        (pointer,) = seal_content(chat.key, sender, content, stream=stream, seq=i + 1)
        texts.append(pointer)
        if isinstance(content, Text):
            from pointerbridge.core.pointer import unseal

            last = unseal(chat.key, pointer).id  # type: ignore[union-attr]
    app.store.add_pointers([(t, dearmor(t)[1]) for t in texts], "in")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("count", nargs="?", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Home(Path(folder), Path(folder))
        with App(home) as app:
            app.init("bench", "bench master phrase for content 42")
            one, two = (app.create_chat(n, "bench secret for content 42", [], allow_weak=True) for n in ("one", "two"))
            _fill(app, one, args.count, pb2=False)
            _fill(app, two, args.count, pb2=True)
            app.read(one)
            app.read(two)  # proofs made: what follows are re-reads
            best = {"pb1 read": 1e9, "pb2 read": 1e9, "pb2 read_view": 1e9}
            for _ in range(args.rounds):
                for label, work in (
                    ("pb1 read", lambda: app.read(one)),
                    ("pb2 read", lambda: app.read(two)),
                    ("pb2 read_view", lambda: app.read_view(two)),
                ):
                    start = time.perf_counter()
                    work()
                    best[label] = min(best[label], time.perf_counter() - start)
    for label, seconds in best.items():
        print(f"{label:>14}: {seconds * 1000:8.1f} ms for {args.count} messages")
    print(f"pb2 read / pb1 read: {best['pb2 read'] / best['pb1 read']:.2f}")
    print(f"read_view / read (pb2): {best['pb2 read_view'] / best['pb2 read']:.2f}")


if __name__ == "__main__":
    main()
