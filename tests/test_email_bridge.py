"""The e-mail carrier's own promises against a real Dovecot and its SMTP front, beyond the
contract suite: UIDVALIDITY, mails people write, outages, marking and moving, errors."""

from __future__ import annotations

import imaplib
import os
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from helpers import raw_chat, raw_identity
from pointerbridge.app.service import App
from pointerbridge.bridges.base import Bridge, ConfigurationError, CredentialRefusedError, RetryableError, bridge_class
from pointerbridge.bridges.email_format import password_refused
from pointerbridge.core import seal
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from servers.dovecot import DOMAIN, DOVECOTS, MailServer, email_pair, mailbox_config, shared_mail_server
from servers.dovecot_install import named_dovecot


@pytest.fixture(params=DOVECOTS)
def server(request: pytest.FixtureRequest) -> MailServer:
    """This machine's Dovecot (2.3 on Debian 12) and Debian 13's 2.4: each test on both."""
    return shared_mail_server(request.param)


def _bridge(config: CarrierConfig, **changes: Any) -> Bridge:
    return bridge_class("email").from_config("mail", {**config.settings, **changes})


def _app(tmp_path: Path, name: str, config: CarrierConfig) -> App:
    home = Home(tmp_path / name, tmp_path / name)
    home.create()
    save_config(home.config_path, Config(carriers={"mail": config}))
    return App(home)


def _pointers(count: int, prefix: str = "m") -> list[str]:
    return [seal(raw_chat("mail"), raw_identity("alice"), f"{prefix}{i}")[0] for i in range(count)]


@pytest.fixture
def pair(server: MailServer) -> Iterator[tuple[Bridge, Bridge, CarrierConfig]]:
    alice, bob, _ = email_pair(server=server)
    sender, reader = _bridge(alice), _bridge(bob)
    yield sender, reader, bob
    sender.close()
    reader.close()


def _user(config: CarrierConfig) -> str:
    return str(config.settings["username"])


def test_a_uidvalidity_change_between_polls_loses_and_duplicates_nothing(
    server: MailServer, tmp_path: Path, pair: tuple[Bridge, Bridge, CarrierConfig]
) -> None:
    sender, _, bob_config = pair
    first, second = _pointers(5, "a"), _pointers(4, "b")
    for pointer in first:
        sender.post(pointer)
    with _app(tmp_path, "bob", bob_config) as bob:
        assert bob.poll().received == {"mail": 5}
        server.doveadm("mailbox", "update", "--uid-validity", "4242", "-u", _user(bob_config), "INBOX")
        for pointer in second:
            sender.post(pointer)
        summary = bob.poll()
        assert summary.received == {"mail": 4} and summary.known == {"mail": 5}  # all read again, kept once
        assert "UIDVALIDITY changed" in summary.notes["mail"][0]
        assert bob.poll().received == {"mail": 0} and bob.poll().known == {"mail": 0}
        stored = [t for (t,) in bob.store._db.execute("SELECT text FROM pointers ORDER BY id")]
    assert stored == first + second


def test_a_pointer_quoted_in_an_html_reply_is_found(
    server: MailServer, pair: tuple[Bridge, Bridge, CarrierConfig]
) -> None:
    _, reader, bob_config = pair
    pointer, other = _pointers(2, "quoted")
    wrapped = "<br>\n".join("&gt; " + pointer[i : i + 60] for i in range(0, len(pointer), 60))
    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = f"pat@{DOMAIN}", f"{_user(bob_config)}@{DOMAIN}", "Re: hi"
    reply.set_content("See my answer below (plain part has no pointer).\n")
    reply.add_alternative(
        f"<html><body><p>Sure!</p><blockquote type=cite>{wrapped}</blockquote></body></html>",
        subtype="html",
        cte="quoted-printable",
    )
    forward = EmailMessage()
    forward["From"], forward["To"], forward["Subject"] = f"pat@{DOMAIN}", f"{_user(bob_config)}@{DOMAIN}", "Fwd"
    forward.set_content(f"forwarded:\n> {other}\n", charset="utf-16", cte="base64")
    for mail in (reply, forward):
        server.deliver(_user(bob_config), mail.as_bytes())
    result = reader.poll(None)
    assert [r.text for r in result.pointers] == [pointer, other] and result.items == 2


