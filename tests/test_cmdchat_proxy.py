"""The CMD-CHAT carrier through a SOCKS5 proxy (issue 24), against the faithful CMD-CHAT
server behind a :class:`~servers.socks.Watch`: the bot's one connection (its login, posts,
polls and listens) reaches the server only from the proxy, and the server's name
(``localhost``) is looked up by the proxy, never by this process; with the proxy down,
"retry later" naming it, and nothing goes direct; the same, within the carrier's timeout,
with a proxy that takes the connection and never answers. Once through ``pbridge poll`` too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cmdchat_helpers import PASSWORD, PASSWORD_ENV, bot, server_fixture
from helpers import raw_chat, raw_identity
from pointerbridge.bridges.base import RetryableError
from pointerbridge.core import seal
from servers.cmdchat import CmdChatServer, RawClient
from servers.socks import Silent, Socks, Watch, record_lookups, retry_said
from test_cli import run
from test_doctor import _home

server = server_fixture()


@pytest.fixture
def watch(server: CmdChatServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Watch]:
    """A watch in front of the server (and the room's password where the bots read it)."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with Watch(server.port) as watching:
        yield watching


def _pointer(text: str) -> str:
    return seal(raw_chat("proxied"), raw_identity("carol"), text)[0]


def test_the_login_posts_polls_and_listens_go_through_the_proxy_which_resolves_the_name(
    server: CmdChatServer, watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = RawClient(server.port, "carol", PASSWORD)  # in the room directly, as CMD-CHAT's client
    with Socks() as socks:
        looked_up = record_lookups(monkeypatch)
        mine = bot(watch.port, "alice-bot", host="localhost", proxy=socks.url)
        try:
            cursor = mine.poll(None).cursor
            posted, pasted = _pointer("mine"), _pointer("pasted")
            mine.post(posted)
            person.say(pasted)
            heard: list[str] = []
            for _ in range(20):  # a listen ends at the first news: the post's echo may come alone
                result = mine.listen(cursor, 10)
                heard += [found.text for found in result.pointers]
                cursor = result.cursor
                if pasted in heard:
                    break
            assert heard == [posted, pasted]
        finally:
            mine.close()
            person.close()
    assert watch.peers and watch.direct == [], watch.peers
    assert "localhost" not in {name for _, name in looked_up}, looked_up


def test_with_the_proxy_down_it_is_retry_later_naming_it_and_nothing_goes_direct(watch: Watch) -> None:
    socks = Socks()  # never started: its port refuses
    mine = bot(watch.port, "alice-bot", host="localhost", proxy=socks.url)
    down = f"carrier 'c': the proxy {socks.url} does not answer (Connection refused)"
    try:
        for attempt in (lambda: mine.poll(None), lambda: mine.post(_pointer("never sent"))):
            with pytest.raises(RetryableError) as raised:
                attempt()
            assert str(raised.value) == down
    finally:
        mine.close()
    assert watch.peers == []


@pytest.mark.parametrize("greets", [False, True], ids=["silent", "greets-only"])
def test_a_proxy_that_never_answers_is_retry_later_within_the_timeout_and_nothing_goes_direct(
    watch: Watch, greets: bool
) -> None:
    timeout = 1.0
    with Silent(greets=greets) as silent:
        mine = bot(watch.port, "alice-bot", host="localhost", proxy=silent.url, timeout=timeout)
        try:
            attempts = (lambda: mine.poll(None), lambda: mine.post(_pointer("x")), lambda: mine.listen(None, 5))
            assert retry_said(attempts, timeout) == [f"carrier 'c': the proxy {silent.url} did not answer in time"] * 3
        finally:
            mine.close()
        assert silent.accepted >= 3
    assert watch.peers == []


def test_pbridge_poll_goes_through_the_proxy_and_with_it_down_says_so_in_one_line(watch: Watch, tmp_path: Path) -> None:
    socks = Socks()
    room = {"type": "cmdchat", "host": "localhost", "port": watch.port, "username": "alice-bot"}
    home = _home(tmp_path, room=room | {"password_env": PASSWORD_ENV, "proxy": socks.url})
    env: dict[str, str | bytes] = {PASSWORD_ENV: PASSWORD}
    with socks:
        polled = run("--home", str(home), "poll", env=env)
        assert polled.returncode == 0, polled
    assert watch.peers and watch.direct == [], watch.peers
    reached = list(watch.peers)
    failed = run("--home", str(home), "poll", env=env)
    assert failed.returncode == 25 and failed.stderr == "", failed
    assert failed.stdout == f"room: the proxy {socks.url} does not answer (Connection refused)\n"
    assert watch.peers == reached
