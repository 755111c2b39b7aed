"""The XMPP carrier through a SOCKS5 proxy (issue 24) against a real Prosody, with a real
microsocks: the login (STARTTLS verified for the JID's domain over the proxied socket), a
post, a poll and a listen all reach the server from the proxy's address, the server's
name is never looked up here, a proxy without ``host`` (an SRV lookup outside it) is
refused, and with the proxy down, or taking the connection and never answering, nothing
connects at all ("retry later" naming the proxy, within the carrier's timeout)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import raw_chat
from pointerbridge.bridges.base import ConfigurationError, RetryableError
from pointerbridge.bridges.xmpp import XmppBridge
from pointerbridge.core import Identity, seal
from servers.prosody import MUC, PASSWORD, XmppServer, bot_config, say, shared_xmpp_server
from servers.socks import PROXY_SOURCE, Silent, Socks, Watch, record_lookups, retry_said
from test_doctor import _doctor, _home


@pytest.fixture(scope="module")
def tls_server() -> Iterator[XmppServer]:
    """A Prosody requiring STARTTLS, with a certificate (for localhost) of its own CA."""
    with XmppServer(tls=True) as running:
        yield running


def _pointer(text: str) -> str:
    return seal(raw_chat("xmpp"), Identity("alice", bytes(32)), text)[0]


def test_a_proxy_without_host_is_refused_as_it_would_look_the_server_up_outside_it() -> None:
    settings = {"jid": "bot@example.org", "room": "r@conference.example.org", "password_env": "X"}
    with pytest.raises(ConfigurationError, match=r"a proxy needs host .* SRV lookup would ask DNS outside the proxy"):
        XmppBridge.from_config("x", {**settings, "proxy": "socks5h://127.0.0.1:9050"})
    assert XmppBridge.from_config("x", {**settings, "proxy": "socks5h://127.0.0.1:9050", "host": "example.org"})


def test_login_post_poll_and_listen_all_go_through_the_proxy(
    tls_server: XmppServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tls_server.ca_file is not None
    room = f"proxyroom@{MUC}"
    lookups = record_lookups(monkeypatch)
    with Socks() as socks, Watch(tls_server.c2s_port) as watch:
        through = {
            "host": "localhost",  # the name the proxy resolves; TLS is verified for the JID's domain
            "port": watch.port,
            "security": "starttls",
            "tls_ca_file": str(tls_server.ca_file),
            "proxy": socks.url,
        }
        say(bot_config(tls_server, "proxyperson", room, **through), "this room carries pointers")
        alice, bob = (
            XmppBridge.from_config(who, bot_config(tls_server, f"proxy{who}", room, **through).settings)
            for who in ("alice", "bob")
        )
        assert isinstance(alice, XmppBridge) and isinstance(bob, XmppBridge)
        try:
            first, second = _pointer("through the proxy"), _pointer("pushed through the proxy")
            alice.post(first)
            polled = bob.poll(None)
            assert [r.text for r in polled.pointers] == [first]
            assert any("over STARTTLS" in f.detail for f in bob.diagnose(None))
            heard: list[Any] = []
            listening = threading.Thread(target=lambda: heard.append(bob.listen(polled.cursor, 20)))
            listening.start()
            try:
                alice.post(second)  # heard live, or found by the listen's own read: either way once
            finally:
                listening.join(30)
            assert not listening.is_alive() and [r.text for r in heard[0].pointers] == [second]
        finally:
            alice.close()
            bob.close()
        assert len(watch.peers) >= 3 and watch.direct == [], watch.peers  # the person, Alice, Bob: all proxied
    assert set(watch.peers) == {PROXY_SOURCE}
    assert [made for made in lookups if made[1] == "localhost"] == []  # the proxy resolved the server


def test_with_the_proxy_down_the_login_is_retry_later_and_nothing_connects() -> None:
    server = shared_xmpp_server()
    socks = Socks()  # never started: its port refuses
    with Watch(server.c2s_port) as watch:
        config = bot_config(
            server, "proxydown", f"proxydown@{MUC}", host="localhost", port=watch.port, proxy=socks.url, timeout=10
        )
        bridge = XmppBridge.from_config("x", config.settings)
        try:
            with pytest.raises(RetryableError, match=f"the proxy {socks.url} does not answer"):
                bridge.poll(None)
            with pytest.raises(RetryableError, match=f"the proxy {socks.url} does not answer"):
                bridge.post(_pointer("never sent"))
        finally:
            bridge.close()
        assert watch.peers == []  # no way around the proxy


@pytest.mark.parametrize("greets", [False, True], ids=["silent", "greets-only"])
def test_a_proxy_that_never_answers_is_retry_later_naming_it_within_the_timeout(greets: bool) -> None:
    server = shared_xmpp_server()
    timeout = 1.0
    with Silent(greets=greets) as silent, Watch(server.c2s_port) as watch:
        room = f"proxysilent@{MUC}"
        config = bot_config(server, "proxysilent", room, host="localhost", port=watch.port, proxy=silent.url)
        bridge = XmppBridge.from_config("x", config.settings | {"timeout": timeout})
        try:
            attempts = (lambda: bridge.poll(None), lambda: bridge.post(_pointer("x")), lambda: bridge.listen(None, 5))
            for said in retry_said(attempts, timeout):
                assert said.startswith("carrier 'x': localhost unreachable (") and f"the proxy {silent.url}" in said
        finally:
            bridge.close()
        assert silent.accepted >= 3
        assert watch.peers == []


def test_doctor_shows_the_proxy_and_logs_in_through_it(tmp_path: Path) -> None:
    server = shared_xmpp_server()
    with Socks() as socks, Watch(server.c2s_port) as watch:
        room = f"proxydoctor@{MUC}"
        say(bot_config(server, "proxydoctorperson", room), "made before the watch looks")  # the server's own port
        config = bot_config(server, "proxydoctor", room, host="localhost", port=watch.port)
        home = _home(tmp_path, x={"type": "xmpp", **config.settings, "proxy": socks.url})
        found = _doctor(home, env={"PBRIDGE_TEST_XMPP_PASSWORD": PASSWORD})
        assert found["x proxy"] == (
            "ok",
            f"{socks.url}: every connection and name lookup of this carrier goes through it",
        )
        assert found["x login"][0] == "ok" and found["x room"][0] == "ok", found
    assert watch.peers and watch.direct == []
