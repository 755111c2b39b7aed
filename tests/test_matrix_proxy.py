"""The Matrix carrier through a SOCKS5 proxy (issue 24), against a real Synapse behind a
:class:`~servers.socks.Watch`: every request (the raw reads, nio's posts and uploads, a
blob's download, a login) reaches the homeserver only from the proxy, and the
homeserver's name (``localhost``) is looked up by the proxy, never by this process; with
the proxy down, or taking the connection and never answering, "retry later" naming it
(within the carrier's timeout), and nothing reaches the homeserver."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import raw_chat, raw_identity
from pointerbridge.bridges.base import Bridge, RetryableError, bridge_class
from pointerbridge.bridges.matrix_login import LoginOptions, log_in, login, logout
from pointerbridge.bridges.proxy import parse_proxy
from pointerbridge.core import InvalidInputError, seal
from servers.socks import Silent, Socks, Watch, record_lookups, retry_said
from servers.synapse import shared_server

_names = itertools.count()


@pytest.fixture
def watch() -> Iterator[Watch]:
    """A watch in front of the session's Synapse."""
    with Watch(shared_server().port) as watching:
        yield watching


def _bot(watch: Watch, proxy: str, **more: object) -> tuple[Bridge, dict[str, Any]]:
    """A bot in a room of its own, its homeserver ``localhost`` behind ``watch``, its proxy
    ``proxy`` and ``more`` settings; and the room's other member's settings (direct, as a
    person's client)."""
    settings, theirs = shared_server().two_bots_in_new_room(f"proxy{next(_names)}x{os.getpid()}")
    mine = {k: v for k, v in settings.items() if k != "type"}
    mine |= {"homeserver": f"http://localhost:{watch.port}", "proxy": proxy, **more}
    return bridge_class("matrix").from_config("mx", mine), theirs


def test_posts_polls_listens_blobs_and_logins_go_through_the_proxy_which_resolves_the_name(
    watch: Watch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = shared_server()
    with Socks() as socks:
        bridge, _ = _bot(watch, socks.url)
        looked_up = record_lookups(monkeypatch)
        try:
            start = bridge.poll(None)
            pointer = seal(raw_chat("proxied"), raw_identity("alice"), "through the proxy")[0]
            bridge.post(pointer)
            heard = bridge.listen(start.cursor, 5)  # nio posted, the raw session long-polls
            assert [found.text for found in heard.pointers] == [pointer]
            source = tmp_path / "blob"
            source.write_bytes(os.urandom(70_000))
            locator = bridge.put_blob(source, 70_000)
            bridge.get_blob(locator, tmp_path / "fetched", 70_000)
            assert (tmp_path / "fetched").read_bytes() == source.read_bytes()
        finally:
            bridge.close()
        name = f"proxylogin{next(_names)}x{os.getpid()}"
        server.register(name, "login password")
        options = {"homeserver": f"http://localhost:{watch.port}", "user": name, "create_room": True}
        done = login("mx", {}, lambda: "login password", options | {"proxy": socks.url})
        assert done.settings["proxy"] == socks.url  # kept: the carrier goes through it from then on
        logout("mx", done.settings, done.credential)  # through the saved proxy
    assert len(watch.peers) >= 3 and watch.direct == [], watch.peers
    assert "localhost" not in {name for _, name in looked_up}, looked_up


def test_with_the_proxy_down_every_request_is_retry_later_naming_it_and_nothing_goes_direct(
    watch: Watch, tmp_path: Path
) -> None:
    socks = Socks()  # never started: its port refuses
    bridge, _ = _bot(watch, socks.url)
    down = f"carrier 'mx': the proxy {socks.url} does not answer (Connection refused)"
    source = tmp_path / "blob"
    source.write_bytes(b"x" * 1000)
    pointer = seal(raw_chat("proxied"), raw_identity("alice"), "never sent")[0]
    try:
        for attempt in (
            lambda: bridge.poll(None),  # the raw session
            lambda: bridge.post(pointer),  # nio
            lambda: bridge.put_blob(source, 1000),
            lambda: bridge.get_blob("mxc://localhost/abcdef", tmp_path / "fetched", 1000),
        ):
            with pytest.raises(RetryableError) as raised:
                attempt()
            assert str(raised.value) == down
    finally:
        bridge.close()
    with pytest.raises(RetryableError) as raised:
        log_in("mx", f"http://localhost:{watch.port}", "nobody", "pw", create_room=True, proxy=parse_proxy(socks.url))
    assert str(raised.value) == down
    assert watch.peers == []
    assert not (tmp_path / "fetched").exists()


@pytest.mark.parametrize("greets", [False, True], ids=["silent", "greets-only"])
def test_a_proxy_that_never_answers_is_retry_later_within_the_timeout_and_nothing_goes_direct(
    watch: Watch, tmp_path: Path, greets: bool
) -> None:
    timeout = 1.0
    pointer = seal(raw_chat("proxied"), raw_identity("alice"), "never sent")[0]
    with Silent(greets=greets) as silent:
        bridge, _ = _bot(watch, silent.url, timeout=timeout)
        target = f"http://localhost:{watch.port}"
        try:
            attempts = (
                lambda: bridge.poll(None),  # the raw session
                lambda: bridge.listen(None, 5),  # its long poll
                lambda: bridge.post(pointer),  # nio
                lambda: bridge.get_blob("mxc://localhost/abcdef", tmp_path / "fetched", 1000),
            )
            late = f"carrier 'mx': no answer from {target} through the proxy {silent.url} in time"
            assert retry_said(attempts, timeout) == [late] * 4
        finally:
            bridge.close()
        assert silent.accepted >= 4
    assert watch.peers == []


def test_a_login_refuses_a_proxy_that_would_look_names_up_here() -> None:
    with pytest.raises(InvalidInputError) as raised:
        LoginOptions.of({"homeserver": "https://matrix.example", "proxy": "socks5://127.0.0.1:9050"})
    assert "use socks5h:// so the proxy resolves names" in str(raised.value)


def test_logging_in_again_to_add_a_proxy_logs_the_old_device_out_through_it(tmp_path: Path) -> None:
    # The old device's logout used the old settings, with no proxy: a direct connection
    # with the old token right after the user asked for a proxy (found by the review).
    from test_matrix_cli import BOT_PASSWORD, login, login_ok

    server = shared_server()
    name = f"relog{os.getpid()}"
    server.register(name, BOT_PASSWORD)
    home = tmp_path / "home"
    with Watch(server.port) as watch, Socks() as socks:
        login_ok(home, "mx", "--homeserver", f"http://localhost:{watch.port}", "--user", name, "--create-room")
        assert watch.direct  # the first login, without a proxy, went direct
        watch.peers.clear()
        again = login(home, "mx", "--set", f"proxy={socks.url}")
        assert again.returncode == 0 and "note: the old device " in again.stderr, again
        assert "was logged out" in again.stderr, again.stderr
        assert watch.peers and watch.direct == [], watch.peers
