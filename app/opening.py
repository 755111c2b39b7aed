"""Opening a chat's stored pointers: the per-pointer work of a read, on every core.

The first time a pointer is read it is opened fully (routing tag, AEAD, layout, strict
sender key, signature) and a proof is kept beside it in the store: a keyed BLAKE2b of the
whole payload. Later reads that find a matching proof skip the checks it stands for; the
AEAD runs every time.

Whose key makes the proof. A proof lets a pointer skip its Ed25519 check, so whoever can
make one can make any pointer pass as any member. It must not be made from the chat key
alone: every member holds that, and a member who can write the reader's store (a synced
or restored home, a shared machine) would forge a proof for a pointer that names another
member's key and carries no valid signature. So the proof key is

    reader   = Identity.local_key("store proofs")       (HKDF of the reader's identity seed)
    proof_key = HKDF(IKM = reader, salt = HKDF(chat key, "pointerbridge store: signature
                verified"), info = "pointerbridge store: proof of a full open")

bound to both the reader's master phrase (which no one else has: members cannot make it)
and the chat key (a proof made for one chat means nothing under another). The app has
``reader`` once the identity is unlocked in the session (:meth:`App.init`,
:meth:`App.unlock_identity`), in RAM only, like the keys. Without it (``pbridge read``
asks for no master phrase) every pointer is opened fully, signature included, and no
proof is stored or trusted: slower (one Ed25519 verification, ~70-120 µs, per pointer),
never weaker. Proofs made before this scheme (under the chat key alone) never match: the
first read with the identity unlocked verifies each pointer once more and replaces them.

The alternative, always verifying Ed25519 and caching only the cheaper checks, was not
taken: the verification is ~90 % of a full open, so a 100,000-message re-read would go
from ~1.3 s to ~10 s on this machine's two cores.

A long history (``PARALLEL_FROM`` pointers or more, on Linux, more than one core, and no
other thread running) is opened in chunks by forked worker processes, one per core this
process may run on (:func:`cores`; :data:`WORKERS` overrides it): the chat key and the
proof key reach them by ``fork``, in memory, never through a pipe or a file, and only
the opened messages travel back. The caller gets the chunks in stored order either way.
Threads cannot share this work: cryptography holds the GIL while it verifies Ed25519.

While another thread runs (the console reads in the background), forking is unsafe: then
this process opens every chunk itself, every check but the signatures, and spawned
processes (which get no key, only each pointer's sender key, signature and signed bytes)
verify the signatures of one chunk while the next is opened. A chunk is given out only
after its verdicts came back; a signature that does not hold makes its pointer a refusal.

Either way the workers run under ``concurrent.futures``, whose pool notices a worker that
dies (the OOM killer): this process then does that worker's part itself. A
``multiprocessing.Pool`` never notices, and the read waited forever."""

from __future__ import annotations

import contextlib
import hmac
import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from hashlib import blake2b
from typing import TYPE_CHECKING, TypeVar

from pointerbridge.core.errors import PointerError

if TYPE_CHECKING:
    from pointerbridge.core.keys import ChatKey
    from pointerbridge.core.pointer import MessageFields, Part, SignatureCheck

__all__ = ["CHUNK", "PARALLEL_FROM", "WORKERS", "Row", "cores", "open_chunks", "workers_for"]

Row = tuple[int, bytes, int, "bytes | None", float, int]  # pointer id, payload, trashed, proof, received at, version
# (a message's fields, a Part, or None: refused; the proof to store, if new)
Opened = tuple["MessageFields | Part | None", "bytes | None"]
CHUNK = 4000
PARALLEL_FROM = 20_000
# How many worker processes a long history may use; None: one per core (:func:`cores`).
# Tests and bench/firstread.py set it; 1 opens everything in this process.
WORKERS: int | None = None

_In = TypeVar("_In")
_Out = TypeVar("_Out")

# What the workers open, set just before they are forked (and so inherited, not sent).
_job: tuple[ChatKey, bytes | None, list[Row]] | None = None


