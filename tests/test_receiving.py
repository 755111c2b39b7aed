"""Receiving and joining as a user meets them, through the real CLI: what a paste held is
said and damaged pointers are not kept (issue 17, item 5); a chat joined with a mistyped
secret says so and is put right without deleting it (issue 17, item 6)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from test_cli import run

SECRET = "tulips in the rain 7"
OTHER_SECRET = "another chat, other tulips 9"
PHRASES = {"alice": "alice master phrase 11", "bob": "bob master phrase 22"}


def pb(home: Path, user: str, *args: str, stdin: str = "", secret: str = SECRET) -> tuple[int, str, str]:
    env = {"PBRIDGE_MASTER_PHRASE": PHRASES[user], "PBRIDGE_CHAT_SECRET": secret}
    result = run("--home", str(home), *args, stdin=stdin, env=env)
    return result.returncode, result.stdout, result.stderr


def ok(home: Path, user: str, *args: str, stdin: str = "", secret: str = SECRET) -> str:
    code, out, err = pb(home, user, *args, stdin=stdin, secret=secret)
    assert code == 0, (args, out, err)
    return out


def new_home(root: Path, user: str, shared: Path | None = None) -> Path:
    home = root / user
    ok(home, user, "init", "--username", user, "--weak-secret-ok")
    if shared is not None:
        ok(home, user, "carrier", "add", "shared", "--type", "files", "--path", str(shared))
    return home


def stored(home: Path) -> set[str]:
    with sqlite3.connect(home / "store.db") as db:
        return {row[0] for row in db.execute("SELECT text FROM pointers")}


def altered(pointer: str, at: int) -> str:
    """``pointer`` with one character changed at ``at``: still well-formed armor."""
    return pointer[:at] + ("A" if pointer[at] != "A" else "B") + pointer[at + 1 :]


@pytest.fixture(scope="module")
def pasted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Alice's home with two chats (Family and Other), one message each, and their pointers."""
    root = tmp_path_factory.mktemp("receive")
    shared = root / "shared"
    shared.mkdir()
    alice = new_home(root, "alice", shared)
    pointers = {}
    for chat, secret in (("Family", SECRET), ("Other", OTHER_SECRET)):
        ok(alice, "alice", "chat", "create", chat, "--carrier", "shared", "--open", "--weak-secret-ok", secret=secret)
        before = set(shared.iterdir())
        ok(alice, "alice", "send", chat, stdin=f"hello {chat}", secret=secret)
        (new,) = set(shared.iterdir()) - before
        pointers[chat] = new.read_text().strip()
    return {"root": root, "alice": alice, **pointers}


def test_text_without_pointers_says_so_and_fails(pasted: dict[str, object], tmp_path: Path) -> None:
    bob = new_home(tmp_path, "bob")
    code, out, err = pb(bob, "bob", "receive", stdin="see you at noon, no pointer here")
    assert code == 10 and "no pointers found" in out + err
    assert stored(bob) == set()


