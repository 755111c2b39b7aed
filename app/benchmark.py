"""Codec benchmark: pb1 against its C floor (app/codec_floor.py), against CLM, and pointer sizes.

Run by ``pbridge bench`` and ``bench/codec.py``. Every figure is measured in the same
process and run, so the ratio of pb1 to its primitive floor is meaningful on any machine."""

from __future__ import annotations

import hashlib
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import cryptography
from pointerbridge.app.codec_floor import FLOOR_SIZES, measure
from pointerbridge.core import clm
from pointerbridge.core.keys import ChatKey, Identity
from pointerbridge.core.pointer import AEAD_TAG_BYTES, Keyring, seal, unseal

__all__ = ["run"]

SIZES = (100, 1024, 4096)
ROUTING_CHATS = (1, 100, 10_000)
_TARGET_RATIO = 1.5
_FLOOR_BLOCK = 16  # seconds of one body's floor block (16 figures, interleaved), times --seconds
_STEP_LABELS = {
    "hkdf_x2": "message key x2 / HKDF x2",
    "routing_tag_x2": "routing tag x2 / BLAKE2s x2",
    "ed25519_verify": "key check + verify / verify",
    "base64_encode": "armor (base62, GMP) / base64",
    "base64_decode": "dearmor / base64 decode",
    "seal_python": "seal: Python around the steps",
    "unseal_python": "unseal: Python around the steps",
}
_BODY_CHARS = "abcdefghij klmnopqrstuvwxyz ABCDEFGHIJ 0123456789.,"


def _body(size: int) -> str:
    return (_BODY_CHARS * (size // len(_BODY_CHARS) + 1))[:size]


def _loops(fn: Callable[[], object], seconds: float) -> int:
    fn()
    start = time.perf_counter()
    fn()
    return max(1, int(seconds / max(time.perf_counter() - start, 1e-7)))


def _timed(fns: dict[str, Callable[[], object]], seconds: float, rounds: int = 7) -> dict[str, float]:
    """Seconds per call of each function, the best of ``rounds`` interleaved rounds.

    Interleaving matters on a shared machine: a slow spell then hits every figure of a
    round alike instead of one figure that is later compared with the others.
    """
    loops = {name: _loops(fn, seconds / rounds) for name, fn in fns.items()}
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(loops[name]):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / loops[name])
    return best


def _per_call(fn: Callable[[], object], seconds: float) -> float:
    return _timed({"fn": fn}, seconds)["fn"]


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 2)