def open_chunks(key: ChatKey, proof_key: bytes | None, rows: list[Row]) -> Iterator[list[Opened]]:
    """The rows opened, chunk by chunk of ``CHUNK``, in order; each row becomes (a whole
    message's fields, a Part, or None if refused; the proof to store if the row had none
    that matched). Fields, not Message objects, because they cross processes ten times
    cheaper (a datetime pickles slowly). ``proof_key`` None (no identity unlocked): every
    row is opened fully and no proof is made."""
    starts = range(0, len(rows), CHUNK)
    workers = workers_for(len(rows))
    if workers < 2:
        checkers = _checkers_for(len(rows))
        if checkers >= 2:
            yield from _open_checked_apart(key, proof_key, rows, checkers)
            return
        for start in starts:
            yield _open_range(key, proof_key, rows, start)
        return
    global _job
    _job = (key, proof_key, rows)
    try:
        with _pool(workers, "fork") as pool:
            # Each future let go of once given out: held, every chunk opened would stay in memory.
            futures = deque((start, _submitted(pool, _open_forked, start)) for start in starts)
            while futures:
                start, future = futures.popleft()
                try:
                    chunk = future.result()
                except BrokenProcessPool:  # a worker died (the OOM killer): this process opens its part
                    chunk = _open_range(key, proof_key, rows, start)
                del future
                yield chunk
    finally:
        _job = None


