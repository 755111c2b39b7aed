"""Where a Telegram carrier keeps blobs (issue 21): documents in the chat, against the test
Bot API server with Telegram's limits for bots (50 MB up, 20 MiB down) and its rule that a
file_id works only for the bot that received it."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import telegram
from pointerbridge.bridges.base import Bridge, PollResult, bridge_class
from pointerbridge.bridges.blob_io import BlobNotFoundError, BlobTooLargeError
from pointerbridge.bridges.telegram_blobs import KEPT_BLOBS, known_blobs, remember_blob
from servers.telegram import MAX_DOWNLOAD, MAX_UPLOAD, BotAccount, BotApiServer, Chat

MiB = 1 << 20


class Members:
    """Two members' bots in one group, as the README sets them up, and their bridges."""

    def __init__(self, server: BotApiServer) -> None:
        self.server = server
        self.alice = server.add_bot("alice_blob_bot", bot_to_bot=True, privacy=False)
        self.bob = server.add_bot("bob_blob_bot", bot_to_bot=True, privacy=False)
        person = server.add_person("Pat")
        self.group = server.add_chat("circle", members={person: "member", self.alice.id: "admin", self.bob.id: "admin"})
        self.bridges: list[Bridge] = []

    def bridge(self, bot: BotAccount) -> Bridge:
        variable = f"PBRIDGE_TEST_TG_BLOB_{bot.id}"
        os.environ[variable] = bot.token
        settings = {
            "token_env": variable,
            "chat_id": self.group.id,
            "base_url": self.server.base_url,
            "base_file_url": self.server.base_file_url,
            "post_interval": 0,
        }
        self.bridges.append(bridge_class("telegram").from_config("tg", settings))
        return self.bridges[-1]

    def poll(self, bridge: Bridge, cursor: str | None = None) -> PollResult:
        self.server.advance(5)  # a run later: the real server slows the same offset asked again within 3 s
        return bridge.poll(cursor)


@pytest.fixture
def members(bot_api: BotApiServer) -> Iterator[Members]:
    made = Members(bot_api)
    yield made
    for bridge in made.bridges:
        bridge.close()


def _blob(folder: Path, size: int) -> Path:
    path = folder / f"blob-{size}"
    with path.open("wb") as out:
        for start in range(0, size, MiB):
            out.write(os.urandom(min(MiB, size - start)))
    return path


def test_a_blob_posted_by_one_members_bot_is_fetched_by_anothers(members: Members, tmp_path: Path) -> None:
    alice, bob = members.bridge(members.alice), members.bridge(members.bob)
    cursor = members.poll(bob).cursor
    source = _blob(tmp_path, 300_000)
    locator = alice.put_blob(source, 300_000)
    unique, sender, alices_id = locator.split("/")
    assert sender == str(members.alice.id)
    # In the group: a document named file.bin, nothing else said about it.
    posted = members.group.messages[-1]
    assert posted["document"]["file_name"] == "file.bin"
    assert posted["document"]["file_unique_id"] == unique
    assert "caption" not in posted and "text" not in posted
    # Bob's bot sees it in its updates, under an id of its own; the poll keeps that, and
    # counts the document as looked at, not as junk.
    result = members.poll(bob, cursor)
    assert (result.pointers, result.skipped_foreign, result.items) == ([], 0, 1)
    bobs_id = known_blobs(result.cursor)[unique]
    assert bobs_id != alices_id
    dest = tmp_path / "fetched"
    with pytest.raises(BlobNotFoundError, match=f"this bot has not received the file {unique}"):
        bob.get_blob(locator, dest, 300_000)  # the app has not handed it the cursor yet
    bob.use_cursor(result.cursor)  # type: ignore[attr-defined]
    bob.get_blob(locator, dest, 300_000)
    assert dest.read_bytes() == source.read_bytes()
    assert dest.stat().st_mode & 0o777 == 0o600
    # Alice's own bot fetches it by the id in the locator.
    alice.get_blob(locator, tmp_path / "mine", 300_000)
    assert (tmp_path / "mine").read_bytes() == source.read_bytes()


def test_a_file_id_works_only_for_the_bot_that_received_it(members: Members, tmp_path: Path) -> None:
    alice, bob = members.bridge(members.alice), members.bridge(members.bob)
    locator = alice.put_blob(_blob(tmp_path, 1000), 1000)
    unique, _, alices_id = locator.split("/")
    # Bob's bot pretending the file were its own: Telegram refuses alice's id from bob's bot.
    refused = r"no such file for this bot \(getFile: Wrong file_id or the file is temporarily unavailable"
    with pytest.raises(BlobNotFoundError, match=refused):
        bob.get_blob(f"{unique}/{members.bob.id}/{alices_id}", tmp_path / "x", 1000)
    assert not (tmp_path / "x").exists()


