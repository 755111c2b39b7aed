"""Keys verified in person (issue 24, part 4) in the app: the safety code both members get,
the verified mark for that exact key, a later key change louder still, a rotation that
leaves the new key unverified, and an export that can neither carry nor forge a verified key."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import opened_export, write_export_file
from pointerbridge.app.errors import NoMemberKeyError, SafetyCodeMismatchError
from pointerbridge.app.service import App, UnlockedChat
from pointerbridge.app.trust import StoredRotation, Trust, TrustWalk
from pointerbridge.core import InvalidInputError, Message
from test_cli import run
from test_rotation import SECRET, _home, _marks  # a family on a files carrier, every home with one salt


def _message(name: str, key: bytes) -> Message:
    return Message("family", name, key, datetime(2026, 1, 1, tzinfo=UTC), "hi", "ab" * 16)


def test_the_walk_marks_the_verified_key_only_and_a_change_of_it_loudest() -> None:
    k1, k2, k3, k4 = (bytes([n]) * 32 for n in (1, 2, 3, 4))
    rotation = StoredRotation("bob", k1, k2, 3)  # bob's own notice moved him from k1 to k2 at pointer 3
    walk = TrustWalk({"bob": k1}, [rotation], [], lambda _: None, {"bob": k1})
    for first_id, key in enumerate((k1, k3, k2, k1, k4), 1):
        walk.judge(first_id if first_id < 3 else first_id + 1, _message("bob", key))
    assert [v.trust for v in walk.verdicts] == [
        Trust.VERIFIED,  # the very key verified in person
        Trust.VERIFIED_CHANGED,  # another key while the name holds the verified one: loudest
        Trust.PINNED,  # the key bob rotated to: pinned, never verified by the rotation
        Trust.RETIRED,  # the verified key after its owner replaced it
        Trust.CHANGED,  # another key while the name holds an unverified one: as ever
    ]
    plain = TrustWalk({"bob": k1}, [], [], lambda _: None)  # no verified key: trust on first use alone
    plain.judge(1, _message("bob", k1))
    plain.judge(2, _message("bob", k3))
    assert [v.trust for v in plain.verdicts] == [Trust.PINNED, Trust.CHANGED]


def test_no_name_can_wear_the_verified_mark() -> None:
    from pointerbridge.app.display import PLAIN_MARKS, TRUST_MARKS, shown_name
    from pointerbridge.app.names import MARK_SYMBOLS, check_own_username, mark_glyphs

    assert "✔" in TRUST_MARKS[Trust.VERIFIED][0] and "✔" in PLAIN_MARKS[Trust.VERIFIED] and "✔" in MARK_SYMBOLS
    assert TRUST_MARKS[Trust.VERIFIED] != TRUST_MARKS[Trust.PINNED]  # its own mark, above the ✓
    assert mark_glyphs("bob ✔ verified") == "✔" and shown_name("bob ✔ verified") == "bob \\u2714 verified"
    with pytest.raises(InvalidInputError, match="trust"):
        check_own_username("bob ✔ verified", new=True)


def _pair(tmp_path: Path) -> tuple[App, UnlockedChat, App, UnlockedChat]:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, alice_id, alice_chat = _home(tmp_path, "alice", shared)
    bob, bob_id, bob_chat = _home(tmp_path, "bob", shared)
    for app, chat, who in ((alice, alice_chat, alice_id), (bob, bob_chat, bob_id)):
        app.send(chat, who, f"hello from {who.username}")
        app.poll()
    for app, chat in ((alice, alice_chat), (bob, bob_chat)):
        _marks(app, chat)  # a full read pins the other's key
    return alice, alice_chat, bob, bob_chat


def test_both_members_compute_one_code_and_a_verified_pin_is_that_key(tmp_path: Path) -> None:
    alice, alice_chat, bob, bob_chat = _pair(tmp_path)
    for_bob, for_alice = alice.safety_check("family", "bob"), bob.safety_check("Family", "alice")
    assert for_bob.code == for_alice.code and len(for_bob.digits) == 60 and not for_bob.verified
    with pytest.raises(NoMemberKeyError, match="your own name"):
        alice.safety_check("family", "alice")
    with pytest.raises(NoMemberKeyError, match="read the chat first; its members: 'bob'"):
        alice.safety_check("family", "carol")
    wrong = for_bob.digits[:-1] + str((int(for_bob.digits[-1]) + 1) % 10)
    with pytest.raises(SafetyCodeMismatchError):
        alice.mark_verified("family", "bob", wrong)
    assert [m.trust for m in alice.members("family")] == [Trust.PINNED, Trust.PINNED]  # alice (you), bob

    done = alice.mark_verified("family", "bob", for_alice.code)  # as read aloud: spaces and all
    assert done.verified and alice.safety_check("family", "bob").verified
    assert dict(_marks(alice, alice_chat))["hello from bob"] == "verified"
    assert _marks(bob, bob_chat) == [("hello from alice", "pinned"), ("hello from bob", "pinned")]  # bob's own view
    members = {m.username: m for m in alice.members("family")}
    assert members["bob"].trust is Trust.VERIFIED and members["alice"].you
    assert alice.unverify("family", "bob") and not alice.unverify("family", "bob")
    assert dict(_marks(alice, alice_chat))["hello from bob"] == "pinned"
    alice.close()
    bob.close()


def test_a_rotation_leaves_the_new_key_unverified(tmp_path: Path) -> None:
    alice, alice_chat, bob, bob_chat = _pair(tmp_path)
    old = bob.unlock_identity("bob phrase")
    code = alice.safety_check("family", "bob").code
    alice.mark_verified("family", "bob", code)
    new = bob.rotate_identity(old, "bob new phrase", [bob_chat], allow_weak=True)
    bob.send(bob_chat, new, "hello from my new key")
    bob.poll()
    marks = _marks(alice, alice_chat)
    assert marks[0] == ("hello from alice", "pinned") and ("hello from bob", "verified") in marks
    assert marks[-2:] == [("bob changed their key; this notice is signed by the old one.", "rotated"),
                          ("hello from my new key", "pinned")]  # fmt: skip
    (member,) = [m for m in alice.members("family") if m.username == "bob"]
    assert member.trust is Trust.PINNED and member.replaced and member.public_key == new.public_key
    again = alice.safety_check("family", "bob")
    assert not again.verified and again.code != code  # a new key, a new code to compare
    with pytest.raises(SafetyCodeMismatchError):  # the code compared for the old key marks nothing now
        alice.mark_verified("family", "bob", code)
    alice.close()
    bob.close()


def test_a_rotation_off_the_key_you_verified_says_so_and_to_verify_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pointerbridge.app.display import plain_line
    from pointerbridge.cli import output
    from pointerbridge.console.render import message_line

    alice, alice_chat, bob, bob_chat = _pair(tmp_path)
    old = bob.unlock_identity("bob phrase")
    alice.mark_verified("family", "bob", alice.safety_check("family", "bob").code)
    new = bob.rotate_identity(old, "bob new phrase", [bob_chat], allow_weak=True)
    bob.send(bob_chat, new, "hello from my new key")
    bob.poll()
    _marks(alice, alice_chat)
    newer = bob.rotate_identity(new, "bob newest phrase", [bob_chat], allow_weak=True)  # off a key never verified
    bob.send(bob_chat, newer, "and my newest")
    bob.poll()
    alice.poll()
    shown = [s for s in alice.read(alice_chat)[0] if s.trust == "rotated"]
    assert [s.replaced_verified for s in shown] == [True, False]
    said = "IT REPLACED THE KEY YOU VERIFIED IN PERSON: the new key is not verified; compare the safety code"
    first, second = (plain_line(s, s.message.body) for s in shown)  # read into a pipe, the gateway
    assert first.split("  #")[0].endswith(f"--{' !!! ' + said} with them in person again (pbridge chat verify) !!!")
    assert "-- bob changed key: now " in first and said not in second and second.split("  #")[0].endswith("--")
    console = [message_line(s).plain for s in shown]
    assert said in console[0] and said not in console[1]
    monkeypatch.setattr(output, "to_terminal", lambda: True)  # read at a terminal: rich, coloured
    output.messages(shown)
    terminal = capsys.readouterr().out.splitlines()
    assert said in " ".join(terminal[0].split()) and said not in terminal[-1]
    code, out, err = _cli(tmp_path / "alice", "read", "family", "--json")
    assert code == 0, err
    rotations = [m for m in json.loads(out)["messages"] if m["trust"] == "rotated"]
    assert [m["verified_key_replaced"] for m in rotations] == [True, False]
    alice.close()
    bob.close()


def _cli(home: Path, *args: str) -> tuple[int, str, str]:
    env = {"PBRIDGE_MASTER_PHRASE": "alice phrase", "PBRIDGE_CHAT_SECRET": SECRET}
    result = run("--home", str(home), *args, env=env)
    return result.returncode, result.stdout, result.stderr


def test_an_export_carries_no_verified_key_and_an_import_cannot_forge_one(tmp_path: Path) -> None:
    alice, alice_chat, bob, _ = _pair(tmp_path)
    bob.close()
    alice.mark_verified("family", "bob", alice.safety_check("family", "bob").code)
    bob_key = alice.safety_check("family", "bob").public_key
    export = tmp_path / "alice.pbx"
    alice.export_to(export)
    records = opened_export(alice.store, export)
    assert '"verified"' not in json.dumps(records) and "verified" not in {r["kind"] for r in records}
    assert any(r["kind"] == "pin" and r["username"] == "bob" for r in records)  # pins are there, for the record

    # A doctored file: a verified mark on bob's pin, or a record of its own, is refused whole.
    stranger = bytes([7]) * 32
    for doctored in (
        [{**r, "verified": True} if r["kind"] == "pin" and r["username"] == "bob" else r for r in records],
        [*records, {"kind": "verified", "chat": "family", "username": "bob", "public_key": stranger.hex()}],
    ):
        code, _, err = _cli(
            tmp_path / "alice", "import", str(write_export_file(tmp_path / "x.pbx", doctored, alice.store))
        )
        assert code == 3, err
    # The pin moved to another key in a file that parses: taken as no pin, the verified key stays.
    moved = [
        {**r, "public_key": stranger.hex()} if r["kind"] == "pin" and r["username"] == "bob" else r for r in records
    ]
    code, out, err = _cli(tmp_path / "alice", "import", str(write_export_file(tmp_path / "y.pbx", moved, alice.store)))
    assert code == 0 and "not taken from the file: " in out, err
    assert alice.store.verified_keys(alice_chat.row.id) == {"bob": bob_key}
    assert dict(_marks(alice, alice_chat))["hello from bob"] == "verified"
    alice.close()

    # Restored on a new machine: bob is pinned by his first message read there, and not verified.
    code, _, err = _cli(tmp_path / "restored", "import", str(export))
    assert code == 0, err
    restored = App.at(tmp_path / "restored", create=False)
    restored.unlock_identity("alice phrase")
    chat = restored.unlock_chat("family", SECRET)
    for expected in ("new", "pinned"):  # no carrier here: what the import brought is read
        assert {s.message.body: s.trust for s in restored.read(chat)[0]}["hello from bob"] == expected
    assert restored.store.verified_keys(chat.row.id) == {}
    restored.close()