@contextlib.contextmanager
def _pool(workers: int, method: str, initializer: Callable[[], None] | None = None) -> Iterator[ProcessPoolExecutor]:
    """Worker processes that a reader stops waiting for when one dies (a ``multiprocessing.Pool``
    waits forever); left early, what has not started is cancelled."""
    context = multiprocessing.get_context(method)
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_start, initargs=(os.getpid(), initializer)
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _worker_start(parent: int, then: Callable[[], None] | None) -> None:
    """First in every worker: it dies with this process (its workers wait for work on a
    queue whose writing end they hold too, so nothing else would end them), then ``then``."""
    from .hardening import die_with_parent

    die_with_parent(parent)
    if then is not None:
        then()


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Ctrl-C held back (its SIGINT blocked) while a pool starts its workers, then raised:
    landing between a fork and the start of the pool's thread, it left a worker that no
    shutdown stops. The workers keep it blocked: an interrupt is this process's to handle,
    and its shutdown ends them."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    counted = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if counted is not None:
        return int(counted() or 1)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def workers_for(count: int) -> int:
    """How many processes open ``count`` rows: 1 (this one) for a short history, off
    Linux, or while another thread runs (forking a threaded process, the daemon or the
    console, is unsafe); else one per core, at most one per chunk."""
    if count < PARALLEL_FROM or not sys.platform.startswith("linux") or threading.active_count() > 1:
        return 1
    return max(1, min(WORKERS or cores(), -(-count // CHUNK)))


def _checkers_for(count: int) -> int:
    """How many processes check signatures for a long history read while another thread
    runs (the console's background settle): not forked but spawned, so they hold no key
    and get only public inputs (:func:`_open_checked_apart`); 1: none, all here."""
    if count < PARALLEL_FROM or threading.active_count() < 2:
        return 1
    return max(1, min(WORKERS or cores(), -(-count // CHUNK)))


def _open_checked_apart(
    key: ChatKey, proof_key: bytes | None, rows: list[Row], checkers: int
) -> Iterator[list[Opened]]:
    # This process opens each chunk (the AEAD, every check but the signature) while
    # spawned processes verify the signatures of the chunks before it: the keys never
    # leave this process, and a chunk is given out only once all of its signatures held
    # or its forgeries were turned into refusals.
    pending: deque[tuple[list[Opened], list[int], list[SignatureCheck], Future[list[bool]]]] = deque()
    with _checker_pool(checkers) as pool:
        for start in range(0, len(rows), CHUNK):
            opened, positions, checks = _open_range_deferred(key, proof_key, rows, start)
            pending.append((opened, positions, checks, _submitted(pool, _signatures_hold, checks)))
            while pending and (pending[0][3].done() or len(pending) > checkers):
                yield _checked(*pending.popleft())
        while pending:
            yield _checked(*pending.popleft())


def _submitted(pool: ProcessPoolExecutor, work: Callable[[_In], _Out], argument: _In) -> Future[_Out]:
    """``work(argument)`` given to the pool; a pool a worker already died in gives it back
    failed with ``BrokenProcessPool``, as a task it had taken, for the caller to do here."""
    try:
        with _interrupts_held():
            return pool.submit(work, argument)
    except BrokenProcessPool as exc:
        failed: Future[_Out] = Future()
        failed.set_exception(exc)
        return failed


def _checker_pool(checkers: int) -> contextlib.AbstractContextManager[ProcessPoolExecutor]:
    """Spawned processes for the signatures, hardened before they get any: the bytes a
    sender signs hold the message (username and body), and an ``exec`` makes a process
    dumpable again, whatever its parent (app/hardening.py)."""
    from .hardening import harden_process

    return _pool(checkers, "spawn", harden_process)


def _checked(
    opened: list[Opened], positions: list[int], checks: list[SignatureCheck], verdicts: Future[list[bool]]
) -> list[Opened]:
    try:
        held = verdicts.result()
    except BrokenProcessPool:  # a checker died (the OOM killer): this process checks the chunk
        held = _signatures_hold(checks)
    if len(held) != len(positions):
        raise RuntimeError("a signature checker answered for another number of pointers")
    for position, ok in zip(positions, held, strict=True):
        if not ok:
            opened[position] = (None, None)  # a forgery: refused, and no proof made for it
    return opened


def _signatures_hold(checks: list[SignatureCheck]) -> list[bool]:
    """Run in a spawned checker: public inputs in, one verdict per signature out."""
    from pointerbridge.core.pointer import signature_holds

    return [signature_holds(check) for check in checks]


def _open_range_deferred(
    key: ChatKey, proof_key: bytes | None, rows: list[Row], start: int
) -> tuple[list[Opened], list[int], list[SignatureCheck]]:
    """A chunk opened with every check but the signatures of the rows opened fully (those
    with no matching proof): returned with their positions, to be judged before anyone
    sees them (here by :func:`_open_range`, or apart by :func:`_checked`)."""
    from pointerbridge.core.pointer import Message, message_fields, open_payload_deferred

    out: list[Opened] = []
    positions: list[int] = []
    checks: list[SignatureCheck] = []
    for _, payload, _, proof, _, version in rows[start : start + CHUNK]:
        try:
            known, mac = _by_proof(key, proof_key, payload, proof, version)
            if known is not None:
                out.append(known)
                continue
            item, check = open_payload_deferred(key, payload, version=version)
        except PointerError:
            out.append((None, None))
            continue
        positions.append(len(out))
        checks.append(check)
        out.append((message_fields(item) if isinstance(item, Message) else item, mac))
    return out, positions, checks


def _open_forked(start: int) -> list[Opened]:
    if _job is None:
        raise RuntimeError("a worker started without a job")
    return _open_range(*_job, start)


def _open_range(key: ChatKey, proof_key: bytes | None, rows: list[Row], start: int) -> list[Opened]:
    """A chunk opened fully here, signatures included: what :func:`_open_range_deferred`
    leaves, checked at once (the same checks, in the same order, as ``open_payload``)."""
    from pointerbridge.core.pointer import signature_holds

    opened, positions, checks = _open_range_deferred(key, proof_key, rows, start)
    for position, check in zip(positions, checks, strict=True):
        if not signature_holds(check):
            opened[position] = (None, None)  # a forgery: refused, and no proof made for it
    return opened


def _by_proof(
    key: ChatKey, proof_key: bytes | None, payload: bytes, proof: bytes | None, version: int = 1
) -> tuple[Opened | None, bytes | None]:
    """(the row opened on the strength of its proof, None) when its proof matches; else
    (None, the proof to store once it is opened fully; None without a proof key).

    The proof binds the version the payload was opened under (BLAKE2b's personalization:
    none for pb1, as proofs were made before pb2, ``pb<version>`` for later ones), so a
    proof of a pb1 open never vouches for a pb2 open of the same bytes, or the other way."""
    from pointerbridge.core.pointer import open_known_fields

    if proof_key is None:
        return None, None
    # Over the whole payload: a chat member knows the AEAD key, so nonce and tag alone
    # would not pin the ciphertext.
    person = b"" if version == 1 else b"pb%d" % version
    mac = blake2b(payload, key=proof_key, digest_size=32, person=person).digest()
    if proof is not None and hmac.compare_digest(mac, proof):
        return (open_known_fields(key, payload, version=version), None), None
    return None, mac
