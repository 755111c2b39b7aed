"""The e-mail carrier end to end through the installed ``pbridge``: two members, a mailbox
each on a real Dovecot, the SMTP front delivering between them."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from carrier_acceptance import Members, a_file_a_reply_an_edit_a_delete_and_forgeries, post_as_bot
from servers.dovecot import DOMAIN, PASSWORD, mailbox_config, shared_mail_server
from test_cli import run

SECRET = "mail secret"
LETTER = "".join(f"line {i:05d} of a one-megabyte letter.\n" for i in range(30_000))[:1_000_000]


def _env(user: str) -> dict[str, str | bytes]:
    return {
        "PBRIDGE_MASTER_PHRASE": f"{user}'s phrase",
        "PBRIDGE_CHAT_SECRET": SECRET,
        "PBRIDGE_MAIL_PASSWORD": PASSWORD,
    }


def _pbridge(home: Path, user: str, *args: str, stdin: str = "", code: int = 0) -> str:
    done = run("--home", str(home / user), *args, stdin=stdin, env=_env(user))
    assert done.returncode == code, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


def _members(tmp_path: Path, chat: str) -> dict[str, str]:
    """Alice and Bob, a mailbox each (their logins returned), in a chat Alice made and Bob
    joined by invite with the carrier he had added himself."""
    server = shared_mail_server()
    users = {u: f"{u}{chat.lower()}{os.getpid()}" for u in ("alice", "bob")}
    members = ",".join(f"{login}@{DOMAIN}" for login in users.values())
    for user, login in users.items():
        _pbridge(tmp_path, user, "init", "--username", user, "--weak-secret-ok")
        added = _pbridge(
            tmp_path,
            user,
            "carrier",
            "add",
            "mail",
            "--type",
            "email",
            "--set",
            f"address={login}@{DOMAIN}",
            "--set",
            f"to={members}",
            "--set",
            f"username={login}",
            "--set",
            "password_env=PBRIDGE_MAIL_PASSWORD",
            "--set",
            "imap_host=127.0.0.1",
            "--set",
            f"imap_port={server.imap_port}",
            "--set",
            "imap_security=none",
            "--set",
            "smtp_host=127.0.0.1",
            "--set",
            f"smtp_port={server.smtp_port}",
            "--set",
            "smtp_security=none",
        )
        assert "UIDVALIDITY" in added and "accepts the login" in added
    _pbridge(tmp_path, "alice", "chat", "create", chat, "--carrier", "mail", "--weak-secret-ok")
    invite = _pbridge(tmp_path, "alice", "chat", "invite", chat, "--no-qr").strip()
    assert f"joined chat {chat!r} on mail" in _pbridge(tmp_path, "bob", "chat", "join", invite)  # his own mailbox
    return users


def test_200_messages_one_of_a_megabyte_reach_bob_once_in_order(tmp_path: Path) -> None:
    _members(tmp_path, "Letters")
    lines = [f"note {i:03d}" for i in range(199)]
    _pbridge(tmp_path, "alice", "send", "letters", "--lines", "--queue", stdin="\n".join(lines))
    _pbridge(tmp_path, "alice", "send", "letters", "--queue", stdin=LETTER)
    sent = json.loads(_pbridge(tmp_path, "alice", "poll", "--json"))
    assert sent["errors"] == {} and sent["posted"]["mail"] > 200  # the letter travels as many pointers
    got = json.loads(_pbridge(tmp_path, "bob", "poll", "--json"))
    assert got["errors"] == {} and got["received"] == {"mail": sent["posted"]["mail"]} and got["known"] == {"mail": 0}
    assert json.loads(_pbridge(tmp_path, "bob", "poll", "--json"))["received"] == {"mail": 0}
    shown = json.loads(_pbridge(tmp_path, "bob", "read", "letters", "--json"))["messages"]
    assert [m["body"] for m in shown] == [*lines, LETTER] and {m["username"] for m in shown} == {"alice"}
    doctor = json.loads(_pbridge(tmp_path, "bob", "doctor", "--json"))
    assert doctor["ok"] and {c["check"] for c in doctor["checks"] if c["scope"] == "mail"} >= {"imap", "smtp"}


def test_uidvalidity_an_html_reply_and_an_outage_through_the_cli(tmp_path: Path) -> None:
    import sqlite3
    from email.message import EmailMessage

    server = shared_mail_server()
    users = _members(tmp_path, "Trouble")
    _pbridge(tmp_path, "alice", "send", "trouble", "--lines", stdin="one\ntwo\nthree")
    assert json.loads(_pbridge(tmp_path, "bob", "poll", "--json"))["received"] == {"mail": 3}

    server.doveadm("mailbox", "update", "--uid-validity", "777", "-u", users["bob"], "INBOX")
    _pbridge(tmp_path, "alice", "send", "trouble", stdin="four")
    after = json.loads(_pbridge(tmp_path, "bob", "poll", "--json"))
    assert after["received"] == {"mail": 1} and after["known"] == {"mail": 3}  # read again, stored once
    assert any("UIDVALIDITY" in note for note in after["notes"]["mail"])

    _pbridge(tmp_path, "alice", "send", "trouble", "--queue", stdin="five, forwarded by hand")
    # The queued pointer, quoted in an HTML reply as Alice's mail client would write it.
    with sqlite3.connect(tmp_path / "alice" / "store.db") as db:
        (pointer,) = db.execute(
            "SELECT p.text FROM posts o JOIN pointers p ON p.id = o.pointer_id WHERE o.posted_at IS NULL"
        ).fetchone()
    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = f"{users['alice']}@{DOMAIN}", f"{users['bob']}@{DOMAIN}", "Re: x"
    reply.set_content("see below")
    quoted = "<br>".join("&gt; " + pointer[i : i + 70] for i in range(0, len(pointer), 70))
    reply.add_alternative(
        f"<p>As I wrote:</p><blockquote>{quoted}</blockquote>", subtype="html", cte="quoted-printable"
    )
    server.deliver(users["bob"], reply.as_bytes())

    server.stop_imap()
    try:
        down = run("--home", str(tmp_path / "bob"), "poll", env=_env("bob"))
    finally:
        server.start_imap()
    assert down.returncode == 25 and "unavailable" in down.stdout and "Traceback" not in down.stderr
    assert json.loads(_pbridge(tmp_path, "bob", "poll", "--json"))["received"] == {"mail": 1}  # the HTML reply
    shown = json.loads(_pbridge(tmp_path, "bob", "read", "trouble", "--json"))["messages"]
    assert [m["body"] for m in shown] == ["one", "two", "three", "four", "five, forwarded by hand"]


def test_a_file_a_reply_an_edit_and_a_delete_over_email_through_the_cli(tmp_path: Path) -> None:
    # Issue 21's acceptance over a real carrier, a forged edit and delete too: mallory's
    # mails come from a mailbox of her own, through the SMTP front, as her bridge sends them.
    users = _members(tmp_path, "Album")
    mallory = mailbox_config(shared_mail_server(), f"mallory{os.getpid()}", list(users.values()))

    def exchange() -> None:
        for user in users:
            _pbridge(tmp_path, user, "poll")

    members = Members(
        pbridge=functools.partial(_pbridge, tmp_path),
        exchange=exchange,
        post=post_as_bot("email", "mail", mallory.settings),
        chat="album",
        invite=_pbridge(tmp_path, "alice", "chat", "invite", "album", "--no-qr").strip(),
        secret=SECRET,
    )
    a_file_a_reply_an_edit_a_delete_and_forgeries(members, tmp_path)
