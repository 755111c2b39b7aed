"""``pbridge chat verify|unverify|members`` between two homes over a files carrier (issue 24,
part 4): both compute one code, another key gives another, the verified mark shows in
``read``, a key change after it is the loudest warning, and nothing is marked verified
without a person answering at a terminal (or the code given back)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from test_cli import PBRIDGE
from test_local_app import CHAT_SECRET, PHRASES, ok, pb, setup_user

QR = set("█▀▄")  # segno's half blocks
CODE = re.compile(r"^ {4}(\d{5}  \d{5}  \d{5}  \d{5})$", re.MULTILINE)


def _code(out: str) -> str:
    """The safety code a ``chat verify`` printed (three rows of four groups)."""
    rows = CODE.findall(out)
    assert len(rows) == 3, out
    return " ".join(" ".join(row.split()) for row in rows)


def _at_a_terminal(home: Path, user: str, answer: str, *args: str) -> tuple[int, str, str]:
    """``pbridge --home home *args`` with a terminal for standard input, answering ``answer``
    to its question; stdout and stderr piped."""
    main, side = os.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBRIDGE_") or k == "PBRIDGE_IDENTITY_MEMORY_MIB"}
    env |= {"PBRIDGE_MASTER_PHRASE": PHRASES[user], "PBRIDGE_CHAT_SECRET": CHAT_SECRET}
    try:
        process = subprocess.Popen(
            [PBRIDGE, "--home", str(home), *args], stdin=side, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        os.close(side)
        os.write(main, answer.encode() + b"\n")  # the terminal keeps it until the question reads it
        out, err = process.communicate(timeout=120)
    finally:
        os.close(main)
    return process.returncode, out.decode(), err.decode()


def _line(home: Path, user: str, body: str) -> str:
    ok(home, user, "poll")
    (line,) = [
        text for text in ok(home, user, "read", "family").splitlines() if text.rsplit("  #", 1)[0].endswith(body)
    ]
    return line.split("] ", 1)[1].rsplit("  #", 1)[0]


def test_two_homes_verify_each_other_and_a_key_change_after_it_is_loudest(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, bob = (setup_user(tmp_path, u, shared) for u in ("alice", "bob"))
    ok(alice, "alice", "send", "family", "hello from alice")
    ok(bob, "bob", "send", "family", "hello from bob")
    ok(alice, "alice", "poll")
    assert _line(alice, "alice", "hello from bob") == "bob (new key): hello from bob"
    assert _line(bob, "bob", "hello from alice") == "alice (new key): hello from alice"

    # No terminal and no code given: the code is shown, nothing is marked (exit 80).
    shown = {user: pb(home, user, "chat", "verify", "family", other) for user, home, other in
             (("alice", alice, "bob"), ("bob", bob, "alice"))}  # fmt: skip
    for result in shown.values():
        assert result["rc"] == "80" and "not marked verified: no terminal" in result["err"], result
    assert _code(shown["alice"]["out"]) == _code(shown["bob"]["out"])  # one code on both sides
    code = _code(shown["alice"]["out"])
    assert not QR.intersection(shown["alice"]["out"])  # no QR code into a pipe unless asked
    asked = pb(alice, "alice", "chat", "verify", "family", "bob", "--qr")
    assert asked["rc"] == "80" and QR.intersection(asked["out"]) and _code(asked["out"]) == code
    assert _line(alice, "alice", "hello from bob") == "bob: hello from bob"  # trust on first use: no mark

    # The code given back must be the code of the key held now.
    wrong = pb(alice, "alice", "chat", "verify", "family", "bob", "--confirm-code", "1" * 60)
    assert wrong["rc"] == "79" and "nothing was marked verified" in wrong["err"]
    for missing in ("carol", "alice"):  # nobody of that name here; one's own name
        assert pb(alice, "alice", "chat", "verify", "family", missing)["rc"] == "78"

    # At a terminal, "n" marks nothing and fails (exit 81, one line), "y" marks bob's key verified.
    rc, out, err = _at_a_terminal(alice, "alice", "n", "chat", "verify", "family", "bob", "--no-qr")
    assert rc == 81 and _code(out) == code and "Does bob's code match? [y/N]" in err and "not marked verified" in err
    assert err.endswith(  # after the question (the answer's newline is echoed on the terminal, not here)
        "[y/N]: pbridge: not marked verified: the codes differ, so one of you does not hold the other's real key "
        "(someone may be between you): check in person again\n"
    )
    rc, out, err = _at_a_terminal(alice, "alice", "y", "chat", "verify", "family", "bob", "--qr")
    assert rc == 0 and QR.intersection(out) and "verified ✔" in err, err
    assert _line(alice, "alice", "hello from bob") == "bob ✔ verified: hello from bob"
    members = json.loads(ok(alice, "alice", "chat", "members", "family", "--json"))
    assert [(m["username"], m["trust"], m["you"]) for m in members] == [("alice", "pinned", True),
                                                                        ("bob", "verified", False)]  # fmt: skip
    assert "bob  ✔ verified  key " in ok(alice, "alice", "chat", "members", "family")
    # Bob confirms with the code he compared (no terminal): his pin of alice is verified too.
    assert "verified ✔" in pb(bob, "bob", "chat", "verify", "family", "alice", "--confirm-code", code)["err"]
    assert _line(bob, "bob", "hello from alice") == "alice ✔ verified: hello from alice"

    # Another home calling itself bob: another key, so another code; and alice's read is loudest.
    impostor = setup_user(tmp_path, "mallory", shared, username="bob")
    ok(impostor, "mallory", "send", "family", "it is bob: pay mallory 900 euros")
    ok(impostor, "mallory", "poll")
    ok(impostor, "mallory", "read", "family")  # pins alice's key there
    theirs = pb(impostor, "mallory", "chat", "verify", "family", "alice")
    assert theirs["rc"] == "80" and _code(theirs["out"]) != code
    loud = _line(alice, "alice", "pay mallory 900 euros")
    assert loud == (
        "bob !!! KEY CHANGED AFTER YOU VERIFIED IT IN PERSON: NOT THE KEY YOU CHECKED; someone else is using "
        "this name !!!: it is bob: pay mallory 900 euros"
    )
    read = json.loads(ok(alice, "alice", "read", "family", "--json"))["messages"]
    assert {m["body"]: m["trust"] for m in read}["it is bob: pay mallory 900 euros"] == "verified_changed"
    again = pb(alice, "alice", "chat", "verify", "family", "bob")  # still the code of the key verified
    assert _code(again["out"]) == code and again["rc"] == "0" and "verified already" in again["err"]

    # Taken back: ✓ again (no mark in plain output), and the impostor an ordinary changed key.
    assert "no longer verified" in ok(alice, "alice", "chat", "unverify", "family", "bob")
    assert "was not verified" in ok(alice, "alice", "chat", "unverify", "family", "bob")
    assert _line(alice, "alice", "hello from bob") == "bob: hello from bob"
    assert _line(alice, "alice", "pay mallory 900 euros").startswith(
        "bob !! KEY CHANGED: NOT VERIFIED AS THIS SENDER !!"
    )
