"""Per-chat random salts and recovery codes: what makes a guess cost an Argon2id per target.

The chat name used to be the Argon2id salt, so one dictionary served every chat of a name;
now a chat's key is salted with random bytes its invite carries (never a pointer), and an
identity with the random salt of its recovery code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pointerbridge.app.invite import make_invite, read_invite
from pointerbridge.app.secret_policy import generate_chat_secret
from pointerbridge.app.service import App, WrongSecretError
from pointerbridge.core import (
    ChatKey,
    Identity,
    InvalidInputError,
    NotForThisChatError,
    RecoveryCode,
    new_chat_salt,
    seal,
    unseal,
)
from pointerbridge.core.armor import dearmor
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from test_cli import run

SECRET = generate_chat_secret()
PHRASES = {"alice": "alice phrase of the salted tests", "bob": "bob phrase of the salted tests"}


def _app(root: Path, user: str, shared: Path) -> App:
    home = Home(root / user, root / user)
    home.create()
    save_config(
        home.config_path,
        Config(carriers={"shared": CarrierConfig.model_validate({"type": "files", "path": str(shared)})}),
    )
    return App(home)


def test_two_chats_of_one_name_and_secret_have_unrelated_keys() -> None:
    one, two = ChatKey.derive("family", SECRET, new_chat_salt()), ChatKey.derive("family", SECRET, new_chat_salt())
    assert not one.same_key(two) and one._tag_key != two._tag_key and one._chat_id != two._chat_id
    sender = Identity("alice", bytes(32))
    with pytest.raises(NotForThisChatError):
        unseal(two, seal(one, sender, "for the first family only")[0])
    opened = ChatKey.derive_open("family", SECRET)
    assert opened.is_open and not one.is_open and not opened.same_key(one)


def test_no_pointer_carries_the_chat_salt() -> None:
    salt = new_chat_salt()
    chat, sender = ChatKey.derive("family", SECRET, salt), Identity("alice", bytes(32))
    pointers = [p for body in ("", "x" * 100, "y" * 5000) for p in seal(chat, sender, body, max_chars=1000)]
    assert len(pointers) > 5
    for text in pointers:
        payload = dearmor(text)[1]
        assert salt not in payload and salt.hex() not in text
        assert unseal(chat, text)  # and each opens with the salted key


def test_chat_salt_bounds_are_checked() -> None:
    for bad in (bytes(15), bytes(33), "0" * 16):
        with pytest.raises(InvalidInputError):
            ChatKey.derive("family", SECRET, bad)  # type: ignore[arg-type]


def test_invites_carry_the_salt_and_old_invites_join_as_open_chats(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, bob, carol = (_app(tmp_path, u, shared) for u in ("alice", "bob", "carol"))
    me = alice.init("alice", PHRASES["alice"])
    bob_id = bob.init("bob", PHRASES["bob"])
    carol.init("carol", "carol phrase of the salted tests")
    chat = alice.create_chat("Family", SECRET, ["shared"])
    assert not chat.row.is_open and chat.key.salt is not None
    invite = make_invite(chat.row, alice.config)
    assert read_invite(invite).salt == chat.key.salt
    joined = bob.join_invite(invite, SECRET, {})
    assert joined.key.same_key(chat.key) and not bob.chat_row("family").is_open
    alice.send(chat, me, "hello bob")
    alice.poll(fetch=False)
    bob.poll()
    assert [s.message.body for s in bob.read(joined)[0]] == ["hello bob"]
    bob.send(joined, bob_id, "hello alice")
    # Receiving cannot join a salted chat: the name and secret are not enough without the salt.
    with pytest.raises(NotForThisChatError):
        carol.join_by_receiving("family", SECRET, "\n".join(p for p in (f.read_text() for f in shared.iterdir())))
    # An open chat's invite is version 1 (no salt) and joins as an open chat.
    open_chat = alice.create_chat("Open one", SECRET, ["shared"], open_chat=True)
    old_invite = make_invite(open_chat.row, alice.config)
    assert read_invite(old_invite).salt is None
    assert carol.join_invite(old_invite, SECRET, {}).key.same_key(open_chat.key)
    assert carol.chat_row("open one").is_open


def test_a_damaged_salt_in_an_invite_is_refused(tmp_path: Path) -> None:
    import base64

    for salt in ("AAAA", "!" * 22, base64.urlsafe_b64encode(bytes(40)).decode().rstrip("=")):
        data = json.dumps({"v": 2, "chat": "x", "salt": salt, "carriers": {}}).encode()
        with pytest.raises(InvalidInputError, match="salt"):
            read_invite("pbinvite1." + base64.urlsafe_b64encode(data).decode().rstrip("="))


def test_rekey_moves_an_open_chat_to_a_salted_key_that_members_take_from_the_invite(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, bob = _app(tmp_path, "alice", shared), _app(tmp_path, "bob", shared)
    me = alice.init("alice", PHRASES["alice"])
    bob.init("bob", PHRASES["bob"])
    chat = alice.create_chat("Family", "the old open secret of the family 1", ["shared"], open_chat=True)
    bob_chat = bob.join_invite(make_invite(chat.row, alice.config), "the old open secret of the family 1", {})
    assert chat.row.is_open and bob_chat.row.is_open
    new = alice.rekey_chat(chat, SECRET)
    assert not new.row.is_open and new.key.salt is not None
    invite = make_invite(new.row, alice.config)
    from pointerbridge.app.invite import rekey_salt

    with pytest.raises(InvalidInputError, match="for chat"):
        rekey_salt("another chat", invite)
    bob_new = bob.rekey_chat(bob_chat, SECRET, salt=rekey_salt("family", invite))
    assert bob_new.key.same_key(new.key) and not bob.chat_row("family").is_open
    alice.send(new, me, "under the salted key")
    alice.poll(fetch=False)
    bob.poll()
    assert [s.message.body for s in bob.read(bob_new)[0]] == ["under the salted key"]
    # The same secret again is refused, even though a new salt would make it a new key.
    with pytest.raises(InvalidInputError, match="had that secret before"):
        alice.rekey_chat(new, "the old open secret of the family 1")
    # Any of the chat's secrets still unlocks it (each under its own salt).
    assert alice.unlock_chat("family", "the old open secret of the family 1").key.same_key(chat.key)
    assert alice.unlock_chat("family", SECRET).current
    with pytest.raises(WrongSecretError):
        alice.unlock_chat("family", "neither of them")


def test_recovery_codes_regenerate_the_identity_and_refuse_typos(tmp_path: Path) -> None:
    code = RecoveryCode.new(64)
    again = RecoveryCode.parse(code.text.lower().replace("-", " "))
    assert again == code and len(code.text) == 19 and code.text.count("-") == 3
    typo = code.text[:5] + ("A" if code.text[5] != "A" else "B") + code.text[6:]
    with pytest.raises(InvalidInputError, match="mistyped"):
        RecoveryCode.parse(typo)
    one = Identity.derive("alice", PHRASES["alice"], code)
    assert Identity.derive("alice", PHRASES["alice"], again).public_key == one.public_key
    other = Identity.derive("alice", PHRASES["alice"], RecoveryCode.new(64))
    unsalted = Identity.derive_unsalted("alice", PHRASES["alice"])
    assert len({one.public_key, other.public_key, unsalted.public_key}) == 3


def test_the_default_identity_cost_is_512_mib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PBRIDGE_IDENTITY_MEMORY_MIB")
    app = _app(tmp_path, "alice", tmp_path)
    app.init("alice", PHRASES["alice"])
    code = app.recovery_code()
    assert code is not None and code.memory_mib == 512
    monkeypatch.setenv("PBRIDGE_IDENTITY_MEMORY_MIB", "100")
    with pytest.raises(InvalidInputError, match="PBRIDGE_IDENTITY_MEMORY_MIB"):
        _app(tmp_path, "bob", tmp_path).init("bob", PHRASES["bob"])


def test_an_identity_made_before_recovery_codes_unlocks_and_rotation_salts_it(tmp_path: Path) -> None:
    app = _app(tmp_path, "alice", tmp_path)
    old = Identity.derive_unsalted("alice", PHRASES["alice"])
    app.store.set_identity("alice", old.public_key)  # as schema 6 left it: no recovery code
    assert app.recovery_code() is None
    assert app.unlock_identity(PHRASES["alice"]).public_key == old.public_key
    new = app.rotate_identity(old, "alice's second phrase of the tests")
    code = app.recovery_code()
    assert code is not None
    assert Identity.derive("alice", "alice's second phrase of the tests", code).public_key == new.public_key
    assert app.unlock_identity("alice's second phrase of the tests").public_key == new.public_key


def test_schema_7_keeps_existing_chats_as_open_ones(tmp_path: Path) -> None:
    app = _app(tmp_path, "alice", tmp_path)
    app.init("alice", PHRASES["alice"])
    app.create_chat("Family", "an old chat's secret from last spring", [], open_chat=True)
    app.close()
    # What a schema-6 store holds: the same verifier without a key salt (sealed now: docs/AT-REST.md).
    app = _app(tmp_path, "alice", tmp_path)
    app.unlock_identity(PHRASES["alice"])
    assert [v.key_salt for v in app.store.verifiers(app.chat_row("Family").id)] == [None]
    old_secret = "an old chat's secret from last spring"
    chat = app.unlock_chat("family", old_secret)
    assert chat.row.is_open and chat.key.same_key(ChatKey.derive_open("Family", old_secret))


def _pb(home: Path, *args: str, secret: str = SECRET, phrase: str = PHRASES["alice"]) -> tuple[int, str, str]:
    result = run(
        "--home",
        str(home),
        *args,
        env={
            "PBRIDGE_MASTER_PHRASE": phrase,
            "PBRIDGE_CHAT_SECRET": secret,
            "PBRIDGE_IDENTITY_MEMORY_MIB": os.environ["PBRIDGE_IDENTITY_MEMORY_MIB"],
        },
    )
    return result.returncode, result.stdout, result.stderr


def test_the_command_line_creates_salted_chats_with_invites_and_marks_open_ones(tmp_path: Path) -> None:
    shared, alice, bob = tmp_path / "shared", tmp_path / "alice", tmp_path / "bob"
    shared.mkdir()
    rc, out, _ = _pb(alice, "init", "--username", "alice")
    assert rc == 0 and "  recovery code " in out.splitlines()[0]
    code = out.split("recovery code ", 1)[1].split()[0]
    assert json.loads(_pb(alice, "whoami", "--json")[1])["recovery_code"] == code
    for home, user in ((alice, "alice"), (bob, "bob")):
        if user == "bob":
            assert _pb(home, "init", "--username", "bob", phrase=PHRASES["bob"])[0] == 0
        assert _pb(home, "carrier", "add", "shared", "--type", "files", "--path", str(shared))[0] == 0
    rc, out, err = _pb(alice, "chat", "create", "Family", "--carrier", "shared")
    assert rc == 0 and "warning" not in err
    invite = out.splitlines()[-1]
    assert read_invite(invite).salt is not None
    assert _pb(bob, "chat", "join", invite, phrase=PHRASES["bob"])[0] == 0
    assert _pb(alice, "send", "family", "salted hello")[0] == 0
    assert _pb(alice, "poll")[0] == 0 and _pb(bob, "poll", phrase=PHRASES["bob"])[0] == 0
    read = json.loads(_pb(bob, "read", "family", "--json", phrase=PHRASES["bob"])[1])
    assert [m["body"] for m in read["messages"]] == ["salted hello"]
    again = _pb(bob, "chat", "join", invite, phrase=PHRASES["bob"])
    assert again[0] == 3 and "rekey" in again[2]
    rc, _, err = _pb(alice, "chat", "create", "Club", "--carrier", "shared", "--open")
    assert rc == 0 and "offline" in err and "every chat of that name" in err
    listed = {c["name"]: c["open"] for c in json.loads(_pb(alice, "chat", "list", "--json")[1])}
    assert listed == {"Family": False, "Club": True}
    assert "weaker" in _pb(alice, "chat", "list")[1]
    # A new machine: the same username, phrase and recovery code give the same identity.
    elsewhere = tmp_path / "alice-laptop"
    rc, out, _ = _pb(elsewhere, "init", "--username", "alice", "--recovery-code", code.lower())
    assert rc == 0 and json.loads(_pb(elsewhere, "whoami", "--json")[1]) == json.loads(
        _pb(alice, "whoami", "--json")[1]
    )
    mistyped = code[:-1] + ("A" if code[-1] != "A" else "B")
    typo = _pb(tmp_path / "x", "init", "--username", "alice", "--recovery-code", mistyped)
    assert typo[0] == 3 and "mistyped" in typo[2] and not (tmp_path / "x").exists()


def test_the_command_line_rekeys_with_the_first_members_invite(tmp_path: Path) -> None:
    shared, alice, bob = tmp_path / "shared", tmp_path / "alice", tmp_path / "bob"
    shared.mkdir()
    for home, user in ((alice, "alice"), (bob, "bob")):
        assert _pb(home, "init", "--username", user, phrase=PHRASES[user])[0] == 0
        assert _pb(home, "carrier", "add", "shared", "--type", "files", "--path", str(shared))[0] == 0
    first = "the first secret of the family chat 1"
    invite = _pb(alice, "chat", "create", "Family", "--carrier", "shared", secret=first)[1]
    assert _pb(bob, "chat", "join", invite.splitlines()[-1], secret=first, phrase=PHRASES["bob"])[0] == 0
    env = {"PBRIDGE_NEW_CHAT_SECRET": SECRET}
    rekeyed = run(
        "--home",
        str(alice),
        "chat",
        "rekey",
        "Family",
        env={"PBRIDGE_CHAT_SECRET": first, **env},
        phrase=PHRASES["alice"],
    )
    assert rekeyed.returncode == 0, rekeyed.stderr
    new_invite = rekeyed.stdout.splitlines()[-1]
    assert read_invite(new_invite).salt not in (None, read_invite(invite.splitlines()[-1]).salt)
    follow = run(
        "--home",
        str(bob),
        "chat",
        "rekey",
        "Family",
        "--invite",
        new_invite,
        env={"PBRIDGE_CHAT_SECRET": first, **env},
        phrase=PHRASES["bob"],
    )
    assert follow.returncode == 0, follow.stderr
    assert _pb(alice, "send", "family", "after the rekey")[0] == 0
    assert _pb(alice, "poll")[0] == 0 and _pb(bob, "poll", phrase=PHRASES["bob"])[0] == 0
    read = json.loads(_pb(bob, "read", "family", "--json", phrase=PHRASES["bob"])[1])
    assert [m["body"] for m in read["messages"]] == ["after the rekey"]
    third = {"PBRIDGE_CHAT_SECRET": SECRET, "PBRIDGE_NEW_CHAT_SECRET": "a third one for the weekly family chat 3"}
    damaged = invite.splitlines()[-1][:-3] + "xyz"
    wrong = run("--home", str(bob), "chat", "rekey", "Family", "--invite", damaged, env=third, phrase=PHRASES["bob"])
    assert wrong.returncode == 3


def test_init_keeps_a_homes_identity_and_regenerates_old_ones(tmp_path: Path) -> None:
    home = tmp_path / "alice"
    first = _pb(home, "init", "--username", "alice")
    again = _pb(home, "init", "--username", "alice")
    assert first[0] == again[0] == 0 and first[1].splitlines()[0] == again[1].splitlines()[0]  # the same one
    other = _pb(home, "init", "--username", "alice", phrase="another master phrase of alice's tests")
    assert other[0] == 34 and "identity rotate" in other[2]  # its own code (issue 17, item 1; was 3)
    assert _pb(home, "whoami")[1].splitlines()[0] == first[1].splitlines()[0]  # unchanged
    # An identity made before recovery codes, on a new machine: --recovery-code none.
    old = Identity.derive_unsalted("alice", PHRASES["alice"])
    laptop = tmp_path / "laptop"
    rc, out, _ = _pb(laptop, "init", "--username", "alice", "--recovery-code", "none")
    assert rc == 0 and old.fingerprint in out and "no recovery code" in out


def test_joining_an_invite_without_a_salt_says_it_is_an_open_chat(tmp_path: Path) -> None:
    import base64

    shared, alice, bob = tmp_path / "shared", tmp_path / "alice", tmp_path / "bob"
    shared.mkdir()
    for home, user in ((alice, "alice"), (bob, "bob")):
        assert _pb(home, "init", "--username", user, phrase=PHRASES[user])[0] == 0
        assert _pb(home, "carrier", "add", "shared", "--type", "files", "--path", str(shared))[0] == 0
    invite = _pb(alice, "chat", "create", "Family", "--carrier", "shared")[1].splitlines()[-1]
    body = invite[len("pbinvite1.") :]
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    for stripped in ({**{k: v for k, v in data.items() if k != "salt"}, "v": 1}, {**data, "v": True}):
        text = "pbinvite1." + base64.urlsafe_b64encode(json.dumps(stripped).encode()).decode().rstrip("=")
        if stripped["v"] is True:
            assert _pb(bob, "chat", "join", text, phrase=PHRASES["bob"])[0] == 3  # not a version: refused
            continue
        rc, _, err = _pb(bob, "chat", "join", text, phrase=PHRASES["bob"])
        assert rc == 0 and "open chat" in err and "offline" in err


def test_a_stale_invite_is_refused_and_a_rekey_under_a_wrong_salt_can_be_corrected(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, carol = _app(tmp_path, "alice", shared), _app(tmp_path, "carol", shared)
    me = alice.init("alice", PHRASES["alice"])
    carol.init("carol", "carol's master phrase for the salted tests")
    chat = alice.create_chat("Family", SECRET, ["shared"])
    old_invite = make_invite(chat.row, alice.config)
    carols = carol.join_invite(old_invite, SECRET, {})
    new_secret = generate_chat_secret()
    new = alice.rekey_chat(chat, new_secret)
    from pointerbridge.app.invite import rekey_salt

    with pytest.raises(InvalidInputError, match=r"that invite is an earlier one of chat 'Family':"):
        carol.rekey_chat(carols, new_secret, salt=rekey_salt("family", old_invite))
    wrong = carol.rekey_chat(carols, new_secret)  # without the invite: a salt of her own
    assert not wrong.key.same_key(new.key)
    fixed = carol.rekey_chat(wrong, new_secret, salt=rekey_salt("family", make_invite(new.row, alice.config)))
    assert fixed.key.same_key(new.key) and carol.unlock_chat("family", new_secret).key.same_key(new.key)
    alice.send(new, me, "after the rekey")
    alice.poll(fetch=False)
    carol.poll()
    assert [s.message.body for s in carol.read(fixed)[0]] == ["after the rekey"]


def test_an_import_cannot_bring_a_damaged_recovery_code_or_endless_verifiers(tmp_path: Path) -> None:
    from helpers import opened_export, write_export_file
    from pointerbridge.app.backup import export_store

    source = _app(tmp_path, "alice", tmp_path)
    source.init("alice", PHRASES["alice"])
    source.create_chat("Family", SECRET, [])
    export = tmp_path / "backup.jsonl"
    export_store(source.store, export)
    # The chat record is sealed in the file: it is opened, changed, and sealed again under
    # alice's key, so the import opens it (with alice's phrase) and must refuse what it holds.
    records = opened_export(source.store, export)
    identity = next(r for r in records if r["kind"] == "identity")
    chat = next(r for r in records if r["kind"] == "chat")
    for name, change in (
        ("recovery", lambda: identity.update(recovery="ff" + identity["recovery"][2:])),
        ("verifiers", lambda: chat.update(verifiers=chat["verifiers"] * 65)),
    ):
        saved = json.dumps(identity), json.dumps(chat)
        change()
        doctored = write_export_file(tmp_path / f"doctored-{name}.jsonl", records, sealed_by=source.store)
        identity.update(json.loads(saved[0]))
        chat.update(json.loads(saved[1]))
        target = _app(tmp_path, f"target-{name}", tmp_path)
        with pytest.raises(InvalidInputError, match=name):
            target.import_from(doctored, lambda: PHRASES["alice"])
        assert target.store.identity() is None and target.store.chat_count() == 0  # nothing half-imported
