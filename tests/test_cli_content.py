"""pb2 through the app (issue 21): replies, edits, deletes, forgeries, gaps and replays,
end to end through the CLI, two homes over a files carrier."""

from __future__ import annotations

import json
import sqlite3
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from helpers import raw_identity
from pointerbridge.core.content import Edit, Text
from pointerbridge.core.keys import ChatKey
from pointerbridge.core.pointer import seal
from pointerbridge.core.pointer2 import new_stream, seal_content
from test_local_app import CHAT_SECRET, ok, pb, setup_user

_files = count(1)


def _drop(shared: Path, *pointers: str) -> None:
    """Put pointers in the shared folder as another member's device would."""
    for pointer in pointers:
        (shared / f"{90_000_000_000_000_000_000 + next(_files):020d}-x.pb").write_text(pointer)


def _read(home: Path, user: str) -> dict[str, Any]:
    ok(home, user, "poll")
    data: dict[str, Any] = json.loads(ok(home, user, "read", "family", "--json"))
    return data


def _by_body(data: dict[str, Any], body: str) -> dict[str, Any]:
    (found,) = [m for m in data["messages"] if m["body"] == body]
    return found


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("content")
    shared = root / "shared"
    shared.mkdir()
    homes = {u: setup_user(root, u, shared) for u in ("alice", "bob")}
    return {"shared": shared, "key": ChatKey.derive_open("family", CHAT_SECRET), **homes}


def test_reply_edit_and_delete_show_right_on_the_other_side(chat: dict[str, Any]) -> None:
    alice, bob = chat["alice"], chat["bob"]
    ok(alice, "alice", "send", "family", stdin="hello bob\nsecond line")
    ok(alice, "alice", "send", "family", stdin="a typo")
    ok(alice, "alice", "send", "family", stdin="take this back")
    seen = _read(bob, "bob")
    hello, typo, back = (_by_body(seen, b)["id"] for b in ("hello bob\nsecond line", "a typo", "take this back"))
    assert f"#{hello[:8]}" in ok(bob, "bob", "read", "family")  # plain read shows the ids these commands take

    ok(bob, "bob", "send", "family", "--reply-to", hello[:10], stdin="hi alice")
    ok(alice, "alice", "edit", "family", typo[:10], stdin="no typo")
    ok(alice, "alice", "delete", "family", back[:10], "--for-everyone")
    ok(alice, "alice", "poll")

    seen = _read(bob, "bob")
    reply = _by_body(seen, "hi alice")
    assert (reply["kind"], reply["reply_to"], reply["quote"], reply["quote_from"]) == (
        "reply",
        hello,
        "hello bob",
        "alice",
    )
    edited = _by_body(seen, "no typo")
    assert (edited["id"], edited["edited"], edited["deleted"]) == (typo, True, False)
    gone = next(m for m in seen["messages"] if m["id"] == back)
    assert (gone["deleted"], gone["body"]) == (True, "")
    assert not any(m["kind"] in ("edit", "delete") for m in seen["messages"])  # applied, not lines of their own
    assert seen["gaps"] == [] and not any(m["forged"] or m["replayed"] for m in seen["messages"])
    plain = ok(bob, "bob", "read", "family")
    assert "no typo (edited)" in plain and "(deleted by its sender)" in plain and "take this back" not in plain
    assert '(reply to "hello bob") hi alice' in plain
    # alice sees bob's reply quoting her message too
    assert _by_body(_read(alice, "alice"), "hi alice")["quote"] == "hello bob"


def test_edits_and_deletes_that_cannot_be_sent_are_refused_before_sending(chat: dict[str, Any]) -> None:
    alice, bob = chat["alice"], chat["bob"]
    ok(alice, "alice", "send", "family", stdin="alice's own words")
    seen = _read(bob, "bob")
    theirs = _by_body(seen, "alice's own words")["id"]
    outbox = len(list(chat["shared"].iterdir()))
    refused = pb(bob, "bob", "edit", "family", theirs[:10], stdin="bob's words")
    assert refused["rc"] == "55" and "your own messages" in refused["err"]
    refused = pb(bob, "bob", "delete", "family", theirs[:10], "--for-everyone")
    assert refused["rc"] == "55"
    assert pb(bob, "bob", "edit", "family", "ffffffffff", stdin="x")["rc"] == "54"
    assert pb(bob, "bob", "send", "family", "--reply-to", "ffffffffff", stdin="x")["rc"] == "54"
    deleted = next(m for m in seen["messages"] if m["deleted"])["id"]
    assert pb(alice, "alice", "delete", "family", deleted[:10], "--for-everyone")["rc"] == "56"
    assert len(list(chat["shared"].iterdir())) == outbox  # nothing was sent
    # without --for-everyone: this home's trash, as before
    ok(bob, "bob", "delete", "family", theirs[:10])
    assert theirs not in ok(bob, "bob", "read", "family", "--json")
    assert theirs in ok(bob, "bob", "read", "family", "--trash", "--json")


