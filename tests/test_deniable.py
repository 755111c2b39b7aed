"""Issue 18's acceptance: a stolen disk does not list the chats or who is in them.

Three homes filled through the CLI (three chats, members, a rotation, a rekey, the trash);
then every file of each home, WAL included, is searched for every chat's name and every
other member's username and public key (raw, hex, base64). A home's own name and key may
stay: the identity is the home's own. And the bot, with no secret at all, still posts and
fetches from cron."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from pointerbridge.app.service import App
from pointerbridge.home.config import Home
from test_cli import run

USERS = {
    "alice": "alicepelicanridge",
    "bob": "bobwhistlerquay",
    "carol": "carolmarbleheath",
}
FIRST_PHRASES = {user: f"{user} master phrase for the deniable test 18" for user in USERS}
CHATS = {  # name as typed -> (secret, members)
    "Family Zanzibar": ("family secret of the zanzibar chat 1", ("alice", "bob", "carol")),
    "Book Club Quetzal": ("book club secret of the quetzal chat 2", ("alice", "bob")),
    "Harbour Yodel": ("harbour secret of the yodel open chat 3", ("alice", "carol")),
}
OPEN = "Harbour Yodel"


class _Homes:
    """The users' homes under one folder, each with its current master phrase."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.phrases = dict(FIRST_PHRASES)

    def pb(self, user: str, *args: str, secret: str | None = None, **extra: str) -> str:
        env: dict[str, str | bytes] = {"PBRIDGE_CHAT_SECRET": secret or "", **extra}
        result = run("--home", str(self.root / user), *args, env=env, phrase=self.phrases[user])
        assert result.returncode == 0, (user, args, result.stderr)
        return result.stdout


def _fill(homes: _Homes) -> dict[str, list[bytes]]:
    """The three homes, filled; returns each user's public keys (the current one last)."""
    _pb = homes.pb
    shared = homes.root / "shared"
    shared.mkdir()
    keys: dict[str, list[bytes]] = {}
    for user, name in USERS.items():
        _pb(user, "init", "--username", name)
        _pb(user, "carrier", "add", "shared", "--type", "files", "--path", str(shared))
        keys[user] = [bytes.fromhex(json.loads(_pb(user, "whoami", "--json"))["public_key"])]
    for chat, (secret, members) in CHATS.items():
        maker, *others = members
        created = _pb(
            maker, "chat", "create", chat, "--carrier", "shared", *(["--open"] * (chat == OPEN)), secret=secret
        )
        invite = created.splitlines()[1]
        for user in others:
            _pb(user, "chat", "join", invite, secret=secret)
        for user in members:
            _pb(user, "send", chat, f"hello from {user} in {chat}", secret=secret)
    for user in USERS:
        _pb(user, "poll")
    for chat, (secret, members) in CHATS.items():
        for user in members:
            _pb(user, "read", chat, secret=secret)  # every member pinned in every home
    # bob rotates his key: the notice goes to the family at once, to the book club with his next message
    family = CHATS["Family Zanzibar"][0]
    new_phrase = "bob's second master phrase for the deniable test 18"
    _pb(
        "bob",
        "identity",
        "rotate",
        "--chat",
        "Family Zanzibar",
        secret=family,
        PBRIDGE_NEW_MASTER_PHRASE=new_phrase,
    )
    homes.phrases["bob"] = new_phrase
    keys["bob"].append(bytes.fromhex(json.loads(_pb("bob", "whoami", "--json"))["public_key"]))
    # alice rekeys the book club; bob follows with her new invite
    club, fresh = CHATS["Book Club Quetzal"][0], "the book club's second secret, quetzal 4"
    invite = _pb("alice", "chat", "rekey", "Book Club Quetzal", secret=club, PBRIDGE_NEW_CHAT_SECRET=fresh)
    _pb(
        "bob",
        "chat",
        "rekey",
        "Book Club Quetzal",
        "--invite",
        invite.splitlines()[-1],
        secret=club,
        PBRIDGE_NEW_CHAT_SECRET=fresh,
    )
    _pb("bob", "send", "Book Club Quetzal", "after the rekey", secret=fresh)
    # alice trashes carol's message in the family
    for user in USERS:
        _pb(user, "poll")
    shown = json.loads(_pb("alice", "read", "Family Zanzibar", "--json", secret=family))["messages"]
    carols = next(m["id"] for m in shown if m["body"].startswith("hello from carol"))
    _pb("alice", "trash", "Family Zanzibar", carols, secret=family)
    for chat, (secret, members) in CHATS.items():
        for user in members:
            _pb(user, "read", chat, secret=fresh if chat == "Book Club Quetzal" else secret)
    return keys


