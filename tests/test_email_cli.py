"""The e-mail carrier end to end through the installed ``pbridge``: two members, a mailbox
each on a real Dovecot, the SMTP front delivering between them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from servers.dovecot import DOMAIN, PASSWORD, shared_mail_server
from test_cli import run

LETTER = "".join(f"line {i:05d} of a one-megabyte letter.\n" for i in range(30_000))[:1_000_000]


def _env(user: str) -> dict[str, str | bytes]:
    return {"PBRIDGE_MASTER_PHRASE": f"{user}'s phrase", "PBRIDGE_CHAT_SECRET": "mail secret",
            "PBRIDGE_MAIL_PASSWORD": PASSWORD}


def _pbridge(home: Path, user: str, *args: str, stdin: str = "", code: int = 0) -> str:
    done = run("--home", str(home / user), *args, stdin=stdin, env=_env(user))
    assert done.returncode == code, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


def test_200_messages_one_of_a_megabyte_reach_bob_once_in_order(tmp_path: Path) -> None:
    server = shared_mail_server()
    users = {u: f"{u}cli{os.getpid()}" for u in ("alice", "bob")}
    members = ",".join(f"{login}@{DOMAIN}" for login in users.values())
    for user, login in users.items():
        _pbridge(tmp_path, user, "init", "--username", user)
        added = _pbridge(tmp_path, user, "carrier", "add", "mail", "--type", "email",
                         "--set", f"address={login}@{DOMAIN}", "--set", f"to={members}", "--set", f"username={login}",
                         "--set", "password_env=PBRIDGE_MAIL_PASSWORD",
                         "--set", "imap_host=127.0.0.1", "--set", f"imap_port={server.imap_port}",
                         "--set", "imap_security=none", "--set", "smtp_host=127.0.0.1",
                         "--set", f"smtp_port={server.smtp_port}", "--set", "smtp_security=none")
        assert "UIDVALIDITY" in added and "accepts the login" in added
    _pbridge(tmp_path, "alice", "chat", "create", "Letters", "--carrier", "mail")
    invite = _pbridge(tmp_path, "alice", "chat", "invite", "letters", "--no-qr").strip()
    assert "joined chat 'Letters' on mail" in _pbridge(tmp_path, "bob", "chat", "join", invite)  # his own mailbox
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
