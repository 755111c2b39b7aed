"""The tests' Dovecot configuration is what each Dovecot reads: 2.3 (Debian 12's) and 2.4
(Debian 13's, in a root of its own), each checked by that Dovecot's own ``doveconf``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from servers.dovecot import DOVECOTS, MailServer, shared_mail_server
from servers.dovecot_config import Layout, dovecot_config
from servers.dovecot_install import Dovecot, debian13_dovecot, host_dovecot, named_dovecot


def _doveconf(dovecot: Dovecot, config: Path) -> subprocess.CompletedProcess[str]:
    command = dovecot.command("doveconf", "-n", "-c", str(dovecot.inside(config)))
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def _written(dovecot: Dovecot, series: str, tls: bool) -> Path:
    folder = dovecot.folder("pbridge-doveconf-")
    inside = dovecot.inside(folder)
    config = folder / "dovecot.conf"
    config.write_text(dovecot_config(series, Layout(inside, inside / "run", 10143, 10993, 10024, "pw", tls)))
    return config


@pytest.mark.parametrize("which", DOVECOTS)
def test_the_config_is_the_one_its_dovecot_reads(which: str) -> None:
    dovecot = named_dovecot(which)
    assert dovecot.series in ("2.3", "2.4")
    for tls in (False, True):
        config = _written(dovecot, dovecot.series, tls)
        try:
            read = _doveconf(dovecot, config)
        finally:
            config.unlink()
            config.parent.rmdir()
        assert read.returncode == 0, read.stderr
        assert f"# {dovecot.version.split()[0]}" in read.stdout  # doveconf heads its output with its version
        if dovecot.series == "2.4":
            assert "mail_driver = maildir" in read.stdout and "passdb static {" in read.stdout
            assert ("ssl_server {\n  cert_file = " in read.stdout) is tls  # ssl_server_cert_file, grouped
        else:
            assert "mail_location = maildir:" in read.stdout
        assert "pw" not in read.stdout  # doveconf hides the password, as a log would need


def test_a_23_config_is_refused_by_24_so_the_version_decides() -> None:
    dovecot = debian13_dovecot()
    config = _written(dovecot, "2.3", False)
    try:
        read = _doveconf(dovecot, config)
    finally:
        config.unlink()
        config.parent.rmdir()
    assert read.returncode != 0 and "dovecot_config_version" in read.stderr


def test_the_shared_24_server_is_debian_13s_dovecot() -> None:
    served = shared_mail_server("2.4")
    assert served.dovecot.series == "2.4" and "Dovecot v2.4." in (served.folder / "dovecot.log").read_text()
    here = host_dovecot()  # runs without a root; on Debian 13 it is the 2.4 itself
    assert here.root is None and (served.dovecot.root is None) == (here.series == "2.4")


def test_an_idle_less_24_server_takes_the_extra_settings() -> None:
    # tests/test_email_listen.py gives 2.3 an imap_capability line: 2.4 reads it the same.
    with MailServer(settings="imap_capability = IMAP4rev1 LITERAL+ UIDPLUS MOVE\n", dovecot=debian13_dovecot()) as s:
        import imaplib

        with imaplib.IMAP4("127.0.0.1", s.imap_port) as imap:
            imap.login("someone", "secret")
            assert "IDLE" not in imap.capabilities and "MOVE" in imap.capabilities
