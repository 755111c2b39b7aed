"""The Matrix carrier's own promises against a real Synapse, beyond the contract suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import raw_chat, raw_identity
from pointerbridge.bridges.base import Bridge, ConfigurationError, RetryableError, bridge_class
from pointerbridge.core import seal
from servers.synapse import matrix_room, shared_server

MakeBridge = Callable[..., tuple[Bridge, dict[str, object]]]


@pytest.fixture
def make_bridge() -> Iterator[MakeBridge]:
    """A Matrix bridge on a fresh bot and room, with settings changed as asked; closed after."""
    made: list[Bridge] = []

    def make(**changes: object) -> tuple[Bridge, dict[str, object]]:
        config, _ = matrix_room()
        settings = {**config.settings, **changes}
        made.append(bridge_class("matrix").from_config("mx", settings))
        return made[-1], settings

    yield make
    for bridge in made:
        bridge.close()


def test_a_gap_wider_than_the_sync_timeline_is_read_in_full(make_bridge: MakeBridge) -> None:
    bridge, _ = make_bridge()
    start = bridge.poll(None)
    pointers = [p for i in range(130) for p in seal(raw_chat("gap"), raw_identity("alice"), f"m{i}")]
    for pointer in pointers:  # more than the filter's timeline limit of 100: the sync is `limited`
        bridge.post(pointer)
    result = bridge.poll(start.cursor)
    assert [r.text for r in result.pointers] == pointers
    assert bridge.poll(result.cursor).pointers == []


def test_an_idle_poll_is_one_sync(make_bridge: MakeBridge, monkeypatch: pytest.MonkeyPatch) -> None:
    import nio
    from pointerbridge.bridges.matrix_api import RawClient

    bridge, _ = make_bridge()
    cursor = bridge.poll(None).cursor
    calls: list[str] = []
    # Every request goes through one of these: nio's (sending, the filter) or the raw reads'.
    for cls in (nio.AsyncClient, RawClient):
        real_send = cls.send

        async def counting(
            self: object, method: str, path: str, *args: object, real: Any = real_send, **kw: Any
        ) -> Any:
            calls.append(f"{method} {path.split('?')[0]}")
            return await real(self, method, path, *args, **kw)

        monkeypatch.setattr(cls, "send", counting)
    assert bridge.poll(cursor).pointers == []
    assert len(calls) == 1 and calls[0].startswith("GET") and "sync" in calls[0]


def test_an_idle_cron_poll_does_not_import_nio(tmp_path: Path) -> None:
    # Issue 19, item 3: the idle poll is one /sync read as raw JSON, yet importing nio for its
    # HTTP session cost the process more than everything else it did.
    from pointerbridge.app.service import App
    from pointerbridge.home.config import Config, Home, save_config
    from test_idle_poll import imported_modules

    config, _ = matrix_room()
    home = Home(tmp_path / "home", tmp_path / "home")
    home.create()
    save_config(home.config_path, Config(carriers={"mx": config}))
    with App(home) as app:
        app.init("bob", "bob's long master phrase here", allow_weak=True)
        assert app.poll().errors == {}  # the filter is made (by nio) and the cursor saved
    modules = imported_modules("--home", str(tmp_path / "home"), "poll", cwd=tmp_path)
    assert "pointerbridge.bridges.matrix" in modules and "aiohttp" in modules
    assert sorted(m for m in modules if m == "nio" or m.startswith("nio.")) == []


def test_a_cron_poll_makes_no_aiodns_resolver(tmp_path: Path) -> None:
    # aiodns is installed (slixmpp needs it) and aiohttp takes it by default; its pycares
    # keeps a thread for good once a resolver ends, and a process with a thread no longer
    # forks its readers (app/opening.py). The raw session of an idle poll, made before nio
    # ever ran, took it: the CI's workers then refused to fork. A fresh process sees that
    # order; a test worker may have run nio first.
    from pointerbridge.app.service import App
    from pointerbridge.home.config import Config, Home, save_config

    config, _ = matrix_room()
    home = Home(tmp_path / "home", tmp_path / "home")
    home.create()
    save_config(home.config_path, Config(carriers={"mx": config}))
    with App(home) as app:
        app.init("bob", "bob's long master phrase here", allow_weak=True)
        assert app.poll().errors == {}
    code = (
        "import atexit, sys, threading, aiodns\n"
        "made = []\n"
        "real = aiodns.DNSResolver.__init__\n"
        "def counted(self, *a, **k):\n"
        "    made.append(1)\n"
        "    real(self, *a, **k)\n"
        "aiodns.DNSResolver.__init__ = counted\n"
        "atexit.register(lambda: print('RESOLVERS', len(made), 'THREADS', threading.active_count(), file=sys.stderr))\n"
        f"sys.argv = ['pbridge', '--home', {str(tmp_path / 'home')!r}, 'poll']\n"
        "from pointerbridge.cli.entry import entry\n"
        "entry()\n"
    )
    unset = ("PBRIDGE_HOME", "PBRIDGE_MASTER_PHRASE", "PBRIDGE_CHAT_SECRET")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "posted 0, received 0" in done.stdout
    assert "RESOLVERS 0 THREADS 1" in done.stderr, done.stderr[-2000:]


def test_a_bad_token_is_a_configuration_error(make_bridge: MakeBridge, monkeypatch: pytest.MonkeyPatch) -> None:
    bridge, settings = make_bridge()
    monkeypatch.setenv(str(settings["access_token_env"]), "not-a-token")
    with pytest.raises(ConfigurationError, match="refused"):
        bridge.poll(None)
    with pytest.raises(ConfigurationError, match="refused"):
        bridge.post(seal(raw_chat("x"), raw_identity("alice"), "x")[0])


def test_a_missing_room_is_a_configuration_error(make_bridge: MakeBridge) -> None:
    bridge, _ = make_bridge(room_id="!doesnotexist:localhost")
    with pytest.raises(ConfigurationError, match="mx"):
        bridge.post(seal(raw_chat("x"), raw_identity("alice"), "x")[0])


def test_an_unreachable_server_is_retryable(make_bridge: MakeBridge) -> None:
    bridge, _ = make_bridge(homeserver="http://127.0.0.1:9")
    with pytest.raises(RetryableError, match="unreachable"):
        bridge.poll(None)


def test_a_post_retried_after_a_lost_answer_is_not_duplicated(make_bridge: MakeBridge) -> None:
    bridge, _ = make_bridge()
    start = bridge.poll(None)
    (pointer,) = seal(raw_chat("x"), raw_identity("alice"), "once")
    first, second = bridge.post(pointer), bridge.post(pointer)  # same transaction id
    assert first == second
    assert [r.text for r in bridge.poll(start.cursor).pointers] == [pointer]
    assert json.loads(bridge.poll(start.cursor).cursor)["since"]
    assert shared_server().url.startswith("http://127.0.0.1:")


def test_a_gap_longer_than_one_poll_may_read_is_finished_by_the_next(
    make_bridge: MakeBridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pointerbridge.bridges import matrix

    bridge, _ = make_bridge()
    start = bridge.poll(None)
    pointers = [p for i in range(150) for p in seal(raw_chat("long"), raw_identity("alice"), f"m{i}")]
    for pointer in pointers:
        bridge.post(pointer)
    monkeypatch.setattr(matrix, "_MAX_PAGES", 2)
    monkeypatch.setattr(matrix, "_PAGE", 50)
    first = bridge.poll(start.cursor)  # two pages of fifty, then stop: memory and time stay bounded
    assert [r.text for r in first.pointers] == pointers[:100]
    assert json.loads(first.cursor)["since"] == json.loads(start.cursor)["since"]  # the gap is not done
    second = bridge.poll(first.cursor)
    assert [r.text for r in second.pointers] == pointers[100:]
    assert bridge.poll(second.cursor).pointers == []


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", b"", b"two words", b"line\nbreak"])
def test_a_token_file_without_a_usable_token_is_a_configuration_error(
    make_bridge: MakeBridge, tmp_path: Path, content: bytes
) -> None:
    token = tmp_path / "mx.token"
    token.write_bytes(content)
    token.chmod(0o600)
    bridge, _ = make_bridge(access_token_env=None, access_token_file=str(token))
    with pytest.raises(ConfigurationError, match="does not hold an access token"):
        bridge.poll(None)


def test_diagnose_checks_the_token_and_the_room(make_bridge: MakeBridge, monkeypatch: pytest.MonkeyPatch) -> None:
    good, settings = make_bridge()
    found = {f.check: f for f in good.diagnose(None)}
    assert found["token"].status == found["room"].status == "ok"
    _, theirs = make_bridge()  # another bot's room, which this bot never joined
    elsewhere = bridge_class("matrix").from_config("mx", {**settings, "room_id": theirs["room_id"]})
    try:
        room = {f.check: f for f in elsewhere.diagnose(None)}["room"]
        assert room.status == "fail" and "has not joined" in room.detail
    finally:
        elsewhere.close()
    monkeypatch.setenv("PBRIDGE_TEST_MATRIX_WRONG", "syt_not_a_real_token")
    with pytest.raises(ConfigurationError, match="refused"):
        make_bridge(access_token_env="PBRIDGE_TEST_MATRIX_WRONG")[0].diagnose(None)
