"""A homeserver in trouble: Synapse going away in the middle of a poll, and Synapse
rate-limiting posts. Each test runs a Synapse of its own, so stopping or throttling it does
not disturb the other tests' server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import raw_chat, raw_identity
from pointerbridge.app.service import App
from pointerbridge.bridges import matrix
from pointerbridge.bridges.base import RetryableError, bridge_class
from pointerbridge.core import seal
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from servers.synapse import Synapse


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Synapse]:
    synapse = Synapse(tmp_path / "synapse")
    synapse.start()
    try:
        yield synapse
    finally:
        synapse.stop()


def _home(tmp_path: Path, server: Synapse, **settings: object) -> tuple[Home, CarrierConfig]:
    made, _ = server.bot_in_new_room("outagebot", "PBRIDGE_TEST_OUTAGE_TOKEN")
    carrier = CarrierConfig.model_validate({**made, **settings})
    home = Home(tmp_path / "home", tmp_path / "home")
    home.create()
    save_config(home.config_path, Config(carriers={"mx": carrier}))
    return home, carrier


def test_synapse_stopped_mid_poll(tmp_path: Path, server: Synapse, monkeypatch: pytest.MonkeyPatch) -> None:
    from pointerbridge.bridges.matrix_api import RawClient  # the poll's reads (issue 19: not nio's session)

    home, carrier = _home(tmp_path, server)
    with App(home) as app:
        assert app.poll().errors == {}  # the bot's starting point: before the messages below
        cursor = app.store.cursor("mx")
        pointers = [p for i in range(150) for p in seal(raw_chat("outage"), raw_identity("alice"), f"m{i}")]
        sender = bridge_class("matrix").from_config("mx", carrier.settings)
        try:
            for pointer in pointers:
                sender.post(pointer)
        finally:
            sender.close()

        # 150 events: the sync is `limited`, and the gap is read in pages of 50; the server
        # stops after the first page has been read.
        monkeypatch.setattr(matrix, "_PAGE", 50)
        real_send = RawClient.send
        pages: list[str] = []

        async def stop_after_first_page(self: Any, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
            if "/messages" in path:
                pages.append(path)
                if len(pages) == 2:
                    server.stop()
            return await real_send(self, method, path, *args, **kwargs)

        monkeypatch.setattr(RawClient, "send", stop_after_first_page)
        failed = app.poll()
        assert len(pages) == 2
        assert "unreachable" in failed.errors["mx"] and failed.to_fix == []
        assert app.store.cursor("mx") == cursor  # the cursor waits for what it covers
        assert failed.received.get("mx", 0) == 0

        server.start()
        done = app.poll()
        assert done.errors == {} and done.received == {"mx": len(pointers)}
        assert len(pages) >= 2 + 3  # the whole gap again, from the unchanged cursor
        assert app.poll().received == {"mx": 0}
        stored = [text for (text,) in app.store._db.execute("SELECT text FROM pointers ORDER BY id")]
        assert stored == pointers


def test_a_rate_limit_is_waited_out_within_its_bound_and_no_longer(tmp_path: Path) -> None:
    server = Synapse(tmp_path / "synapse", message_rate={"per_second": 0.5, "burst_count": 2})
    server.start()
    try:
        _, carrier = _home(tmp_path, server, max_retry_wait=10)
        pointers = [p for i in range(3) for p in seal(raw_chat("slow"), raw_identity("alice"), f"m{i}")]
        patient = bridge_class("matrix").from_config("mx", carrier.settings)
        reader = bridge_class("matrix").from_config("mx", {**carrier.settings, "start": "history"})
        impatient = bridge_class("matrix").from_config("mx", {**carrier.settings, "max_retry_wait": 0})
        try:
            started = time.monotonic()
            for pointer in pointers:  # the third is over the burst: Synapse answers 429, ~2 s
                patient.post(pointer)
            assert 0.5 < time.monotonic() - started < 10
            with pytest.raises(RetryableError, match="rate limited") as refused:
                impatient.post(seal(raw_chat("slow"), raw_identity("alice"), "m3")[0])
            assert refused.value.retry_after is not None and 0 < refused.value.retry_after <= 10
            assert [r.text for r in reader.poll(None).pointers] == pointers  # each once, the refused one not
        finally:
            for bridge in (patient, impatient, reader):
                bridge.close()
    finally:
        server.stop()
