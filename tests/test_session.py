"""The app's session: what a front-end's background polling and event stream rest on."""

from __future__ import annotations

from pathlib import Path

import pytest
from pointerbridge.app.service import App, UnlockedChat
from pointerbridge.app.session import Event, NewMessages, Polled, PollFailed, Session
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config

SECRET = "a shared secret for session tests"
SALT = bytes(range(16))


def _home(tmp_path: Path, name: str, shared: Path) -> tuple[App, UnlockedChat]:
    home = Home.resolve(tmp_path / name)
    home.create()
    carrier = CarrierConfig.model_validate({"type": "files", "path": str(shared), "poll_every": 30})
    save_config(home.config_path, Config(carriers={"shared": carrier}))
    app = App(home)
    app.init(name, f"{name} phrase", allow_weak=True)
    return app, app.create_chat("club", SECRET, ["shared"], salt=SALT, allow_weak=True)


@pytest.fixture
def pair(tmp_path: Path) -> tuple[App, UnlockedChat, App, UnlockedChat]:
    shared = tmp_path / "shared"
    shared.mkdir()
    return (*_home(tmp_path, "alice", shared), *_home(tmp_path, "bob", shared))


def test_a_poll_emits_new_messages_for_an_unlocked_chat_then_polled(
    pair: tuple[App, UnlockedChat, App, UnlockedChat],
) -> None:
    alice, alice_chat, bob, bob_chat = pair
    session = Session(alice)
    events: list[Event] = []
    unsubscribe = session.subscribe(events.append)
    assert session.poll_every == 30
    assert session.remember(alice_chat) is False  # no identity unlocked: no notice to queue
    bob.send(bob_chat, bob.unlock_identity("bob phrase"), "hello alice")
    bob.send(bob_chat, bob.unlock_identity("bob phrase"), "and again")
    bob.poll(fetch=False)
    assert session.start_poll(None, True) is True
    assert session.start_poll(None, True) is False  # one fetching poll at a time
    assert session.finish_poll(session.run_poll(None, True)) == []
    kinds = [type(e) for e in events]
    assert kinds == [NewMessages, Polled]
    new = events[0]
    assert isinstance(new, NewMessages) and new.chat.row.id == alice_chat.row.id and new.pointers == 2
    polled = events[1]
    assert isinstance(polled, Polled) and polled.fetch and polled.summary.received == {"shared": 2}
    events.clear()
    assert session.start_poll(None, True) is True
    session.finish_poll(session.run_poll(None, True))
    assert [type(e) for e in events] == [Polled]  # nothing new: no NewMessages
    unsubscribe()
    session.start_poll(None, True)
    session.finish_poll(session.run_poll(None, True))
    assert len(events) == 1
    session.close()
    bob.close()


def test_posts_asked_for_during_a_fetch_wait_for_it_and_come_back(
    pair: tuple[App, UnlockedChat, App, UnlockedChat],
) -> None:
    alice, _, bob, _ = pair
    session = Session(alice)
    assert session.start_poll(None, True) is True
    assert session.start_poll(["shared"], False) is False  # queued behind the running fetch
    assert session.start_poll([], False) is False  # nothing to post: nothing to do
    outcome = session.run_poll(None, True)
    assert session.finish_poll(outcome) == ["shared"]
    assert session.start_poll(["shared"], False) is True
    session.close()
    bob.close()


def test_a_busy_home_is_a_poll_failed_event_not_an_exception(
    pair: tuple[App, UnlockedChat, App, UnlockedChat],
) -> None:
    alice, _, bob, _ = pair
    session = Session(alice)
    events: list[Event] = []
    session.subscribe(events.append)
    other = App(alice.home)
    with other._poll_lock():  # another process (cron) holds the home's poll lock
        session.start_poll(None, True)
        outcome = session.run_poll(None, True)
    assert outcome.summary is None and outcome.failure is not None and outcome.failure.busy
    session.finish_poll(outcome)
    assert events == [outcome.failure] and isinstance(events[0], PollFailed)
    assert session.start_poll(None, True) is True  # the failed poll ended: the next may run
    other.close()
    session.close()
    bob.close()


def test_close_forgets_what_was_unlocked(pair: tuple[App, UnlockedChat, App, UnlockedChat]) -> None:
    alice, alice_chat, bob, _ = pair
    session = Session(alice)
    session.identity = alice.unlock_identity("alice phrase")
    session.remember(alice_chat)
    assert session.unlocked == {alice_chat.row.id: alice_chat}
    session.forget(alice_chat.row.id)
    assert session.unlocked == {}
    session.remember(alice_chat)
    session.close()
    assert session.unlocked == {} and session.identity is None
    bob.close()