def _forms(key: bytes) -> list[bytes]:
    text = [key.hex(), key.hex().upper(), base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()]
    return [key, *(t.encode() for t in text), *(t.rstrip("=").encode() for t in text[2:])]


def test_a_stolen_disk_lists_no_chat_and_no_member(tmp_path: Path) -> None:
    homes = _Homes(tmp_path)
    _pb = homes.pb
    keys = _fill(homes)
    shown = json.loads(_pb("alice", "read", "Family Zanzibar", "--json", "--trash", secret=CHATS["Family Zanzibar"][0]))
    assert [m["body"] for m in shown["messages"]] == ["hello from carol in Family Zanzibar"]  # the home holds it all
    for user in USERS:
        with App(Home.resolve(tmp_path / user)) as app:  # held open, so the WAL file exists while we look
            app.unlock_identity(homes.phrases[user])
            chat = next(c for c, (_, members) in CHATS.items() if user in members and c != "Book Club Quetzal")
            app.read(app.unlock_chat(chat, CHATS[chat][0]))
            app.mark_seen(app.unlock_chat(chat, CHATS[chat][0]))
            files = [p for p in (tmp_path / user).rglob("*") if p.is_file()]
            assert any(p.name.endswith("-wal") and p.stat().st_size for p in files), files  # the WAL is searched too
            found = b"".join(p.read_bytes() for p in files)
        needles = {f"chat name {chat!r}": [chat.encode(), chat.casefold().encode()] for chat in CHATS}
        for other, name in USERS.items():
            if other != user:
                needles[f"{other}'s username"] = [name.encode()]
                needles[f"{other}'s keys"] = [form for key in keys[other] for form in _forms(key)]
        for what, forms in needles.items():
            assert not any(form in found for form in forms), f"{what} found in {user}'s home"
        # The home's own identity may stay (it is the home's own); it is there, as a check that
        # the search reads what the files hold.
        assert USERS[user].encode() in found and keys[user][-1] in found


def test_the_bot_posts_and_fetches_from_cron_with_no_secret_at_all(tmp_path: Path) -> None:
    _pb = _Homes(tmp_path).pb
    shared = tmp_path / "shared"
    shared.mkdir()
    secret = CHATS["Family Zanzibar"][0]
    for user in ("alice", "bob"):
        _pb(user, "init", "--username", USERS[user])
        _pb(user, "carrier", "add", "shared", "--type", "files", "--path", str(shared))
    invite = _pb("alice", "chat", "create", "Family Zanzibar", "--carrier", "shared", secret=secret)
    _pb("bob", "chat", "join", invite.splitlines()[1], secret=secret)
    _pb("alice", "send", "Family Zanzibar", "--queue", "queued for the bot", secret=secret)
    # cron: no phrase, no secret, no terminal
    for user in ("alice", "bob"):
        polled = run("--home", str(tmp_path / user), "poll", "--json", phrase=None)
        assert polled.returncode == 0, polled.stderr
        summary = json.loads(polled.stdout)
        if user == "alice":
            assert sum(summary["posted"].values()) == 1  # the bot posted what waited
        else:
            assert sum(summary["received"].values()) >= 1  # and fetched it into bob's home
    status = run("--home", str(tmp_path / "bob"), "status", "--json", phrase=None)  # nor does a health check
    assert status.returncode == 0 and json.loads(status.stdout)["unrouted"] == 1
    # nothing named a chat, and the bot can still not name one
    listed = run("--home", str(tmp_path / "bob"), "chat", "list", phrase=None)
    assert listed.returncode == 4 and "master phrase" in listed.stderr.lower() and "--phrase-fd" in listed.stderr
    read = json.loads(_pb("bob", "read", "Family Zanzibar", "--json", secret=secret))
    assert [m["body"] for m in read["messages"]] == ["queued for the bot"]
