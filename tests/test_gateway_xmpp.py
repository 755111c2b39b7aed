"""The local XMPP gateway (issue 23): ``pbridge gateway xmpp`` as a component of a real
Prosody on 127.0.0.1, Alice's Jabber client a real slixmpp client, Bob's side the CLI over
a files carrier they share."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_helpers import PHRASES, SECRET, make_home, with_chat
from helpers import collect_lines, wait_for
from jabber_client import JabberClient
from servers.prosody import XmppServer

COMPONENT = "pbridge.localhost"
FAMILY = f"family@{COMPONENT}"
FROM_BOB = "the tulips came up early this year"
FROM_ALICE = "lovely, send me a photo of the mill"
PBRIDGE = str(Path(sys.executable).parent / "pbridge")


def _pbridge(home: Path, *args: str, stdin: str = "", user: str = "bob") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PBRIDGE_MASTER_PHRASE": PHRASES[user], "PBRIDGE_CHAT_SECRET": SECRET}
    return subprocess.run(
        [PBRIDGE, "--home", str(home), *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def prosody() -> Iterator[XmppServer]:
    """A Prosody of the test's own set up as deploy/prosody/pbridge-gateway.cfg.lua
    advises: no offline store and no archive of the users' own messages."""
    with XmppServer(component=COMPONENT, offline=False) as server:
        for user in ("alice", "mallory"):
            server.register(user, f"{user} password")
        yield server


def _secret_file(tmp_path: Path, secret: str) -> Path:
    path = tmp_path / "component.secret"
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return path


