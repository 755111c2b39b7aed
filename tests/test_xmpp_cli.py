"""The XMPP carrier end to end through the installed ``pbridge``: two homes, each with its
own bot account on a real Prosody, in one group chat; carrier add checks the room, doctor
checks the carrier, a file is refused (the carrier keeps none), and an outage is said."""

from __future__ import annotations

import json
import os
from pathlib import Path

from servers.prosody import MUC, PASSWORD, bot_config, shared_xmpp_server
from test_cli import run

SECRET = "xmpp secret"


def _env(user: str) -> dict[str, str | bytes]:
    return {
        "PBRIDGE_MASTER_PHRASE": f"{user}'s phrase",
        "PBRIDGE_CHAT_SECRET": SECRET,
        "PBRIDGE_XMPP_PASSWORD": PASSWORD,
    }


def _pbridge(home: Path, user: str, *args: str, stdin: str = "", code: int = 0) -> str:
    done = run("--home", str(home / user), *args, stdin=stdin, env=_env(user))
    assert done.returncode == code, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


def test_two_homes_exchange_messages_over_an_xmpp_room(tmp_path: Path) -> None:
    server = shared_xmpp_server()
    room = f"cliroom{os.getpid()}@{MUC}"
    bot_config(server, f"cliperson{os.getpid()}", room)  # registers the person
    from servers.prosody import say

    say(bot_config(server, f"cliowner{os.getpid()}", room), "a room for two bots")  # creates the room
    for user in ("alice", "bob"):
        account = f"cli{user}{os.getpid()}"
        server.register(account)
        _pbridge(tmp_path, user, "init", "--username", user, "--weak-secret-ok")
        added = _pbridge(
            tmp_path,
            user,
            "carrier",
            "add",
            "jabber",
            "--type",
            "xmpp",
            "--set",
            f"jid={account}@localhost",
            "--set",
            f"room={room}",
            "--set",
            "password_env=PBRIDGE_XMPP_PASSWORD",
            "--set",
            "host=127.0.0.1",
            "--set",
            f"port={server.c2s_port}",
            "--set",
            "security=none",
        )
        assert "keeps an archive (MAM)" in added and "logged in" in added
    _pbridge(tmp_path, "alice", "chat", "create", "Jabber", "--carrier", "jabber", "--weak-secret-ok")
    invite = _pbridge(tmp_path, "alice", "chat", "invite", "Jabber", "--no-qr").strip()
    assert "joined chat 'Jabber' on jabber" in _pbridge(tmp_path, "bob", "chat", "join", invite)

    lines = [f"note {i:03d}" for i in range(60)]
    letter = "".join(f"line {i:05d} of a long letter.\n" for i in range(2_000)).rstrip()  # several pointers
    _pbridge(tmp_path, "alice", "send", "jabber", "--lines", "--queue", stdin="\n".join(lines))
    _pbridge(tmp_path, "alice", "send", "jabber", "--queue", stdin=letter)
    sent = json.loads(_pbridge(tmp_path, "alice", "poll", "--json"))
    assert sent["errors"] == {} and sent["posted"]["jabber"] > 60
    got = json.loads(_pbridge(tmp_path, "bob", "poll", "--json"))
    assert got["errors"] == {} and got["received"] == {"jabber": sent["posted"]["jabber"]}
    assert json.loads(_pbridge(tmp_path, "bob", "poll", "--json"))["received"] == {"jabber": 0}
    shown = json.loads(_pbridge(tmp_path, "bob", "read", "jabber", "--json"))["messages"]
    assert [m["body"] for m in shown] == [*lines, letter] and {m["username"] for m in shown} == {"alice"}

    _pbridge(tmp_path, "bob", "send", "jabber", stdin="got it all")
    _pbridge(tmp_path, "alice", "poll")
    replies = json.loads(_pbridge(tmp_path, "alice", "read", "jabber", "--json"))["messages"]
    assert replies[-1]["body"] == "got it all" and replies[-1]["username"] == "bob"

    doctor = json.loads(_pbridge(tmp_path, "bob", "doctor", "--json"))
    assert doctor["ok"] and {c["check"] for c in doctor["checks"] if c["scope"] == "jabber"} >= {"login", "room"}

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(os.urandom(1000))
    refused = run("--home", str(tmp_path / "alice"), "send", "jabber", "--file", str(photo), env=_env("alice"))
    assert refused.returncode != 0 and "keeps no files" in refused.stdout + refused.stderr

    server.stop()
    try:
        down = run("--home", str(tmp_path / "bob"), "poll", env=_env("bob"))
    finally:
        server.start()
    assert down.returncode == 25 and "Traceback" not in down.stderr
    assert json.loads(_pbridge(tmp_path, "bob", "poll", "--json"))["errors"] == {}