def test_an_empty_or_blank_text_is_refused_and_nothing_is_sent(chat: dict[str, Any], tmp_path: Path) -> None:
    alice, shared = chat["alice"], chat["shared"]
    ok(alice, "alice", "send", "family", stdin="mine to edit")
    mine = _by_body(_read(alice, "alice"), "mine to edit")["id"]
    outbox, shown = sorted(shared.iterdir()), len(_read(alice, "alice")["messages"])
    for args, stdin in (
        (("send", "family"), ""),
        (("send", "family"), " \n\t\n"),
        (("send", "family", "-", "--lines"), "\n  \n"),
        (("send", "family", "--reply-to", mine[:10]), "\n"),
        (("edit", "family", mine[:10]), ""),
        (("edit", "family", mine[:10]), "   "),
    ):
        refused = pb(alice, "alice", *args, stdin=stdin)
        assert refused["rc"] == "63", (args, refused)
        assert refused["err"].strip() == "pbridge: nothing to send: the text is empty or only whitespace", refused
    assert pb(alice, "alice", "send", "family", "")["rc"] == "63"  # nor as TEXT
    assert sorted(shared.iterdir()) == outbox  # nothing was sent
    seen = _read(alice, "alice")  # nor sealed into alice's own store
    assert len(seen["messages"]) == shown and _by_body(seen, "mine to edit")["edited"] is False
    photo = tmp_path / "a.bin"
    photo.write_bytes(b"a file needs no caption")
    ok(alice, "alice", "send", "family", "--file", str(photo), "--caption", "")
    assert len(list(shared.iterdir())) > len(outbox)


def test_a_forged_edit_of_another_members_message_is_flagged(chat: dict[str, Any]) -> None:
    alice, bob = chat["alice"], chat["bob"]
    ok(alice, "alice", "send", "family", stdin="meet at noon")
    target = _by_body(_read(bob, "bob"), "meet at noon")["id"]
    mallory = raw_identity("mallory")  # a member of the chat (it is open: the secret is all it takes)
    (forged,) = seal_content(chat["key"], mallory, Edit(target, "meet at midnight"), stream=new_stream(), seq=1)
    _drop(chat["shared"], forged)
    seen = _read(bob, "bob")
    assert _by_body(seen, "meet at noon")["edited"] is False  # the target is unchanged
    line = _by_body(seen, "meet at midnight")
    assert (line["kind"], line["forged"], line["target"]) == ("edit", True, target)
    assert "FORGED" in ok(bob, "bob", "read", "family")


def test_a_withheld_message_is_a_gap_until_it_arrives_and_replays_are_not_new(chat: dict[str, Any]) -> None:
    bob, shared = chat["bob"], chat["shared"]
    carol, stream = raw_identity("carol"), new_stream()
    one, two, three = (seal_content(chat["key"], carol, Text(f"carol {n}"), stream=stream, seq=n)[0] for n in (1, 2, 3))
    _drop(shared, one, three)
    seen = _read(bob, "bob")
    (gap,) = seen["gaps"]
    assert (gap["sender"], gap["stream"], gap["missing"], gap["count"]) == ("carol", stream.hex(), [2], 1)
    assert len(gap["fingerprint"]) > 8
    assert "(1 message from carol has not arrived)" in ok(bob, "bob", "read", "family")

    _drop(shared, two)  # late: the carrier reordered it
    seen = _read(bob, "bob")
    assert seen["gaps"] == [] and {"carol 1", "carol 2", "carol 3"} <= {m["body"] for m in seen["messages"]}
    total = len(seen["messages"])

    _drop(shared, three)  # the same pointer again: stored once, nothing new
    assert json.loads(ok(bob, "bob", "poll", "--json"))["received"] == {"shared": 0}
    assert len(_read(bob, "bob")["messages"]) == total
    (again,) = seal_content(chat["key"], carol, Text("carol 3, again"), stream=stream, seq=3)
    _drop(shared, again)  # another message under a number carol used: a replay, flagged
    seen = _read(bob, "bob")
    assert _by_body(seen, "carol 3, again")["replayed"] is True
    assert _by_body(seen, "carol 3")["replayed"] is False and seen["gaps"] == []
    assert "[replayed: not a new message]" in ok(bob, "bob", "read", "family")


def test_pb1_pointers_still_read_beside_pb2(chat: dict[str, Any]) -> None:
    bob = chat["bob"]
    (old,) = seal(chat["key"], raw_identity("dave"), "sent by an earlier release")
    assert old.startswith("pb1")
    _drop(chat["shared"], old)
    line = _by_body(_read(bob, "bob"), "sent by an earlier release")
    assert (line["kind"], line["edited"], line["reply_to"]) == ("text", False, None)


def test_a_pb2_pointer_an_earlier_build_kept_unopened_is_filled_in_and_read(chat: dict[str, Any]) -> None:
    bob = chat["bob"]
    (pointer,) = seal_content(chat["key"], raw_identity("erin"), Text("kept by its text"), stream=new_stream(), seq=1)
    db = sqlite3.connect(bob / "store.db")  # what an earlier build stored: the text, no payload
    with db:
        db.execute(
            "INSERT INTO pointers (digest, text, payload, direction, received_at, version)"
            " VALUES (randomblob(32), ?, x'', 'in', 0, 0)",
            (pointer,),
        )
    db.close()
    assert _by_body(_read(bob, "bob"), "kept by its text")["kind"] == "text"
