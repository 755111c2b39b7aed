"""The tests' Dovecot configuration, in the syntax of the Dovecot that reads it.

Both serve IMAP (and implicit-TLS IMAP when asked) and LMTP on 127.0.0.1, store Maildirs
as Debian's ``mail`` user, and let any user name log in with one password, so each test
takes fresh mailboxes. Dovecot 2.4 rewrote the syntax (doc.dovecot.org, "Upgrading
Dovecot CE from 2.3 to 2.4"): it must open with ``dovecot_config_version`` and name
``dovecot_storage_version``; ``mail_location`` became ``mail_driver`` + ``mail_path``;
passdb and userdb blocks are named and take settings instead of ``args``;
``disable_plaintext_auth`` became ``auth_allow_cleartext``; ``ssl_cert = <file`` became
``ssl_server_cert_file = file``; the one-letter variables (``%n``) became
``%{user | username}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# 2.4.0: the oldest 2.4 syntax and defaults, so every 2.4.x reads it the same way.
CONFIG_VERSION = "2.4.0"


@dataclass(frozen=True)
class Layout:
    """Where one server keeps its files, as Dovecot sees them, and its ports (imaps 0: none)."""

    folder: Path  # the config, log, state, mailboxes and TLS files
    run: Path  # base_dir: unix sockets, so a short path
    imap: int
    imaps: int
    lmtp: int
    password: str
    tls: bool


def dovecot_config(series: str, layout: Layout) -> str:
    """The configuration text for Dovecot ``series`` ("2.3" or "2.4")."""
    new = series == "2.4"
    where, username = ("listen", "%{user | username}") if new else ("address", "%n")
    ports = {"imap": layout.imap, "imaps": layout.imaps, "lmtp": layout.lmtp}
    services = _SERVICES.format(where=where, username=username, **ports)
    head = _HEAD.format(d=layout.folder, run=layout.run, imap=layout.imap, ssl=_ssl(series, layout))
    return (_V24 if new else _V23).format(
        head=head, services=services, d=layout.folder, password=layout.password, version=CONFIG_VERSION
    )


def _ssl(series: str, layout: Layout) -> str:
    if not layout.tls:
        return "ssl = no"
    cert, key = layout.folder / "cert.pem", layout.folder / "key.pem"
    if series == "2.4":
        return f"ssl = yes\nssl_server_cert_file = {cert}\nssl_server_key_file = {key}"
    return f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"


_V23 = """\
{head}disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{d}/mail/%n/Maildir
first_valid_uid = 1
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={d}/mail/%n allow_all_users=yes
}}
{services}"""

_V24 = """\
dovecot_config_version = {version}
dovecot_storage_version = {version}
{head}auth_allow_cleartext = yes
auth_mechanisms = plain login
auth_failure_delay = 0
mail_driver = maildir
mail_home = {d}/mail/%{{user | username}}
mail_path = ~/Maildir
mail_uid = mail
mail_gid = mail
first_valid_uid = 1
passdb static {{
  password = {password}
}}
userdb static {{
  allow_all_users = yes
}}
{services}"""

# What both say alike: where its files are, its protocols on 127.0.0.1, whether TLS.
_HEAD = """\
instance_name = pbtest-{imap}
base_dir = {run}
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
{ssl}
"""

# The listeners on 127.0.0.1 (2.3 names the address ``address``, 2.4 ``listen``) and the
# LMTP recipient's user part as the mailbox's name (2.3: ``%n``; 2.4: a filter).
_SERVICES = """\
service imap-login {{
  inet_listener imap {{
    {where} = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    {where} = 127.0.0.1
    port = {imaps}
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    {where} = 127.0.0.1
    port = {lmtp}
  }}
}}
protocol lmtp {{
  auth_username_format = {username}
}}
"""
