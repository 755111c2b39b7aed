"""Desktop notifications that say nothing (issue 24): what they say, on a real D-Bus
session bus of the test's own with a real notification server on it (tests/servers/
notifications.py), from the daemon (a files carrier's arrival) and from the console."""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_helpers import SIZE, keys, make_home, opened, send, settle, until, with_chat
from helpers import running_daemon, wait_for
from pointerbridge.app.attachments import send_attachment
from pointerbridge.app.errors import NotifyUnavailableError
from pointerbridge.app.models import UnlockedChat
from pointerbridge.app.notify import Notifier, chat_notice, count_notice, markup_safe, said_by_others
from pointerbridge.console.settings import ChatSettingsScreen
from pointerbridge.console.tui import ConsoleApp
from pointerbridge.home.config import Home
from pointerbridge.home.store import StoreError
from pointerbridge.home.store.record import ChatRecord
from servers.notifications import NotificationServer, notification_server, session_bus
from test_cli import run
from test_console import _open_family
from test_local_app import CHAT_SECRET, PHRASES, ok, setup_user
from test_rotation import _home
from textual.pilot import Pilot
from textual.widgets import Button, Input

NOTICE = {"app_name": "Pointer Bridge", "summary": "New messages", "actions": []}
HINTS = {"category": "im.received", "urgency": 1}


@pytest.fixture
def bus() -> Iterator[str]:
    with session_bus() as address:
        yield address


@pytest.fixture
def server(bus: str, tmp_path: Path) -> Iterator[NotificationServer]:
    with notification_server(bus, tmp_path) as running:
        yield running


def test_what_a_notification_says_at_each_setting() -> None:
    said = [("alice", "one"), ("bob", "two"), ("alice", "three"), ("carol", "four")]
    assert count_notice(1).body == "1 new pointer arrived" and count_notice(3).body == "3 new pointers arrived"
    assert chat_notice("count", "Family", said, 4) == count_notice(4)  # no name, sender or text
    assert chat_notice("off", "Family", said, 4) is None
    names = chat_notice("names", "Family", said, 4)
    assert names is not None and names.summary == "New messages"
    assert names.body == "in Family\nfrom alice, bob, carol"
    text = chat_notice("text", "Family", said, 4)
    assert text is not None and text.body == "in Family\nbob: two\nalice: three\ncarol: four\nand 1 more"
    assert chat_notice("text", "Family", [], 2) is None  # only this home's own came: nothing of others to say


def test_names_and_text_are_one_escaped_line_each() -> None:
    # A sender's markup shows as written, and cannot start a line or drive a terminal.
    assert markup_safe("<b>bold</b> & <a href='x'>") == "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;a href='x'&gt;"
    assert markup_safe("line one\nFamily: fake") == "line one\\x0aFamily: fake"
    assert markup_safe("\x1b[31mred\u202e") == "\\x1b[31mred\\u202e"
    long = markup_safe("é" * 500)
    assert len(long) == 120 and long.endswith("…")
    assert markup_safe("&" * 500).count("&amp;") == 119  # cut before escaping: no entity cut in half
    notice = chat_notice("text", "Fam<i>ly", [("<b>mallory</b>", "hi & <u>bye</u>")], 1)
    assert (
        notice is not None
        and notice.body == "in Fam&lt;i&gt;ly\n&lt;b&gt;mallory&lt;/b&gt;: hi &amp; &lt;u&gt;bye&lt;/u&gt;"
    )