def test_a_truncated_pointer_is_damaged_not_kept_and_fails(pasted: dict[str, object], tmp_path: Path) -> None:
    bob = new_home(tmp_path, "bob")
    family = str(pasted["Family"])
    code, out, err = pb(bob, "bob", "receive", stdin=family[: len(family) // 2])
    assert code == 13 and "1 damaged" in out and "truncated" in err
    assert "stored" not in out and stored(bob) == set()
    # As the console does, a good pointer beside it is stored, and the damage is still said.
    code, out, _ = pb(bob, "bob", "receive", stdin=f"{family[:100]}...\nagain: {family}")
    assert code == 0 and "stored 1 new pointer(s)" in out and "1 damaged" in out
    assert stored(bob) == {family}


def test_a_truncated_pointer_for_a_new_chat_is_not_called_another_chats(
    pasted: dict[str, object], tmp_path: Path
) -> None:
    bob = new_home(tmp_path, "bob")
    family = str(pasted["Family"])
    code, out, err = pb(bob, "bob", "receive", "--chat", "NEW", stdin=family[:120])
    assert code == 13 and "none of these pointers" not in err and "damaged" in out + err
    assert json.loads(ok(bob, "bob", "chat", "list", "--json")) == [] and stored(bob) == set()


def test_an_altered_pointer_of_the_chat_is_damaged_not_kept(pasted: dict[str, object]) -> None:
    alice = Path(str(pasted["alice"]))
    family = str(pasted["Family"])
    tampered = altered(family, 80)  # in the sealed bytes: the routing tag still says Family
    before = stored(alice)
    code, out, err = pb(alice, "alice", "receive", "--chat", "Family", stdin=tampered)
    assert code == 16 and "1 damaged" in out and "altered" in err
    assert tampered not in stored(alice) and stored(alice) == before


def test_another_chats_pointer_is_said_to_be_another_chats(pasted: dict[str, object]) -> None:
    alice = Path(str(pasted["alice"]))
    code, out, err = pb(alice, "alice", "receive", "--chat", "Family", stdin=str(pasted["Other"]))
    assert code == 15 and "1 not for 'Family' (another chat's, or a wrong secret)" in out
    assert "none of these pointers is for chat 'Family'" in err
    both = f"{pasted['Other']}\n{pasted['Family']}"
    out = ok(alice, "alice", "receive", "--chat", "Family", stdin=both)
    assert "1 for 'Family'" in out and "1 not for 'Family'" in out


def test_a_wrong_secret_opens_nothing_and_creates_no_chat(pasted: dict[str, object], tmp_path: Path) -> None:
    bob = new_home(tmp_path, "bob")
    family = str(pasted["Family"])
    code, out, err = pb(bob, "bob", "receive", "--chat", "Family", stdin=family, secret="a wrong guess")
    assert code == 15 and "not for 'Family'" in out and "none of these pointers is for chat 'Family'" in err
    assert json.loads(ok(bob, "bob", "chat", "list", "--json")) == []
    out = ok(bob, "bob", "receive", "--chat", "Family", stdin=family)  # the right one: joined from them
    assert "1 for 'Family'" in out and "created from what you received" in out
    data = json.loads(ok(bob, "bob", "read", "Family", "--json"))
    assert [m["body"] for m in data["messages"]] == ["hello Family"]


def test_without_a_chat_a_whole_pointer_is_kept_for_its_chat(pasted: dict[str, object], tmp_path: Path) -> None:
    bob = new_home(tmp_path, "bob")
    out = ok(bob, "bob", "receive", stdin=f"> {pasted['Family']}\n")
    assert "stored 1 new pointer(s), 0 already known" in out and "1 for a chat not open now" in out


WRONG = "tulips in the rain 8"  # one key off


@pytest.fixture(scope="module")
def alices_chat(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """Alice's salted chat Family on a shared folder, and its invite."""
    root = tmp_path_factory.mktemp("join")
    shared = root / "shared"
    shared.mkdir()
    alice = new_home(root, "alice", shared)
    invite = ok(alice, "alice", "chat", "create", "Family", "--carrier", "shared", "--weak-secret-ok").splitlines()[-1]
    return {"root": root, "shared": shared, "alice": alice, "invite": invite}


def _bob_joins_wrong(chat: dict[str, Path | str], tmp_path: Path) -> tuple[Path, str]:
    bob = new_home(tmp_path, "bob")
    invite = str(chat["invite"])
    joined = ok(bob, "bob", "chat", "join", invite, "--path", f"shared={chat['shared']}", secret=WRONG)
    assert "joined chat 'Family'" in joined  # nothing can tell it is wrong yet
    return bob, invite


def test_a_chat_joined_with_a_mistyped_secret_says_so_and_is_put_right(
    alices_chat: dict[str, Path | str], tmp_path: Path
) -> None:
    alice = Path(alices_chat["alice"])
    bob, invite = _bob_joins_wrong(alices_chat, tmp_path)
    ok(alice, "alice", "send", "Family", stdin="hello bob")
    ok(bob, "bob", "poll")
    # Bob's read with the secret he joined with: nothing shown, and why, and the way out.
    code, out, err = pb(bob, "bob", "read", "Family", secret=WRONG)
    assert code == 0 and "hello bob" not in out
    assert "has opened nothing yet" in err and "1 pointer(s)" in err
    assert "pbridge chat join Family --replace-secret" in err
    assert json.loads(ok(bob, "bob", "read", "Family", "--json", secret=WRONG))["unopened_waiting"] == 1
    # The right secret is "wrong" for the chat as stored: the refusal names the way out too.
    code, _, err = pb(bob, "bob", "read", "Family")
    assert code == 5 and "wrong secret" in err and "pbridge chat join Family --replace-secret" in err
    # Another wrong secret cannot replace it: it opens nothing that arrived.
    code, _, err = pb(bob, "bob", "chat", "join", invite, "--replace-secret", "--yes", secret="tulips in the rain 9")
    assert code == 15 and "nothing replaced" in err
    assert pb(bob, "bob", "read", "Family", secret=WRONG)[0] == 0  # still the secret it was
    # The right one does, and the chat is kept: alice's message reads.
    # Replacing says what changes and asks first (declined: nothing changes).
    code, _, err = pb(bob, "bob", "chat", "join", "Family", "--replace-secret", stdin="n\n")
    assert code == 1 and "Messages you send from now on are sealed under the new secret" in err
    assert pb(bob, "bob", "read", "Family")[0] == 5
    fixed = ok(bob, "bob", "chat", "join", "Family", "--replace-secret", stdin="y\n")  # its name will do
    assert "(1 waiting pointer(s) open)" in fixed
    assert json.loads(ok(bob, "bob", "chat", "list", "--json"))[0]["name"] == "Family"
    data = json.loads(ok(bob, "bob", "read", "Family", "--json"))
    assert [m["body"] for m in data["messages"]] == ["hello bob"] and data["unopened_waiting"] == 0
    # The secret replaced is kept as an earlier one, never dropped (it was: issue 17 review).
    assert pb(bob, "bob", "read", "Family", secret=WRONG)[0] == 0
    # A chat that reads takes no secret new to it, whatever is typed.
    code, _, err = pb(bob, "bob", "chat", "join", invite, "--replace-secret", "--yes", secret="tulips in the rain 9")
    assert code == 3 and "has opened messages" in err and "nothing replaced" in err
    # And it sends: alice reads bob.
    ok(bob, "bob", "send", "Family", stdin="got it, alice")
    ok(alice, "alice", "poll")
    bodies = [m["body"] for m in json.loads(ok(alice, "alice", "read", "Family", "--json"))["messages"]]
    assert bodies[-1] == "got it, alice"


def test_what_was_sent_under_a_mistyped_secret_stays_readable_after_the_fix(
    alices_chat: dict[str, Path | str], tmp_path: Path
) -> None:
    alice = Path(alices_chat["alice"])
    bob, invite = _bob_joins_wrong(alices_chat, tmp_path)
    ok(bob, "bob", "send", "Family", stdin="anyone there?", secret=WRONG)  # no one can read it
    ok(alice, "alice", "send", "Family", stdin="bob, are you in?")
    ok(bob, "bob", "poll")
    assert "waiting pointer(s) open" in ok(bob, "bob", "chat", "join", invite, "--replace-secret", "--yes")
    data = json.loads(ok(bob, "bob", "read", "Family", "--json"))
    assert "bob, are you in?" in [m["body"] for m in data["messages"]] and data["other_secret"] == 1
    earlier = json.loads(ok(bob, "bob", "read", "Family", "--json", secret=WRONG))  # kept as an earlier secret
    assert [m["body"] for m in earlier["messages"]] == ["anyone there?"]


EVIL = "evil-secret-000"


def _mallory_posts(chat: dict[str, Path | str], tmp_path: Path, body: str) -> None:
    """Mallory has the invite (not the secret): joins with a secret of her own and posts."""
    mallory = tmp_path / "mallory"
    ok(mallory, "mallory", "init", "--username", "mallory", "--weak-secret-ok", secret=EVIL)
    ok(mallory, "mallory", "chat", "join", str(chat["invite"]), "--path", f"shared={chat['shared']}", secret=EVIL)
    ok(mallory, "mallory", "send", "Family", stdin=body, secret=EVIL)


PHRASES["mallory"] = "mallory master phrase 33"


def _fresh_chat(root: Path) -> dict[str, Path | str]:
    """Alice's new salted chat Family on a shared folder no other test wrote to."""
    shared = root / "shared"
    shared.mkdir()
    alice = new_home(root, "alice", shared)
    invite = ok(alice, "alice", "chat", "create", "Family", "--carrier", "shared", "--weak-secret-ok").splitlines()[-1]
    return {"root": root, "shared": shared, "alice": alice, "invite": invite}


def _bob_joins_right(chat: dict[str, Path | str], tmp_path: Path) -> Path:
    bob = new_home(tmp_path, "bob")
    ok(bob, "bob", "chat", "join", str(chat["invite"]), "--path", f"shared={chat['shared']}")
    return bob


def test_an_outsiders_secret_cannot_take_over_a_chat_not_read_yet(tmp_path: Path) -> None:
    # Issue 17 review, item 6: bob joined right and polled; mallory, with the invite only,
    # posts under a secret of her own. Alice's pointer, which her secret does not explain,
    # may be under the secret bob has: the replacement is refused.
    chat = _fresh_chat(tmp_path)
    alice = Path(chat["alice"])
    bob = _bob_joins_right(chat, tmp_path)
    ok(alice, "alice", "send", "Family", stdin="the real chat")
    _mallory_posts(chat, tmp_path, "mallory here")
    ok(bob, "bob", "poll")
    code, out, err = pb(bob, "bob", "chat", "join", "Family", "--replace-secret", "--yes", secret=EVIL)
    assert code == 3 and "may be under the secret it has" in err and "nothing replaced" in err, (out, err)
    data = json.loads(ok(bob, "bob", "read", "Family", "--json"))
    assert [m["body"] for m in data["messages"]] == ["the real chat"]


def test_a_replaced_secret_is_kept_and_can_be_made_current_again(tmp_path: Path) -> None:
    # Only mallory posted since bob joined: her secret opens what waits and nothing refuses
    # it. Replacing it asks, and the real secret is never lost: it still reads, and giving
    # it again makes it current again.
    chat = _fresh_chat(tmp_path)
    alice = Path(chat["alice"])
    bob = _bob_joins_right(chat, tmp_path)
    _mallory_posts(chat, tmp_path, "mallory here")
    ok(bob, "bob", "poll")
    code, _, err = pb(bob, "bob", "chat", "join", "Family", "--replace-secret", secret=EVIL)  # no answer: no
    assert code == 1 and "anyone who knows it reads them" in err
    code, out, err = pb(bob, "bob", "chat", "join", "Family", "--replace-secret", "--yes", secret=EVIL)
    assert code == 0 and "opens 1 of the pointers waiting" in err and "current secret" in out
    assert [m["body"] for m in json.loads(ok(bob, "bob", "read", "Family", "--json", secret=EVIL))["messages"]] == [
        "mallory here"
    ]
    ok(alice, "alice", "send", "Family", stdin="the real chat")
    ok(bob, "bob", "poll")
    real = json.loads(ok(bob, "bob", "read", "Family", "--json"))  # the real secret reads still
    assert [m["body"] for m in real["messages"]] == ["the real chat"]
    code, _, err = pb(bob, "bob", "send", "Family", stdin="to whom?")
    assert code != 0 and "changed" in err  # not current: it does not send until made current again
    back = ok(bob, "bob", "chat", "join", "Family", "--replace-secret", "--yes")
    assert "its current secret is the one just given" in back
    ok(bob, "bob", "send", "Family", stdin="back with you, alice")
    ok(alice, "alice", "poll")
    bodies = [m["body"] for m in json.loads(ok(alice, "alice", "read", "Family", "--json"))["messages"]]
    assert "back with you, alice" in bodies
    assert pb(bob, "bob", "read", "Family", secret=EVIL)[0] == 0  # mallory's secret is kept too, as an earlier one


def _rekey(home: Path, user: str, *args: str, old: str, new: str) -> tuple[int, str, str]:
    env = {"PBRIDGE_MASTER_PHRASE": PHRASES[user], "PBRIDGE_CHAT_SECRET": old, "PBRIDGE_NEW_CHAT_SECRET": new}
    result = run("--home", str(home), "chat", "rekey", "Family", *args, env=env)
    return result.returncode, result.stdout, result.stderr


def test_a_rekey_followed_with_a_mistyped_secret_is_put_right_with_the_same_invite(tmp_path: Path) -> None:
    # Issue 17 review, item 6: bob follows alice's rekey but mistypes the new secret.
    chat = _fresh_chat(tmp_path)
    alice = Path(chat["alice"])
    bob = _bob_joins_right(chat, tmp_path)
    right, mistyped = "the new tulips 22", "the new tulips 23"
    code, out, err = _rekey(alice, "alice", "--weak-secret-ok", old=SECRET, new=right)
    assert code == 0, err
    invite = out.splitlines()[-1]
    assert _rekey(bob, "bob", "--invite", invite, old=SECRET, new=mistyped)[0] == 0
    ok(alice, "alice", "send", "Family", stdin="after the rekey", secret=right)
    ok(bob, "bob", "poll")
    # The right secret is refused, with the way out.
    code, _, err = pb(bob, "bob", "read", "Family", secret=right)
    assert code == 5 and "wrong secret" in err and "pbridge chat rekey Family --invite INVITE" in err
    # The same invite again, with the right secret: taken; the mistyped one is kept.
    code, out, err = _rekey(bob, "bob", "--invite", invite, old=SECRET, new=right)
    assert code == 0, err
    data = json.loads(ok(bob, "bob", "read", "Family", "--json", secret=right))
    assert [m["body"] for m in data["messages"]] == ["after the rekey"]
    assert pb(bob, "bob", "read", "Family", secret=mistyped)[0] == 0
    ok(bob, "bob", "send", "Family", stdin="following you", secret=right)
    ok(alice, "alice", "poll")
    bodies = [m["body"] for m in json.loads(ok(alice, "alice", "read", "Family", "--json", secret=right))["messages"]]
    assert bodies[-1] == "following you"
    # Now the current secret has opened what arrived: the same invite again changes nothing.
    code, _, err = _rekey(bob, "bob", "--invite", invite, old=right, new="the new tulips 24")
    assert code == 3 and "has opened 1 pointer(s) that arrived" in err
    # An invite from before says so, without a doubled quote.
    code, _, err = _rekey(bob, "bob", "--invite", str(chat["invite"]), old=right, new="the new tulips 24")
    assert code == 3 and "that invite is an earlier one of chat 'Family'" in err and "''" not in err
