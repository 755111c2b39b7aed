"""Chat rekey: a new secret for new pointers, older history readable with the old one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pointerbridge.app.service import App, StaleSecretError, UnlockedChat, WrongSecretError
from pointerbridge.core import Identity, InvalidInputError
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from test_cli import run

OLD = "the old chat secret 1"
NEW = "the new chat secret 2"


def _home(root: Path, user: str, shared: Path, salt: bytes | None = None) -> tuple[App, Identity, UnlockedChat]:
    """A home with chat Family; ``salt``: joined from the invite of a chat with that salt."""
    home = Home(root / user, root / user)
    home.create()
    carrier = CarrierConfig.model_validate({"type": "files", "path": str(shared)})
    save_config(home.config_path, Config(carriers={"shared": carrier}))
    app = App(home)
    identity = app.init(user, f"{user} phrase", allow_weak=True)
    return app, identity, app.create_chat("Family", OLD, ["shared"], salt=salt, allow_weak=True)


def _bodies(app: App, chat: UnlockedChat) -> list[str]:
    shown, refused = app.read(chat)
    assert refused == 0
    return [s.message.body for s in shown]


def test_rekey_reading_and_sending_across_secrets(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, alice_id, old_chat = _home(tmp_path, "alice", shared)
    bob, _, bob_old = _home(tmp_path, "bob", shared, salt=old_chat.key.salt)
    alice.send(old_chat, alice_id, "one, under the old secret")
    new_chat = alice.rekey_chat(old_chat, NEW, allow_weak=True)
    assert new_chat.current and len(new_chat.older) == 1
    alice.send(new_chat, alice_id, "two, under the new secret")
    alice.poll()

    with pytest.raises(StaleSecretError, match="was changed: unlock it with the current one"):
        alice.send(old_chat, alice_id, "stale")

    only_new = alice.unlock_chat("family", NEW)
    assert only_new.current and only_new.older == ()
    assert _bodies(alice, only_new) == ["two, under the new secret"]
    assert alice.locked_count(only_new) == 1  # under another secret, not refused

    only_old = alice.unlock_chat("family", OLD)
    assert not only_old.current
    assert _bodies(alice, only_old) == ["one, under the old secret"]
    assert alice.locked_count(only_old) == 1
    with pytest.raises(StaleSecretError):
        alice.send(only_old, alice_id, "stale")
    with pytest.raises(StaleSecretError):
        alice.rekey_chat(only_old, "a third secret", allow_weak=True)

    both = alice.add_secret(only_old, NEW)  # the current one: it becomes the sending key
    assert both.current and both.older[0] is only_old.key
    assert _bodies(alice, both) == ["one, under the old secret", "two, under the new secret"]
    assert alice.locked_count(both) == 0
    assert alice.add_secret(both, OLD) is both  # unlocked already
    with pytest.raises(WrongSecretError):
        alice.add_secret(both, "never this chat's")
    with pytest.raises(InvalidInputError, match="had that secret before"):
        alice.rekey_chat(both, OLD, allow_weak=True)

    bob.poll()  # bob has not rekeyed: the old history reads, the new pointer is not his yet
    assert _bodies(bob, bob_old) == ["one, under the old secret"]
    assert bob.locked_count(bob_old) == 0 and bob.store.counts()["unrouted"] == 1
    bob_new = bob.rekey_chat(bob_old, NEW, salt=new_chat.key.salt)  # the new secret told, the new invite shared
    assert _bodies(bob, bob_new) == ["one, under the old secret", "two, under the new secret"]
    assert bob.store.counts()["unrouted"] == 0  # routed to the chat once the new key was unlocked
    shown, _ = bob.read(bob_new)
    assert [s.trust for s in shown] == ["pinned", "pinned"]  # pinned under the old secret: one pin per chat
    alice.close()
    bob.close()


def test_trash_and_purge_work_across_secrets(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, alice_id, old_chat = _home(tmp_path, "alice", shared)
    alice.send(old_chat, alice_id, "old")
    chat = alice.rekey_chat(old_chat, NEW, allow_weak=True)
    alice.send(chat, alice_id, "new")
    shown, _ = alice.read(chat)
    old_id = next(s.message.id for s in shown if s.message.body == "old")
    assert alice.set_trashed(chat, [old_id], True) == (1, 1)  # one message, one pointer
    assert _bodies(alice, chat) == ["new"]
    assert [s.message.body for s in alice.read(chat, trash_only=True)[0]] == ["old"]
    assert alice.purge(chat, [old_id]) == (1, 1)
    assert [s.message.body for s in alice.read(chat, include_trash=True)[0]] == ["new"]
    alice.close()


CLI_PHRASE = {"PBRIDGE_MASTER_PHRASE": "cli phrase"}


def _pb(home: Path, *args: str, secret: str = OLD, new: str | None = None, stdin: str = "") -> tuple[int, str, str]:
    env = {"PBRIDGE_MASTER_PHRASE": "cli phrase", "PBRIDGE_CHAT_SECRET": secret}
    if new is not None:
        env["PBRIDGE_NEW_CHAT_SECRET"] = new
    result = run("--home", str(home), *args, env=dict(env), stdin=stdin)
    return result.returncode, result.stdout, result.stderr


def _family_home(tmp_path: Path) -> Path:
    """Alice's home: chat family (on a files carrier) with "before" queued under its secret."""
    home = tmp_path / "home"
    shared = tmp_path / "shared"
    shared.mkdir()
    assert _pb(home, "init", "--username", "alice", "--weak-secret-ok")[0] == 0
    assert _pb(home, "carrier", "add", "shared", "--type", "files", "--path", str(shared))[0] == 0
    assert _pb(home, "chat", "create", "Family", "--carrier", "shared", "--weak-secret-ok")[0] == 0
    assert _pb(home, "send", "family", "--queue", stdin="before")[0] == 0
    return home


