"""The XMPP carrier against a real Prosody: TLS (required but to loopback), a refused
password, the live listener, doctor's findings, and an outage mid-poll and mid-listen
(Prosody stopped, then started again: nothing lost, nothing twice)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import raw_chat
from pointerbridge.bridges.base import (
    Bridge,
    ConfigurationError,
    CredentialRefusedError,
    PollResult,
    RetryableError,
)
from pointerbridge.bridges.xmpp import XmppBridge
from pointerbridge.bridges.xmpp_api import Session
from pointerbridge.core import Identity, seal
from servers.prosody import MUC, XmppServer, bot_config, say


@pytest.fixture(scope="module")
def server() -> Iterator[XmppServer]:
    with XmppServer() as running:  # this file's own: the outage tests stop it
        yield running


def _room(server: XmppServer, name: str) -> tuple[XmppBridge, XmppBridge, str]:
    """Alice's and Bob's bridges in a fresh room (created by a person's first message)."""
    room = f"{name}@{MUC}"
    say(bot_config(server, f"person-{name}", room), "this room carries pointers")
    alice, bob = (XmppBridge.from_config(who, bot_config(server, f"{who}-{name}", room).settings) for who in ("a", "b"))
    assert isinstance(alice, XmppBridge) and isinstance(bob, XmppBridge)
    return alice, bob, room


def _pointers(count: int, tag: str) -> list[str]:
    me = Identity("alice", bytes(32))
    return [seal(raw_chat(tag), me, f"message {i}")[0] for i in range(count)]


def _texts(result: PollResult) -> list[str]:
    return [r.text for r in result.pointers]


def test_plaintext_is_refused_to_any_host_but_loopback_and_tls_is_checked(tmp_path: Path) -> None:
    settings = {"jid": "bot@example.org", "room": "r@conference.example.org", "password_env": "X"}
    with pytest.raises(ConfigurationError, match="security = 'none' sends the password and the pointers in clear"):
        XmppBridge.from_config("x", {**settings, "security": "none"})
    with pytest.raises(ConfigurationError, match=r"only to 127\.0\.0\.1"):
        XmppBridge.from_config("x", {**settings, "security": "none", "host": "192.0.2.7"})
    assert XmppBridge.from_config("x", {**settings, "security": "none", "host": "127.0.0.1"}).limits.max_pointer_chars
    with pytest.raises(ConfigurationError, match="give exactly one of password_env and password_file"):
        XmppBridge.from_config("x", {"jid": "bot@example.org", "room": "r@conference.example.org"})


def test_starttls_with_the_servers_ca_works_and_without_it_is_refused(tmp_path: Path) -> None:
    with XmppServer(tls=True) as tls:
        assert tls.ca_file is not None
        room = f"tlsroom@{MUC}"
        base = {"host": "127.0.0.1", "port": tls.c2s_port, "security": "starttls"}
        person = bot_config(tls, "tlsperson", room, **base, tls_ca_file=str(tls.ca_file))
        reference = say(person, "over TLS")
        reader = XmppBridge.from_config(
            "r", bot_config(tls, "tlsreader", room, **base, tls_ca_file=str(tls.ca_file)).settings
        )
        try:
            found = reader.poll(None)
            assert found.items == 1 and json_after(found.cursor) == reference
            assert any("over STARTTLS" in f.detail for f in reader.diagnose(None))
        finally:
            reader.close()
        untrusting = XmppBridge.from_config("u", bot_config(tls, "tlsnoca", room, **base).settings)
        with pytest.raises(ConfigurationError, match="certificate does not verify"):
            untrusting.poll(None)
        untrusting.close()
        # A server that requires TLS refuses a plaintext login; the bridge never offers one elsewhere.
        plain = XmppBridge.from_config(
            "p",
            bot_config(tls, "tlsplain", room, host="127.0.0.1", port=tls.c2s_port, security="none", timeout=3).settings,
        )
        with pytest.raises((RetryableError, ConfigurationError)):
            plain.poll(None)
        plain.close()


def json_after(cursor: str) -> str:
    import json

    return str(json.loads(cursor)["after"])


def test_a_wrong_password_is_refused_as_a_credential(server: XmppServer, monkeypatch: pytest.MonkeyPatch) -> None:
    config = bot_config(server, "wrongpw", f"wrongpw@{MUC}", password_env="PBRIDGE_TEST_XMPP_WRONG")
    monkeypatch.setenv("PBRIDGE_TEST_XMPP_WRONG", "not the password")
    bridge = XmppBridge.from_config("w", config.settings)
    with pytest.raises(CredentialRefusedError, match="refused the password"):
        bridge.poll(None)
    bridge.close()


def test_doctor_finds_the_login_the_archived_room_and_the_size(server: XmppServer) -> None:
    alice, bob, _ = _room(server, "doctorroom")
    try:
        findings = {f.check: f for f in alice.diagnose(None)}
        assert findings["login"].status == "ok" and "without TLS (loopback)" in findings["login"].detail
        assert findings["room"].status == "ok" and "keeps an archive (MAM)" in findings["room"].detail
        assert findings["size"].status == "ok"
        missing = XmppBridge.from_config("m", bot_config(server, "doctormissing", f"nosuchroom@{MUC}").settings)
        with pytest.raises(ConfigurationError, match="not found"):
            missing.poll(None)
        missing.close()
    finally:
        alice.close()
        bob.close()


def _listen_in_thread(bridge: Bridge, cursor: str | None, wait: float) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []

    def run() -> None:
        try:
            out.append(bridge.listen(cursor, wait))
        except Exception as exc:  # noqa: BLE001  # handed to the test thread, which asserts on it
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_the_listener_wakes_on_a_live_message_and_takes_every_pointer_once(server: XmppServer) -> None:
    alice, bob, _ = _room(server, "liveroom")
    try:
        first = bob.listen(None, 5)  # no cursor: a plain read of the archive
        assert first.pointers == [] and first.items == 1
        one, two = _pointers(2, "live")
        started = time.monotonic()
        thread, out = _listen_in_thread(bob, first.cursor, 30)
        time.sleep(0.3)  # not a wait for a condition: the post must come while the listener waits
        alice.post(one)
        thread.join(20)
        assert not thread.is_alive() and time.monotonic() - started < 15
        (woken,) = out
        assert isinstance(woken, PollResult) and _texts(woken) == [one]
        # The listener's own post comes back once, through the archive, never again.
        bob.post(two)
        own = bob.listen(woken.cursor, 5)
        assert _texts(own) == [two]
        quiet_started = time.monotonic()
        quiet = bob.listen(own.cursor, 1.0)
        assert quiet.pointers == [] and quiet.items == 0 and time.monotonic() - quiet_started >= 0.9
    finally:
        alice.close()
        bob.close()


def test_prosody_stopped_mid_poll_then_back_loses_nothing_and_repeats_nothing(
    server: XmppServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob, _ = _room(server, "outageroom")
    sent = _pointers(120, "outage")  # three archive pages
    for pointer in sent:
        alice.post(pointer)
    alice.close()
    real_page = Session.page
    pages = 0

    async def page_then_outage(self: Session, **kwargs: object) -> object:
        nonlocal pages
        found = await real_page(self, **kwargs)  # type: ignore[arg-type]
        pages += 1
        if pages == 1:
            server.stop()  # the server goes away between two pages of one poll
        return found

    monkeypatch.setattr(Session, "page", page_then_outage)
    try:
        with pytest.raises(RetryableError):
            bob.poll(None)
    finally:
        monkeypatch.undo()
        server.start()
    assert pages == 1
    again = bob.poll(None)  # the cursor was not saved: the app would poll from where it was
    assert _texts(again) == sent
    assert bob.poll(again.cursor).pointers == []
    # Mid-listen: the listener's session dies with the server; back, it logs in afresh.
    thread, out = _listen_in_thread(bob, again.cursor, 30)
    time.sleep(0.3)  # the listener is waiting when the server stops
    server.stop()
    thread.join(20)
    assert not thread.is_alive() and isinstance(out[0], RetryableError)
    server.start()
    late = _pointers(1, "late")[0]
    say(bot_config(server, "late-person", alice._s.room), late)
    after = bob.listen(again.cursor, 5)
    assert _texts(after) == [late]
    bob.close()
