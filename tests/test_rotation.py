"""Identity rotation: a notice signed by the old key moves a name to its new key."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from helpers import opened_export, raw_identity, write_export_file
from pointerbridge.app.service import App, Shown, UnlockedChat, WrongSecretError
from pointerbridge.core import Identity, InvalidInputError
from pointerbridge.core.pointer import _seal
from pointerbridge.core.rotation import MARKER, RotationError, make_notice, notice_body, parse_notice
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from test_cli import run

SECRET = "rotation chat secret"


def test_a_notice_round_trips_and_is_bound_to_the_old_key() -> None:
    old, new = raw_identity("alice"), Identity("alice", b"\x05" * 32)
    notice = make_notice(old, new)
    body = notice_body(notice)
    first, second = body.split("\n")
    assert first == "alice changed their key; this notice is signed by the old one."
    assert second.startswith(MARKER) and "=" not in second
    assert parse_notice(body) == notice
    assert (notice.old_key, notice.new_key) == (old.public_key, new.public_key)
    assert parse_notice("just a message mentioning pb-rotate-1 in passing") is None
    raw = bytearray(base64.urlsafe_b64decode(second[len(MARKER) :] + "=="))
    raw[-1] ^= 1  # the signature's last byte
    forged = f"{first}\n{MARKER}{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"
    with pytest.raises(RotationError, match="not signed by the old key"):
        parse_notice(forged)
    with pytest.raises(RotationError):
        parse_notice(body.replace("alice changed", "carol changed"))
    with pytest.raises(RotationError):
        parse_notice(body + "\nand a third line")
    with pytest.raises(InvalidInputError):
        make_notice(old, raw_identity("carol"))


def _receive(app: App, chat: UnlockedChat, sender: Identity, body: str, sent_ms: int) -> None:
    app.receive("\n".join(_seal(chat.key, sender, body, 2000, os.urandom, sent_ms)))


def test_a_notice_that_does_not_match_its_message_is_not_accepted(tmp_path: Path) -> None:
    app = App(Home.resolve(tmp_path / "bob"))
    app.init("bob", "bob phrase", allow_weak=True)
    chat = app.create_chat("Family", SECRET, [], allow_weak=True)
    old, new = raw_identity("alice"), Identity("alice", b"\x06" * 32)
    body = notice_body(make_notice(old, new))
    at = 1_790_000_000_000
    _receive(app, chat, old, "hello", at)
    _receive(app, chat, Identity("alice", b"\x07" * 32), body, at + 1)  # sealed by a key it does not name
    _receive(app, chat, Identity("carol", b"\x06" * 32), body, at + 2)  # the named key, another name
    shown, refused = app.read(chat)
    assert refused == 0
    assert [(s.message.username, s.trust, s.notice) for s in shown] == [
        ("alice", "new", None),
        ("alice", "changed", None),
        ("carol", "new", None),
    ]
    _receive(app, chat, new, "from the new key, without its notice", at + 3)
    assert app.read(chat)[0][-1].trust == "changed"
    app.close()


def _home(root: Path, user: str, shared: Path, username: str | None = None) -> tuple[App, Identity, UnlockedChat]:
    home = Home(root / user, root / user)
    home.create()
    carrier = CarrierConfig.model_validate({"type": "files", "path": str(shared)})
    save_config(home.config_path, Config(carriers={"shared": carrier}))
    app = App(home)
    identity = app.init(username or user, f"{user} phrase", allow_weak=True)
    # Every home gets the same salt, as if all had joined one invite.
    return app, identity, app.create_chat("Family", SECRET, ["shared"], salt=bytes(range(16)), allow_weak=True)


def _marks(app: App, chat: UnlockedChat) -> list[tuple[str, str]]:
    app.poll()
    shown, refused = app.read(chat)
    assert refused == 0
    return [(s.message.body.split("\n")[0], s.trust) for s in shown]


def test_peers_repin_a_rotated_identity_and_forgeries_stay_flagged(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, alice_old, alice_chat = _home(tmp_path, "alice", shared)
    bob, _, bob_chat = _home(tmp_path, "bob", shared)
    alice.send(alice_chat, alice_old, "hello from my old key")
    alice.poll()
    assert _marks(bob, bob_chat) == [("hello from my old key", "new")]

    with pytest.raises(WrongSecretError):
        # not this home's identity
        alice.rotate_identity(raw_identity("alice"), "alice new phrase", allow_weak=True)
    with pytest.raises(InvalidInputError, match="same key"):
        alice.rotate_identity(alice_old, "alice phrase", allow_weak=True)
    alice_new = alice.rotate_identity(alice_old, "alice new phrase", allow_weak=True)
    assert alice_new.public_key != alice_old.public_key and alice.pending_notices() == ["Family"]
    assert alice.store.identity() == ("alice", alice_new.public_key)
    with pytest.raises(InvalidInputError, match="still wait"):  # the waiting notice goes out first
        alice.rotate_identity(alice_new, "a third phrase", allow_weak=True)
    alice.send(alice_chat, alice_new, "hello from my new key")
    assert alice.pending_notices() == []
    alice.poll()

    notice_line = "alice changed their key; this notice is signed by the old one."
    expected = [("hello from my old key", "pinned"), (notice_line, "rotated"), ("hello from my new key", "pinned")]
    assert _marks(bob, bob_chat) == expected
    assert _marks(alice, alice_chat) == expected  # her own home judges her own notice the same way
    shown = bob.read(bob_chat)[0]
    assert shown[1].notice is not None and shown[1].notice.new_key == alice_new.public_key

    alice.send(alice_chat, alice_old, "late, from a device still on the old key")
    alice.poll()
    assert _marks(bob, bob_chat)[-1] == ("late, from a device still on the old key", "retired")

    # A member calling themselves alice, with a notice signed by a key bob never pinned.
    mallory, mallory_id, _ = _home(tmp_path, "mallory", shared, username="alice")
    mallory_chat = mallory.unlock_chat("family", SECRET)
    mallory_next = Identity("alice", b"\x09" * 32)
    forged = notice_body(make_notice(mallory_id, mallory_next))
    for sender, body in ((mallory_next, forged), (mallory_next, "pay mallory 900 euros")):
        mallory.store.pin(mallory_chat.row.id, "alice", mallory_next.public_key)  # her own home is fooled
        mallory.store.set_identity("alice", sender.public_key)
        mallory.send(mallory_chat, sender, body)
    mallory.poll()
    marks = _marks(bob, bob_chat)
    assert marks[-2:] == [(notice_line, "changed"), ("pay mallory 900 euros", "changed")]

    # The accepted rotation is stored: without its notice, the new key stays pinned.
    notice = next(s for s in bob.read(bob_chat)[0] if s.trust == "rotated")
    bob.set_trashed(bob_chat, [notice.message.id], True)
    assert _trust(bob, bob_chat, "hello from my new key") == "pinned"
    bob.purge(bob_chat, [notice.message.id])
    assert _trust(bob, bob_chat, "hello from my new key") == "pinned"
    assert _trust(bob, bob_chat, "late, from a device still on the old key") == "retired"
    assert "rotated" not in [t for _, t in _marks(bob, bob_chat)]
    for app in (alice, bob, mallory):
        app.close()


def _trust(app: App, chat: UnlockedChat, body: str) -> str:
    shown: list[Shown] = app.read(chat)[0]
    return next(s.trust for s in shown if s.message.body == body)


def _pb(home: Path, *args: str, phrase: str, new: str | None = None, stdin: str = "") -> tuple[int, str, str]:
    env = {"PBRIDGE_MASTER_PHRASE": phrase, "PBRIDGE_CHAT_SECRET": SECRET}
    if new is not None:
        env["PBRIDGE_NEW_MASTER_PHRASE"] = new
    result = run("--home", str(home), *args, env=dict(env), stdin=stdin)
    return result.returncode, result.stdout, result.stderr


def test_identity_rotate_on_the_command_line(tmp_path: Path) -> None:
    home, shared = tmp_path / "home", tmp_path / "shared"
    shared.mkdir()
    one, two, three = "first phrase 1", "second phrase 2", "third phrase 3"
    assert _pb(home, "init", "--username", "alice", "--weak-secret-ok", phrase=one)[0] == 0
    assert _pb(home, "carrier", "add", "shared", "--type", "files", "--path", str(shared), phrase=one)[0] == 0
    assert _pb(home, "chat", "create", "Family", "--carrier", "shared", "--weak-secret-ok", phrase=one)[0] == 0
    assert _pb(home, "send", "family", phrase=one, stdin="before")[0] == 0
    before = _pb(home, "whoami", phrase=one)[1]
    old_key = json.loads(_pb(home, "whoami", "--json", phrase=one)[1])["public_key"]

    code, _, err = _pb(home, "identity", "rotate", "--weak-secret-ok", phrase="not my phrase", new=two)
    assert code == 5 and "wrong master phrase" in err and err.count("\n") == 1
    code, out, _ = _pb(home, "identity", "rotate", "--weak-secret-ok", phrase=one, new=two)
    assert code == 0 and "rotation notices wait in 1 chat(s)" in out
    after = _pb(home, "whoami", phrase=two)[1]
    assert after != before and after.split("fingerprint ")[1] in out
    code, out, _ = _pb(home, "send", "family", phrase=two, stdin="after")
    assert code == 0 and "after your key rotation notice" in out and "posted 2" in out
    assert _pb(home, "send", "family", phrase=one, stdin="old phrase")[0] == 5

    data = json.loads(_pb(home, "read", "family", "--json", phrase=two)[1])
    assert [m["trust"] for m in data["messages"]] == ["pinned", "rotated", "pinned"]
    assert data["messages"][1]["rotated_from"] == old_key
    text = _pb(home, "read", "family", phrase=two)[1]
    assert "-- alice changed key: now " in text and "KEY CHANGED" not in text

    assert _pb(home, "identity", "rotate", "--weak-secret-ok", phrase=two, new=three)[0] == 0
    code, out, _ = _pb(home, "identity", "notify", "family", phrase=three)
    assert code == 0 and "queued the rotation notice" in out and "posted 1" in out
    assert "no rotation notice waits" in _pb(home, "identity", "notify", "family", phrase=three)[1]
    data = json.loads(_pb(home, "read", "family", "--json", phrase=three)[1])
    assert [m["trust"] for m in data["messages"]] == ["pinned", "rotated", "pinned", "rotated"]


def test_rotations_and_waiting_notices_survive_export_and_import(tmp_path: Path) -> None:
    from pointerbridge.app.backup import export_store, import_store

    source = App(Home.resolve(tmp_path / "source"))
    me = source.init("bob", "bob phrase", allow_weak=True)
    chat = source.create_chat("Family", SECRET, [], allow_weak=True)
    old, new = raw_identity("alice"), Identity("alice", b"\x0a" * 32)
    body = notice_body(make_notice(old, new))
    at = 1_790_000_000_000
    for sender, text in ((old, "before"), (new, body), (new, "after")):
        _receive(source, chat, sender, text, at)
        at += 1
    shown = source.read(chat)[0]
    assert [s.trust for s in shown] == ["new", "rotated", "pinned"]
    with_notice = tmp_path / "with-notice.jsonl"
    export_store(source.store, with_notice)
    source.purge(chat, [shown[1].message.id])  # only the stored rotation is left
    # A notice waiting to be posted is this home's own (bob rotated to the key he has now);
    # alice's, waiting in bob's home, is refused (issue 17, item 8: bob would post it).
    with source.store._editing(chat.row.id) as record:
        record.notice_out = body
    not_mine = tmp_path / "not-mine.jsonl"
    export_store(source.store, not_mine)
    waiting = notice_body(make_notice(raw_identity("bob"), me))
    with source.store._editing(chat.row.id) as record:
        record.notice_out = waiting
    export = tmp_path / "backup.jsonl"
    export_store(source.store, export)
    kinds = [record["kind"] for record in opened_export(source.store, export)]  # sealed in the file
    assert kinds.count("rotation") == 1 and kinds.count("rotation_out") == 1

    target = App(Home.resolve(tmp_path / "target"))
    target.init("bob", "bob phrase", recovery=source.recovery_code())  # bob on another machine
    with pytest.raises(InvalidInputError, match="a rotation notice waiting in chat 'family' is not this home's"):
        import_store(target.store, not_mine)
    added = import_store(target.store, export)
    assert added["rotations"] == 1 and added["rotation notices"] == 1
    moved = target.unlock_chat("family", SECRET)
    # No pin comes from a file (issue 17, item 8): "before" pins alice's old key as a first
    # message does; the rotation, verified by its signed notice, then moves her on.
    assert [(s.message.body, s.trust) for s in target.read(moved)[0]] == [("before", "new"), ("after", "pinned")]
    assert target.pending_notices() == ["Family"]
    other = App(Home.resolve(tmp_path / "other"))  # the notice itself came along this time
    other.init("bob", "bob phrase", recovery=source.recovery_code())
    import_store(other.store, with_notice)
    marks = [(s.message.body.split("\n")[0], s.trust) for s in other.read(other.unlock_chat("family", SECRET))[0]]
    assert [t for _, t in marks] == ["new", "rotated", "pinned"]
    other.close()

    # The notices are sealed in the file: changed, and sealed again under bob's key.
    broken = json.loads(json.dumps(opened_export(source.store, export)).replace(MARKER, MARKER + "x"))
    bad = write_export_file(tmp_path / "bad.jsonl", broken, sealed_by=source.store)
    with pytest.raises(InvalidInputError, match="rotation notice"):
        import_store(target.store, bad)
    source.close()
    target.close()


_IDENTITY_POINT = bytes([1]) + bytes(31)  # (0, 1): the identity, of order 1
_IDENTITY_SIGNATURE = _IDENTITY_POINT + bytes(32)  # R = identity, S = 0: "valid" for any message


@pytest.mark.parametrize("which", ["old", "new"])
def test_a_rotation_notice_naming_a_small_order_key_is_refused(which: str) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from pointerbridge.core.rotation import _statement

    real = raw_identity("alice")
    at_ms = 1_790_000_000_000
    if which == "old":  # a forged notice "signed" by the identity point
        old, new, signature = _IDENTITY_POINT, real.public_key, _IDENTITY_SIGNATURE
        Ed25519PublicKey.from_public_bytes(old).verify(signature, _statement("alice", old, new, at_ms))  # OpenSSL: fine
    else:  # a real key moving its name to a key that "signs" everything
        old, new = real.public_key, _IDENTITY_POINT
        signature = real._sign(_statement("alice", old, new, at_ms))
    raw = bytes([5]) + b"alice" + old + new + at_ms.to_bytes(8, "big") + signature
    body = (
        f"alice changed their key; this notice is signed by the old one.\n"
        f"{MARKER}{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"
    )
    with pytest.raises(RotationError, match="small order"):
        parse_notice(body)
