"""The Prosody the XMPP tests run against: starts, registers users who log in, offers the
external component port, keeps its accounts over a restart, stops."""

from __future__ import annotations

import asyncio
import socket

import slixmpp
from servers.prosody import PASSWORD, XmppServer


async def _log_in(jid: str, password: str, port: int) -> bool:
    """Whether ``jid`` logs in over plain c2s on 127.0.0.1 (a bounded wait)."""
    client = slixmpp.ClientXMPP(jid, password)
    client.use_aiodns = False  # aiodns leaves a thread for good: the worker's later reads would not fork
    client.enable_plaintext, client.enable_starttls, client.enable_direct_tls = True, False, False
    client.plugin["feature_mechanisms"].unencrypted_scram = True  # loopback only
    outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    client.add_event_handler("session_start", lambda _e: outcome.done() or outcome.set_result(True))
    for refused in ("failed_all_auth", "disconnected"):
        client.add_event_handler(refused, lambda _e: outcome.done() or outcome.set_result(False))
    client.connect("127.0.0.1", port)
    try:
        return await asyncio.wait_for(outcome, 20)
    finally:
        await client.disconnect(wait=1)


def _component_greets(port: int) -> bool:
    """Whether the XEP-0114 port answers a component's stream header with a stream id."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as link:
        link.sendall(
            b"<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' "
            b"to='pbridge.localhost'>"
        )
        said = b""
        while b"id=" not in said:
            chunk = link.recv(4096)
            if not chunk:
                break
            said += chunk
        return b"jabber:component:accept" in said and b"id=" in said


def test_a_real_prosody_starts_registers_two_users_who_log_in_and_stops() -> None:
    server = XmppServer(component="pbridge.localhost")
    try:
        server.start()
        alice, bob = server.register("alice"), server.register("bob")
        assert (alice, bob) == ("alice@localhost", "bob@localhost")
        assert asyncio.run(_log_in(alice, PASSWORD, server.c2s_port))
        assert asyncio.run(_log_in(bob, PASSWORD, server.c2s_port))
        assert not asyncio.run(_log_in(bob, "wrong", server.c2s_port))
        assert _component_greets(server.component_port)
        server.stop()
        assert not server.running
        server.start()  # as the outage tests will: the accounts are still there
        assert asyncio.run(_log_in(alice, PASSWORD, server.c2s_port))
        assert "/etc/prosody" not in server.config.read_text() and str(server.folder) in server.config.read_text()
    finally:
        server.close()
    assert not server.folder.exists()
