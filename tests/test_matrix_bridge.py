"""The Matrix carrier's own promises against a real Synapse, beyond the contract suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import raw_chat, raw_identity
from pointerbridge.bridges.base import Bridge, ConfigurationError, RetryableError, bridge_class
from pointerbridge.core import seal
from servers.synapse import matrix_room, shared_server


def _bridge(tmp_path: Path, **changes: object) -> tuple[Bridge, dict[str, object]]:
    config, _ = matrix_room()
    settings = {**config.settings, **changes}
    return bridge_class("matrix").from_config("mx", settings), settings


def test_a_gap_wider_than_the_sync_timeline_is_read_in_full(tmp_path: Path) -> None:
    bridge, _ = _bridge(tmp_path)
    start = bridge.poll(None)
    pointers = [p for i in range(130) for p in seal(raw_chat("gap"), raw_identity("alice"), f"m{i}")]
    for pointer in pointers:  # more than the filter's timeline limit of 100: the sync is `limited`
        bridge.post(pointer)
    result = bridge.poll(start.cursor)
    assert [r.text for r in result.pointers] == pointers
    assert bridge.poll(result.cursor).pointers == []


def test_an_idle_poll_is_one_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nio

    bridge, _ = _bridge(tmp_path)
    cursor = bridge.poll(None).cursor
    calls: list[str] = []
    real_send = nio.AsyncClient._send

    async def counting(self: object, response_class: type, method: str, path: str, *args: object,
                       **kwargs: object) -> object:
        calls.append(f"{method} {path.split('?')[0]}")
        return await real_send(self, response_class, method, path, *args, **kwargs)

    monkeypatch.setattr(nio.AsyncClient, "_send", counting)
    assert bridge.poll(cursor).pointers == []
    assert len(calls) == 1 and calls[0].startswith("GET") and "sync" in calls[0]


def test_a_bad_token_is_a_configuration_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bridge, settings = _bridge(tmp_path)
    monkeypatch.setenv(str(settings["access_token_env"]), "not-a-token")
    with pytest.raises(ConfigurationError, match="refused"):
        bridge.poll(None)
    with pytest.raises(ConfigurationError, match="refused"):
        bridge.post(seal(raw_chat("x"), raw_identity("alice"), "x")[0])


def test_a_missing_room_is_a_configuration_error(tmp_path: Path) -> None:
    bridge, _ = _bridge(tmp_path, room_id="!doesnotexist:localhost")
    with pytest.raises(ConfigurationError, match="mx"):
        bridge.post(seal(raw_chat("x"), raw_identity("alice"), "x")[0])


def test_an_unreachable_server_is_retryable(tmp_path: Path) -> None:
    bridge, _ = _bridge(tmp_path, homeserver="http://127.0.0.1:9")
    with pytest.raises(RetryableError, match="unreachable"):
        bridge.poll(None)


def test_a_post_retried_after_a_lost_answer_is_not_duplicated(tmp_path: Path) -> None:
    bridge, _ = _bridge(tmp_path)
    start = bridge.poll(None)
    (pointer,) = seal(raw_chat("x"), raw_identity("alice"), "once")
    first, second = bridge.post(pointer), bridge.post(pointer)  # same transaction id
    assert first == second
    assert [r.text for r in bridge.poll(start.cursor).pointers] == [pointer]
    assert json.loads(bridge.poll(start.cursor).cursor)["since"]
    assert shared_server().url.startswith("http://127.0.0.1:")