def test_chat_rekey_on_the_command_line(tmp_path: Path) -> None:
    home = _family_home(tmp_path)

    code, _, err = _pb(home, "chat", "rekey", "family", "--weak-secret-ok", secret="not the secret", new=NEW)
    assert code == 5 and "wrong secret" in err and err.count("\n") == 1
    code, out, err = _pb(home, "chat", "rekey", "family", "--weak-secret-ok", new=NEW)
    assert code == 0 and "new pointers use the new secret" in out
    assert "members who have not rekeyed yet see nothing you send" in err  # issue 17, item 16
    code, _, err = _pb(home, "chat", "rekey", "family", "--weak-secret-ok", new="another one")  # OLD: not current
    assert code == 29 and "unlock it with the current one" in err
    code, _, err = _pb(home, "chat", "rekey", "family", "--weak-secret-ok", secret=NEW, new=OLD)
    assert code == 3 and "had that secret before" in err
    code, _, err = _pb(home, "send", "family", "--queue", stdin="stale")
    assert code == 29 and err.count("\n") == 1
    assert _pb(home, "send", "family", "--queue", stdin="after", secret=NEW)[0] == 0

    code, out, err = _pb(home, "read", "family", secret=NEW)
    assert code == 0 and "after" in out and "before" not in out
    assert "1 pointer(s) of this chat are under another of its secrets" in err
    data = json.loads(_pb(home, "read", "family", "--json")[1])
    assert [m["body"] for m in data["messages"]] == ["before"]
    assert (data["refused"], data["other_secret"]) == (0, 1)
    # A new secret passed by file descriptor, as scripts without the environment do.
    import os

    read_end, write_end = os.pipe()
    os.write(write_end, b"third secret\n")
    os.close(write_end)
    result = run(
        "--home",
        str(home),
        "chat",
        "rekey",
        "family",
        "--weak-secret-ok",
        "--new-secret-fd",
        str(read_end),
        env={"PBRIDGE_MASTER_PHRASE": "cli phrase", "PBRIDGE_CHAT_SECRET": NEW},
        pass_fds=(read_end,),
    )
    os.close(read_end)
    assert result.returncode == 0, result.stderr


def _secret_fd(secret: str) -> int:
    """A pipe's read end holding ``secret``, as a script passes one (never argv)."""
    import os

    read_end, write_end = os.pipe()
    os.write(write_end, secret.encode() + b"\n")
    os.close(write_end)
    return read_end


