"""Live on CMD-CHAT: Bob's daemon holds his bot's login and hears Alice's message as the
server pushes it, with no poll; a post from another process meanwhile finds the name taken,
keeps the pointer in the outbox, and the daemon's own post job sends it over its login."""

from __future__ import annotations

from pathlib import Path

import pytest
from cmdchat_helpers import PASSWORD, server_fixture
from console_helpers import PHRASES, SECRET, chat_salt, opened, send
from helpers import running_daemon, wait_for
from pointerbridge.app.service import App
from pointerbridge.home.config import Home
from servers.cmdchat import CmdChatServer

server = server_fixture()


def _home(root: Path, user: str, server: CmdChatServer, poll_every: int) -> Home:
    secret = root / f"{user}-password"
    secret.write_text(PASSWORD)
    secret.chmod(0o600)
    home = Home.resolve(root / user)
    home.create()
    home.config_path.write_text(
        f'[carriers.cc]\ntype = "cmdchat"\nhost = "127.0.0.1"\nport = {server.port}\nusername = "{user}-bot"\n'
        f'password_file = "{secret}"\npoll_every = {poll_every}\n'
    )
    home.config_path.chmod(0o600)
    with App(home) as app:
        app.init(user, PHRASES[user], allow_weak=True)
        app.create_chat("Family", SECRET, ["cc"], salt=chat_salt("Family"))
    return home


def test_bobs_daemon_hears_alice_live_and_posts_what_another_process_could_not(
    tmp_path: Path, server: CmdChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PBRIDGE_IDENTITY_MEMORY_MIB", "64")
    alice, bob = _home(tmp_path, "alice", server, 60), _home(tmp_path, "bob", server, 5)
    with running_daemon(bob.config_dir, listening_to="cc", never_logged=("live, not polled",)) as lines:
        wait_for(lambda: "bob-bot" in server.usernames(), "the daemon's login")
        with opened(alice) as app:
            send(app, app.unlock_chat("Family", SECRET), "alice", ["live, not polled"])
        wait_for(lambda: any("cc: received 1 (live)" in line for line in lines), "bob's daemon hears it")
        with opened(bob) as app:  # another process while the daemon holds the name
            app.send(app.unlock_chat("Family", SECRET), app.unlock_identity(PHRASES["bob"]), "from the side")
            summary = app.poll(fetch=False)
            assert "connected already" in summary.errors["cc"] and "stays in the outbox" in summary.errors["cc"]
            assert "cc" not in summary.to_fix  # not a configuration to fix: retried
        with opened(bob) as app:
            wait_for(lambda: app.store.outbox("cc") == [], "the daemon's post job sends it")
        with opened(alice) as app:
            chat = app.unlock_chat("Family", SECRET)
            app.poll()
            assert [s.message.body for s in app.read(chat)[0]] == ["live, not polled", "from the side"]
        assert server.logins == 3  # the daemon's one login listened and posted; Alice's two
