"""The gateway's app side (gateway/hub.py) without an XMPP server: what it hands the
user's client when the chat changes under it."""

from __future__ import annotations

from pathlib import Path

from pointerbridge.app.service import App
from pointerbridge.app.session import Session
from pointerbridge.gateway.hub import Hub, Outgoing
from test_rotation import SECRET, _home, _marks


def test_a_verify_elsewhere_sends_no_earlier_line_again(tmp_path: Path) -> None:
    # Verifying a member moves every earlier line of theirs from ✓ to ✔: the gateway sent
    # each again as a correction, a member's whole history for one new message (the review).
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, alice_id, alice_chat = _home(tmp_path, "alice", shared)
    bob, _, bob_chat = _home(tmp_path, "bob", shared)
    for i in range(5):
        alice.send(alice_chat, alice_id, f"old message {i}")
    alice.poll()
    _marks(bob, bob_chat)
    bob_home = bob.home
    bob.close()
    gateway = App(bob_home)
    try:
        session = Session(gateway)
        session.identity = gateway.unlock_identity("bob phrase")
        session.remember(gateway.unlock_chat("family", SECRET))
        hub = Hub(session)
        delivered: list[Outgoing] = []
        hub._deliver = delivered.append  # type: ignore[method-assign]  # what the XMPP side would send
        for chat in hub.chats.values():
            hub._remember(chat.row.id, gateway.read_view(chat)[0])
        with App(bob_home) as cli:
            cli.unlock_identity("bob phrase")
            cli.mark_verified("family", "alice", cli.safety_check("family", "alice").code)
        alice.send(alice_chat, alice_id, "one new message")
        alice.poll()
        gateway.poll()
        session.route_unlocked()
    finally:
        gateway.close()
        alice.close()
    assert [out.body for out in delivered] == [delivered[0].body]
    assert "alice ✔ verified: one new message" in delivered[0].body and delivered[0].replaces is None
