"""Scanning benchmark (issue 17, item 10): what junk text and a large paste cost. Usage:

    python bench/scanning.py [--against REV] [--rounds 2] [--json]

Each case runs in a process of its own (``python -S`` on a tree of the package, so nothing
else shares its memory), which reports its CPU seconds and how far its peak RSS grew over
its RSS while the case ran (Linux: the peak is reset after the input is built, through
``/proc/self/clear_refs``; elsewhere ``ru_maxrss``, which can hide a growth below the
set-up's own peak), beside the input's size:

1. ``scan 8 MiB junk``: ``scan_pointers`` over 8 MiB of ``pb1 `` (the audit's file).
2. ``poll 8 MiB junk file``: one ``App.poll`` of a files carrier whose folder holds that
   text as one 8 MiB file (the largest the carrier reads): read, decode, scan, store.
3. ``receive 10 MB junk paste``: ``App.receive`` of 10,000,000 characters of ``pb1 ``.
4. ``scan 10 MB of pointers``: ``scan_pointers`` over a 10 MB paste of 7,000 pointers
   (1 KB payloads) quoted as a mail reply (72-character lines behind ``> ``).
5. ``poll 8 MiB file of pb1.``: as 2, with ``pb1.`` (a refused candidate every 4 characters).
6. ``scan 2 MiB of ...``: ``scan_pointers`` over 2 MiB of each shape of junk in ``SHAPES``
   (and random base62 with `` pb1`` sprinkled): the worst shape, not only ``pb1 ``.

``--against REV`` measures the tree of that revision too (``git archive``), interleaved
with this one (REV, this, this, REV for two rounds): before and after in one session.
The figure kept per side is the best (least CPU) round; the peak is that round's.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
# Junk of every shape found (issue 17, item 10, second review): 2 MiB each, the unit repeated.
SHAPES = {
    "pb1.": "pb1.",  # a run cut right after `pb1`: a refused candidate every 4 characters
    "pb1 1.": "pb1 1.",
    "pb18zz ": "pb18zz ",  # declares too many bytes
    "pb1000 ": "pb1000 ",  # declares an empty payload
    "pb1 8zz ": "pb1 8zz ",
    "pb18WW.": "pb18WW.",  # a possible header, the run ends before the data
    "pb1001.": "pb1001.",
    "pb1001zz.": "pb1001zz.",  # complete, not canonical
    "pb10Az ": "pb10Az ",  # complete, long, not canonical
    "run tails": "pb1 8WW " * 6000 + ".",  # each header declares more than its run holds
    "pb100100 (valid)": "pb100100",  # not junk: a 1-byte pointer every 8 characters
}
CASES = (
    "scan 8 MiB junk",
    "poll 8 MiB junk file",
    "poll 8 MiB file of pb1.",
    "receive 10 MB junk paste",
    "scan 10 MB of pointers",
    *(f"scan 2 MiB of {shape}" for shape in SHAPES),
    "scan 2 MiB base62 with pb1",
)


def _base62_with_pb1(size: int) -> str:
    import random

    rnd = random.Random(17)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return "".join(rnd.choice(alphabet) if rnd.random() > 0.05 else " pb1" for _ in range(size))[:size]


def _paste_of_pointers() -> str:
    from pointerbridge.core.armor import armor

    lines = []
    for i in range(7000):
        pointer = armor(1, i.to_bytes(4, "big") * 250)
        lines += ["> " + pointer[j : j + 72] for j in range(0, len(pointer), 72)]
        lines.append(">")
    return "\n".join(lines)[:10_000_000]


def _app(root: Path) -> Any:
    from pointerbridge.app.service import App
    from pointerbridge.home.config import CarrierConfig, Config, Home, save_config

    shared = root / "shared"
    shared.mkdir()
    home = Home(root / "home", root / "home")
    home.create()
    carrier = CarrierConfig.model_validate({"type": "files", "path": str(shared)})
    save_config(home.config_path, Config(carriers={"shared": carrier}))
    return App(home)


def _case(name: str, root: Path) -> tuple[int, Callable[[], object]]:
    """(input size in bytes, the call to measure); what the call needs is built first."""
    from pointerbridge.core.armor import scan_pointers

    if name == "scan 8 MiB junk":
        junk = "pb1 " * (2 * MIB)
        return len(junk), lambda: scan_pointers(junk)
    if name.startswith("poll 8 MiB"):
        app = _app(root)
        unit = "pb1." if name.endswith("pb1.") else "pb1 "
        (root / "shared" / "00000000000000000001-junk.pb").write_text(unit * (2 * MIB))
        return 8 * MIB, app.poll
    if name.startswith("scan 2 MiB"):
        shape = name.removeprefix("scan 2 MiB of ")
        unit = SHAPES.get(shape, "")
        text = (unit * (2 * MIB // len(unit) + 1))[: 2 * MIB] if unit else _base62_with_pb1(2 * MIB)
        return len(text), lambda: scan_pointers(text)
    if name == "receive 10 MB junk paste":
        app = _app(root)
        paste = "pb1 " * 2_500_000
        return len(paste), lambda: app.receive(paste)
    paste = _paste_of_pointers()
    return len(paste), lambda: scan_pointers(paste)


def _rss_kib() -> tuple[int, int]:
    """(resident now, peak resident) of this process in KiB, the peak reset first where
    Linux allows it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak, peak


