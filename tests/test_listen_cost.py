"""What a live listener keeps while it waits: a daemon holds one per carrier, so whatever
one keeps for every carrier of the home grows with the square of their number."""

from __future__ import annotations

import gc
import queue
import tracemalloc
from pathlib import Path

from helpers import raw_chat, raw_identity
from pointerbridge.app.listen import Heard, Listener, ListenEvent
from pointerbridge.app.service import App
from pointerbridge.bridges.files import FilesBridge
from pointerbridge.core import seal
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config

CARRIERS = 300


def _config_bytes(snapshot: tracemalloc.Snapshot) -> int:
    """Bytes held by what config.toml was read into (its parser's strings, the carriers)."""
    files = ("tomllib", "home/config.py")
    return sum(
        stat.size for stat in snapshot.statistics("filename") if any(f in stat.traceback[0].filename for f in files)
    )


def test_a_listener_keeps_only_its_own_carrier_of_config_toml(tmp_path: Path) -> None:
    folders = [tmp_path / f"folder{n}" for n in range(CARRIERS)]
    for folder in folders:
        folder.mkdir()
    carriers = {f"c{n}": CarrierConfig.model_validate({"type": "files", "path": str(f)}) for n, f in enumerate(folders)}
    home = Home(tmp_path / "home", tmp_path / "home")
    home.create()
    save_config(home.config_path, Config(carriers=carriers))
    with App(home) as app:
        app.init("bob", "bob phrase", allow_weak=True)
    pointer = seal(raw_chat("listen"), raw_identity("alice"), "for the last carrier")[0]
    FilesBridge.from_config("poster", {"path": str(folders[-1])}).post(pointer)
    events: queue.Queue[ListenEvent] = queue.Queue()
    gc.collect()
    tracemalloc.start()
    try:
        before = _config_bytes(tracemalloc.take_snapshot())
        listener = Listener(home, f"c{CARRIERS - 1}", events.put, wait=1.0)  # stop() waits for the wait to end
        listener.start()
        event = events.get(timeout=60)
        assert isinstance(event, Heard) and event.received == 1  # it has read config.toml and listens
        gc.collect()
        held = _config_bytes(tracemalloc.take_snapshot()) - before
    finally:
        tracemalloc.stop()
    assert listener.stop(timeout=60)
    # One carrier's table is a few hundred bytes; before, all 300 were kept (~130 KB).
    assert held < 10_000, f"the listener holds {held} bytes of config.toml"
