"""The listener's pauses (app/listen.py): between reconnections over a long outage, after a
carrier that never holds a wait, after a refused credential; and its own errors."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from console_helpers import make_home
from helpers import wait_for
from pointerbridge.app.listen import Backoff, Listener, ListenEvent, ListenFailed
from pointerbridge.bridges.base import Bridge, CredentialRefusedError, PollResult
from pointerbridge.bridges.files import FilesBridge
from pointerbridge.home.config import CarrierConfig, Home


def test_the_pauses_stay_within_the_cap_after_thousands_of_failures() -> None:
    backoff = Backoff(first=1.0, cap=60.0)
    pauses = [backoff.next() for _ in range(3000)]  # a day and more of an outage at a minute a try
    assert pauses[0] <= 1.0 and all(30.0 <= p <= 60.0 for p in pauses[10:])
    backoff.reset()
    assert backoff.next() <= 1.0


def _listener_home(tmp_path: Path) -> Home:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o700)
    return make_home(tmp_path, "alice", folder, poll_every=3600)


def test_a_carrier_that_answers_every_wait_at_once_is_asked_again_only_after_a_growing_pause(tmp_path: Path) -> None:
    # Found by the second review: a carrier that ignores a long poll's timeout (an IMAP server
    # telling "* 1 EXISTS" at every IDLE, a proxy answering getUpdates at once) made the
    # listener ask ~260 times a second, each with a cursor write.
    calls: list[float] = []

    class Impatient(FilesBridge):
        def listen(self, cursor: str | None, wait: float) -> PollResult:
            calls.append(time.monotonic())
            return self.poll(cursor)  # never waits

    def factory(name: str, config: CarrierConfig) -> Bridge:
        return Impatient.from_config(name, config.settings)

    home = _listener_home(tmp_path)
    listener = Listener(home, "shared", lambda event: None, bridge_factory=factory, wait=5.0, backoff=Backoff(0.2, 0.8))
    listener.start()
    try:
        wait_for(lambda: len(calls) >= 5, "five rounds")
    finally:
        assert listener.stop(timeout=10)
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    for gap, least in zip(gaps, (0.1, 0.2, 0.4, 0.4), strict=False):  # each pause from its upper half
        assert gap >= least, gaps


def test_a_refused_credential_is_tried_again_in_a_quarter_of_an_hour_not_a_minute(tmp_path: Path) -> None:
    class Refused(FilesBridge):
        def listen(self, cursor: str | None, wait: float) -> PollResult:
            raise CredentialRefusedError(self.name, "the server refused the password")

    def factory(name: str, config: CarrierConfig) -> Bridge:
        return Refused.from_config(name, config.settings)

    events: list[ListenEvent] = []
    listener = Listener(_listener_home(tmp_path), "shared", events.append, bridge_factory=factory, wait=1.0)
    listener.start()
    try:
        wait_for(lambda: bool(events), "the refusal")
    finally:
        assert listener.stop(timeout=10)  # the quarter-hour pause ends at once on stop
    (failed,) = events
    assert isinstance(failed, ListenFailed) and failed.to_fix and not failed.fatal
    assert failed.retry_in == 900.0 and "refused the password" in failed.message


def test_a_listener_survives_an_unexpected_error_of_its_own_and_says_only_its_type(tmp_path: Path) -> None:
    built: list[int] = []

    def factory(name: str, config: CarrierConfig) -> Bridge:
        built.append(1)
        if len(built) == 1:
            raise ValueError("a secret-looking detail that must not be shown")
        return FilesBridge.from_config(name, config.settings)

    events: list[ListenEvent] = []
    home = _listener_home(tmp_path)
    listener = Listener(home, "shared", events.append, bridge_factory=factory, wait=0.3, backoff=Backoff(0.1, 0.2))
    listener.start()
    try:
        wait_for(lambda: len(built) >= 2 and listener.running, "built again after the error")
    finally:
        assert listener.stop(timeout=10)
    failures = [e for e in events if isinstance(e, ListenFailed)]
    assert failures and failures[0].message.startswith("internal error (ValueError)")
    assert not any("secret-looking" in e.message for e in failures) and not failures[0].fatal


def test_a_listener_waits_as_long_as_its_bridge_says_unless_told() -> None:
    from pointerbridge.bridges.cmdchat import CmdChatBridge
    from pointerbridge.bridges.email import EmailBridge
    from pointerbridge.bridges.matrix import MatrixBridge
    from pointerbridge.bridges.telegram import TelegramBridge

    # One open request (or connection) per wait: long, under the 60 s idle timeout of common
    # proxies; the files carrier's scan and CMD-CHAT's wait on its link come every 25 s.
    assert FilesBridge.listen_wait == CmdChatBridge.listen_wait == 25.0
    assert MatrixBridge.listen_wait == TelegramBridge.listen_wait == EmailBridge.listen_wait == 50.0


def test_the_listeners_wait_is_its_bridges_unless_given(tmp_path: Path) -> None:
    waits: list[float] = []

    class Patient(FilesBridge):
        listen_wait = 0.2

        def listen(self, cursor: str | None, wait: float) -> PollResult:
            waits.append(wait)
            return super().listen(cursor, wait)

    def factory(name: str, config: CarrierConfig) -> Bridge:
        return Patient.from_config(name, config.settings)

    home = _listener_home(tmp_path)
    for given, expected in ((None, 0.2), (0.3, 0.3)):
        waits.clear()
        listener = Listener(home, "shared", lambda event: None, bridge_factory=factory, wait=given)
        listener.start()
        try:
            wait_for(lambda: len(waits) >= 2, "two rounds")
        finally:
            assert listener.stop(timeout=10)
        assert set(waits) == {expected}


def test_a_listener_builds_its_own_bridge_not_every_carriers_of_a_large_home(tmp_path: Path) -> None:
    # Found by the idle bench: every listener start (and every retry of a refused
    # configuration) built all N carriers' bridges to look for a clash, O(N^2) in a daemon.
    home = _listener_home(tmp_path)
    config = home.load_config()
    shared = config.carriers["shared"]
    for i in range(30):
        config.carriers[f"other{i}"] = CarrierConfig("files", shared.poll_every, None, dict(shared.settings))
    home.save_config(config)
    built: list[str] = []

    def factory(name: str, config: CarrierConfig) -> Bridge:
        built.append(name)
        return FilesBridge.from_config(name, config.settings)

    events: list[ListenEvent] = []
    listener = Listener(home, "shared", events.append, bridge_factory=factory, wait=0.2)
    listener.start()
    try:
        wait_for(lambda: built.count("shared") >= 2, "the listener's own bridge built")
    finally:
        listener.stop(timeout=10)
    assert set(built) == {"shared"}  # the clash check asks its own bridge only: files carriers claim nothing
    assert not [e for e in events if isinstance(e, ListenFailed)]
