"""Where the e-mail carrier keeps blobs (issue 21), against the real Dovecot and SMTP front,
beyond the contract suite: the poll passes blob mails over (and marks or moves them like
pointer mails), a fetch finds a moved one, reads no more than it was asked, and a blob
over the server's declared SIZE is refused before anything is sent."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from pointerbridge.bridges import email_blobs
from pointerbridge.bridges.base import Bridge, ConfigurationError
from pointerbridge.bridges.blob_io import BlobNotFoundError, BlobTooLargeError
from pointerbridge.bridges.email_blobs import BoundedImap, LiteralRefused, encoded_size, fitting
from servers.dovecot import DOMAIN, PASSWORD, MailServer, email_pair, shared_mail_server
from test_email_bridge import _bridge, _flags, _pointers, _user


@pytest.fixture
def server() -> MailServer:
    return shared_mail_server()


def _source(tmp_path: Path, data: bytes) -> Path:
    source = tmp_path / f"source-{secrets.token_hex(4)}"
    source.write_bytes(data)
    return source


def _stranger_mail(to: str, message_id: str, body: str) -> bytes:
    return (
        f"From: someone@{DOMAIN}\r\nTo: {to}@{DOMAIN}\r\nSubject: look\r\nMessage-ID: {message_id}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}\r\n"
    ).encode()


def test_blob_mails_are_passed_over_by_the_poll_and_moved_like_pointer_mails(
    server: MailServer, tmp_path: Path
) -> None:
    alice, bob, _ = email_pair()
    server.doveadm("mailbox", "create", "-u", _user(bob), "Pointers")
    # A reader that reads mails of 64 KiB at most: a blob mail must not be noted as too large.
    settings = {"after": "move", "move_to": "Pointers", "max_mail_bytes": 64 * 1024}
    sender, reader, fetcher = _bridge(alice), _bridge(bob, **settings), _bridge(bob, **settings)
    try:
        small, large = os.urandom(1000), os.urandom(100_000)
        sender.post(_pointers(1, "beside blobs")[0])
        locators = [sender.put_blob(_source(tmp_path, data), len(data)) for data in (small, large)]
        assert all(loc.startswith("<pbb-") and loc.endswith(f"@{DOMAIN}>") for loc in locators)
        first = reader.poll(None)
        assert len(first.pointers) == 1
        assert (first.items, first.skipped_foreign, first.skipped_malformed, first.notes) == (1, 0, 0, [])
        reader.poll(first.cursor)  # moves what the first poll read: the pointer mail and both blob mails
        assert _flags(server, bob) == {} and _flags(server, bob, "Pointers") == {"": 3}
        for locator, data in zip(locators, (small, large), strict=True):
            dest = tmp_path / f"dest-{len(data)}"
            fetcher.get_blob(locator, dest, len(data))  # found where the poll moved it
            assert dest.read_bytes() == data
    finally:
        for bridge in (sender, reader, fetcher):
            bridge.close()


def test_only_the_mail_with_exactly_that_message_id_is_the_blob(
    server: MailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob, _ = email_pair()
    sender, reader = _bridge(alice), _bridge(bob)
    try:
        random_id = secrets.token_hex(16)
        locator = f"<pbb-{random_id}@{DOMAIN}>"
        # Arriving first, a stranger's mail whose Message-ID holds the locator: a header search finds both.
        server.deliver(_user(bob), _stranger_mail(_user(bob), f"<x{locator}>", "c3RyYW5nZXI="))
        monkeypatch.setattr(email_blobs.secrets, "token_hex", lambda _: random_id)
        data = os.urandom(5000)
        assert sender.put_blob(_source(tmp_path, data), len(data)) == locator
        monkeypatch.undo()
        imap = reader._imap_client()  # type: ignore[attr-defined]
        imap.select("INBOX", readonly=True)
        assert imap.uid("SEARCH", f'HEADER Message-ID "{locator}"') == ("OK", [b"1 2"])
        reader.get_blob(locator, tmp_path / "dest", len(data))
        assert (tmp_path / "dest").read_bytes() == data
        elsewhere = _bridge(bob, folder="Elsewhere")
        with pytest.raises(ConfigurationError, match="no folder 'Elsewhere'"):  # not "no such blob"
            elsewhere.get_blob(locator, tmp_path / "elsewhere", len(data))
        elsewhere.close()
        # A mail with a blob's form of Message-ID that holds no base64: no blob, nothing kept.
        fake = f"<pbb-{secrets.token_hex(16)}@{DOMAIN}>"
        server.deliver(_user(bob), _stranger_mail(_user(bob), fake, "this is not base64 at all!"))
        with pytest.raises(BlobNotFoundError, match="holds no blob"):
            reader.get_blob(fake, tmp_path / "fake", 1000)
        assert not (tmp_path / "fake").exists()
        # A stranger's mail far larger than the blob asked for: refused on its size, unread.
        big = f"<pbb-{secrets.token_hex(16)}@{DOMAIN}>"
        server.deliver(_user(bob), _stranger_mail(_user(bob), big, "QUFB\r\n" * 200_000))
        with pytest.raises(BlobTooLargeError, match="over 1000 bytes"):
            reader.get_blob(big, tmp_path / "big", 1000)
        assert not (tmp_path / "big").exists()
    finally:
        sender.close()
        reader.close()


def test_a_literal_over_the_bound_is_refused_before_it_is_read(server: MailServer) -> None:
    _, bob, inject = email_pair()
    inject("x" * 50_000)
    imap = BoundedImap("127.0.0.1", server.imap_port, timeout=10)
    try:
        imap.login(_user(bob), PASSWORD)
        imap.select("INBOX", readonly=True)
        imap.literal_limit = 10_000
        with pytest.raises(LiteralRefused) as refused:
            imap.uid("FETCH", "1", "(BODY.PEEK[])")
        assert refused.value.args[0] > 50_000
        imap.literal_limit = None
    finally:
        imap.shutdown()


def test_a_blob_over_the_smtp_servers_size_is_refused_before_anything_is_sent(
    server: MailServer, tmp_path: Path
) -> None:
    alice, bob, _ = email_pair()
    declared = 33_554_432  # what the test's SMTP front (aiosmtpd) declares
    sender, reader = _bridge(alice, max_blob_bytes=40_000_000), _bridge(bob)
    try:
        assert sender.blob_limit == 40_000_000
        source = tmp_path / "big"
        with source.open("wb") as out:
            out.truncate(25_000_000)  # base64 makes it 34.2 MB: over the server's 32 MiB
        with pytest.raises(BlobTooLargeError, match=f"at most {declared} bytes.*max_blob_bytes to {fitting(declared)}"):
            sender.put_blob(source, 25_000_000)
        assert reader.poll(None).items == 0 and _flags(server, bob) == {}  # nothing was sent
    finally:
        sender.close()
        reader.close()


def test_fitting_is_the_largest_blob_a_declared_size_takes() -> None:
    for declared in (100_000, 25_000_000, 26_214_400, 33_554_432, 50 * 2**20):
        fits = fitting(declared)
        assert encoded_size(fits) + 64 * 1024 <= declared < encoded_size(fits + 1) + 64 * 1024
    assert fitting(25_000_000) >= 18_000_000  # the default fits a 25 MB cap on a mail
    assert encoded_size(57) == 78 and encoded_size(58) == 84  # one full line; then a second


def test_max_blob_bytes_sets_the_limit_and_zero_keeps_no_files(server: MailServer, tmp_path: Path) -> None:
    alice, _, _ = email_pair()
    bridges: list[Bridge] = [_bridge(alice), _bridge(alice, max_blob_bytes=0)]
    try:
        assert bridges[0].blob_limit == 18_000_000 and bridges[1].blob_limit is None
        with pytest.raises(ConfigurationError, match="keeps no files"):
            bridges[1].put_blob(_source(tmp_path, b"x"), 1)
        with pytest.raises(ConfigurationError, match="max_blob_bytes"):
            _bridge(alice, max_blob_bytes=65 * 2**20)
    finally:
        for bridge in bridges:
            bridge.close()


def test_a_fetch_holds_a_few_pieces_never_the_whole_mail(server: MailServer, tmp_path: Path) -> None:
    import tracemalloc

    alice, bob, _ = email_pair()
    sender, reader = _bridge(alice), _bridge(bob)
    try:
        size = 10_000_000
        data = os.urandom(size)
        locator = sender.put_blob(_source(tmp_path, data), size)
        del data
        tracemalloc.start()
        try:
            reader.get_blob(locator, tmp_path / "dest", size)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert (tmp_path / "dest").stat().st_size == size
        # The mail is 13.7 MB: imaplib reading it whole would hold that, and decoding it more.
        assert peak < min(encoded_size(size), 6 * email_blobs._CHUNK), peak
    finally:
        sender.close()
        reader.close()
