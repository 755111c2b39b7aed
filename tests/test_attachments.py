"""Attachments in the app (issue 21): a file prepared (encrypted streaming, put on the chat's
carriers that keep files), carried in a sealed pb2 pointer, and saved by another member's
home byte-identical, 0600, checked before it is written; every failure typed, nothing
half-written and nothing plaintext left behind."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from attachment_helpers import SIZE
from attachment_helpers import carried as _carried
from attachment_helpers import marked_file as _file
from attachment_helpers import no_plaintext as _no_plaintext
from attachment_helpers import temp_empty as _temp_empty
from console_helpers import carrier_home, make_home, opened, with_chat
from pointerbridge.app.attachments import attachment_of, prepare_attachment, save_attachment
from pointerbridge.app.errors import DestinationExistsError, MessageNotFoundError, NoFileCarrierError, NotAFileError
from pointerbridge.app.models import UnlockedChat
from pointerbridge.bridges.blob_io import BlobNotFoundError
from pointerbridge.core.blob import encrypted_size
from pointerbridge.core.content import Locator
from pointerbridge.core.errors import BlobChunkError, BlobHashError, InvalidInputError
from pointerbridge.home.config import Home


def _pair(tmp_path: Path) -> tuple[Home, Home, Path]:
    shared = tmp_path / "shared"
    shared.mkdir()
    return make_home(tmp_path, "alice", shared), make_home(tmp_path, "bob", shared), shared


def _chat(home: Home, user: str) -> UnlockedChat:
    return with_chat(home, user)


def test_a_5_mb_file_goes_over_a_files_carrier_and_is_saved_byte_identical(tmp_path: Path) -> None:
    alice, bob, shared = _pair(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    source = _file(outside)
    chat, bob_chat = _chat(alice, "alice"), _chat(bob, "bob")
    seen: list[tuple[int, int]] = []
    with opened(alice) as app:
        attachment = prepare_attachment(
            app, chat, source, caption="from the beach", progress=lambda d, t: seen.append((d, t))
        )
    assert (attachment.name, attachment.media_type, attachment.size, attachment.caption) == (
        "holiday photo.jpg",
        "image/jpeg",
        SIZE,
        "from the beach",
    )
    assert [loc.carrier for loc in attachment.locators] == ["files"]
    blob = shared / "blobs" / attachment.locators[0].value
    assert blob.stat().st_size == encrypted_size(SIZE)
    assert seen[-1] == (2 * SIZE, 2 * SIZE) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    received = _carried(alice, chat, attachment, bob_chat)
    assert received == attachment
    saves = tmp_path / "saves"
    saves.mkdir()
    seen.clear()
    with opened(bob) as app:
        saved = save_attachment(app, bob_chat, received, saves, progress=lambda d, t: seen.append((d, t)))
    assert saved == saves / "holiday photo.jpg"
    assert saved.read_bytes() == source.read_bytes()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert os.listdir(saves) == ["holiday photo.jpg"]  # no temporary file beside it
    total = encrypted_size(SIZE) + SIZE
    assert seen[0] == (encrypted_size(SIZE), total) and seen[-1] == (total, total)
    for home in (alice, bob):
        _temp_empty(home)
    _no_plaintext(tmp_path / "alice", tmp_path / "bob", shared)


def test_an_existing_file_is_replaced_only_with_force(tmp_path: Path) -> None:
    alice, bob, _ = _pair(tmp_path)
    source = _file(tmp_path, "notes.txt", 100_000)
    chat, bob_chat = _chat(alice, "alice"), _chat(bob, "bob")
    with opened(alice) as app:
        attachment = prepare_attachment(app, chat, source)
    assert attachment.media_type == "text/plain"
    dest = tmp_path / "mine.txt"
    dest.write_bytes(b"keep me")
    dest.chmod(0o644)
    with opened(bob) as app:
        with pytest.raises(DestinationExistsError):
            save_attachment(app, bob_chat, attachment, dest)
        assert dest.read_bytes() == b"keep me"
        folder = tmp_path / "in"
        folder.mkdir()
        (folder / "notes.txt").write_bytes(b"also mine")
        with pytest.raises(DestinationExistsError):
            save_attachment(app, bob_chat, attachment, folder)  # the name inside a folder, too
        assert (folder / "notes.txt").read_bytes() == b"also mine"
        assert save_attachment(app, bob_chat, attachment, dest, force=True) == dest
    assert dest.read_bytes() == source.read_bytes() and stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path / "in")) == ["notes.txt"]
    _temp_empty(bob)


@pytest.mark.parametrize("where", [0, encrypted_size(SIZE) // 2, encrypted_size(SIZE) - 1])
def test_a_blob_altered_on_the_carrier_is_refused_and_nothing_is_written(tmp_path: Path, where: int) -> None:
    alice, bob, shared = _pair(tmp_path)
    source = _file(tmp_path)
    chat, bob_chat = _chat(alice, "alice"), _chat(bob, "bob")
    with opened(alice) as app:
        attachment = prepare_attachment(app, chat, source)
    blob = shared / "blobs" / attachment.locators[0].value
    data = bytearray(blob.read_bytes())
    data[where] ^= 0x01
    blob.write_bytes(bytes(data))
    saves = tmp_path / "saves"
    saves.mkdir()
    with opened(bob) as app, pytest.raises((BlobHashError, BlobChunkError)):
        save_attachment(app, bob_chat, attachment, saves)
    assert os.listdir(saves) == []
    _temp_empty(bob)
    _no_plaintext(tmp_path / "bob", saves)


def test_a_blob_missing_on_one_locator_is_fetched_from_the_next(tmp_path: Path) -> None:
    alice, bob, _ = _pair(tmp_path)
    source = _file(tmp_path, "a.bin", 70_000)
    chat, bob_chat = _chat(alice, "alice"), _chat(bob, "bob")
    with opened(alice) as app:
        attachment = prepare_attachment(app, chat, source)
    assert attachment.media_type == "application/octet-stream"
    gone = Locator("files", "blob-" + "0" * 32 + ".pbb")
    elsewhere = Locator("matrix", "mxc://example.org/abc")  # a carrier type this chat has not here
    both = replace(attachment, locators=(elsewhere, gone, *attachment.locators))
    with opened(bob) as app:
        saved = save_attachment(app, bob_chat, both, tmp_path / "out.bin")
        assert saved.read_bytes() == source.read_bytes()
        only_gone = replace(attachment, locators=(gone,))
        with pytest.raises(BlobNotFoundError):
            save_attachment(app, bob_chat, only_gone, tmp_path / "never.bin")
        only_elsewhere = replace(attachment, locators=(elsewhere,))
        with pytest.raises(NoFileCarrierError, match="matrix"):
            save_attachment(app, bob_chat, only_elsewhere, tmp_path / "never.bin")
    assert not (tmp_path / "never.bin").exists()
    _temp_empty(bob)


def test_a_chat_whose_only_carrier_keeps_no_files_is_refused_before_encrypting(tmp_path: Path) -> None:
    home = make_home(tmp_path, "alice", tmp_path)
    home.config_path.write_text(
        '[carriers.room]\ntype = "cmdchat"\nhost = "127.0.0.1"\nport = 9\nusername = "alice-bot"\n'
    )
    source = _file(tmp_path, "x.txt", 1000)
    with opened(home) as app:
        chat = app.create_chat("Room", "a long secret for the room 42", ["room"])
        with pytest.raises(NoFileCarrierError) as raised:
            prepare_attachment(app, chat, source)
    said = str(raised.value)
    assert "'room'" in said and "cmdchat" in said and "keeps no files" in said
    assert not (home.data_dir / "tmp").exists()  # nothing was encrypted


def test_a_file_over_every_carriers_limit_is_refused_before_encrypting(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    home = make_home(tmp_path, "alice", shared)
    with open(home.config_path, "a") as config:
        config.write("max_blob_bytes = 100000\n")
    source = _file(tmp_path, "big.bin", 100_000)  # 100,032 bytes encrypted
    with opened(home) as app:
        chat = app.create_chat("Family", "a long secret for the family 42", ["shared"])
        with pytest.raises(NoFileCarrierError, match="100,000 bytes encrypted"):
            prepare_attachment(app, chat, source)
    assert not (home.data_dir / "tmp").exists() and not (shared / "blobs").exists()


def test_a_bad_file_name_or_caption_is_refused_before_anything_is_put(tmp_path: Path) -> None:
    alice, _, shared = _pair(tmp_path)
    chat = _chat(alice, "alice")
    source = _file(tmp_path, "a\x01b.txt", 10)
    with opened(alice) as app, pytest.raises(InvalidInputError):
        prepare_attachment(app, chat, source)
    with opened(alice) as app, pytest.raises(InvalidInputError):
        prepare_attachment(app, chat, _file(tmp_path, "ok.txt", 10), media_type="tëxt/plain")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it to read would block forever
    with opened(alice) as app, pytest.raises(InvalidInputError, match="not a regular file"):
        prepare_attachment(app, chat, fifo)
    assert not (shared / "blobs").exists()


def test_a_message_without_a_file_has_no_attachment(tmp_path: Path) -> None:
    alice, _, _ = _pair(tmp_path)
    chat = with_chat(alice, "alice", bodies=("just words",))
    with opened(alice) as app:
        (shown,), _ = app.read(chat)
        with pytest.raises(NotAFileError):
            attachment_of(app, chat, shown.message.id[:8])
        with pytest.raises(MessageNotFoundError):
            attachment_of(app, chat, "f" * 32)


def test_a_5_mb_file_goes_over_e_mail_and_is_saved_byte_identical(tmp_path: Path) -> None:
    from servers.dovecot import email_pair

    alice_mail, bob_mail, _ = email_pair()
    alice, bob = carrier_home(tmp_path, "alice", alice_mail), carrier_home(tmp_path, "bob", bob_mail)
    source = _file(tmp_path / "alice")
    chat, bob_chat = _chat(alice, "alice"), _chat(bob, "bob")
    with opened(alice) as app:
        attachment = prepare_attachment(app, chat, source)
    assert [loc.carrier for loc in attachment.locators] == ["email"]
    received = _carried(alice, chat, attachment, bob_chat)
    dest = tmp_path / "bob" / "saved.jpg"
    with opened(bob) as app:
        assert save_attachment(app, bob_chat, received, dest) == dest
    assert dest.read_bytes() == source.read_bytes() and stat.S_IMODE(dest.stat().st_mode) == 0o600
    for home in (alice, bob):
        _temp_empty(home)
    source.unlink()
    dest.unlink()
    _no_plaintext(tmp_path / "alice", tmp_path / "bob")


def _cli_home(tmp_path: Path) -> str:
    from test_cli import SECRET, initialised_home, run

    home = initialised_home(tmp_path / "home")
    with open(Path(home) / "config.toml", "a") as config:  # added by hand: no CMD-CHAT server runs here
        config.write('[carriers.room]\ntype = "cmdchat"\nhost = "127.0.0.1"\nport = 9\nusername = "alice-bot"\n')
    secret = {"PBRIDGE_CHAT_SECRET": SECRET}
    for chat, carrier in (("family", "shared"), ("room", "room")):
        made = run("--home", home, "chat", "create", chat, "--carrier", carrier, env=secret)
        assert made.returncode == 0, made.stderr
    return home


def test_the_cli_refuses_what_it_cannot_send_or_save_with_its_own_codes(tmp_path: Path) -> None:
    from test_cli import SECRET, run

    home = _cli_home(tmp_path)
    secret = {"PBRIDGE_CHAT_SECRET": SECRET}
    source = _file(tmp_path, "x.txt", 1000)
    refused = run("--home", home, "send", "room", "--file", str(source), env=secret)
    assert refused.returncode == 57, refused.stderr
    assert "'room'" in refused.stderr and "keeps no files" in refused.stderr and len(refused.stderr.splitlines()) == 1
    both = run("--home", home, "send", "family", "words", "--file", str(source), env=secret)
    assert both.returncode == 2 and "--caption" in both.stderr
    assert run("--home", home, "send", "family", "just words", env=secret).returncode == 0
    (message,) = json.loads(run("--home", home, "read", "family", "--json", env=secret).stdout)["messages"]
    message_id = message["id"]
    saved = run("--home", home, "save", "family", message_id[:10], str(tmp_path), env=secret)
    assert saved.returncode == 59 and "holds no file" in saved.stderr, saved.stderr
    unknown = run("--home", home, "save", "family", "0" * 32, env=secret)
    assert unknown.returncode == 54, unknown.stderr  # as edit and delete --for-everyone say it
    assert not (Path(home) / "tmp").exists() or list((Path(home) / "tmp").iterdir()) == []