def _peak_kib() -> int:
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
        return int(fields["VmHWM"].split()[0])
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(name: str) -> None:
    """Run one case in this process and print its figures as JSON."""
    with tempfile.TemporaryDirectory(prefix="pbridge-bench-") as scratch:
        size, call = _case(name, Path(scratch))
        gc.collect()
        before, _ = _rss_kib()
        cpu, wall = time.process_time(), time.perf_counter()
        call()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        grew = _peak_kib() - before
    print(json.dumps({"bytes": size, "cpu_s": cpu, "wall_s": wall, "peak_growth_mib": grew / 1024}))


def _tree(source: Path, into: Path) -> Path:
    """A folder holding ``pointerbridge/`` as the wheel lays it out, linked to ``source``."""
    folders = tomllib.loads((source / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    package = into / "pointerbridge"
    package.mkdir(parents=True)
    for name, folder in folders.items():
        if name.count(".") == 1:
            (package / name.split(".")[1]).symlink_to(source / folder)
    return into


def _revision(rev: str, into: Path) -> Path:
    source = into / "source"
    source.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    return _tree(source, into / "tree")


def _measure(tree: Path, name: str) -> dict[str, Any]:
    paths = [str(tree), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    # -S: no site, so the editable install's finder cannot bring in this worktree instead.
    out = subprocess.run(
        [sys.executable, "-S", str(Path(__file__).resolve()), "--child", name],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.splitlines()[-1])


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = min(runs, key=lambda r: r["cpu_s"])
    return {
        "cpu_s": round(best["cpu_s"], 3),
        "mb_per_s": round(best["bytes"] / best["cpu_s"] / 1e6, 1),
        "peak_growth_mib": round(best["peak_growth_mib"], 1),
        "times_input": round(best["peak_growth_mib"] * MIB / best["bytes"], 2),
    }


def run(against: str | None, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pbridge-bench-trees-") as scratch:
        trees = {"HEAD": _tree(ROOT, Path(scratch) / "head")}
        if against:
            trees = {against: _revision(against, Path(scratch) / "old"), **trees}
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {side: {c: [] for c in CASES} for side in trees}
        order = list(trees)
        for round_ in range(rounds):
            for side in order if round_ % 2 == 0 else order[::-1]:
                for case in CASES:
                    print(f"round {round_ + 1}/{rounds}: {side}: {case}", file=sys.stderr, flush=True)
                    runs[side][case].append(_measure(trees[side], case))
    return {side: {case: _best(r) for case, r in cases.items()} for side, cases in runs.items()}


def render(result: dict[str, Any]) -> str:
    sides = list(result)
    head = "| case | " + " | ".join(f"{s}: CPU s, MB/s, peak growth (x input)" for s in sides) + " |"
    lines = [head, "|---|" + "---:|" * len(sides)]
    for case in CASES:
        cells = [
            f"{f['cpu_s']} s, {f['mb_per_s']} MB/s, {f['peak_growth_mib']} MiB ({f['times_input']}x)"
            for f in (result[s][case] for s in sides)
        ]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--against", help="also measure this revision (e.g. HEAD~1)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each case on each side")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    result = run(args.against, args.rounds)
    print(json.dumps(result, indent=2) if args.json else render(result))


if __name__ == "__main__":
    main()