def _gateway(home: Path, server: XmppServer, secret_file: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PBRIDGE_MASTER_PHRASE": PHRASES["alice"], "PBRIDGE_CHAT_SECRET": SECRET}
    return subprocess.Popen(
        [
            PBRIDGE,
            "--home",
            str(home),
            "gateway",
            "xmpp",
            "--server",
            f"127.0.0.1:{server.component_port}",
            "--domain",
            COMPONENT,
            "--user",
            "alice@localhost",
            "--secret-file",
            str(secret_file),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _every_file(*folders: Path) -> Iterator[tuple[Path, bytes]]:
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                yield path, path.read_bytes()


def test_bob_and_alice_talk_through_alices_own_jabber_client(tmp_path: Path, shared: Path, prosody: XmppServer) -> None:
    alice_home, bob_home = make_home(tmp_path, "alice", shared), make_home(tmp_path, "bob", shared)
    with_chat(alice_home, "alice")
    with_chat(bob_home, "bob")
    gateway = _gateway((tmp_path / "alice"), prosody, _secret_file(tmp_path, prosody.component_secret))
    lines = collect_lines(gateway)
    alice = mallory = None
    try:
        wait_for(lambda: any("gateway ready" in line for line in lines) or gateway.poll() is not None, "gateway up")
        assert gateway.poll() is None, lines
        assert f"chat 'Family': {FAMILY}" in lines
        alice = JabberClient("alice@localhost", "alice password", prosody.c2s_port)
        alice.subscribe(FAMILY)  # the chat as a contact: the gateway grants it and shows it online
        wait_for(lambda: (FAMILY, "available") in alice.presences, "the chat online in Alice's client")

        # Bob writes from his CLI: it lands in Alice's Jabber client, decrypted, with his name.
        sent = _pbridge((tmp_path / "bob"), "send", "Family", stdin=FROM_BOB)
        assert sent.returncode == 0, sent.stderr
        wait_for(lambda: any(FROM_BOB in m.body for m in alice.messages), "Bob's message in Alice's client")
        (got,) = [m for m in alice.messages if FROM_BOB in m.body]
        assert got.sender == FAMILY and got.kind == "chat" and "bob (new key): " in got.body
        assert got.hints == {"no-store", "no-permanent-store", "no-copy"} and got.unstyled

        # Alice answers in her client: Bob's read shows it, sealed by her key.
        alice.say(FAMILY, FROM_ALICE)

        def bob_read() -> str:
            fetched = _pbridge((tmp_path / "bob"), "poll")
            assert fetched.returncode == 0, fetched.stderr
            done = _pbridge((tmp_path / "bob"), "read", "Family")
            assert done.returncode == 0, done.stderr
            return done.stdout

        reads: list[str] = []
        wait_for(lambda: reads.append(bob_read()) or FROM_ALICE in reads[-1], "Alice's reply in Bob's read")
        assert f"alice (new key): {FROM_ALICE}" in reads[-1]  # her key, first seen: pinned from now on
        assert not any(FROM_ALICE in m.body for m in alice.messages)  # her own words are not echoed back

        # A stranger on the same server is refused, and nothing of theirs is sealed.
        mallory = JabberClient("mallory@localhost", "mallory password", prosody.c2s_port)
        mallory.say(FAMILY, "let me in")
        wait_for(lambda: any(m.kind == "error" for m in mallory.messages), "the stranger refused")
        (refused,) = [m for m in mallory.messages if m.kind == "error"]
        assert refused.sender == FAMILY and refused.error == "not-allowed"
        mallory.subscribe(FAMILY)
        wait_for(lambda: (FAMILY, "unsubscribed") in mallory.presences, "the stranger's request refused")
        alice.say(FAMILY, "/history 5")  # what the gateway has sealed so far: Alice's one message
        wait_for(
            lambda: any(
                "/history" not in m.body and "let me in" not in m.body and FROM_BOB in m.body and FROM_ALICE in m.body
                for m in alice.messages
            ),
            "the history",
        )
        assert "let me in" not in bob_read()
    finally:
        for client in (alice, mallory):
            if client is not None:
                client.close()
        gateway.terminate()
        gateway.wait(30)
    assert gateway.returncode == 0, lines
    assert lines[-1] == "gateway stopped: every key is forgotten"

    # Nothing secret or plain was written by Prosody or by the gateway's home.
    prosody.stop()
    written = list(_every_file(prosody.data, (tmp_path / "alice")))
    assert any(path.name.endswith(".dat") for path, _ in written)  # Prosody did write its files
    for needle in (FROM_BOB, FROM_ALICE, SECRET, PHRASES["alice"], "let me in"):
        for path, data in written:
            assert needle.encode() not in data, (needle, path)


def test_a_wrong_component_secret_and_no_server_are_one_line_each(tmp_path: Path, prosody: XmppServer) -> None:
    home = make_home(tmp_path, "alice", tmp_path / "shared")
    with_chat(home, "alice")
    wrong = _gateway((tmp_path / "alice"), prosody, _secret_file(tmp_path, "not the secret"))
    _, err = wrong.communicate(timeout=60)
    assert wrong.returncode == 71, err
    assert err.startswith(f"pbridge: the XMPP server refused component {COMPONENT} (not-authorized)")
    assert err.count("\n") == 1
    prosody.stop()
    gone = _gateway((tmp_path / "alice"), prosody, _secret_file(tmp_path, prosody.component_secret))
    _, err = gone.communicate(timeout=60)
    assert gone.returncode == 72 and err.startswith("pbridge: cannot connect to the XMPP server at 127.0.0.1:"), err
    assert err.count("\n") == 1


def test_the_component_secret_is_taken_by_reference_only(tmp_path: Path, prosody: XmppServer) -> None:
    home = make_home(tmp_path, "alice", tmp_path / "shared")
    with_chat(home, "alice")
    loose = _secret_file(tmp_path, prosody.component_secret)
    loose.chmod(0o644)
    done = _gateway((tmp_path / "alice"), prosody, loose)
    _, err = done.communicate(timeout=60)
    assert done.returncode == 73 and err == f"pbridge: {loose} must be readable by you only (chmod 600)\n"
    remote = _pbridge(
        (tmp_path / "alice"),
        "gateway",
        "xmpp",
        "--server",
        "192.0.2.1:5347",
        "--domain",
        COMPONENT,
        "--user",
        "alice@localhost",
        "--secret-env",
        "X",
        user="alice",
    )
    assert remote.returncode == 3 and "not on this machine" in remote.stderr


@pytest.mark.parametrize(
    ("server", "user", "said"),
    [
        ("127.0.0.1", "alice@localhost", "--server '127.0.0.1': give HOST:PORT"),
        ("127.0.0.1:70000", "alice@localhost", "--server '127.0.0.1:70000': give HOST:PORT"),
        ("[::1]:5347", "alice", "--user 'alice': give your bare JID, user@server"),
        ("localhost:5347", "alice@localhost/phone", "--user 'alice@localhost/phone': give your bare JID"),
        ("localhost:5347", "al ice@localhost", "--user 'al ice@localhost' is not a JID"),
    ],
)
def test_a_bad_server_or_user_is_one_line_before_anything_is_unlocked(
    tmp_path: Path, server: str, user: str, said: str
) -> None:
    make_home(tmp_path, "alice", tmp_path / "shared", init=False)
    args = ("gateway", "xmpp", "--server", server, "--domain", COMPONENT, "--user", user, "--secret-env", "X")
    done = _pbridge(tmp_path / "alice", *args, user="alice")
    assert done.returncode == 3 and done.stderr.startswith(f"pbridge: {said}"), done.stderr
    assert done.stderr.count("\n") == 1
