"""The real console in a real terminal: tmux runs a bare ``pbridge`` (which opens the
console on a terminal) for Alice, keys are typed with send-keys and the screen read with
capture-pane; Bob, in another home over the same folder, writes from the command line."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_helpers import PHRASES, SECRET, make_home, opened, with_chat
from helpers import debian_command
from test_cli import PBRIDGE, run


class Tmux:
    """One tmux server of its own (``-L``), one session, one window."""

    def __init__(self, binary: str, socket: str) -> None:
        self.binary, self.socket = binary, socket

    def __call__(self, *args: str) -> str:
        done = subprocess.run([self.binary, "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def type(self, text: str) -> None:
        self("send-keys", "-t", "pb", "-l", text)  # literally: no key names

    def press(self, *keys: str) -> None:
        self("send-keys", "-t", "pb", *keys)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "pb")

    def wait_for(self, text: str, seconds: float = 30.0) -> str:
        deadline = time.monotonic() + seconds
        while True:
            shown = self.screen()
            if text in shown:
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear within {seconds} s; the screen:\n{shown}")
            time.sleep(0.2)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    server = Tmux(debian_command("tmux", "tmux"), f"pbtest-{os.getpid()}")
    yield server
    subprocess.run([server.binary, "-L", server.socket, "kill-server"], capture_output=True, timeout=30)


def test_bobs_message_appears_in_alices_open_console(tmp_path: Path, tmux: Tmux) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    alice = make_home(tmp_path, "alice", shared, poll_every=3600)  # no background poll: the listener's
    bob = make_home(tmp_path, "bob", shared, poll_every=5)
    bob_home = str(tmp_path / "bob")
    with_chat(alice, "alice", bodies=("is anyone there",))
    with_chat(bob, "bob")  # Bob has the chat too; he writes from the command line
    assert PBRIDGE
    # No secret on the command line: the phrase and the chat secret are typed into the app.
    # Textual's debug switches would log every key (the secrets typed): the console drops them.
    clean = (
        f"cd {tmp_path} && env -u PBRIDGE_MASTER_PHRASE -u PBRIDGE_CHAT_SECRET TERM=xterm-256color "
        f"TEXTUAL_LOG={tmp_path / 'textual.log'} TEXTUAL_DEBUG=1 TEXTUAL=devtools"
    )
    command = f"{clean} {PBRIDGE} --home {tmp_path / 'alice'}"
    tmux("new-session", "-d", "-s", "pb", "-x", "120", "-y", "36", command)
    tmux.wait_for("Master phrase")
    tmux.type(PHRASES["alice"])
    tmux.press("Enter")
    tmux.wait_for("Family")
    tmux.press("Enter")
    tmux.wait_for("Chat secret")
    tmux.type(SECRET)
    tmux.press("Enter")
    tmux.wait_for("is anyone there")
    assert PHRASES["alice"] not in tmux.screen() and SECRET not in tmux.screen()

    sent = run(
        "--home",
        bob_home,
        "send",
        "family",
        stdin="hello alice from bob",
        env={"PBRIDGE_MASTER_PHRASE": PHRASES["bob"], "PBRIDGE_CHAT_SECRET": SECRET},
    )
    assert sent.returncode == 0, sent.stderr
    screen = tmux.wait_for("hello alice from bob")  # the files carrier's push brought it into the open chat
    assert "bob" in screen and "(live)" in screen

    tmux.type("hi bob, got it")
    tmux.press("Enter")
    tmux.wait_for("posted")
    read = run("--home", bob_home, "poll")
    assert read.returncode == 0, read.stderr
    history = run("--home", bob_home, "read", "family", env={"PBRIDGE_CHAT_SECRET": SECRET}, phrase=PHRASES["bob"])
    assert "alice: hi bob, got it" in history.stdout

    tmux.press("C-q")
    deadline = time.monotonic() + 10
    while (
        "pb"
        in subprocess.run(
            [tmux.binary, "-L", tmux.socket, "list-sessions"], capture_output=True, text=True, timeout=30
        ).stdout
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    gone = subprocess.run([tmux.binary, "-L", tmux.socket, "has-session", "-t", "pb"], capture_output=True, timeout=30)
    assert gone.returncode != 0, "ctrl+q did not end the console"
    assert not (tmp_path / "textual.log").exists() and not (tmp_path / "keys.log").exists()
    # Nothing typed or read in the console reached Alice's disk (store, WAL, config, anything).
    for path in (tmp_path / "alice").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (PHRASES["alice"], SECRET, "hi bob, got it", "hello alice from bob", "is anyone there"):
                assert secret.encode() not in data, (path, secret)


def test_a_chat_made_in_the_console_with_its_generated_secret_leaves_it_off_the_disk(
    tmp_path: Path, tmux: Tmux
) -> None:
    import re

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    make_home(tmp_path, "alice", shared)
    clean = f"cd {tmp_path} && env -u PBRIDGE_MASTER_PHRASE -u PBRIDGE_CHAT_SECRET TERM=xterm-256color"
    tmux("new-session", "-d", "-s", "pb", "-x", "120", "-y", "36", f"{clean} {PBRIDGE} --home {tmp_path / 'alice'}")
    tmux.wait_for("Master phrase")
    tmux.type(PHRASES["alice"])
    tmux.press("Enter")
    tmux.wait_for("No chats yet")
    tmux.press("n")
    screen = tmux.wait_for("(in the fields below")
    # The dialog wraps its labels (issue 17, item 18): six long words take two lines there.
    note = screen[screen.index("generated:") : screen.index("(in the fields below")]
    # Box and scrollbar glyphs (Unicode's block elements, U+2580-U+259F) are the screen's, not
    # the secret's: a scrollbar's thumb shown while the dialog lays out sat between two words once.
    words = re.sub("[\u2580-\u259f]", " ", note)
    found = re.search(r"generated: ((?:[a-z-]+ ){5}[a-z-]+)", " ".join(words.split()))
    assert found, screen
    generated = found.group(1)
    tmux.type("Family")
    # To the secret and its confirmation, as generated, the carriers, as offered, and submit: in one burst,
    # as a paste or a fast typist sends them (the form takes each Enter for the field it was meant for).
    tmux.press("Enter", "Enter", "Enter", "Enter")
    tmux.wait_for("Write a message")
    tmux.press("C-q")
    deadline = time.monotonic() + 10
    while (
        subprocess.run(
            [tmux.binary, "-L", tmux.socket, "has-session", "-t", "pb"], capture_output=True, timeout=30
        ).returncode
        == 0
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    from pointerbridge.home.config import Home

    with opened(Home.resolve(tmp_path / "alice")) as app:
        assert app.unlock_chat("Family", generated).current
    for path in (tmp_path / "alice").rglob("*"):
        if path.is_file():
            assert generated.encode() not in path.read_bytes(), path
