"""The e-mail carrier through a SOCKS5 proxy (issue 24) against a real Dovecot and its
SMTP front, with a real microsocks: every connection (SMTP, IMAP, the IDLE listen, a blob
fetch) reaches the servers from the proxy's address, TLS (implicit and STARTTLS) is
verified for the server's name over the proxied socket, the mail host's name is never
looked up here, and with the proxy down, or taking the connection and never answering,
nothing connects at all ("retry later", within the carrier's timeout), ``pbridge carrier
add`` included."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import idle_began, raw_chat, raw_identity
from pointerbridge.bridges.base import Bridge, RetryableError, bridge_class
from pointerbridge.core import seal
from pointerbridge.home.config import CarrierConfig
from servers.dovecot import PASSWORD, MailServer, mailbox_config, shared_mail_server
from servers.socks import PROXY_SOURCE, Silent, Socks, Watch, record_lookups, retry_said
from test_cli import run
from test_doctor import _doctor, _home


def _bridge(config: CarrierConfig) -> Bridge:
    return bridge_class("email").from_config("mail", dict(config.settings))


def _pointer(text: str) -> str:
    return seal(raw_chat("mail"), raw_identity("alice"), text)[0]


def _users(tag: str) -> list[str]:
    return [f"px{tag}{who}{os.getpid()}" for who in ("a", "b")]


def _plain_through(
    server: MailServer, tag: str, imap: Watch, smtp: Watch, socks: Socks | Silent, **more: object
) -> CarrierConfig:
    """A mailbox's config on the plaintext ``server``, by the name localhost, through the
    watches and ``socks``, with ``more`` settings."""
    users = _users(tag)
    return mailbox_config(
        server,
        users[0],
        users,
        imap_host="localhost",
        imap_port=imap.port,
        smtp_host="localhost",
        smtp_port=smtp.port,
        proxy=socks.url,
        **more,
    )


@pytest.fixture(scope="module")
def tls_server() -> Iterator[MailServer]:
    """A mail server that speaks TLS as providers do, with a certificate (for 127.0.0.1
    and localhost) of its own CA."""
    with MailServer(tls=True) as served:
        yield served


@pytest.fixture
def idling(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set once the server has answered an IDLE with its continuation."""
    return idle_began(monkeypatch)


@pytest.mark.parametrize(("imap", "smtp"), [("tls", "starttls"), ("starttls", "tls")])
def test_posting_polling_listening_and_a_blob_all_go_through_the_proxy(
    tls_server: MailServer,
    imap: str,
    smtp: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    idling: threading.Event,
) -> None:
    imap_port = tls_server.imaps_port if imap == "tls" else tls_server.imap_port
    smtp_port = tls_server.smtp_tls_port if smtp == "tls" else tls_server.smtp_starttls_port
    users = _users(imap)
    lookups = record_lookups(monkeypatch)
    with Socks() as socks, Watch(imap_port) as imap_watch, Watch(smtp_port) as smtp_watch:
        alice, bob = (
            mailbox_config(
                tls_server,
                user,
                users,
                imap_host="localhost",  # the name the proxy resolves, and TLS verifies
                imap_port=imap_watch.port,
                imap_security=imap,
                smtp_host="localhost",
                smtp_port=smtp_watch.port,
                smtp_security=smtp,
                tls_ca_file=str(tls_server.ca_file),
                proxy=socks.url,
            )
            for user in users
        )
        sender, reader = _bridge(alice), _bridge(bob)
        try:
            first = _pointer(f"through the proxy over {imap} and {smtp}")
            sender.post(first)
            polled = reader.poll(None)
            assert [r.text for r in polled.pointers] == [first]
            data = secrets.token_bytes(50_000)
            source = tmp_path / "blob"
            source.write_bytes(data)
            locator = sender.put_blob(source, len(data))
            reader.get_blob(locator, tmp_path / "fetched", len(data))
            assert (tmp_path / "fetched").read_bytes() == data
            second = _pointer("pushed through the proxy")
            heard: list[Any] = []
            listening = threading.Thread(target=lambda: heard.append(reader.listen(polled.cursor, 20)))
            listening.start()
            try:
                assert idling.wait(10), "the listen never started an IDLE through the proxy"
                sender.post(second)
            finally:
                listening.join(30)
            assert not listening.is_alive() and [r.text for r in heard[0].pointers] == [second]
        finally:
            sender.close()
            reader.close()
        for watch in (imap_watch, smtp_watch):
            assert watch.peers and watch.direct == [], watch.peers  # every connection came from the proxy
    assert set(imap_watch.peers) == {PROXY_SOURCE}
    assert [made for made in lookups if made[1] == "localhost"] == []  # the proxy resolved the mail host
    assert [made for made in lookups if made[0] in ("getfqdn", "gethostbyaddr")] == []  # EHLO names no machine