def test_dovecot_stopped_mid_poll_is_retryable_and_the_next_poll_completes(
    server: MailServer, tmp_path: Path, pair: tuple[Bridge, Bridge, CarrierConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pointerbridge.bridges.email as email_bridge

    sender, _, bob_config = pair
    pointers = _pointers(25)
    for pointer in pointers:
        sender.post(pointer)
    monkeypatch.setattr(email_bridge, "_BATCH", 10)  # three batches: Dovecot goes away after the first
    real_read = email_bridge.EmailBridge._read
    reads = []

    def read_then_stop(self: Any, imap: Any, uids: list[int], result: Any) -> list[int]:
        if reads:
            server.stop_imap()
        reads.append(len(uids))
        return real_read(self, imap, uids, result)

    monkeypatch.setattr(email_bridge.EmailBridge, "_read", read_then_stop)
    with _app(tmp_path, "bob", bob_config) as bob:
        try:
            summary = bob.poll()
        finally:
            server.start_imap()
        assert "unavailable" in summary.errors["mail"] and summary.received == {"mail": 10}
        monkeypatch.setattr(email_bridge.EmailBridge, "_read", real_read)
        assert bob.poll().received == {"mail": 15}
        stored = [t for (t,) in bob.store._db.execute("SELECT text FROM pointers ORDER BY id")]
    assert stored == pointers


@pytest.mark.parametrize("after", ["seen", "move"])
def test_mails_with_pointers_are_marked_or_moved_on_the_next_poll_and_others_are_left(
    server: MailServer, after: str
) -> None:
    alice, bob, inject = email_pair(server=server)
    sender = _bridge(alice)
    changes = {"after": after, "move_to": "Pointers"} if after == "move" else {"after": after}
    if after == "move":
        server.doveadm("mailbox", "create", "-u", _user(bob), "Pointers")
    reader = _bridge(bob, **changes)
    try:
        sender.post(_pointers(1)[0])
        inject("a person's mail, no pointer in it")
        first = reader.poll(None)
        assert len(first.pointers) == 1 and _flags(server, bob) == {"": 2}  # nothing touched before storing
        reader.poll(first.cursor)
        expected = {"": 1, "\\Seen": 1} if after == "seen" else {"": 1}
        assert _flags(server, bob) == expected
        if after == "move":
            assert _flags(server, bob, "Pointers") == {"": 1}
    finally:
        sender.close()
        reader.close()


def _flags(server: MailServer, config: CarrierConfig, folder: str = "INBOX") -> dict[str, int]:
    """How many mails of a folder carry which flags (as doveadm sees them)."""
    out = server.doveadm("-f", "flow", "fetch", "-u", _user(config), "flags", "mailbox", folder)
    counts: dict[str, int] = {}
    for line in out.splitlines():
        # \Recent belongs to a session, not to the mail
        flags = " ".join(f for f in line.removeprefix("flags=").split() if f != "\\Recent")
        counts[flags] = counts.get(flags, 0) + 1
    return counts


def test_wrong_password_folder_and_server_are_told_apart(server: MailServer) -> None:
    """A wrong password is a refused credential (exit 44: the listener retries it slowly,
    as failed logins lock accounts), from Dovecot's IMAP (NO [AUTHENTICATIONFAILED]) and
    its SMTP (535), whether polled or listened; a missing folder is another configuration."""
    alice, _, _ = email_pair(server=server)
    os.environ["PBRIDGE_TEST_MAIL_WRONG"] = "not the password"
    wrong = _bridge(alice, password_env="PBRIDGE_TEST_MAIL_WRONG")
    with pytest.raises(CredentialRefusedError, match=r"IMAP .* refused the login") as refused:
        wrong.poll(None)
    assert refused.value.exit_code == 44
    with pytest.raises(CredentialRefusedError, match=r"IMAP .* refused the login"):
        wrong.listen(None, 0.5)
    with pytest.raises(CredentialRefusedError, match=r"SMTP .* refused the login of 'alice\w*' \(535\)"):
        wrong.post(_pointers(1)[0])
    with pytest.raises(ConfigurationError, match="no folder 'Nowhere'") as elsewhere:
        _bridge(alice, folder="Nowhere").poll(None)
    assert not isinstance(elsewhere.value, CredentialRefusedError)
    with pytest.raises(RetryableError, match="unavailable"):
        _bridge(alice, imap_port=1).poll(None)
    with pytest.raises(RetryableError, match="unavailable"):
        _bridge(alice, smtp_port=1).post(_pointers(1)[0])
    for bridge in (wrong,):
        bridge.close()


def test_a_password_never_travels_in_clear_beyond_this_machine() -> None:
    server = shared_mail_server()
    config = mailbox_config(server, "x", ["x", "y"])
    with pytest.raises(ConfigurationError, match=r"only to 127\.0\.0\.1"):
        _bridge(config, imap_host="mail.example.org")
    with pytest.raises(ConfigurationError, match="needs move_to"):
        _bridge(config, after="move")
    with pytest.raises(ConfigurationError, match="not a plain address"):
        _bridge(config, to="bob@example.org, Eve <eve@example.org>")


@pytest.mark.parametrize("newest_deleted", [False, True])
def test_an_idle_poll_is_four_imap_commands(
    server: MailServer,
    pair: tuple[Bridge, Bridge, CarrierConfig],
    monkeypatch: pytest.MonkeyPatch,
    newest_deleted: bool,
) -> None:
    sender, reader, bob_config = pair
    for pointer in _pointers(2, "kept or deleted"):
        sender.post(pointer)
    cursor = reader.poll(None).cursor
    if newest_deleted:  # UIDNEXT stays above the newest mail left
        server.doveadm("expunge", "-u", _user(bob_config), "mailbox", "INBOX", "uid", "2")
        cursor = reader.poll(cursor).cursor
    reader.close()
    commands: list[str] = []
    real = imaplib.IMAP4._command

    def counting(self: imaplib.IMAP4, name: str, *args: Any) -> Any:
        commands.append(name)
        return real(self, name, *args)

    monkeypatch.setattr(imaplib.IMAP4, "_command", counting)
    again = reader.poll(cursor)
    reader.close()
    assert again.pointers == [] and commands == ["CAPABILITY", "LOGIN", "EXAMINE", "LOGOUT"]  # UIDNEXT: no SEARCH


def test_a_mail_larger_than_the_limit_is_noted_not_downloaded(server: MailServer) -> None:
    alice, bob, _ = email_pair(server=server)
    sender, reader = _bridge(alice), _bridge(bob, max_mail_bytes=64 * 1024)
    try:
        big = EmailMessage()
        big["From"], big["To"], big["Subject"] = f"pat@{DOMAIN}", f"{_user(bob)}@{DOMAIN}", "photos"
        big.set_content("x" * 100_000)
        server.deliver(_user(bob), big.as_bytes())
        sender.post(_pointers(1)[0])
        result = reader.poll(None)
        assert len(result.pointers) == 1 and any("larger than max_mail_bytes" in n for n in result.notes)
    finally:
        sender.close()
        reader.close()


def _raw(to: str, body: str, *, headers: str = "", content_type: str = "text/plain; charset=utf-8") -> bytes:
    return (
        f"From: x@{DOMAIN}\r\nTo: {to}\r\nSubject: s\r\n{headers}Content-Type: {content_type}\r\n\r\n{body}\r\n"
    ).encode("latin-1")


def test_hostile_mails_are_noted_and_passed_over_never_the_end_of_the_poll(
    server: MailServer, pair: tuple[Bridge, Bridge, CarrierConfig]
) -> None:
    sender, reader, bob_config = pair
    bob = _user(bob_config)
    nested = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(1000))
    hostile = [
        _raw(bob, "broken id", headers="Message-ID: <\r\n"),
        _raw(bob, "broken id", headers="Message-ID: <a@[\r\n"),
        _raw(bob, "deep", content_type='multipart/mixed; boundary="top"') + nested.encode(),
        _raw(bob, "odd charset " + "\u00e9", content_type="text/plain; charset=idna"),
        _raw(bob, "<!--" * 100_000, content_type="text/html; charset=us-ascii"),  # quadratic for HTMLParser
    ]
    for mail in hostile:
        server.deliver(bob, mail)
    (good,) = _pointers(1, "after the hostile ones")
    sender.post(good)
    result = reader.poll(None)
    assert [r.text for r in result.pointers] == [good] and result.items == len(hostile) + 1
    again = reader.poll(result.cursor)  # the cursor moved past them
    assert again.pointers == [] and again.items == 0


def test_recipients_refused_for_good_are_told_and_the_mail_counts_as_posted(server: MailServer) -> None:
    alice, bob, _ = email_pair(server=server)
    members = [*alice.settings["to"], f"refusedbox@{DOMAIN}"]
    sender, reader = _bridge(alice, to=members), _bridge(bob)
    deferring = _bridge(alice, to=[*alice.settings["to"], f"deferredbox@{DOMAIN}"])
    try:
        (pointer,) = _pointers(1, "partly refused")
        assert sender.post(pointer).startswith("<pb-")  # Bob got it: sending again would only repeat it
        assert [r.text for r in reader.poll(None).pointers] == [pointer]
        note = sender.poll(None).notes
        assert any("refused refusedbox@" in n for n in note)
        with pytest.raises(RetryableError, match="deferred deferredbox@"):  # 4xx: try again later, all of it
            deferring.post(pointer)
    finally:
        for bridge in (sender, reader, deferring):
            bridge.close()


def test_a_non_ascii_password_is_a_configuration_error_that_shows_none_of_it() -> None:
    alice, _, _ = email_pair()
    os.environ["PBRIDGE_TEST_MAIL_UNICODE"] = "pässwörd"
    bridge = _bridge(alice, password_env="PBRIDGE_TEST_MAIL_UNICODE")
    with pytest.raises(ConfigurationError, match="cannot send") as refused:
        bridge.poll(None)
    assert "ä" not in str(refused.value) and "pässwörd" not in str(refused.value)


def test_tls_settings_that_cannot_work_are_configuration_errors() -> None:
    alice, _, _ = email_pair()  # the test server speaks no TLS at all
    with pytest.raises(ConfigurationError, match="does not offer STARTTLS"):
        _bridge(alice, imap_security="starttls").poll(None)
    with pytest.raises(ConfigurationError, match="does not offer STARTTLS"):
        _bridge(alice, smtp_security="starttls").post(_pointers(1)[0])
    with pytest.raises(ConfigurationError, match="TLS failed"):
        _bridge(alice, imap_security="tls").poll(None)
    findings = {f.check: f.status for f in _bridge(alice, password_env="PBRIDGE_TEST_MAIL_WRONG").diagnose(None)}
    assert findings == {"imap": "fail", "smtp": "fail"}  # both told, neither raised


def test_without_move_read_mails_are_copied_and_flagged_deleted(server: MailServer) -> None:
    alice, bob, _ = email_pair(server=server)
    server.doveadm("mailbox", "create", "-u", _user(bob), "Pointers")
    sender, reader = _bridge(alice), _bridge(bob, after="move", move_to="Pointers")
    try:
        sender.post(_pointers(1, "no MOVE here")[0])
        first = reader.poll(None)
        reader._capabilities -= {"MOVE", "UIDPLUS"}  # type: ignore[attr-defined]  # an old server
        reader.poll(first.cursor)
        assert _flags(server, bob) == {"\\Deleted": 1} and _flags(server, bob, "Pointers") == {"": 1}
    finally:
        sender.close()
        reader.close()


@pytest.fixture(scope="module", params=DOVECOTS)
def tls_server(request: pytest.FixtureRequest) -> Iterator[MailServer]:
    """A mail server that speaks TLS as providers do, with a certificate of its own CA
    (each Dovecot: 2.4 names its certificate files in settings of their own)."""
    with MailServer(tls=True, dovecot=named_dovecot(request.param)) as served:
        yield served


@pytest.mark.parametrize(("imap", "smtp"), [("tls", "starttls"), ("starttls", "tls")])
def test_tls_and_starttls_with_the_servers_own_ca(tls_server: MailServer, imap: str, smtp: str) -> None:
    ports = {
        "imap_port": tls_server.imaps_port if imap == "tls" else tls_server.imap_port,
        "smtp_port": tls_server.smtp_tls_port if smtp == "tls" else tls_server.smtp_starttls_port,
    }
    users = [f"tls{imap}{n}x{os.getpid()}" for n in ("a", "b")]
    alice, bob = (
        mailbox_config(
            tls_server, u, users, imap_security=imap, smtp_security=smtp, tls_ca_file=str(tls_server.ca_file), **ports
        )
        for u in users
    )
    sender, reader = _bridge(alice), _bridge(bob)
    untrusting = _bridge(bob, tls_ca_file=None)
    try:
        (pointer,) = _pointers(1, f"over {imap} and {smtp}")
        sender.post(pointer)
        assert [r.text for r in reader.poll(None).pointers] == [pointer]
        with pytest.raises(ConfigurationError, match="certificate does not verify"):
            untrusting.poll(None)
    finally:
        for bridge in (sender, reader, untrusting):
            bridge.close()


@pytest.mark.parametrize(
    ("error", "password"),
    [
        (imaplib.IMAP4.error(b"[AUTHENTICATIONFAILED] Authentication failed."), True),  # Dovecot, Gmail
        (imaplib.IMAP4.error(b"LOGIN failed."), True),  # a NO without a code: older servers
        (imaplib.IMAP4.error(b"[PRIVACYREQUIRED] use TLS first"), False),
        (imaplib.IMAP4.error(b"[EXPIRED] change your password on the web"), False),
        (imaplib.IMAP4.error("LOGIN command error: BAD [b'syntax']"), False),  # a BAD: not the password
    ],
)
def test_only_a_refused_password_is_a_refused_credential(error: imaplib.IMAP4.error, password: bool) -> None:
    assert password_refused(error) is password
