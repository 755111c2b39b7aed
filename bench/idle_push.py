"""What idle push connections cost a daemon (issue 20, item 4). Usage:

    python bench/idle_push.py [--listeners 200] [--seconds 100] [--carriers files,cmdchat,matrix,telegram,email]
                              [--cmdchat-dir DIR] [--json]

Per carrier type, in one process (as ``pbridge daemon`` holds them; a process per type, so
that one's threads leave nothing the next would reuse): one home with ``listeners``
carriers of that type, each its own place (a folder, a room, a bot, a mailbox, a CMD-CHAT
username; the entries of ``bench/live_carriers.py``, against the suite's test servers),
and a :class:`Listener` (app/listen.py) on each, with the listeners' real wait. Figures:

- **CPU**: the process's CPU time (every thread) over a window of ``seconds`` (rounded up
  to whole listener waits, 25 s: an idle listener's work comes once per wait, so a shorter
  window could miss it all) once they all wait, as % of one core; beside it the floor,
  the same process over one wait before the listeners started (the main thread
  sleeping, the store open).
- **Memory**: resident memory at the end of the window less the floor's (VmRSS), and its
  growth during the window (a leak shows there). The floor is taken with one listener of
  that type running already (its carrier's libraries imported: paid once, not per
  listener; reported beside, as "imports and one listener").
- **Alive**: after the window, a pointer posted to the place of the last carrier started
  is heard, and no listener has failed.

The servers run in processes of their own (the suite's Bot API server too: its CPU is
not counted as the listeners').
``--profile`` adds, for the window, every thread's busiest functions (``pip install
yappi``).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import queue
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_carriers import CMDCHAT_DIR, CMDCHAT_SOURCE, ENTRIES, Servers, not_listening
from pointerbridge.app.listen import Heard, Listener, ListenEvent, ListenFailed
from pointerbridge.app.service import App
from pointerbridge.bridges.base import bridge_class
from pointerbridge.core import ChatKey, Identity, seal
from pointerbridge.core.keys import RecoveryCode
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config

TARGET_CPU_PERCENT = 1.0
TARGET_MB = 50.0
SETTLE = 5.0  # seconds after the last listener started before the window opens
# Seconds of the longest push-hook wait of any carrier (Bridge.listen_wait: 50 for Matrix and
# Telegram; 25 for files, e-mail, CMD-CHAT): a window of whole such waits holds whole rounds.
LISTEN_WAIT = 50.0


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _cpu_window(seconds: float) -> float:
    """The process's CPU time over ``seconds`` of wall time, as % of one core."""
    cpu, wall = time.process_time(), time.monotonic()
    time.sleep(seconds)
    return (time.process_time() - cpu) / (time.monotonic() - wall) * 100


def _home(root: Path, carriers: dict[str, dict[str, Any]]) -> Home:
    home = Home(root, root)
    home.create()
    save_config(home.config_path, Config(carriers={n: CarrierConfig.model_validate(s) for n, s in carriers.items()}))
    with App(home) as app:
        app.init("daemon", "daemon bench master phrase", recovery=RecoveryCode.new(64), allow_weak=True)
    return home


def _heard(events: queue.Queue[ListenEvent], timeout: float) -> str | None:
    """The carrier whose listener stored the probe first. On a carrier whose listeners all
    share one place (one CMD-CHAT server is one room) each of them reads it, and the one
    home's store keeps it once: only the first to store it hears something new."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = events.get(timeout=left)
        except queue.Empty:
            return None
        if isinstance(event, Heard) and event.received:
            return event.carrier
    return None


def measure_kind(kind: str, servers: Servers, count: int, seconds: float, profile: bool) -> dict[str, Any]:
    """``count`` listeners of carrier type ``kind`` in this process: CPU and memory."""
    settings = {f"{kind}{i}": ENTRIES[kind](servers, 2 if i == count - 1 else 1) for i in range(count)}
    probe_name = f"{kind}{count - 1}"
    poster_settings = settings[probe_name][1]
    carriers = {name: s[0] for name, s in settings.items()} | {"warm-up": ENTRIES[kind](servers, 1)[0]}
    home = _home(servers.root / f"daemon-{kind}", carriers)
    events: queue.Queue[ListenEvent] = queue.Queue()
    gc.collect()
    bare_rss = _rss_mb()
    warm_up = Listener(home, "warm-up", lambda event: None)  # the carrier's libraries imported: not per listener
    warm_up.start()
    time.sleep(SETTLE)
    gc.collect()
    floor_rss = _rss_mb()
    floor_cpu = _cpu_window(LISTEN_WAIT)
    threads_before = threading.active_count()
    listeners = [Listener(home, name, events.put) for name in settings]
    for listener in listeners:
        listener.start()
    time.sleep(SETTLE)  # a bench, not a test: the listeners' first scans and connections
    start_rss = _rss_mb()
    profiler = _Profiler() if profile else None
    cpu = _cpu_window(seconds)
    busiest = profiler.stop() if profiler else None
    end_rss = _rss_mb()
    threads = threading.active_count() - threads_before
    failed = []
    while not events.empty():
        event = events.get()
        if isinstance(event, ListenFailed):
            failed.append(f"{event.carrier}: {event.message}")
    poster = bridge_class(kind).from_config("poster", CarrierConfig.model_validate(poster_settings).settings)
    try:
        chat = ChatKey.derive("idle", "idle bench chat secret", bytes(16))
        poster.post(seal(chat, Identity("p", bytes(32)), "are you there?")[0])
    finally:
        poster.close()
    alive = _heard(events, 30.0)
    running = sum(listener.running for listener in listeners)
    for listener in [*listeners, warm_up]:
        listener.stop()
    for listener in listeners:
        listener.stop(timeout=30)
    result: dict[str, Any] = {
        "listeners": count,
        "threads": threads,
        "running": running,
        "failed": failed[:5],
        "probe heard by": alive,
        "cpu % of a core": round(cpu, 3),
        "floor cpu %": round(floor_cpu, 3),
        "rss MB over floor": round(end_rss - floor_rss, 1),
        "rss MB growth in window": round(end_rss - start_rss, 1),
        "floor rss MB": round(floor_rss, 1),
        "imports and one listener MB": round(floor_rss - bare_rss, 1),
        "max rss MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "met": cpu - floor_cpu < TARGET_CPU_PERCENT and end_rss - floor_rss < TARGET_MB,
    }
    if busiest is not None:
        result["busiest"] = busiest
    return result


class _Profiler:
    """Every thread's CPU by function over the window (yappi), when it is installed."""

    def __init__(self) -> None:
        try:
            import yappi
        except ImportError:
            self._yappi = None
            return
        self._yappi = yappi
        yappi.set_clock_type("cpu")
        yappi.start(builtins=True)

    def stop(self) -> list[str]:
        if self._yappi is None:
            return ["yappi not installed: pip install yappi"]
        self._yappi.stop()
        stats = self._yappi.get_func_stats()
        stats.sort("tsub", "desc")
        lines = [f"{s.tsub * 1000:9.1f} ms own {s.ttot * 1000:9.1f} ms all {s.ncall:7d}x {s.full_name}" for s in stats]
        self._yappi.clear_stats()
        return lines[:25]