def test_a_blob_a_bot_could_not_fetch_is_refused_before_uploading(members: Members, tmp_path: Path) -> None:
    alice, bob = members.bridge(members.alice), members.bridge(members.bob)
    assert alice.blob_limit == MAX_DOWNLOAD == 20 * MiB  # what matters is what the other members' bots can fetch
    cursor = members.poll(bob).cursor
    with pytest.raises(BlobTooLargeError, match=r"20,971,521 bytes encrypted, more than the 20,971,520"):
        alice.put_blob(_blob(tmp_path, 20 * MiB + 1), 20 * MiB + 1)
    assert "sendDocument" not in members.alice.calls
    source = _blob(tmp_path, 20 * MiB)
    locator = alice.put_blob(source, 20 * MiB)
    result = members.poll(bob, cursor)
    bob.use_cursor(result.cursor)  # type: ignore[attr-defined]
    bob.get_blob(locator, tmp_path / "fetched", 20 * MiB)
    assert (tmp_path / "fetched").read_bytes() == source.read_bytes()


def _send(server: BotApiServer, bot: BotAccount, chat: Chat, size: int, folder: Path) -> Any:
    """A document of ``size`` bytes sent by ``bot`` through python-telegram-bot, past the bridge's own check."""

    async def send() -> Any:
        async with telegram.Bot(bot.token, base_url=server.base_url, base_file_url=server.base_file_url) as tg:
            with _blob(folder, size).open("rb") as file:
                return await tg.send_document(chat.id, file, filename="file.bin", write_timeout=60, read_timeout=60)

    return asyncio.run(send())


def test_the_servers_limits_for_bots_are_telegrams(members: Members, tmp_path: Path) -> None:
    server = members.server
    with pytest.raises(telegram.error.NetworkError, match="Request Entity Too Large"):
        _send(server, members.alice, members.group, MAX_UPLOAD + 1, tmp_path)
    assert ("sendDocument", 413) in server.refused
    # 50 MB goes up; more than 20 MiB does not come down, and the bridge says so.
    bob = members.bridge(members.bob)
    cursor = members.poll(bob).cursor
    big = _send(server, members.alice, members.group, MAX_UPLOAD, tmp_path).document
    result = members.poll(bob, cursor)
    bob.use_cursor(result.cursor)  # type: ignore[attr-defined]
    locator = f"{big.file_unique_id}/{members.alice.id}/{big.file_id}"
    refused = r"a bot fetches at most 20,971,520 bytes \(getFile: File is too big\)"
    with pytest.raises(BlobTooLargeError, match=refused):
        bob.get_blob(locator, tmp_path / "fetched", MAX_UPLOAD)
    assert not (tmp_path / "fetched").exists()


def test_a_fetch_longer_than_expected_is_refused_and_leaves_nothing(members: Members, tmp_path: Path) -> None:
    alice = members.bridge(members.alice)
    locator = alice.put_blob(_blob(tmp_path, 5000), 5000)
    with pytest.raises(BlobTooLargeError, match=r"5,000 bytes, more than the 4,999 expected"):
        alice.get_blob(locator, tmp_path / "fetched", 4999)
    assert not (tmp_path / "fetched").exists()


def test_a_locator_that_names_nothing_is_refused(members: Members, tmp_path: Path) -> None:
    alice = members.bridge(members.alice)
    mine = str(members.alice.id)
    with pytest.raises(BlobNotFoundError, match=r"no such file for this bot \(getFile: Invalid file_id\)"):
        alice.get_blob(f"AgADnothing/{mine}/BQACAgIAAxNoSuchFile", tmp_path / "x", 1000)
    with pytest.raises(BlobNotFoundError, match="this bot has not received the file AgADnothing"):
        alice.get_blob("AgADnothing/42/BQACAgIAAxNoSuchFile", tmp_path / "x", 1000)
    for locator in ("", "AgAD/1", "a/b/c", "AgAD/1/../../etc", f"x y/{mine}/z", "mxc://localhost/abc"):
        with pytest.raises(BlobNotFoundError, match="is not a Telegram file locator"):
            alice.get_blob(locator, tmp_path / "x", 1000)
    assert not (tmp_path / "x").exists()


def test_a_cursor_keeps_the_newest_blobs_only() -> None:
    state: dict[str, Any] = {}
    for i in range(KEPT_BLOBS + 5):
        remember_blob(state, f"u{i}", f"f{i}")
    remember_blob(state, "u7", "f7-again")  # seen again: newest, and once
    kept = known_blobs(json.dumps(state))
    assert len(kept) == KEPT_BLOBS
    assert "u4" not in kept and "u5" in kept and kept["u7"] == "f7-again"
    assert kept[f"u{KEPT_BLOBS + 4}"] == f"f{KEPT_BLOBS + 4}"
