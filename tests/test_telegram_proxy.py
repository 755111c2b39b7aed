"""The Telegram carrier through a SOCKS5 proxy (issue 24), against the test Bot API server
behind a :class:`~servers.socks.Watch`: python-telegram-bot's requests, the idle probe's
(with its own client and with a listener's kept one) and a blob's download reach the
server only from the proxy, and its name (``localhost``) is looked up by the proxy, never
by this process; with the proxy down, "retry later" naming it, and nothing goes direct; with
a proxy that takes the connection and never answers, the same within the carrier's timeout
(httpx's own SOCKS client waited for its answer for good)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import raw_chat, raw_identity
from pointerbridge.bridges.base import Bridge, RetryableError, bridge_class
from pointerbridge.core import seal
from servers.socks import Silent, Socks, Watch, record_lookups, retry_said
from servers.telegram import BotAccount, BotApiServer, Chat


class Group:
    """Two members' bots in one group: alice's reaches the server through ``watch`` (its
    address as ``localhost``) and a proxy, bob's directly."""

    def __init__(self, server: BotApiServer, watch: Watch) -> None:
        self.server, self.watch = server, watch
        self.alice = server.add_bot("alice_proxy_bot", bot_to_bot=True, privacy=False)
        self.bob = server.add_bot("bob_proxy_bot", bot_to_bot=True, privacy=False)
        person = server.add_person("Pat")
        self.chat: Chat = server.add_chat(
            "circle", members={person: "member", self.alice.id: "admin", self.bob.id: "admin"}
        )
        self.made: list[Bridge] = []

    def bridge(self, bot: BotAccount, proxy: str | None = None, **more: object) -> Bridge:
        """``bot``'s bridge: through ``proxy`` and the watch, or (None) straight to the server;
        ``more`` settings."""
        variable = f"PBRIDGE_TEST_TG_PROXY_{bot.id}"
        os.environ[variable] = bot.token
        root = f"http://localhost:{self.watch.port}" if proxy else f"http://127.0.0.1:{self.server.port}"
        settings = {"token_env": variable, "chat_id": self.chat.id, "post_interval": 0}
        settings |= {"base_url": f"{root}/bot", "base_file_url": f"{root}/file/bot", **more}
        self.made.append(bridge_class("telegram").from_config("tg", settings | ({"proxy": proxy} if proxy else {})))
        return self.made[-1]


@pytest.fixture
def group(bot_api: BotApiServer) -> Iterator[Group]:
    with Watch(bot_api.port) as watch:
        made = Group(bot_api, watch)
        yield made
        for bridge in made.made:
            bridge.close()


def _pointer(text: str) -> str:
    return seal(raw_chat("proxied"), raw_identity("bob"), text)[0]


def test_polls_posts_listens_and_blobs_go_through_the_proxy_which_resolves_the_name(
    group: Group, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Socks() as socks:
        mine, theirs = group.bridge(group.alice, socks.url), group.bridge(group.bob)
        looked_up = record_lookups(monkeypatch)
        cursor = mine.poll(None).cursor  # python-telegram-bot's getUpdates: the bot's id is not known yet
        first, second = _pointer("one"), _pointer("two")
        theirs.post(first)
        group.server.advance(5)
        heard = mine.listen(cursor, 5)  # the probe's long poll on the listener's client, then PTB's parse
        assert [found.text for found in heard.pointers] == [first]
        group.server.advance(5)
        idle = mine.poll(heard.cursor)  # the probe on a client of its own: nothing new
        assert idle.pointers == []
        mine.post(second)
        source = tmp_path / "blob"
        source.write_bytes(os.urandom(50_000))
        locator = mine.put_blob(source, 50_000)
        mine.get_blob(locator, tmp_path / "fetched", 50_000)  # getFile by PTB, the bytes by httpx
        assert (tmp_path / "fetched").read_bytes() == source.read_bytes()
    assert [message.get("text") for message in group.chat.messages if "text" in message][-2:] == [first, second]
    assert len(group.watch.peers) >= 3 and group.watch.direct == [], group.watch.peers
    assert "localhost" not in {name for _, name in looked_up}, looked_up


def test_with_the_proxy_down_every_request_is_retry_later_naming_it_and_nothing_goes_direct(
    group: Group, tmp_path: Path
) -> None:
    cursor, locator, socks = _known(group, tmp_path)
    reached = list(group.watch.peers)
    mine = group.bridge(group.alice, socks.url)
    down = f"carrier 'tg': the proxy {socks.url} does not answer (Connection refused)"
    for attempt in (
        lambda: mine.poll(cursor),  # the probe, on a client of its own
        lambda: mine.listen(cursor, 5),  # the probe, on the listener's client
        lambda: mine.post(_pointer("never sent")),  # python-telegram-bot
        lambda: mine.get_blob(locator, tmp_path / "fetched", 1000),
    ):
        with pytest.raises(RetryableError) as raised:
            attempt()
        assert str(raised.value) == down
    assert group.watch.peers == reached
    assert not (tmp_path / "fetched").exists()


@pytest.mark.parametrize("greets", [False, True], ids=["silent", "greets-only"])
def test_a_proxy_that_never_answers_is_retry_later_within_the_timeout_and_nothing_goes_direct(
    group: Group, tmp_path: Path, greets: bool
) -> None:
    timeout = 1.0
    cursor, locator, _ = _known(group, tmp_path)
    reached = list(group.watch.peers)
    with Silent(greets=greets) as silent:
        mine = group.bridge(group.alice, silent.url, timeout=timeout)
        attempts = (
            lambda: mine.poll(cursor),  # the probe
            lambda: mine.poll(None),  # python-telegram-bot's getUpdates
            lambda: mine.listen(cursor, 5),  # the probe, on the listener's client
            lambda: mine.post(_pointer("never sent")),
            lambda: mine.get_blob(locator, tmp_path / "fetched", 1000),  # getFile
            lambda: mine.diagnose(None),
        )
        assert retry_said(attempts, timeout) == [f"carrier 'tg': the proxy {silent.url} did not answer in time"] * 6
        assert silent.accepted >= 6
    assert group.watch.peers == reached


def _known(group: Group, tmp_path: Path) -> tuple[str, str, Socks]:
    """Alice's cursor after a poll through a real proxy (the bot's id known: her next poll
    asks by the probe) and a blob she sent; and the proxy, stopped since."""
    with Socks() as socks:
        before = group.bridge(group.alice, socks.url)
        cursor = before.poll(None).cursor
        locator = before.put_blob(_written(tmp_path), 1000)
        before.close()
    return cursor, locator, socks


def _written(folder: Path) -> Path:
    path = folder / "blob"
    path.write_bytes(os.urandom(1000))
    return path