def _rekeyed_home(tmp_path: Path) -> Path:
    """Alice's home: chat family with "before" under OLD and "after" under NEW."""
    home = _family_home(tmp_path)
    assert _pb(home, "chat", "rekey", "family", "--weak-secret-ok", new=NEW)[0] == 0
    assert _pb(home, "send", "family", "--queue", stdin="after", secret=NEW)[0] == 0
    return home


def _read_with_fds(home: Path, *secrets: str, extra: tuple[str, ...] = ()) -> tuple[int, str, str]:
    import os

    fds = tuple(_secret_fd(s) for s in secrets)
    try:
        options = [arg for fd in fds for arg in ("--secret-fd", str(fd))]
        result = run("--home", str(home), "read", "family", *options, *extra, pass_fds=fds, phrase="cli phrase")
    finally:
        for fd in fds:
            os.close(fd)
    return result.returncode, result.stdout, result.stderr


def test_read_shows_the_history_under_every_secret_given_at_once(tmp_path: Path) -> None:
    # Issue 17, item 16: one read, one --secret-fd per secret, in any order.
    home = _rekeyed_home(tmp_path)
    code, out, err = _read_with_fds(home, NEW, OLD)
    assert code == 0, err
    assert "before" in out and "after" in out and out.index("before") < out.index("after")
    assert "under another of its secrets" not in err
    code, out, err = _read_with_fds(home, OLD, NEW, extra=("--json",))
    data = json.loads(out)
    assert [m["body"] for m in data["messages"]] == ["before", "after"] and data["other_secret"] == 0
    code, _, err = _read_with_fds(home, NEW, "never this chat's")
    assert code == 5 and "wrong secret" in err and err.count("\n") == 1
    # One secret alone: the note names the way to see everything.
    code, out, err = _pb(home, "read", "family", secret=NEW)
    assert code == 0 and "before" not in out and "--all-secrets" in err
    # --all-secrets with nothing left to ask for reads as it is; with no terminal to ask on,
    # the secrets still missing are refused, not skipped in silence.
    assert _read_with_fds(home, NEW, OLD, extra=("--all-secrets",))[0] == 0
    code, out, err = _pb(home, "read", "family", "--all-secrets", secret=NEW)
    assert code == 4 and out == "" and err.count("\n") == 1
    assert "1 pointer(s) of chat 'Family' are under another of its secrets" in err and "--secret-fd" in err


def test_read_asks_for_the_other_secrets_in_turn_and_rekey_warns_first(tmp_path: Path) -> None:
    from test_secret_policy import Terminal

    home = _rekeyed_home(tmp_path)
    term = Terminal(
        "--home", str(home), "read", "family", "--all-secrets", env={"PBRIDGE_CHAT_SECRET": NEW, **CLI_PHRASE}
    )
    term.expect("Another secret of chat 'Family'")
    term.send(OLD)
    assert term.finish() == 0, term.seen
    assert "before" in term.seen and "after" in term.seen and OLD not in term.seen
    assert "under another of its secrets" not in term.seen
    skipped = Terminal(
        "--home", str(home), "read", "family", "--all-secrets", env={"PBRIDGE_CHAT_SECRET": OLD, **CLI_PHRASE}
    )
    skipped.expect("Another secret of chat 'Family'")
    skipped.send("")  # empty: stop asking, show what opens
    assert skipped.finish() == 0, skipped.seen
    assert "before" in skipped.seen and "after" not in skipped.seen and "under another of its secrets" in skipped.seen

    # Rekeying says, before the new secret is asked for, what the others will miss.
    rekey = Terminal("--home", str(home), "chat", "rekey", "family", env={"PBRIDGE_CHAT_SECRET": NEW, **CLI_PHRASE})
    screen = rekey.expect("Press Enter to use it")
    warning = "members who have not rekeyed yet see nothing you send until they rekey too"
    assert warning in screen.replace("\r\n", " ").replace("\n", " ")
    assert screen.index("see nothing you send") < screen.index("A generated new chat secret")
    rekey.send("")
    assert rekey.finish() == 0, rekey.seen