def measure(kinds: list[str], count: int, seconds: float, profile: bool, **where: Any) -> dict[str, Any]:
    """Each carrier type in turn, against its server."""
    result: dict[str, Any] = {"seconds": seconds, "load_before": os.getloadavg()[0], "carriers": {}}
    with tempfile.TemporaryDirectory(prefix="pbridge-bench-idle-push-") as scratch:
        servers = Servers(Path(scratch), **where)
        try:
            for kind in kinds:
                reason = not_listening(kind)
                result["carriers"][kind] = (
                    {"not measured": reason} if reason else measure_kind(kind, servers, count, seconds, profile)
                )
        finally:
            servers.close()
    result["load_after"] = os.getloadavg()[0]
    return result


def _table(result: dict[str, Any]) -> str:
    lines = [
        "| carrier | listeners | CPU % of a core | floor CPU % | RSS over floor MB | RSS growth in window MB "
        "| alive | target |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for kind, row in result["carriers"].items():
        if "not measured" in row:
            lines.append(f"| {kind} | not measured: {row['not measured']} | | | | | | |")
            continue
        live = row["probe heard by"] and row["running"] == row["listeners"] and not row["failed"]
        alive = "yes" if live else "**no**"
        met = "met" if row["met"] else "**not met**"
        lines.append(
            f"| {kind} | {row['listeners']} | {row['cpu % of a core']} | {row['floor cpu %']} | "
            f"{row['rss MB over floor']} | {row['rss MB growth in window']} | {alive} | < 1 % and < 50 MB: {met} |"
        )
    lines.append(
        f"\nWindow {result['seconds']:.0f} s each; load average {result['load_before']:.1f} before, "
        f"{result['load_after']:.1f} after."
    )
    for kind, row in result["carriers"].items():
        for line in row.get("failed", []):
            lines.append(f"- {kind} failed: {line}")
        if "busiest" in row:
            lines.append(f"\n{kind}, busiest functions over the window:\n" + "\n".join(row["busiest"]))
    return "\n".join(lines)


def main() -> None:
    """The command line: print the table (or ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listeners", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=100.0, help="rounded up to whole 50 s waits")
    parser.add_argument("--carriers", default=",".join(ENTRIES), help=f"of {','.join(ENTRIES)}")
    parser.add_argument("--cmdchat-dir", type=Path, default=CMDCHAT_DIR)
    parser.add_argument("--cmdchat-source", default=CMDCHAT_SOURCE)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    seconds = math.ceil(args.seconds / LISTEN_WAIT) * LISTEN_WAIT
    kinds = [c.strip() for c in args.carriers.split(",") if c.strip()]
    if set(kinds) - set(ENTRIES):
        parser.error(f"unknown carriers: {', '.join(sorted(set(kinds) - set(ENTRIES)))}")
    where = {"cmdchat_dir": args.cmdchat_dir, "cmdchat_source": args.cmdchat_source}
    if len(kinds) == 1:
        result = measure(kinds, args.listeners, seconds, args.profile, **where)
    else:  # each in a process of its own: one's threads leave malloc arenas the next would reuse
        result = {"seconds": seconds, "load_before": os.getloadavg()[0], "carriers": {}}
        for kind in kinds:
            again = [f"--listeners={args.listeners}", f"--seconds={seconds}", f"--carriers={kind}", "--json"]
            again += [f"--cmdchat-dir={args.cmdchat_dir}", f"--cmdchat-source={args.cmdchat_source}"]
            again += ["--profile"] if args.profile else []
            done = subprocess.run([sys.executable, __file__, *again], capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{kind} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
            result["carriers"] |= json.loads(done.stdout)["carriers"]
        result["load_after"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2) if args.json else _table(result))


if __name__ == "__main__":
    main()
