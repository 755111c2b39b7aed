"""The bridge contract suite: what every bridge must do, alone (post, poll, resume) and
under the app (a cursor saved only after the store, skipped foreign text, large messages
split, failures finished by the next run, the outbox paced), and with blobs
(:mod:`~pointerbridge.testing.blob_contract`).

Collect it by importing :class:`TestBridgeContract` into a test module; the plugin
(:mod:`pointerbridge.testing`) runs each test once per carrier a conftest.py names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pointerbridge.app.service import App, UnlockedChat
from pointerbridge.bridges.base import Bridge, Limits, PollResult, RetryableError, bridge_class
from pointerbridge.core import ChatKey, Identity, seal
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config

from . import CarrierUnderTest
from .blob_contract import BlobContract

__all__ = ["Faults", "FaultyBridge", "TestBridgeContract"]

SECRET = "contract secret"  # noqa: S105  # the test chat's, weak on purpose
Pair = tuple[App, Identity, UnlockedChat, App, UnlockedChat]  # Alice, her identity, her chat; Bob, his


def _raw_chat(name: str) -> ChatKey:
    """A chat key from raw bytes: no Argon2id, for a test of the bridge alone."""
    return ChatKey(name, hashlib.sha256(b"test chat " + name.encode()).digest())


@dataclass
class Faults:
    """Failures to inject into a bridge: post number N fails, or the next poll fails."""

    fail_post_at: int | None = None
    fail_poll: bool = False
    posts: int = field(default=0)


class FaultyBridge(Bridge):
    """A real bridge with injected carrier failures."""

    carrier_type = "faulty"

    def __init__(self, inner: Bridge, faults: Faults) -> None:
        super().__init__(inner.name, inner.settings)
        self.inner, self.faults = inner, faults

    @property
    def limits(self) -> Limits:
        return self.inner.limits

    def post(self, pointer: str) -> str:
        self.faults.posts += 1
        if self.faults.fail_post_at == self.faults.posts:
            raise RetryableError(self.name, "injected failure while posting")
        return self.inner.post(pointer)

    def poll(self, cursor: str | None) -> PollResult:
        if self.faults.fail_poll:
            self.faults.fail_poll = False
            raise RetryableError(self.name, "injected failure while polling")
        return self.inner.poll(cursor)

    def close(self) -> None:
        self.inner.close()


def _home(tmp_path: Path, user: str, carrier: CarrierUnderTest, faults: Faults | None = None) -> App:
    home = Home(tmp_path / user, tmp_path / user)
    home.create()
    save_config(home.config_path, Config(carriers={"c": carrier.config if user == "alice" else carrier.other}))

    def factory(name: str, config: CarrierConfig) -> Bridge:
        real = bridge_class(config.type).from_config(name, config.settings)
        return FaultyBridge(real, faults) if faults else real

    return App(home, factory)


def _bodies(app: App, chat: UnlockedChat) -> list[str]:
    shown, refused = app.read(chat)
    assert refused == 0
    return [s.message.body for s in shown]


class TestBridgeContract(BlobContract):
    """The contract, test by test. ``carrier`` is a fresh carrier of the kind under test
    (from the plugin); ``pair`` is Alice and Bob in one chat on it, each with a home."""

    @pytest.fixture
    def pair(self, tmp_path: Path, carrier: CarrierUnderTest) -> Pair:
        alice, bob = _home(tmp_path, "alice", carrier), _home(tmp_path, "bob", carrier)
        me = alice.init("alice", "alice phrase", allow_weak=True)
        bob.init("bob", "bob phrase", allow_weak=True)
        chat = alice.create_chat("room", SECRET, ["c"], allow_weak=True)
        joined = bob.create_chat("room", SECRET, ["c"], salt=chat.key.salt, allow_weak=True)  # as its invite says
        return alice, me, chat, bob, joined

    def test_post_then_poll_round_trip(self, carrier: CarrierUnderTest, tmp_path: Path) -> None:
        bridge = bridge_class(carrier.config.type).from_config("c", carrier.config.settings)
        reader = bridge_class(carrier.other.type).from_config("c", carrier.other.settings)
        me = Identity("alice", bytes(32))
        (pointer,) = seal(_raw_chat("x"), me, "hello")
        reference = bridge.post(pointer)
        result = reader.poll(None)
        assert [(r.text, r.reference) for r in result.pointers] == [(pointer, reference)]
        again = reader.poll(result.cursor)
        assert again.pointers == []  # re-poll yields nothing new
        bridge.close()
        reader.close()

    def test_resume_from_a_saved_cursor(self, pair: Pair) -> None:
        alice, me, chat_a, bob, chat_b = pair
        alice.send(chat_a, me, "one")
        alice.poll(fetch=False)
        assert bob.poll().received == {"c": 1}
        alice.send(chat_a, me, "two")
        alice.poll(fetch=False)
        assert bob.poll().received == {"c": 1}  # only what came after the cursor
        assert bob.poll().received == {"c": 0}
        assert _bodies(bob, chat_b) == ["one", "two"]

    def test_crash_between_store_and_cursor_loses_and_duplicates_nothing(
        self, pair: Pair, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        alice, me, chat_a, bob, chat_b = pair
        for body in ("a", "b", "c"):
            alice.send(chat_a, me, body)
        alice.poll(fetch=False)

        def crash(*_: object) -> None:
            raise KeyboardInterrupt("the machine lost power here")

        monkeypatch.setattr(bob.store, "save_cursor", crash)
        with pytest.raises(KeyboardInterrupt):
            bob.poll()
        monkeypatch.undo()
        assert bob.store.cursor("c") is None
        assert bob.poll().received == {"c": 0}  # everything read again, all already stored
        assert _bodies(bob, chat_b) == ["a", "b", "c"]

    def test_foreign_and_malformed_text_is_skipped_and_counted(self, pair: Pair, carrier: CarrierUnderTest) -> None:
        alice, me, chat_a, bob, chat_b = pair
        alice.send(chat_a, me, "real")
        alice.poll(fetch=False)
        carrier.inject("just a person saying hello")
        (good,) = seal(chat_a.key, me, "damaged")
        carrier.inject(f"look: {good[:200]}")
        summary = bob.poll()
        assert summary.received == {"c": 1} and summary.skipped["c"] >= 2
        assert _bodies(bob, chat_b) == ["real"]

    def test_large_message_travels_as_several_pointers(self, pair: Pair) -> None:
        alice, me, chat_a, bob, chat_b = pair
        limit = alice.bridge("c").limits.max_pointer_chars
        body = "big message " * (limit // 3)
        ids = alice.send(chat_a, me, body)
        assert len(ids) > 1
        assert all(len(text) <= limit for _, text in alice.store.outbox("c"))
        alice.poll(fetch=False)
        bob.poll()
        assert _bodies(bob, chat_b) == [body]

    @pytest.mark.parametrize("where", ["post", "poll"])
    def test_injected_failure_is_finished_by_the_next_run(
        self, where: str, tmp_path: Path, carrier: CarrierUnderTest
    ) -> None:
        faults = Faults(fail_post_at=2 if where == "post" else None, fail_poll=where == "poll")
        alice, bob = _home(tmp_path, "alice", carrier, faults), _home(tmp_path, "bob", carrier, faults)
        me = alice.init("alice", "p", allow_weak=True)
        bob.init("bob", "q", allow_weak=True)
        chat_a = alice.create_chat("room", SECRET, ["c"], allow_weak=True)
        chat_b = bob.create_chat("room", SECRET, ["c"], salt=chat_a.key.salt, allow_weak=True)  # as the invite says
        for body in ("1", "2", "3"):
            alice.send(chat_a, me, body)
        first = alice.poll(fetch=where == "poll")
        assert "c" in first.errors
        if where == "post":
            assert first.posted.get("c", 0) == 0 and len(alice.store.outbox("c")) == 2
        else:
            assert alice.store.cursor("c") is None and alice.store.outbox("c") == []
        alice.poll()
        assert alice.store.outbox("c") == []
        bob.poll()
        assert _bodies(bob, chat_b) == ["1", "2", "3"]

    def test_bridge_is_registered_as_an_entry_point(self, carrier: CarrierUnderTest) -> None:
        cls: Callable[..., Bridge] = bridge_class(carrier.config.type)
        assert cls.carrier_type == carrier.config.type  # type: ignore[attr-defined]

    def test_outbox_drains_at_the_carriers_pace(self, tmp_path: Path, carrier: CarrierUnderTest) -> None:
        class Slow(FaultyBridge):
            @property
            def limits(self) -> Limits:
                return Limits(self.inner.limits.max_pointer_chars, min_post_interval=1.0)

        def factory(name: str, config: CarrierConfig) -> Bridge:
            return Slow(bridge_class(config.type).from_config(name, config.settings), Faults())

        home = Home(tmp_path / "alice", tmp_path / "alice")
        home.create()
        save_config(home.config_path, Config(carriers={"c": carrier.config}))
        alice = App(home, factory)
        me = alice.init("alice", "p", allow_weak=True)
        chat = alice.create_chat("room", SECRET, ["c"], allow_weak=True)
        for body in "abcde":
            alice.send(chat, me, body)
        # Three posts fit the budget at that pace (at 0, 1 and 2 s), five never do; a post's own
        # time on a loaded machine (seen: 0.3 s at 0.2 s pace) still leaves room for two.
        alice.flush_budget = 2.5
        first = alice.poll(fetch=False)
        assert 2 <= first.posted["c"] <= 3 and alice.store.outbox("c")  # paced, the rest kept
        alice.flush_budget = 10.0
        assert alice.poll(fetch=False).posted["c"] == 5 - first.posted["c"]
