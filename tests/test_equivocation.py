"""Rotation equivocation (issue 15): an old key that signs two different rotations has
leaked, notices go out at rotation, old-key messages warn, and a notice's date counts."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import opened_export, raw_identity
from pointerbridge.app.service import App, Shown, UnlockedChat
from pointerbridge.core import Identity, InvalidInputError, RecoveryCode, fingerprint
from pointerbridge.core.pointer import _seal
from pointerbridge.core.rotation import make_notice, notice_body
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from test_cli import run

SECRET = "the equivocation chat secret of the family 7"
WORK = "the work chat secret of the weekly meeting 12"
OLD = raw_identity("alice")  # the key whose phrase leaked
ATTACKER = Identity("alice", b"\x0b" * 32)  # the one who holds the leaked phrase
OWNER = Identity("alice", b"\x0c" * 32)  # alice's real new key
AT = 1_790_000_000_000


# Bob's homes are one person on several machines (his identity regenerated with its
# recovery code) in one chat (joined from one invite, so one salt).
BOB_CODE = RecoveryCode(64, bytes(8))
FAMILY_SALT = bytes(range(16))


def _bob(root: Path, name: str = "bob") -> tuple[App, UnlockedChat]:
    app = App(Home.resolve(root / name))
    app.init("bob", "bob phrase", recovery=BOB_CODE)
    return app, app.create_chat("Family", SECRET, [], salt=FAMILY_SALT)


def _receive(app: App, chat: UnlockedChat, sender: Identity, body: str) -> None:
    global AT
    AT += 1
    app.receive("\n".join(_seal(chat.key, sender, body, 2000, os.urandom, AT)))


def _notice(new: Identity, at: datetime | None = None) -> str:
    return notice_body(make_notice(OLD, new, at))


def _marks(app: App, chat: UnlockedChat) -> list[tuple[str, str]]:
    shown, refused = app.read(chat, include_trash=True)
    assert refused == 0
    return [(s.message.body.split("\n")[0][:20], s.trust) for s in shown]


def _trusts(shown: list[Shown]) -> list[str]:
    return [s.trust for s in shown]


def test_an_attacker_who_posts_first_and_the_owner_are_both_shown_as_conflict(tmp_path: Path) -> None:
    app, chat = _bob(tmp_path)
    _receive(app, chat, OLD, "hello")
    _receive(app, chat, ATTACKER, _notice(ATTACKER))
    _receive(app, chat, ATTACKER, "send the money to me")
    _receive(app, chat, OWNER, _notice(OWNER))
    _receive(app, chat, OWNER, "that was not me")
    _receive(app, chat, OLD, "from the old key")
    _receive(app, chat, raw_identity("carol"), "hi all")
    shown, _ = app.read(chat)
    # Before: the attacker's notice `rotated`, their message `pinned`, the owner `changed`.
    assert _trusts(shown) == ["new", "conflict", "conflict", "conflict", "conflict", "conflict", "new"]
    assert all(s.notice is None for s in shown)
    from pointerbridge.console.render import message_line

    assert "KEY CONFLICT: the old key signed two different rotations" in message_line(shown[3]).plain
    assert app.store.rotations(chat.row.id)[0][2] == ATTACKER.public_key  # what was accepted first stays stored
    assert {row[2] for row in app.store.conflicts(chat.row.id)} == {ATTACKER.public_key, OWNER.public_key}
    app.close()


def test_the_owner_first_and_a_later_attacker_freeze_the_name_too(tmp_path: Path) -> None:
    app, chat = _bob(tmp_path)
    _receive(app, chat, OLD, "hello")
    _receive(app, chat, OWNER, _notice(OWNER))
    _receive(app, chat, OWNER, "my new key")
    assert _trusts(app.read(chat)[0]) == ["new", "rotated", "pinned"]
    _receive(app, chat, ATTACKER, _notice(ATTACKER))
    _receive(app, chat, ATTACKER, "trust me instead")
    _receive(app, chat, OWNER, "still me")
    assert _trusts(app.read(chat)[0]) == ["pinned"] + ["conflict"] * 5
    app.close()


def test_a_trashed_accepted_notice_still_catches_the_second_one(tmp_path: Path) -> None:
    app, chat = _bob(tmp_path)
    _receive(app, chat, OLD, "hello")
    _receive(app, chat, OWNER, _notice(OWNER))
    shown = app.read(chat)[0]
    assert _trusts(shown) == ["new", "rotated"]
    app.set_trashed(chat, [shown[1].message.id], True)
    _receive(app, chat, ATTACKER, _notice(ATTACKER))
    _receive(app, chat, ATTACKER, "trust me instead")
    assert _trusts(app.read(chat)[0]) == ["pinned", "conflict", "conflict"]
    assert [t for _, t in _marks(app, chat)] == ["pinned", "conflict", "conflict", "conflict"]  # the trash too
    app.close()


def test_a_conflict_survives_purging_both_notices_and_shows_on_a_page(tmp_path: Path) -> None:
    app, chat = _bob(tmp_path)
    _receive(app, chat, OLD, "hello")
    _receive(app, chat, ATTACKER, _notice(ATTACKER))
    _receive(app, chat, ATTACKER, "send the money to me")
    shown = app.read(chat)[0]
    assert _trusts(shown) == ["new", "rotated", "pinned"]
    app.purge(chat, [shown[1].message.id])  # only the stored rotation is left of the first notice
    _receive(app, chat, OWNER, _notice(OWNER))
    _receive(app, chat, OWNER, "that was not me")
    shown = app.read(chat)[0]
    assert _trusts(shown) == ["pinned", "conflict", "conflict", "conflict"]
    app.purge(chat, [shown[2].message.id])  # the owner's notice too
    _receive(app, chat, ATTACKER, "and later")
    assert _trusts(app.read(chat)[0]) == ["pinned", "conflict", "conflict", "conflict"]
    page = app.read_page(chat, limit=2)
    assert [(s.message.body, s.trust) for s in page.messages] == [
        ("that was not me", "conflict"),
        ("and later", "conflict"),
    ]
    app.close()
    again = App(Home.resolve(tmp_path / "bob"))  # a new session reads the stored conflict
    again.unlock_identity("bob phrase")
    unlocked = again.unlock_chat("family", SECRET)
    assert _trusts(again.read_page(unlocked, limit=1).messages) == ["conflict"]
    again.close()


def test_re_pinning_the_verified_key_settles_the_name(tmp_path: Path) -> None:
    app, chat = _bob(tmp_path)
    for sender, body in (
        (OLD, "hello"),
        (ATTACKER, _notice(ATTACKER)),
        (ATTACKER, "send the money to me"),
        (OWNER, _notice(OWNER)),
        (OWNER, "that was not me"),
        (OLD, "from the old key"),
    ):
        _receive(app, chat, sender, body)
    assert set(_trusts(app.read(chat)[0])[1:]) == {"conflict"}
    with pytest.raises(InvalidInputError, match="the keys: "):
        app.trust_key("Family", "alice", "00000 00000 00000 00000 00000 00000")
    with pytest.raises(InvalidInputError, match="not frozen"):
        app.trust_key("Family", "carol", fingerprint(OWNER.public_key))
    assert app.trust_key("family", "alice", fingerprint(OWNER.public_key).replace(" ", "-")) == OWNER.public_key
    assert [t for _, t in _marks(app, chat)] == ["pinned", "changed", "changed", "rotated", "pinned", "retired"]
    page = app.read_page(chat, limit=3)
    assert _trusts(page.messages) == ["rotated", "pinned", "retired"]
    app.close()


def test_conflicts_travel_in_an_export_and_a_file_cannot_choose_for_any_home(tmp_path: Path) -> None:
    from pointerbridge.app.backup import export_store, import_store

    source, chat = _bob(tmp_path, "source")
    for sender, body in (
        (OLD, "hello"),
        (ATTACKER, _notice(ATTACKER)),
        (OWNER, _notice(OWNER)),
        (OWNER, "that was not me"),
    ):
        _receive(source, chat, sender, body)
    shown = source.read(chat)[0]
    source.purge(chat, [shown[1].message.id, shown[2].message.id])
    plain = tmp_path / "plain.jsonl"
    export_store(source.store, plain)
    records = opened_export(source.store, plain)  # sealed in the file
    assert sum(r.get("kind") == "rotation_conflict" for r in records) == 2
    target, _ = _bob(tmp_path, "target")
    assert import_store(target.store, plain)["rotation conflicts"] == 2
    assert _trusts(target.read(target.unlock_chat("family", SECRET))[0]) == ["new", "conflict"]  # no pin from a file

    # The source settles on the attacker's key (tricked, or the file is forged).
    source.trust_key("Family", "alice", fingerprint(ATTACKER.public_key))
    chosen = tmp_path / "chosen.jsonl"
    export_store(source.store, chosen)
    fresh = App(Home.resolve(tmp_path / "fresh"))
    fresh.init("bob", "bob phrase", recovery=BOB_CODE)
    # Not even a home that judged nothing of alice takes the choice (issue 17, item 8): a
    # file cannot say its user verified a key in person; the name stays frozen until re-pinned.
    import_store(fresh.store, chosen)
    assert _trusts(fresh.read(fresh.unlock_chat("family", SECRET))[0]) == ["new", "conflict"]
    assert fresh.store.conflicts(fresh.unlock_chat("family", SECRET).row.id)[0].chosen is False
    judged, judged_chat = _bob(tmp_path, "judged")  # a home that accepted alice's own rotation
    for sender, body in ((OLD, "hello"), (OWNER, _notice(OWNER)), (OWNER, "my new key")):
        _receive(judged, judged_chat, sender, body)
    assert _trusts(judged.read(judged_chat)[0]) == ["new", "rotated", "pinned"]
    import_store(judged.store, chosen)  # the conflict comes along, the choice does not
    marks = _marks(judged, judged_chat)
    assert {trust for body, trust in marks if body != "hello"} == {"conflict"}
    for app in (source, target, fresh, judged):
        app.close()


def test_a_notice_dated_in_the_future_is_not_accepted(tmp_path: Path) -> None:
    app, chat = _bob(tmp_path)
    _receive(app, chat, OLD, "hello")
    _receive(app, chat, ATTACKER, _notice(ATTACKER, datetime.now(UTC) + timedelta(days=2)))
    _receive(app, chat, OWNER, _notice(OWNER, datetime.now(UTC) + timedelta(hours=1)))  # a clock a bit ahead
    shown = app.read(chat)[0]
    assert _trusts(shown) == ["new", "changed", "rotated"]
    assert shown[2].notice is not None and shown[2].notice.at > datetime.now(UTC)
    app.close()


def test_a_message_under_the_replaced_key_warns_loudly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pointerbridge.cli.output import messages
    from pointerbridge.console.render import message_line

    app, chat = _bob(tmp_path)
    _receive(app, chat, OLD, "hello")
    _receive(app, chat, OWNER, _notice(OWNER))
    _receive(app, chat, OLD, "pay this invoice")
    shown = app.read(chat)[0]
    assert _trusts(shown) == ["new", "rotated", "retired"]
    messages(shown)
    late = capsys.readouterr().out.splitlines()[-1]
    assert "alice !! sent with their OLD key after they changed it: someone may hold their old phrase !!" in late
    line = message_line(shown[2]).plain
    assert "OLD key after they changed it" in line and "someone may hold their old phrase" in line
    assert "OLD key" in message_line(shown[2], provisional=True).plain  # a warning shows before settling too
    app.close()


def _files_home(root: Path, user: str, shared: Path) -> App:
    home = Home(root / user, root / user)
    home.create()
    carrier = CarrierConfig.model_validate({"type": "files", "path": str(shared)})
    save_config(home.config_path, Config(carriers={"shared": carrier}))
    return App(home)


def test_rotation_posts_at_once_to_the_chats_it_is_given(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice = _files_home(tmp_path, "alice", shared)
    old = alice.init("alice", "alice phrase", allow_weak=True)
    family = alice.create_chat("Family", SECRET, ["shared"])
    alice.create_chat("Work", "a work secret", ["shared"], allow_weak=True)
    alice.send(family, old, "hello")
    new = alice.rotate_identity(old, "alice new phrase", chats=[family], allow_weak=True)
    assert alice.pending_notices() == ["Work"]  # its secret was not at hand: it waits for the next message
    alice.poll()
    bob = _files_home(tmp_path, "bob", shared)
    bob.init("bob", "bob phrase", allow_weak=True)
    chat = bob.create_chat("Family", SECRET, ["shared"], salt=family.key.salt)  # as the invite says
    bob.poll()
    shown = bob.read(chat)[0]
    assert _trusts(shown) == ["new", "rotated"]  # without alice writing anything after the rotation
    assert shown[1].notice is not None and shown[1].notice.new_key == new.public_key
    alice.close()
    bob.close()


def _pb(home: Path, *args: str, phrase: str, new: str | None = None, secret: str = SECRET) -> tuple[int, str, str]:
    env = {"PBRIDGE_MASTER_PHRASE": phrase, "PBRIDGE_CHAT_SECRET": secret}
    if new is not None:
        env["PBRIDGE_NEW_MASTER_PHRASE"] = new
    result = run("--home", str(home), *args, env=dict(env))
    return result.returncode, result.stdout, result.stderr


def test_identity_rotate_posts_to_the_chats_named_and_says_which_wait(tmp_path: Path) -> None:
    home, shared = tmp_path / "home", tmp_path / "shared"
    shared.mkdir()
    one, two = "alice's first master phrase of the tests", "alice's second master phrase of the tests"
    assert _pb(home, "init", "--username", "alice", phrase=one)[0] == 0
    assert _pb(home, "carrier", "add", "shared", "--type", "files", "--path", str(shared), phrase=one)[0] == 0
    assert _pb(home, "chat", "create", "Family", "--carrier", "shared", phrase=one)[0] == 0
    assert _pb(home, "chat", "create", "Work", "--carrier", "shared", phrase=one, secret=WORK)[0] == 0
    code, _, err = _pb(home, "identity", "rotate", "--chat", "family", phrase=one, new=two, secret="wrong")
    assert code == 5 and "wrong secret" in err
    assert json.loads(_pb(home, "whoami", "--json", phrase=one)[1])  # nothing changed: the old phrase still opens
    assert _pb(home, "send", "family", "before the rotation", phrase=one)[0] == 0  # the old phrase still sends
    code, out, _ = _pb(home, "identity", "rotate", "--chat", "family", phrase=one, new=two)
    assert code == 0, out
    assert "queued the rotation notice in 'Family'; posted 1" in out
    assert "rotation notices wait in 1 chat(s) ('Work')" in out
    data = json.loads(_pb(home, "read", "family", "--json", phrase=two)[1])
    assert [m["trust"] for m in data["messages"]][-1] == "rotated"


def test_the_command_line_shows_a_conflict_and_re_pins_after_verifying(tmp_path: Path) -> None:
    app, chat = _bob(tmp_path)
    for sender, body in (
        (OLD, "hello"),
        (ATTACKER, _notice(ATTACKER)),
        (OWNER, _notice(OWNER)),
        (OWNER, "that was not me"),
    ):
        _receive(app, chat, sender, body)
    app.close()
    home = tmp_path / "bob"
    code, out, _ = _pb(home, "read", "family", phrase="bob phrase")
    assert code == 0
    lines = out.splitlines()
    assert (
        len(
            [
                line
                for line in lines
                if "!! KEY CONFLICT: the old key signed two different rotations: its "
                "phrase leaked; verify in person !!" in line
            ]
        )
        == 3
    )
    code, _, err = _pb(home, "chat", "trust", "family", "alice", "--fingerprint", "1 2 3", phrase="bob phrase")
    assert code != 0 and fingerprint(OWNER.public_key) in err
    code, out, _ = _pb(
        home, "chat", "trust", "family", "alice", "--fingerprint", fingerprint(OWNER.public_key), phrase="bob phrase"
    )
    assert code == 0 and fingerprint(OWNER.public_key) in out
    data = json.loads(_pb(home, "read", "family", "--json", phrase="bob phrase")[1])
    assert [m["trust"] for m in data["messages"]] == ["pinned", "changed", "rotated", "pinned"]


def _on_terminal(args: list[str], env: dict[str, str], answers: list[tuple[str, str]]) -> tuple[int, str]:
    """Run pbridge on a pseudo-terminal of its own, typing each answer once its prompt shows."""
    import pty
    import select

    from test_cli import PBRIDGE

    assert PBRIDGE
    base = {k: v for k, v in os.environ.items() if not k.startswith("PBRIDGE_")}
    pid, fd = pty.fork()
    if pid == 0:  # the child: pbridge, with the terminal as its controlling one
        os.execve(PBRIDGE, [PBRIDGE, *args], {**base, **env})
    seen, start = b"", 0
    pending = list(answers)
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        assert ready, f"no output for 60 s; so far: {seen.decode(errors='replace')}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if pending and pending[0][0].encode() in seen[start:]:
            start = seen.index(pending[0][0].encode(), start) + len(pending[0][0])
            os.write(fd, pending.pop(0)[1].encode() + b"\r")
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    assert not pending, f"prompts never shown: {pending}"
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


def test_identity_rotate_on_a_terminal_asks_each_chats_secret_and_skips_on_enter(tmp_path: Path) -> None:
    home, shared = tmp_path / "home", tmp_path / "shared"
    shared.mkdir()
    one, two = "alice's first master phrase of the tests", "alice's second master phrase of the tests"
    assert _pb(home, "init", "--username", "alice", phrase=one)[0] == 0
    assert _pb(home, "carrier", "add", "shared", "--type", "files", "--path", str(shared), phrase=one)[0] == 0
    assert _pb(home, "chat", "create", "Family", "--carrier", "shared", phrase=one)[0] == 0
    assert _pb(home, "chat", "create", "Work", "--carrier", "shared", phrase=one, secret=WORK)[0] == 0
    env = {"PBRIDGE_MASTER_PHRASE": one, "PBRIDGE_NEW_MASTER_PHRASE": two}
    answers = [("Secret of chat 'Family'", SECRET), ("Secret of chat 'Work'", "")]
    code, out = _on_terminal(["--home", str(home), "identity", "rotate"], env, answers)
    assert code == 0, out
    assert "queued the rotation notice in 'Family'; posted 1" in out
    assert "rotation notices wait in 1 chat(s) ('Work')" in out