def test_a_file_is_news_with_or_without_a_caption(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, alice_id, alice_chat = _home(tmp_path, "alice", shared)
    bob, bob_id, bob_chat = _home(tmp_path, "bob", shared)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8" + b"x" * 2000)
    send_attachment(alice, alice_chat, alice_id, photo)  # no caption
    send_attachment(alice, alice_chat, alice_id, photo, caption="the <b>view</b>")
    bob.send(bob_chat, bob_id, "my own")
    alice.poll()
    bob.poll()
    page = bob.read_page(bob_chat, limit=10)
    said = said_by_others(page.messages, 0, bob_id.public_key)
    assert said == [("alice (new key)", "[file]"), ("alice", "[file] the <b>view</b>")]
    names = chat_notice("names", "Family", said, 3)
    assert names is not None and names.body == "in Family\nfrom alice (new key), alice"
    text = chat_notice("text", "Family", said, 3)
    assert text is not None and text.body.split("\n")[1:] == [
        "alice (new key): [file]",
        "alice: [file] the &lt;b&gt;view&lt;/b&gt;",
    ]


def test_the_setting_is_sealed_in_the_chat_record() -> None:
    record = ChatRecord("Family", "family", ["shared"], 1.0)
    assert record.notify == "count" and "notify" not in json.loads(record.to_bytes())  # the default: absent
    record.notify = "text"
    assert ChatRecord.from_bytes(record.to_bytes()).notify == "text"
    changed = json.loads(record.to_bytes()) | {"notify": "everything"}
    with pytest.raises(StoreError) as refused:
        ChatRecord.from_bytes(json.dumps(changed))
    assert refused.value.damaged


def test_the_notifier_raises_on_a_real_bus_and_fails_typed_without_one(
    bus: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = Notifier(bus)
    with pytest.raises(NotifyUnavailableError, match="ServiceUnknown"):  # a bus, but no notification service
        notifier.send(count_notice(2))
    with notification_server(bus, tmp_path) as server:
        assert notifier.send(count_notice(2)) == 1
        assert asyncio.run(notifier.send_async(count_notice(5))) == 2  # from a running event loop too
        assert server.calls() == [
            {**NOTICE, "body": "2 new pointers arrived", "hints": HINTS},
            {**NOTICE, "body": "5 new pointers arrived", "hints": HINTS},
        ]
    with pytest.raises(NotifyUnavailableError, match="cannot reach the D-Bus session bus"):
        Notifier(f"unix:path={tmp_path / 'no-bus'}").send(count_notice(1))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # no bus socket in it
    with pytest.raises(NotifyUnavailableError, match="no D-Bus session bus"):
        Notifier().send(count_notice(1))


def test_chat_notify_sets_and_shows_the_setting(tmp_path: Path, shared: Path) -> None:
    bob = setup_user(tmp_path, "bob", shared)
    assert ok(bob, "bob", "chat", "notify", "family").strip() == "chat 'Family': notifications show count"
    assert ok(bob, "bob", "chat", "notify", "family", "--show", "text").strip().endswith("show text")
    assert ok(bob, "bob", "chat", "notify", "family").strip().endswith("show text")
    wrong = run("--home", str(bob), "chat", "notify", "family", "--show", "all", phrase=PHRASES["bob"])
    assert wrong.returncode == 3 and "off, count, names, text" in wrong.stderr
    for path in bob.glob("store.db*"):  # sealed: the setting is nowhere in the clear
        assert b'"notify"' not in path.read_bytes()


def test_the_help_says_the_daemon_counts_a_chat_set_to_off_too() -> None:
    # The daemon holds no key: it cannot read a chat's setting (sealed), so "off" is the console's alone.
    daemon = " ".join(run("daemon", "--help").stdout.split())
    assert "nor a chat's notification setting: it counts every chat's pointers, those of a chat set to off" in daemon
    notify = " ".join(run("chat", "notify", "--help").stdout.split())
    assert "The daemon's ignore it: they count every chat's pointers, an 'off' chat's too." in notify
    assert "count this chat's pointers even when it is set to off" in notify
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    assert "so it counts the pointers of every chat, one set to `off` too" in readme


def _arrival(alice: Path, body: str) -> None:
    ok(alice, "alice", "send", "family", body)


def test_the_daemon_says_new_messages_and_a_count_only(
    tmp_path: Path, shared: Path, server: NotificationServer
) -> None:
    alice, bob = setup_user(tmp_path, "alice", shared), setup_user(tmp_path, "bob", shared)
    body = "<b>the ring</b> is under the mat & the code is 4711"
    _arrival(alice, body)
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": server.address}
    with running_daemon(bob, "--notify", env=env, never_logged=("the ring",)) as lines:
        wait_for(lambda: len(server.calls()) == 1, "the daemon's notification of the first arrival")
        _arrival(alice, "and a second one, live")
        wait_for(lambda: len(server.calls()) == 2, "the daemon's notification of the live arrival")
    assert server.calls() == [{**NOTICE, "body": "1 new pointer arrived", "hints": HINTS}] * 2
    said = json.dumps(server.calls()).lower()
    assert not any(word in said for word in ("family", "alice", "ring", "4711", "second"))
    assert not any("notifications are off" in line for line in lines)


def test_without_a_session_bus_the_daemon_polls_on_and_says_so_once(tmp_path: Path, shared: Path) -> None:
    alice, bob = setup_user(tmp_path, "alice", shared), setup_user(tmp_path, "bob", shared)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"} | {"XDG_RUNTIME_DIR": str(runtime)}
    _arrival(alice, "first")
    with running_daemon(bob, "--notify", env=env) as lines:
        wait_for(lambda: sum("received 1 (live)" in line for line in lines) == 1, "the first arrival")
        _arrival(alice, "second")
        wait_for(lambda: sum("received 1 (live)" in line for line in lines) == 2, "the second arrival, polled on")
        wait_for(lambda: any("notifications are off" in line for line in lines), "the warning")
    warned = [line for line in lines if "notifications are off" in line]
    assert len(warned) == 1 and "no D-Bus session bus" in warned[0] and "WARNING" in warned[0]
    status = run(
        "--home", str(bob), "read", "family", "--json", env={"PBRIDGE_CHAT_SECRET": CHAT_SECRET}, phrase=PHRASES["bob"]
    )
    assert [m["body"] for m in json.loads(status.stdout)["messages"]] == ["first", "second"]


async def _arrive(alice: Home, chat: UnlockedChat, pilot: Pilot[None], body: str) -> None:
    """Alice sends ``body``; the console polls, and looks at what came (its notification's
    worker ended)."""
    with opened(alice) as app:
        send(app, chat, "alice", [body])
    assert isinstance(pilot.app, ConsoleApp) and pilot.app.notices is not None
    notices = pilot.app.notices
    batches = notices.batches
    pilot.app.action_poll_now()
    await until(pilot, lambda: notices.batches > batches, "the poll's new messages looked at")
    await settle(pilot)


def _homes_on_the_bus(
    tmp_path: Path, shared: Path, server: NotificationServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Home, UnlockedChat, Home]:
    """Alice (and her chat) and bob, in one chat; the console's notifications go to ``server``."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", server.address)
    alice, bob = make_home(tmp_path, "alice", shared), make_home(tmp_path, "bob", shared)
    alices = with_chat(alice, "alice")
    with_chat(bob, "bob")
    return alice, alices, bob


def test_the_console_says_a_count_unless_the_chat_is_set_to_say_more(
    tmp_path: Path, shared: Path, server: NotificationServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, alices, bob = _homes_on_the_bus(tmp_path, shared, server, monkeypatch)

    async def set_to(pilot: Pilot[None], show: str) -> None:
        await pilot.press("ctrl+s")
        assert isinstance(pilot.app.screen, ChatSettingsScreen)
        await pilot.press("n")
        assert str(pilot.app.screen.query_one("#notify", Button).label) == f"Notifications: {show}"
        await pilot.press("escape")

    async def scenario(pilot: Pilot[None]) -> None:
        await _open_family(pilot, "bob")
        arrive = functools.partial(_arrive, alice, alices)
        await arrive(pilot, "<b>dinner</b> at 8 & bring wine")
        assert server.calls() == [{**NOTICE, "body": "1 new pointer arrived", "hints": HINTS}]
        await set_to(pilot, "names")
        await arrive(pilot, "second")
        assert server.calls()[-1]["body"] == "in Family\nfrom alice"
        await set_to(pilot, "text")
        await arrive(pilot, "third \x1b[31m<i>red</i> & more\nFamily: forged line")
        assert server.calls()[-1]["body"] == (
            "in Family\nalice: third \\x1b[31m&lt;i&gt;red&lt;/i&gt; &amp; more\\x0aFamily: forged line"
        )
        await set_to(pilot, "off")
        await arrive(pilot, "fourth")
        assert len(server.calls()) == 3
        assert pilot.app.notices is not None and pilot.app.notices.failed == 0

    async def main() -> None:
        app = ConsoleApp(bob, poll_every=0, live=False, notify=True)
        async with app.run_test(size=SIZE) as pilot:
            await scenario(pilot)

    asyncio.run(main())
    with opened(bob) as app:
        assert app.notify_show("family") == "off"  # kept in the sealed record


def test_the_console_counts_only_what_came_in_never_what_you_sent(
    tmp_path: Path, shared: Path, server: NotificationServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Your own message is stored in the chat too (and comes back from the carrier): it is
    # no news, and raises no notification.
    alice, alices, bob = _homes_on_the_bus(tmp_path, shared, server, monkeypatch)

    async def say(pilot: Pilot[None], text: str) -> None:
        """Bob sends ``text`` from the composer; the console looks at the batch it made."""
        assert isinstance(pilot.app, ConsoleApp) and pilot.app.notices is not None
        notices = pilot.app.notices
        batches = notices.batches
        await pilot.press(*keys(text), "enter")
        await until(pilot, lambda: notices.batches > batches, "bob's own pointer looked at")
        await settle(pilot)

    async def main() -> None:
        app = ConsoleApp(bob, poll_every=0, live=False, notify=True)
        async with app.run_test(size=SIZE) as pilot:
            screen = await _open_family(pilot, "bob")
            screen.query_one("#composer", Input).focus()
            await say(pilot, "hello from me")
            await _arrive(alice, alices, pilot, "from alice")  # the poll brings bob's pointer back too
            assert [call["body"] for call in server.calls()] == ["1 new pointer arrived"]
            with opened(bob) as cli:
                cli.set_notify_show("family", "names")  # a chat that names senders says nothing of bob either
            await say(pilot, "and again")
            await _arrive(alice, alices, pilot, "alice again")
            assert [call["body"] for call in server.calls()] == ["1 new pointer arrived", "in Family\nfrom alice"]
            assert [s.message.body for s in screen.shown] == ["hello from me", "from alice", "and again", "alice again"]

    asyncio.run(main())


def test_without_a_session_bus_the_console_says_so_once_and_goes_on(
    tmp_path: Path, shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    alice, bob = make_home(tmp_path, "alice", shared), make_home(tmp_path, "bob", shared)
    alices = with_chat(alice, "alice")
    with_chat(bob, "bob")

    async def main() -> None:
        app = ConsoleApp(bob, poll_every=0, live=False, notify=True)
        async with app.run_test(size=SIZE) as pilot:
            screen = await _open_family(pilot, "bob")
            await _arrive(alice, alices, pilot, "one")
            await _arrive(alice, alices, pilot, "two")
            assert app.notices is not None and (app.notices.failed, app.notices.warnings) == (2, 1)
            await until(pilot, lambda: len(screen.shown) == 2, "both messages on bob's screen")
            assert [s.message.body for s in screen.shown] == ["one", "two"]

    asyncio.run(main())


def test_the_daemon_says_a_failure_once_and_once_when_notifications_work_again(
    bus: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from pointerbridge.app.daemon import Announcer

    announcer = Announcer(Notifier(bus))
    with caplog.at_level("INFO", logger="pointerbridge.daemon"):
        announcer.arrived(1)
        announcer.arrived(2)  # still no service: not said again
        announcer.arrived(0)  # nothing arrived: nothing to raise
        with notification_server(bus, tmp_path) as server:
            announcer.arrived(3)
            announcer.arrived(4)
            assert [call["body"] for call in server.calls()] == ["3 new pointers arrived", "4 new pointers arrived"]
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 2 and said[0].startswith("desktop notifications are off: ") and "ServiceUnknown" in said[0]
    assert said[1] == "desktop notifications work again"
