"""First-read benchmark (issue 19, item 4): a chat's whole history read for the first time,
one Ed25519 verification per pointer, against the bare verify cost. Usage:

    python bench/firstread.py [--count 20000] [--json]

A chat of ``count`` stored pointers (~300 B messages from two senders; building it is not
measured). Each round, interleaved in this one process: the bare floor (cryptography's
``Ed25519PublicKey.verify`` alone over the same messages' signatures and signed bytes, a
sample of 2,000, one core), then ``App.read`` with every proof cleared (a first read: AEAD,
layout, strict key and signature per pointer, proofs stored, trust judged) opened in this
process alone (``opening.WORKERS = 1``), on every core (``opening.cores()``, forked
workers), and on every core beside another thread, as the console reads (no fork: this
process opens, spawned processes check the signatures). Best of
``ROUNDS``. The figure that matters: pointers read per second per core, as a share of
verifications per second per core (1.0: a read costs exactly its signature checks). Both
are given per wall second (divided by the cores used: honest on a quiet machine only) and
per CPU second of this process and its workers (``resource.getrusage``: what a core busy
with the read gets through, however loaded the machine is).
"""

from __future__ import annotations

import hashlib
import os
import resource
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from local_app import cli
from pointerbridge.app import opening
from pointerbridge.app.service import App
from pointerbridge.core import Identity
from pointerbridge.core.pointer import _seal
from pointerbridge.home.config import Home

SECRET = "bench chat secret"
ROUNDS = 3
SAMPLE = 2000


def _cpu() -> float:
    """CPU seconds spent so far by this process and its reaped children (the workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _floor_us(samples: list[tuple[Any, bytes, bytes]]) -> tuple[float, float]:
    """(wall, CPU) microseconds per bare Ed25519 verification, in this process."""
    start, cpu = time.perf_counter(), _cpu()
    for public, signature, data in samples:
        public.verify(signature, data)
    return (time.perf_counter() - start) / len(samples) * 1e6, (_cpu() - cpu) / len(samples) * 1e6


def run(count: int) -> dict[str, Any]:
    count = max(count, opening.PARALLEL_FROM)  # below it a read never forks: nothing to compare
    cores = opening.cores()
    body = "lorem ipsum dolor sit amet " * 8
    # The floor's inputs: signatures of messages of the same size, under the same kind of key.
    keys = [Ed25519PrivateKey.from_private_bytes(hashlib.sha256(n).digest()) for n in (b"a", b"c")]
    samples = []
    for i in range(SAMPLE):
        data = os.urandom(96) + f"message {i:06d}: {body}".encode()
        samples.append((keys[i % 2].public_key(), keys[i % 2].sign(data), data))
    with tempfile.TemporaryDirectory(prefix="pbridge-bench-") as scratch:
        app = App(Home(Path(scratch), Path(scratch)))
        app.init("bob", "bench phrase", allow_weak=True)
        chat = app.create_chat("bench", SECRET, [], allow_weak=True)
        senders = [Identity(n, hashlib.sha256(n.encode()).digest()) for n in ("alice", "carol")]
        for first in range(0, count, 10_000):
            texts = [
                _seal(chat.key, senders[i % 2], f"message {i:06d}: {body}", None, os.urandom, 1_790_000_000_000 + i)[0]
                for i in range(first, min(first + 10_000, count))
            ]
            app.receive("\n".join(texts))
        app.read_page(chat, limit=1)  # routes the received pointers to the chat, once (a poll's work)
        names = ("floor", "one", "all", "thread")
        best = dict.fromkeys([*names, *(f"{n} cpu" for n in names)], float("inf"))
        for _ in range(ROUNDS):
            wall, cpu = _floor_us(samples)
            best["floor"], best["floor cpu"] = min(best["floor"], wall), min(best["floor cpu"], cpu)
            # "thread": beside another thread, as the console reads (no fork: spawned checkers)
            for name, workers in (("one", 1), ("all", cores), ("thread", cores)):
                app.store._db.execute("UPDATE pointers SET verified = NULL")  # a first read again
                opening.WORKERS = workers
                stop = threading.Event()
                other = threading.Thread(target=stop.wait)
                if name == "thread":
                    other.start()
                start, cpu = time.perf_counter(), _cpu()
                shown, refused = app.read(chat)
                best[name] = min(best[name], time.perf_counter() - start)
                best[f"{name} cpu"] = min(best[f"{name} cpu"], _cpu() - cpu)
                stop.set()
                if name == "thread":
                    other.join()
                assert len(shown) == count and refused == 0
        opening.WORKERS = None
        app.close()
    verify_rate = 1e6 / best["floor"]  # verifications per second on one core
    one_rate = count / best["one"]
    all_rate = count / best["all"] / cores
    # The same per CPU second (this process and its workers): what a core busy with it does,
    # however loaded the machine is.
    verify_cpu, one_cpu, all_cpu = 1e6 / best["floor cpu"], count / best["one cpu"], count / best["all cpu"]
    return {
        "count": count,
        "cores": cores,
        "bare_verify_us": round(best["floor"], 1),
        "bare_verifies_per_s_per_core": round(verify_rate),
        "first_read_1_worker_s": round(best["one"], 2),
        "first_read_all_cores_s": round(best["all"], 2),
        "pointers_per_s_per_core_1_worker": round(one_rate),
        "pointers_per_s_per_core_all_cores": round(all_rate),
        "share_of_verify_rate_1_worker": round(one_rate / verify_rate, 2),
        "share_of_verify_rate_all_cores": round(all_rate / verify_rate, 2),
        "speedup_all_cores": round(best["one"] / best["all"], 2),
        "first_read_beside_a_thread_s": round(best["thread"], 2),
        "speedup_beside_a_thread": round(best["one"] / best["thread"], 2),
        "bare_verifies_per_cpu_s": round(verify_cpu),
        "pointers_per_cpu_s_1_worker": round(one_cpu),
        "pointers_per_cpu_s_all_cores": round(all_cpu),
        "cpu_share_of_verify_rate_1_worker": round(one_cpu / verify_cpu, 2),
        "cpu_share_of_verify_rate_all_cores": round(all_cpu / verify_cpu, 2),
    }


if __name__ == "__main__":
    cli(run, 20_000, __doc__)