def _nip44_chars(size: int) -> int:
    """NIP-44 v2 payload length: base64(version, 32-byte nonce, padded plaintext, MAC)."""
    if size <= 32:
        padded = 32
    else:
        next_power = 1 << (size - 1).bit_length()
        chunk = 32 if next_power <= 256 else next_power // 8
        padded = chunk * ((size - 1) // chunk + 1)
    return 4 * -(-(1 + 32 + 2 + padded + 32) // 3)


def _age_armored_chars(size: int) -> int:
    """age v1, one X25519 recipient, ASCII armor: header 168 bytes, 16-byte nonce, chunks."""
    chunks = max(1, -(-size // 65536))
    b64 = 4 * -(-(168 + 16 + size + 16 * chunks) // 3)
    begin, end = len("-----BEGIN AGE ENCRYPTED FILE-----\n"), len("-----END AGE ENCRYPTED FILE-----\n")
    return begin + b64 + -(-b64 // 64) + end


def _codec(chat: ChatKey, me: Identity, seconds: float) -> dict[str, Any]:
    bodies = {size: _body(size) for size in SIZES}
    fns: dict[str, Callable[[], object]] = {}
    for size, body in bodies.items():
        fns[f"pb1 {size}"] = lambda b=body: unseal(chat, seal(chat, me, b)[0])  # type: ignore[misc]
        fns[f"clm {size}"] = lambda b=body: clm.decode(  # type: ignore[misc]
            clm.encode("general", "alice", b, "secret", 1), "general", "secret"
        )
    measured = _timed(fns, seconds * len(fns))
    rows: dict[str, Any] = {}
    for size, body in bodies.items():
        pb1, old = measured[f"pb1 {size}"], measured[f"clm {size}"]
        rows[str(size)] = {
            "pb1_seal_unseal_us": _us(pb1),
            "pb1_per_second": round(1 / pb1),
            "clm_encode_decode_us": _us(old),
            "clm_per_second": round(1 / old),
            "pb1_chars": len(seal(chat, me, body)[0]),
            "clm_chars": len(clm.encode("general", "alice", body, "secret", 1_758_411_713)),
            "nip44_v2_chars": _nip44_chars(size),
            "age_armored_chars": _age_armored_chars(size),
        }
    return rows


def _routing(me: Identity, seconds: float, say: Callable[[str], None]) -> dict[str, Any]:
    counts = ", ".join(str(count) for count in ROUTING_CHATS)
    say(f"4/4 routing: a pointer among {counts} chats (about {_about(len(ROUTING_CHATS) * seconds)})")
    rows: dict[str, Any] = {}
    keys = [ChatKey(f"chat {i}", hashlib.sha256(b"bench %d" % i).digest()) for i in range(max(ROUTING_CHATS))]
    for count in ROUTING_CHATS:
        ring = Keyring(keys[:count])
        last = keys[count - 1]  # the worst case: every other tag is computed first
        pointer = seal(last, me, _body(100))[0]
        per = _per_call(lambda: ring.unseal(pointer), seconds)  # noqa: B023
        rows[str(count)] = {"unseal_us": _us(per), "per_chat_us": _us(per / count)}
    return rows


def _about(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 1 else "a second"


def _machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass  # not Linux: platform's answer stands
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "openssl": _openssl_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _openssl_version() -> str:
    from cryptography.hazmat.backends.openssl.backend import backend

    return str(backend.openssl_version_text())


def run(seconds: float = 0.6, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure everything; ``seconds`` is the time spent on each figure. ``progress``, if
    given, is told each step before it starts, with about how long it takes (the whole run
    takes about 100 times ``seconds``)."""
    say = progress or (lambda line: None)
    say("1/4 Argon2id: deriving a chat key")
    start = time.perf_counter()
    chat = ChatKey.derive("bench", "bench secret", bytes(16))
    argon2_ms = round((time.perf_counter() - start) * 1000, 1)
    me = Identity(username="alice", seed=hashlib.sha256(b"bench identity").digest())
    sizes = ", ".join(str(size) for size in SIZES)
    figures = 2 * len(SIZES)
    say(f"2/4 codec: pb1 and CLM at {sizes} characters (about {_about(figures * figures * seconds)})")
    codec = _codec(chat, me, seconds)
    floor_sizes = ", ".join(str(size) for size in FLOOR_SIZES)
    blocks = len(FLOOR_SIZES) * _FLOOR_BLOCK * seconds
    say(f"3/4 pb1 against the C floor at {floor_sizes} characters (about {_about(blocks)})")
    floors = {str(size): measure(chat, me, _body(size), _FLOOR_BLOCK * seconds) for size in FLOOR_SIZES}
    one_k = floors["1024"]
    ratio = one_k["ratio"]
    return {
        "machine": _machine(),
        "argon2id_derive_ms": argon2_ms,
        "codec": codec,
        "c_floor": floors,
        "ratios": {size: row["ratio"] for size, row in floors.items()},
        "floor_1k": one_k["floor"],
        "pb1_1k_interleaved_us": one_k["pb1_us"],
        "ratio_1k": ratio,
        "ratio_target": _TARGET_RATIO,
        "ratio_met": ratio <= _TARGET_RATIO,
        "chars_100b_target": 400,
        "chars_100b_met": codec["100"]["pb1_chars"] <= 400,
        "routing": _routing(me, seconds, say),
        "aead_tag_bytes": AEAD_TAG_BYTES,
    }


def render(result: dict[str, Any]) -> str:
    """The figures as a short human-readable report."""
    m = result["machine"]
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
        f"cryptography {m['cryptography']} ({m['openssl']}), {m['date']}",
        f"Argon2id chat key derivation: {result['argon2id_derive_ms']} ms",
        "",
        "body    pb1 seal+unseal        CLM 2.0.2 enc+dec      chars: pb1  CLM   NIP-44v2  age",
    ]
    for size, row in result["codec"].items():
        lines.append(
            f"{size:>5} B {row['pb1_seal_unseal_us']:>9} µs {row['pb1_per_second']:>7}/s"
            f" {row['clm_encode_decode_us']:>9} µs {row['clm_per_second']:>7}/s"
            f"    {row['pb1_chars']:>5} {row['clm_chars']:>5} {row['nip44_v2_chars']:>7} {row['age_armored_chars']:>6}"
        )
    lines += ["", "pb1 seal+unseal against the same work in C primitives alone (base64 as the armor):"]
    lines.append("   body  pointers      pb1 µs    floor µs   ratio")
    for size, row in result["c_floor"].items():
        lines.append(
            f"{size:>7} {row['pointers']:>9} {row['pb1_us']:>11} {row['floor']['total_us']:>11} {row['ratio']:>7}"
        )
    verdict = "met" if result["ratio_met"] else "NOT met"
    lines.append(f"1 KB: pb1 / floor = {result['ratio_1k']} (target <= {result['ratio_target']}: {verdict})")
    lines += ["", "1 KB, step by step (µs; pb1's own code for the step against its floor):"]
    lines.append(f"  {'step (pb1 / its floor)':<34} {'pb1':>9} {'floor':>9} {'above':>9}")
    for step, row in result["c_floor"]["1024"]["above_floor"].items():
        label = _STEP_LABELS.get(step, step)
        lines.append(f"  {label:<34} {row['pb1_us']:>9} {row['floor_us']:>9} {row['above_us']:>9}")
    lines += ["", "routing a 100 B pointer by tag (worst case: the matching chat is last):"]
    for count, row in result["routing"].items():
        lines.append(f"  {count:>6} chats: {row['unseal_us']:>10} µs per pointer ({row['per_chat_us']} µs per chat)")
    return "\n".join(lines)
