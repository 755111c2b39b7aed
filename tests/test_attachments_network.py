"""Attachments between two members' homes over the network carriers that keep files
(issue 21): Matrix (the suite's Synapse, its media repository and upload limit) and
Telegram (the suite's Bot API server, where a file id works only for the bot that received
it, so the receiving member's bot learns its own by polling). The same round trip as
test_attachments.py's over files and e-mail: a 5 MB file prepared by Alice, the pointer
sealed and opened, Bob's home polls and saves it byte-identical, 0600, and nothing
plaintext or temporary is left in either home."""

from __future__ import annotations

import itertools
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from attachment_helpers import SIZE, carried, marked_file, no_plaintext, temp_empty
from console_helpers import carrier_home, make_home, opened, with_chat
from pointerbridge.app.attachments import prepare_attachment, save_attachment
from pointerbridge.app.errors import NoFileCarrierError
from pointerbridge.bridges.base import RetryableError
from pointerbridge.bridges.blob_io import BlobNotFoundError
from pointerbridge.core.blob import encrypted_size
from pointerbridge.home.config import CarrierConfig, Home
from servers.synapse import Synapse, shared_server
from servers.telegram import BotApiServer, telegram_group

_names = itertools.count()


def _round_trip(tmp_path: Path, alice: Home, bob: Home, carrier: str) -> None:
    """Alice's home prepares a 5 MB file, Bob's polls its carrier and saves it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    source = marked_file(outside)
    chat, bob_chat = with_chat(alice, "alice"), with_chat(bob, "bob")
    with opened(alice) as app:
        attachment = prepare_attachment(app, chat, source, caption="from the beach")
    assert [loc.carrier for loc in attachment.locators] == [carrier] and attachment.size == SIZE
    received = carried(alice, chat, attachment, bob_chat)
    assert received == attachment
    saves = tmp_path / "saves"
    saves.mkdir()
    with opened(bob) as app:
        polled = app.poll()
        assert polled.errors == {}
        saved = save_attachment(app, bob_chat, received, saves)
    assert saved == saves / "holiday photo.jpg"
    assert saved.read_bytes() == source.read_bytes()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert os.listdir(saves) == ["holiday photo.jpg"]
    for home in (alice, bob):
        temp_empty(home)
    no_plaintext(tmp_path / "alice", tmp_path / "bob")


# -- Telegram -------------------------------------------------------------------------------


def _telegram_homes(server: BotApiServer, tmp_path: Path) -> tuple[Home, Home]:
    (mine, theirs), _ = telegram_group(server)
    return carrier_home(tmp_path, "alice", mine), carrier_home(tmp_path, "bob", theirs)


def test_a_5_mb_file_goes_over_telegram_and_is_saved_byte_identical(bot_api: BotApiServer, tmp_path: Path) -> None:
    alice, bob = _telegram_homes(bot_api, tmp_path)
    _round_trip(tmp_path, alice, bob, "telegram")


def test_on_telegram_a_member_saves_a_file_once_their_bot_has_polled_it(bot_api: BotApiServer, tmp_path: Path) -> None:
    alice, bob = _telegram_homes(bot_api, tmp_path)
    source = marked_file(tmp_path, "notes.txt", 100_000)
    chat, bob_chat = with_chat(alice, "alice"), with_chat(bob, "bob")
    with opened(alice) as app:
        attachment = prepare_attachment(app, chat, source)
    (locator,) = attachment.locators
    unique = locator.value.split("/")[0]
    saves = tmp_path / "saves"
    saves.mkdir()
    with opened(bob) as app:
        # Bob's bot has not seen the document: Alice's bot's file id is not one it may use.
        with pytest.raises(BlobNotFoundError, match=rf"has not received the file {unique} .*\(poll first") as refused:
            save_attachment(app, bob_chat, attachment, saves)
        assert refused.value.exit_code == 51 and "\n" not in str(refused.value)
        assert os.listdir(saves) == []
        temp_empty(bob)
        assert app.poll().errors == {}
        saved = save_attachment(app, bob_chat, attachment, saves)
    assert saved.read_bytes() == source.read_bytes() and stat.S_IMODE(saved.stat().st_mode) == 0o600
    # Alice's own bot posted it: her home fetches it with the id in the locator, no poll needed.
    with opened(alice) as app:
        own = save_attachment(app, chat, attachment, tmp_path / "mine.txt")
    assert own.read_bytes() == source.read_bytes() and stat.S_IMODE(own.stat().st_mode) == 0o600
    for home in (alice, bob):
        temp_empty(home)
    no_plaintext(tmp_path / "alice", tmp_path / "bob")


# -- Matrix ---------------------------------------------------------------------------------


def _matrix_homes(server: Synapse, tmp_path: Path) -> tuple[Home, Home]:
    """Alice's and Bob's homes, each with its own account in one room of ``server``."""
    settings, theirs = server.two_bots_in_new_room(f"att{next(_names)}x{os.getpid()}")
    mine = CarrierConfig.model_validate({**settings, "start": "history"})
    bobs = CarrierConfig.model_validate({**theirs, "start": "history"})
    return carrier_home(tmp_path, "alice", mine), carrier_home(tmp_path, "bob", bobs)


@pytest.fixture(scope="module")
def small_server() -> Iterator[Synapse]:
    """A homeserver of its own that takes uploads of at most 100 KiB."""
    server = Synapse(Path(tempfile.mkdtemp(prefix="pbridge-synapse-small-")), extra={"max_upload_size": "100K"})
    server.start()
    yield server
    server.stop()


def test_a_5_mb_file_goes_over_matrix_and_is_saved_byte_identical(tmp_path: Path) -> None:
    alice, bob = _matrix_homes(shared_server(), tmp_path)
    _round_trip(tmp_path, alice, bob, "matrix")


def test_a_file_over_the_homeservers_upload_limit_is_refused_before_encrypting(
    small_server: Synapse, tmp_path: Path
) -> None:
    alice, bob = _matrix_homes(small_server, tmp_path)
    chat, bob_chat = with_chat(alice, "alice"), with_chat(bob, "bob")
    limit = 100 * 1024
    big = marked_file(tmp_path, "big.bin", limit)  # fits the limit, but not once encrypted
    assert encrypted_size(limit) > limit
    with opened(alice) as app, pytest.raises(NoFileCarrierError) as refused:
        prepare_attachment(app, chat, big)
    said = str(refused.value)
    assert f"'shared' takes files up to {limit:,} bytes encrypted, this one is {encrypted_size(limit):,}" in said
    assert "big.bin" in said and "\n" not in said
    assert not (alice.data_dir / "tmp").exists()  # nothing was encrypted
    # The same homeserver takes a file under its limit, and Bob saves it.
    small = marked_file(tmp_path, "small.bin", limit - 1000)
    with opened(alice) as app:
        attachment = prepare_attachment(app, chat, small)
    with opened(bob) as app:
        saved = save_attachment(app, bob_chat, attachment, tmp_path / "saved.bin")
    assert saved.read_bytes() == small.read_bytes()
    for home in (alice, bob):
        temp_empty(home)
    no_plaintext(tmp_path / "alice", tmp_path / "bob")


def test_a_homeserver_that_cannot_be_asked_its_limit_is_passed_over_not_fatal(tmp_path: Path) -> None:
    """A chat on a files carrier and on Matrix whose homeserver is down: the file goes over
    the files carrier and Matrix is named as skipped; with Matrix alone, its failure (a
    retryable one: asking later may work), not "no carrier can carry it"."""
    shared = tmp_path / "shared"
    shared.mkdir()
    home = make_home(tmp_path, "alice", shared)
    os.environ["PBRIDGE_TEST_MX_ATT_DOWN"] = "syt_never_used"
    with open(home.config_path, "a") as config:  # nothing listens on port 9 here
        config.write(
            '[carriers.room]\ntype = "matrix"\nhomeserver = "http://127.0.0.1:9"\nuser_id = "@a:localhost"\n'
            'device_id = "DEVICE"\nroom_id = "!room:localhost"\naccess_token_env = "PBRIDGE_TEST_MX_ATT_DOWN"\n'
        )
    source = marked_file(tmp_path, "a.txt", 1000)
    skipped: list[tuple[str, str]] = []
    with opened(home) as app:
        both = app.create_chat("Family", "a long secret for the family 42", ["room", "shared"])
        attachment = prepare_attachment(app, both, source, skipped=lambda carrier, why: skipped.append((carrier, why)))
        assert [loc.carrier for loc in attachment.locators] == ["files"]
        assert [carrier for carrier, _ in skipped] == ["room"] and "unreachable" in skipped[0][1]
        alone = app.create_chat("Room", "a long secret for the room 42", ["room"])
        with pytest.raises(RetryableError, match=r"'room'.*unreachable"):
            prepare_attachment(app, alone, source)
    assert list((home.data_dir / "tmp").iterdir()) == []