def test_with_the_proxy_down_every_use_is_retry_later_and_nothing_connects(tmp_path: Path) -> None:
    server = shared_mail_server()
    socks = Socks()  # never started: its port refuses
    with Watch(server.imap_port) as imap_watch, Watch(server.smtp_port) as smtp_watch:
        config = _plain_through(server, "down", imap_watch, smtp_watch, socks)
        bridge = _bridge(config)
        said = f"the proxy {socks.url} does not answer"
        try:
            with pytest.raises(RetryableError, match=f"IMAP localhost:{imap_watch.port} unavailable: {said}"):
                bridge.poll(None)
            with pytest.raises(RetryableError, match=f"SMTP localhost:{smtp_watch.port} unavailable: {said}"):
                bridge.post(_pointer("never sent"))
            with pytest.raises(RetryableError, match=said):
                bridge.listen(None, 1)
            with pytest.raises(RetryableError, match=said):
                bridge.get_blob(f"<pbb-{'0' * 32}@mail.test>", tmp_path / "never", 1000)
        finally:
            bridge.close()
        assert imap_watch.peers == [] and smtp_watch.peers == []  # no way around the proxy


@pytest.mark.parametrize("greets", [False, True], ids=["silent", "greets-only"])
def test_a_proxy_that_never_answers_is_retry_later_within_the_timeout_and_nothing_connects(greets: bool) -> None:
    server = shared_mail_server()
    timeout = 1.0
    with Silent(greets=greets) as silent, Watch(server.imap_port) as imap, Watch(server.smtp_port) as smtp:
        bridge = _bridge(_plain_through(server, "silent", imap, smtp, silent, timeout=timeout))
        late = f"the proxy {silent.url} did not answer in time"
        try:
            attempts = (lambda: bridge.poll(None), lambda: bridge.post(_pointer("x")), lambda: bridge.listen(None, 5))
            reading, sending = f"IMAP localhost:{imap.port}", f"SMTP localhost:{smtp.port}"
            assert retry_said(attempts, timeout) == [
                f"carrier 'mail': {where} unavailable: {late}" for where in (reading, sending, reading)
            ]
        finally:
            bridge.close()
        assert silent.accepted >= 3
        assert imap.peers == [] and smtp.peers == []  # no way around the proxy


def test_pbridge_carrier_add_with_the_proxy_down_is_retry_later_in_one_line(tmp_path: Path) -> None:
    socks = Socks()  # never started: its port refuses
    home = _home(tmp_path)
    env: dict[str, str | bytes] = {"PBRIDGE_TEST_MAIL_PASSWORD": PASSWORD}
    with Watch(9) as imap, Watch(9) as smtp:  # nothing may reach them
        settings = {
            "address": "a@mail.test",
            "to": "a@mail.test,b@mail.test",
            "username": "a",
            "password_env": "PBRIDGE_TEST_MAIL_PASSWORD",
            "imap_host": "localhost",
            "imap_port": imap.port,
            "smtp_host": "localhost",
            "smtp_port": smtp.port,
            "proxy": socks.url,
        }
        options = [f"--set={key}={value}" for key, value in settings.items()]
        added = run("--home", str(home), "carrier", "add", "em", "--type", "email", *options, env=env)
    down = f"the proxy {socks.url} does not answer (Connection refused)"
    assert added.returncode == RetryableError.exit_code, added  # "retry later", not a setting to fix
    assert added.stderr == (
        f"pbridge: carrier 'em': IMAP localhost:{imap.port} unavailable: {down}; "
        f"SMTP localhost:{smtp.port} unavailable: {down}\n"
    ), added
    assert imap.peers == [] and smtp.peers == []


def test_pbridge_poll_says_retry_later_in_one_line_and_doctor_names_the_proxy(tmp_path: Path) -> None:
    server = shared_mail_server()
    with Socks() as socks, Watch(server.imap_port) as imap_watch, Watch(server.smtp_port) as smtp_watch:
        config = _plain_through(server, "cli", imap_watch, smtp_watch, socks)
        home = _home(tmp_path, mail={"type": "email", **config.settings})
        env: dict[str, str | bytes] = {"PBRIDGE_TEST_MAIL_PASSWORD": PASSWORD}
        found = _doctor(home, env=env)
        assert found["mail proxy"] == (
            "ok",
            f"{socks.url}: every connection and name lookup of this carrier goes through it",
        )
        assert found["mail imap"][0] == "ok" and found["mail smtp"][0] == "ok", found
        assert run("--home", str(home), "poll", env=env).returncode == 0
        socks.stop()
        polled = run("--home", str(home), "poll", env=env)
        assert polled.returncode == RetryableError.exit_code, polled
        said = f"mail: IMAP localhost:{imap_watch.port} unavailable: the proxy {socks.url} does not answer"
        assert polled.stdout.startswith(said) and polled.stdout.count("\n") == 1 and polled.stderr == "", polled
    assert imap_watch.peers and imap_watch.direct == [] and smtp_watch.direct == []


def test_a_server_the_proxy_cannot_reach_is_retry_later_naming_both() -> None:
    server = shared_mail_server()
    with Socks() as socks:
        with Watch(server.imap_port) as imap_watch, Watch(server.smtp_port) as smtp_watch:
            config = _plain_through(server, "unreached", imap_watch, smtp_watch, socks)
        bridge = _bridge(config)  # the watches have stopped: their ports refuse the proxy's connections
        try:
            with pytest.raises(
                RetryableError, match=f"the proxy {socks.url} could not reach localhost:{imap_watch.port}"
            ):
                bridge.poll(None)
        finally:
            bridge.close()
