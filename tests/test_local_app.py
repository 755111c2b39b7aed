"""The local app end to end through the CLI: two homes over a shared folder."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from pointerbridge.app.service import App
from pointerbridge.core.keys import hkdf
from pointerbridge.home.config import Home
from test_cli import run

CHAT_SECRET = "tulips in the rain 7"
PHRASES = {
    "alice": "alice master phrase 11",
    "bob": "bob master phrase 22",
    "mallory": "mallory phrase 33",
    "carol": "carol master phrase 44",
}
BIG = "".join(f"line {i:06d} of the one-megabyte letter, with ünïcödé.\n" for i in range(20_000))[: 1 << 20]


def pb(home: Path, user: str, *args: str, stdin: str = "", secret: str = CHAT_SECRET) -> dict[str, str]:
    result = run(
        "--home",
        str(home),
        *args,
        stdin=stdin,
        env={"PBRIDGE_MASTER_PHRASE": PHRASES[user], "PBRIDGE_CHAT_SECRET": secret},
    )
    return {"rc": str(result.returncode), "out": result.stdout, "err": result.stderr}


def ok(home: Path, user: str, *args: str, stdin: str = "", secret: str = CHAT_SECRET) -> str:
    result = pb(home, user, *args, stdin=stdin, secret=secret)
    assert result["rc"] == "0", result
    return result["out"]


def setup_user(root: Path, user: str, shared: Path, username: str | None = None, secret: str = CHAT_SECRET) -> Path:
    home = root / user
    ok(home, user, "init", "--username", username or user, "--weak-secret-ok")
    ok(
        home,
        user,
        "carrier",
        "add",
        "shared",
        "--type",
        "files",
        "--path",
        str(shared),
        "--set",
        "max_pointer_chars=4096",
    )
    # The first user of a shared folder creates the chat; the others join with its invite,
    # kept beside the folder (it holds no secret). The chat is an open one (CLM's model),
    # because these tests also join it by receiving (test_chat_created_by_receiving_...);
    # tests/test_salted_chats.py runs the default, salted chats end to end.
    invite = shared.parent / f"{shared.name}.invite"
    if invite.exists():
        ok(home, user, "chat", "join", invite.read_text(), secret=secret)
    else:
        created = ok(
            home, user, "chat", "create", "Family", "--carrier", "shared", "--open", "--weak-secret-ok", secret=secret
        )
        invite.write_text(created.splitlines()[-1])
    return home


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("e2e")
    shared = root / "shared"
    shared.mkdir()
    homes = {u: setup_user(root, u, shared) for u in ("alice", "bob")}
    many = "".join(f"message {i:03d} from alice\n" for i in range(199))
    ok(homes["alice"], "alice", "send", "family", "-", "--lines", stdin=many)
    ok(homes["alice"], "alice", "send", "family", "-", stdin=BIG)
    ok(homes["bob"], "bob", "poll")
    return {"root": root, "shared": shared, **homes}


def test_every_message_arrives_once_in_order(session: dict[str, Path]) -> None:
    data = json.loads(ok(session["bob"], "bob", "read", "family", "--json"))
    bodies = [m["body"] for m in data["messages"]]
    assert bodies == [f"message {i:03d} from alice" for i in range(199)] + [BIG]
    assert {m["username"] for m in data["messages"]} == {"alice"}
    assert {m["trust"] for m in data["messages"][1:]} == {"pinned"} and data["refused"] == 0
    assert len({m["id"] for m in data["messages"]}) == 200
    again = json.loads(ok(session["bob"], "bob", "read", "family", "--json"))  # from the verification cache
    assert [m["body"] for m in again["messages"]] == bodies
    assert json.loads(ok(session["bob"], "bob", "poll", "--json"))["received"] == {"shared": 0}


def test_wrong_secret_is_refused_before_anything_is_shown(session: dict[str, Path]) -> None:
    result = pb(session["bob"], "bob", "read", "family", secret="not the secret")
    assert result["rc"] == "5" and result["out"] == "" and "wrong secret" in result["err"]
    result = pb(session["bob"], "bob", "send", "family", "x", secret="not the secret")
    assert result["rc"] == "5"


def test_stranger_with_the_wrong_secret_sees_nothing(session: dict[str, Path]) -> None:
    carol = setup_user(session["root"], "carol", session["shared"], secret="a guess")
    ok(carol, "carol", "poll")
    data = json.loads(ok(carol, "carol", "read", "family", "--json", secret="a guess"))
    assert data["messages"] == []
    pointer = next(session["shared"].iterdir()).read_text()
    result = pb(carol, "carol", "receive", "--chat", "others", stdin=pointer, secret="another guess")
    assert result["rc"] == "15" and "none of these pointers" in result["err"]


def test_member_posting_under_another_name_is_flagged(session: dict[str, Path]) -> None:
    mallory = setup_user(session["root"], "mallory", session["shared"], username="alice")
    ok(mallory, "mallory", "send", "family", "pay mallory 900 euros")
    ok(session["bob"], "bob", "poll")
    data = json.loads(ok(session["bob"], "bob", "read", "family", "--json"))
    forged = [m for m in data["messages"] if m["body"] == "pay mallory 900 euros"]
    assert len(forged) == 1 and forged[0]["username"] == "alice" and forged[0]["trust"] == "changed"
    text = ok(session["bob"], "bob", "read", "family", "--search", "mallory")
    assert "KEY CHANGED" in text


def test_trash_restore_purge(session: dict[str, Path]) -> None:
    bob = session["bob"]
    first = json.loads(ok(bob, "bob", "read", "family", "--json", "--limit", "1"))["messages"][0]
    ok(bob, "bob", "trash", "family", first["id"][:10])
    assert first["id"] not in ok(bob, "bob", "read", "family", "--json")
    assert first["id"] in ok(bob, "bob", "read", "family", "--trash", "--json")
    ok(bob, "bob", "restore", "family", first["id"][:10])
    assert first["id"] in ok(bob, "bob", "read", "family", "--json")


def test_nothing_secret_reaches_the_disk(session: dict[str, Path]) -> None:
    bob_home = Home(session["bob"], session["bob"])
    with App(bob_home) as app:  # held open, so the WAL file exists while we look
        app.unlock_identity(PHRASES["bob"])
        chat = app.unlock_chat("family", CHAT_SECRET)
        app.read(chat)
        assert Path(f"{bob_home.store_path}-wal").exists()
        key = chat.key
        needles = [
            s.encode()
            for s in (
                *PHRASES.values(),
                CHAT_SECRET,
                "message 123 from alice",
                "line 000042 of the one-megabyte letter",
                "pay mallory 900",
            )
        ]
        for raw in (key._key, key._tag_key, key._chat_id):
            needles += [raw, raw.hex().encode()]
        for user in ("alice", "bob"):
            with App(Home(session[user], session[user])) as owner:
                ident = owner.unlock_identity(PHRASES[user])
            private = ident._private.private_bytes_raw()
            store_key = hkdf(private, b"pointerbridge store key v1")  # and the keys it gives (docs/AT-REST.md)
            derived = [hkdf(store_key, b"pointerbridge store " + what + b" v1") for what in (b"seal", b"lookup")]
            for raw in (private, store_key, *derived):
                needles += [raw, raw.hex().encode()]
        files = [p for p in session["root"].rglob("*") if p.is_file()]
        assert any(p.name.endswith("-wal") for p in files) and len(files) > 200
        for path in files:
            data = path.read_bytes()
            for needle in needles:
                assert needle not in data, f"{needle[:12]!r} found in {path}"


def test_files_and_folders_are_private(session: dict[str, Path]) -> None:
    for home in (session["alice"], session["bob"]):
        assert home.stat().st_mode & 0o777 == 0o700
        for path in home.iterdir():
            assert path.stat().st_mode & 0o777 == 0o600, path


def test_store_keeps_pointers_exactly_and_ignores_duplicates(session: dict[str, Path]) -> None:
    db = sqlite3.connect(session["bob"] / "store.db")
    texts = {row[0] for row in db.execute("SELECT text FROM pointers")}
    on_carrier = {p.read_text().strip() for p in session["shared"].iterdir()}
    assert texts <= on_carrier and len(texts) == len(on_carrier)
    db.close()
    before = len(texts)
    pointer = next(iter(texts))
    assert "0 new pointer(s), 1 already known" in ok(session["bob"], "bob", "receive", stdin=f"> {pointer}\n")
    assert sqlite3.connect(session["bob"] / "store.db").execute("SELECT count(*) FROM pointers").fetchone()[0] == before


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    ok(tmp_path, "alice", "init", "--username", "alice", "--weak-secret-ok")
    (tmp_path / "config.toml").write_text('[carriers.x]\ntype = "files"\npoll_every = 1\n')
    result = pb(tmp_path, "alice", "carrier", "list")
    assert result["rc"] == "9" and result["err"].count("\n") == 1
    assert "config.toml" in result["err"] and "carriers.x.poll_every" in result["err"]


def test_invite_and_join(session: dict[str, Path]) -> None:
    invite = ok(session["alice"], "alice", "chat", "invite", "family", "--no-qr").strip()
    assert invite.startswith("pbinvite1.") and CHAT_SECRET not in invite
    with_qr = ok(session["alice"], "alice", "chat", "invite", "family", "--qr")
    assert "▄" in with_qr or "█" in with_qr
    dave = session["root"] / "dave"
    PHRASES["dave"] = "dave master phrase 55"
    ok(dave, "dave", "init", "--username", "dave", "--weak-secret-ok")
    ok(dave, "dave", "chat", "join", invite, "--path", f"shared={session['shared']}")
    ok(dave, "dave", "poll")
    data = json.loads(ok(dave, "dave", "read", "family", "--json"))
    assert data["messages"][0]["body"] == "message 000 from alice"
    assert json.loads(ok(dave, "dave", "carrier", "list", "--json"))[0]["path"] == str(session["shared"])
    bad = pb(dave, "dave", "chat", "join", "pbinvite1.@@@")
    assert bad["rc"] == "3" and "invite" in bad["err"]


def test_chat_created_by_receiving_gets_carriers_before_it_can_send(session: dict[str, Path]) -> None:
    PHRASES["erin"] = "erin master phrase 66"
    erin = session["root"] / "erin"
    ok(erin, "erin", "init", "--username", "erin", "--weak-secret-ok")
    pointer = min(session["shared"].iterdir()).read_text()
    assert "created from what you received" in ok(erin, "erin", "receive", "--chat", "family", stdin=pointer)
    refused = pb(erin, "erin", "send", "family", stdin="hello?")
    assert refused["rc"] == "27" and "chat carriers" in refused["err"]
    ok(erin, "erin", "carrier", "add", "shared", "--type", "files", "--path", str(session["shared"]))
    assert ok(erin, "erin", "chat", "carriers", "family").strip() == "(none: set them with --carrier)"
    assert ok(erin, "erin", "chat", "carriers", "family", "--carrier", "shared").strip() == "shared"
    sent = pb(erin, "erin", "send", "family", "hello from erin")
    assert sent["rc"] == "0" and "visible to other users" in sent["err"]  # text in argv is warned about
    ok(session["alice"], "alice", "poll")
    data = json.loads(ok(session["alice"], "alice", "read", "family", "--json", "--search", "erin"))
    assert [(m["username"], m["body"]) for m in data["messages"]] == [("erin", "hello from erin")]


def test_a_later_version_pointer_is_kept_not_dropped(session: dict[str, Path]) -> None:
    from pointerbridge.core.armor import ALPHABET

    ok(session["bob"], "bob", "poll")  # whatever earlier tests posted
    genuine = min(session["shared"].iterdir()).read_text().strip()
    later = genuine[:2] + ALPHABET[3] + genuine[3:]  # a pb3 envelope: same shape, a version this build does not read
    (session["shared"] / "00000000000000000002-later.pb").write_text(later)
    summary = json.loads(ok(session["bob"], "bob", "poll", "--json"))
    assert summary["received"] == {"shared": 1} and summary["errors"] == {}
    db = sqlite3.connect(session["bob"] / "store.db")
    assert db.execute("SELECT count(*) FROM pointers WHERE text = ?", (later,)).fetchone()[0] == 1
    db.close()
    assert "0 new pointer(s), 1 already known" in ok(session["bob"], "bob", "receive", stdin=later)
    assert json.loads(ok(session["bob"], "bob", "read", "family", "--json"))["refused"] == 0


def test_send_while_a_poll_runs_queues_and_leaves_it_to_that_poll(session: dict[str, Path]) -> None:
    import fcntl
    import os

    fd = os.open(session["alice"] / "poll.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a poll of alice's home would
        sent = pb(session["alice"], "alice", "send", "family", stdin="sent during a poll")
    finally:
        os.close(fd)
    assert sent["rc"] == "0" and "a poll is running and will post them (or the next poll will)" in sent["out"]
    assert json.loads(ok(session["alice"], "alice", "poll", "--json"))["posted"] == {"shared": 1}


def _invite(data: dict[str, object]) -> str:
    import base64

    return "pbinvite1." + base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_hostile_or_failed_join_leaves_the_config_alone(tmp_path: Path) -> None:
    PHRASES["frank"] = "frank master phrase 77"
    frank = tmp_path / "frank"
    ok(frank, "frank", "init", "--username", "frank", "--weak-secret-ok")
    folder = tmp_path / "folder"
    folder.mkdir()
    hostile = _invite(
        {
            "v": 1,
            "chat": "club",
            "carriers": {"x": {"type": "files", "path": str(folder), "full_scan_hours": 0, "poll_every": 5}},
        }
    )
    ok(frank, "frank", "chat", "join", hostile)
    carrier = json.loads(ok(frank, "frank", "carrier", "list", "--json"))[0]
    assert "full_scan_hours" not in carrier and carrier["poll_every"] == 60  # only shareable settings came in
    config = (frank / "config.toml").read_bytes()
    again = _invite({"v": 1, "chat": "club", "carriers": {"y": {"type": "files", "path": str(folder)}}})
    assert pb(frank, "frank", "chat", "join", again)["rc"] == "3"  # the chat exists already
    relative = _invite({"v": 1, "chat": "other", "carriers": {"z": {"type": "files", "path": "rel/ative"}}})
    assert pb(frank, "frank", "chat", "join", relative)["rc"] == "24"
    deep = "pbinvite1." + __import__("base64").urlsafe_b64encode(b"[" * 6000).decode()  # nested past recursion
    assert pb(frank, "frank", "chat", "join", "-", stdin=deep)["rc"] == "3"
    badly_named = _invite({"v": 1, "chat": "named", "carriers": {"Bad Name": {"type": "files", "path": str(folder)}}})
    refused = pb(frank, "frank", "chat", "join", badly_named)
    assert refused["rc"] == "3" and "carrier name" in refused["err"] and "Traceback" not in refused["err"]
    assert (frank / "config.toml").read_bytes() == config


def test_a_carrier_misconfigured_in_the_file_exits_24_naming_it(tmp_path: Path) -> None:
    ok(tmp_path, "alice", "init", "--username", "alice", "--weak-secret-ok")
    (tmp_path / "config.toml").write_text('[carriers.x]\ntype = "files"\npath = "relative"\n')
    result = pb(tmp_path, "alice", "poll")
    assert result["rc"] == "24" and "carriers.x.path" in result["out"] and "config.toml" in result["out"]
