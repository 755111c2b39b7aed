"""The local XMPP gateway (issue 23): ``pbridge gateway xmpp`` as a component of a real
Prosody on 127.0.0.1, Alice's Jabber client a real slixmpp client, Bob's side the CLI over
a files carrier they share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass
class _Running:
    gateway: subprocess.Popen[str]
    lines: list[str]  # the gateway's stderr
    alice: JabberClient  # logged in, the chat Family a contact of hers, online


@contextmanager
def _alice_in_her_client(tmp_path: Path, shared: Path, prosody: XmppServer) -> Iterator[_Running]:
    """Alice's and Bob's homes sharing chat Family on a files carrier, Alice's gateway up
    and her Jabber client logged in with the chat as a contact; afterwards the client is
    logged out and the gateway ended (asserted to end well)."""
    alice_home, bob_home = make_home(tmp_path, "alice", shared), make_home(tmp_path, "bob", shared)
    with_chat(alice_home, "alice")
    with_chat(bob_home, "bob")
    gateway = _gateway((tmp_path / "alice"), prosody, _secret_file(tmp_path, prosody.component_secret))
    lines = collect_lines(gateway)
    alice = None
    try:
        wait_for(lambda: any("gateway ready" in line for line in lines) or gateway.poll() is not None, "gateway up")
        assert gateway.poll() is None, lines
        assert f"chat 'Family': {FAMILY}" in lines
        alice = JabberClient("alice@localhost", "alice password", prosody.c2s_port)
        alice.subscribe(FAMILY)  # the chat as a contact: the gateway grants it and shows it online
        wait_for(lambda: (FAMILY, "available") in alice.presences, "the chat online in Alice's client")
        yield _Running(gateway, lines, alice)
    finally:
        if alice is not None:
            alice.close()
        gateway.terminate()
        gateway.wait(30)
    assert gateway.returncode == 0, lines
    assert lines[-1] == "gateway stopped: every key is forgotten"


def _bob_reads(tmp_path: Path) -> str:
    fetched = _pbridge((tmp_path / "bob"), "poll")
    assert fetched.returncode == 0, fetched.stderr
    done = _pbridge((tmp_path / "bob"), "read", "Family")
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bob_and_alice_talk_through_alices_own_jabber_client(tmp_path: Path, shared: Path, prosody: XmppServer) -> None:
    mallory = None
    with _alice_in_her_client(tmp_path, shared, prosody) as running:
        alice = running.alice
        try:
            # Bob writes from his CLI: it lands in Alice's Jabber client, decrypted, with his name.
            sent = _pbridge((tmp_path / "bob"), "send", "Family", stdin=FROM_BOB)
            assert sent.returncode == 0, sent.stderr
            wait_for(lambda: any(FROM_BOB in m.body for m in alice.messages), "Bob's message in Alice's client")
            (got,) = [m for m in alice.messages if FROM_BOB in m.body]
            assert got.sender == FAMILY and got.kind == "chat" and "bob (new key): " in got.body
            assert got.hints == {"no-store", "no-permanent-store", "no-copy"} and got.unstyled

            # Alice answers in her client: Bob's read shows it, sealed by her key.
            alice.say(FAMILY, FROM_ALICE)
            reads: list[str] = []
            wait_for(
                lambda: reads.append(_bob_reads(tmp_path)) or FROM_ALICE in reads[-1], "Alice's reply in Bob's read"
            )
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
                    "/history" not in m.body
                    and "let me in" not in m.body
                    and FROM_BOB in m.body
                    and FROM_ALICE in m.body
                    for m in alice.messages
                ),
                "the history",
            )
            assert "let me in" not in _bob_reads(tmp_path)
        finally:
            if mallory is not None:
                mallory.close()

    # Nothing secret or plain was written by Prosody or by the gateway's home.
    prosody.stop()
    written = list(_every_file(prosody.data, (tmp_path / "alice")))
    assert any(path.name.endswith(".dat") for path, _ in written)  # Prosody did write its files
    for needle in (FROM_BOB, FROM_ALICE, SECRET, PHRASES["alice"], "let me in"):
        for path, data in written:
            assert needle.encode() not in data, (needle, path)


def _bob_messages(tmp_path: Path) -> list[dict[str, Any]]:
    fetched = _pbridge((tmp_path / "bob"), "poll")
    assert fetched.returncode == 0, fetched.stderr
    done = _pbridge((tmp_path / "bob"), "read", "Family", "--json")
    assert done.returncode == 0, done.stderr
    messages: list[dict[str, Any]] = json.loads(done.stdout)["messages"]
    return messages


def test_replies_corrections_and_retractions_go_both_ways(tmp_path: Path, shared: Path, prosody: XmppServer) -> None:
    bob = tmp_path / "bob"
    with _alice_in_her_client(tmp_path, shared, prosody) as running:
        alice = running.alice
        features = alice.features(FAMILY)
        assert {"urn:xmpp:message-correct:0", "urn:xmpp:message-retract:1", "urn:xmpp:reply:0"} <= features

        # Bob's message reaches Alice's client with an id that names it (and an origin-id, the same).
        assert _pbridge(bob, "send", "Family", stdin=FROM_BOB).returncode == 0
        wait_for(lambda: any(FROM_BOB in m.body for m in alice.messages), "Bob's message in Alice's client")
        (got,) = [m for m in alice.messages if FROM_BOB in m.body]
        (bobs,) = _bob_messages(tmp_path)
        assert got.id == got.origin_id == f"pb-{bobs['id']}"

        # From Alice's client: a reply to it (the quote a fallback), a message corrected, one
        # retracted, one retracted in the older fastened form.
        answer = alice.reply(FAMILY, got.id, FROM_ALICE, FROM_BOB, "bob")
        typo = alice.say(FAMILY, "see you on Sunday")
        alice.correct(FAMILY, typo, "see you on Saturday")
        alice.retract(FAMILY, alice.say(FAMILY, "the code is 1234"))
        older = alice.say(FAMILY, "the code is 5678")
        alice.retract_fastened(FAMILY, older)
        views: list[list[dict[str, Any]]] = []

        def all_of_alices_arrived() -> bool:
            views.append([m for m in _bob_messages(tmp_path) if m["username"] == "alice"])
            return sum(m["deleted"] for m in views[-1]) == 2 and any(m["edited"] for m in views[-1])

        wait_for(all_of_alices_arrived, "Alice's reply, correction and retractions in Bob's read", timeout=60)
        assert len(views[-1]) == 4, views[-1]  # the correction and retractions are no messages of their own
        (reply,) = [m for m in views[-1] if m["kind"] == "reply"]
        assert reply["reply_to"] == bobs["id"] and reply["body"] == FROM_ALICE and reply["quote"] == FROM_BOB
        (edited,) = [m for m in views[-1] if m["edited"]]
        assert edited["body"] == "see you on Saturday"
        assert all(m["body"] == "" for m in views[-1] if m["deleted"])

        # From Bob's CLI: an edit of his message is a correction of the one Alice's client showed.
        assert _pbridge(bob, "edit", "Family", bobs["id"], stdin="the tulips came up late").returncode == 0
        wait_for(lambda: any(m.replaces == got.id for m in alice.messages), "the correction in Alice's client")
        (fixed,) = [m for m in alice.messages if m.replaces]
        assert ": the tulips came up late (edited)  #" in fixed.body and fixed.id not in ("", got.id)

        # Bob's reply to Alice's reply names her client's id for it, his quote of it a fallback.
        assert _pbridge(bob, "send", "Family", "--reply-to", reply["id"], stdin="that one").returncode == 0
        wait_for(lambda: any(m.reply_to for m in alice.messages), "Bob's reply in Alice's client")
        (answered,) = [m for m in alice.messages if m.reply_to]
        assert answered.reply_to == answer and answered.reply_to_jid == "alice@localhost"
        assert answered.body.startswith(f"> alice:\n> {FROM_ALICE}\n[") and answered.body.endswith(answered.text)
        assert ": that one  #" in answered.text and FROM_ALICE not in answered.text

        # Alice correcting Bob's message, ids the gateway does not know or takes, an empty
        # correction: one line each, nothing sent.
        alice.correct(FAMILY, got.id, "I wrote this")
        alice.reply(FAMILY, "an-id-of-another-run", "hello?", "what", "who")
        alice.retract(FAMILY, "pb-" + "0" * 32)
        alice.correct(FAMILY, "x" * 500, "too long an id")
        alice.correct(FAMILY, typo, "  ")
        refusals = [
            "(cannot correct it: message ",
            "(cannot answer it: the gateway does not know the message your client names",
            "(cannot retract it: the gateway does not know the message your client names",
            "(the correction id your client gave is not one the gateway takes; nothing was sent)",
            "(cannot correct it: its text is empty (to take a message back, retract it)",
        ]
        wait_for(lambda: all(any(m.body.startswith(r) for m in alice.messages) for r in refusals), "the refusals")
        for start in refusals:
            (line,) = [m for m in alice.messages if m.body.startswith(start)]
            assert line.sender == FAMILY and "\n" not in line.body and line.body.endswith("nothing was sent)")
        (mine_only,) = [m for m in alice.messages if m.body.startswith(refusals[0])]
        assert "you can only edit your own messages" in mine_only.body

        # Bob deletes his message for everyone: a retraction of it, with a readable body.
        assert _pbridge(bob, "delete", "Family", bobs["id"], "--for-everyone").returncode == 0
        wait_for(lambda: any(m.retracts == got.id for m in alice.messages), "the retraction in Alice's client")
        (retraction,) = [m for m in alice.messages if m.retracts]
        assert ": (deleted by its sender)  #" in retraction.body
        after = _bob_messages(tmp_path)
        assert not {"I wrote this", "hello?", "too long an id"} & {m["body"] for m in after}
        assert [m["body"] for m in after if m["edited"]] == ["see you on Saturday"]  # not emptied
        assert not [m for m in after if m["kind"] in ("edit", "delete")]  # no refused change was sealed


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


def test_a_component_secret_reference_that_gives_none_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pointerbridge.gateway.errors import ComponentSecretError
    from pointerbridge.gateway.settings import read_component_secret

    monkeypatch.setenv("PBRIDGE_TEST_COMPONENT", "  s3cret \n")
    assert read_component_secret("PBRIDGE_TEST_COMPONENT", None) == "s3cret"
    monkeypatch.setenv("PBRIDGE_TEST_COMPONENT", " ")
    empty, binary, missing = tmp_path / "empty", tmp_path / "binary", tmp_path / "missing"
    empty.write_text("\n")
    binary.write_bytes(b"\xff\xfe")
    for path in (empty, binary):
        path.chmod(0o600)
    cases = [
        (("PBRIDGE_TEST_COMPONENT", None), "environment variable PBRIDGE_TEST_COMPONENT holds no component secret"),
        ((None, empty), f"{empty} holds no component secret"),
        ((None, binary), f"{binary} holds no component secret"),
        ((None, missing), f"cannot read {missing}: No such file or directory"),
        ((None, None), "give the component secret by reference: --secret-file or --secret-env"),
    ]
    for (env, path), said in cases:
        with pytest.raises(ComponentSecretError) as raised:
            read_component_secret(env, path)
        assert str(raised.value) == said
