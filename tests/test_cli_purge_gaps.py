"""Messages deleted for good are no gaps (issue 21, gaps): their numbers stay arrived in
the chat's sealed record, through purge, clear, and an export and import; end to end
through the CLI, homes over a files carrier."""

from __future__ import annotations

import json
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from console_helpers import SECRET, chat_salt, make_home, opened
from helpers import raw_identity
from pointerbridge.core.content import Text
from pointerbridge.core.keys import ChatKey
from pointerbridge.core.pointer2 import new_stream, seal_content
from pointerbridge.home.store import StoreError
from pointerbridge.home.store.purged import MAX_RUNS, MAX_STREAMS, PurgedStream, note_purged
from pointerbridge.home.store.record import ChatRecord
from test_cli_content import _by_body
from test_cli_content import _read as read_after_poll
from test_local_app import CHAT_SECRET, ok, setup_user

_files = count(1)


def _drop(shared: Path, *pointers: str) -> None:
    """Put pointers in the shared folder as another member's device would."""
    for pointer in pointers:
        (shared / f"{80_000_000_000_000_000_000 + next(_files):020d}-x.pb").write_text(pointer)


def _read(home: Path, user: str, *, poll: bool = True) -> dict[str, Any]:
    if poll:
        return read_after_poll(home, user)
    data: dict[str, Any] = json.loads(ok(home, user, "read", "family", "--json"))
    return data


def _gaps(data: dict[str, Any]) -> list[tuple[str, list[int], int]]:
    return [(g["sender"], g["missing"], g["count"]) for g in data["gaps"]]


@pytest.fixture
def homes(tmp_path: Path) -> dict[str, Any]:
    shared = tmp_path / "shared"
    shared.mkdir()
    made = {u: setup_user(tmp_path, u, shared) for u in ("alice", "bob")}
    return {"root": tmp_path, "shared": shared, "key": ChatKey.derive_open("family", CHAT_SECRET), **made}


def test_a_purged_message_is_no_gap_a_withheld_one_still_is_and_its_number_again_is_a_replay(
    homes: dict[str, Any],
) -> None:
    alice, bob, shared = homes["alice"], homes["bob"], homes["shared"]
    for n in (1, 2, 3):
        ok(bob, "bob", "send", "family", stdin=f"bob {n}")
    ok(bob, "bob", "poll")
    seen = _read(alice, "alice")
    assert seen["gaps"] == [] and {"bob 1", "bob 2", "bob 3"} <= {m["body"] for m in seen["messages"]}
    assert "purge: 1 message(s)" in ok(alice, "alice", "purge", "family", _by_body(seen, "bob 2")["id"][:10], "--yes")
    seen = _read(alice, "alice")
    assert "bob 2" not in {m["body"] for m in seen["messages"]}
    assert seen["gaps"] == [] and "has not arrived" not in ok(alice, "alice", "read", "family")

    carol, stream = raw_identity("carol"), new_stream()
    sealed = {n: seal_content(homes["key"], carol, Text(f"carol {n}"), stream=stream, seq=n)[0] for n in range(1, 7)}
    _drop(shared, sealed[1], sealed[2], sealed[3])
    two = _by_body(_read(alice, "alice"), "carol 2")["id"]
    ok(alice, "alice", "purge", "family", two[:10], "--yes")
    _drop(shared, sealed[4], sealed[6])  # 5 withheld by the carrier
    seen = _read(alice, "alice")
    assert _gaps(seen) == [("carol", [5], 1)]  # 2 was deleted here on purpose: not missing
    assert "(1 message from carol has not arrived)" in ok(alice, "alice", "read", "family")

    (again,) = seal_content(homes["key"], carol, Text("carol 2, again"), stream=stream, seq=2)
    _drop(shared, again)  # a purged number under a new message id: a replay, not a new message
    seen = _read(alice, "alice")
    assert _by_body(seen, "carol 2, again")["replayed"] is True
    assert not any(m["replayed"] for m in seen["messages"] if m["body"] != "carol 2, again")
    assert _gaps(seen) == [("carol", [5], 1)]


def test_purging_a_replay_leaves_the_message_it_replayed_as_it_was(homes: dict[str, Any]) -> None:
    alice, shared = homes["alice"], homes["shared"]
    dave, stream = raw_identity("dave"), new_stream()
    first, second = (seal_content(homes["key"], dave, Text(t), stream=stream, seq=1)[0] for t in ("dave 1", "copy"))
    _drop(shared, first, second)
    seen = _read(alice, "alice")
    assert _by_body(seen, "copy")["replayed"] is True
    ok(alice, "alice", "purge", "family", _by_body(seen, "copy")["id"][:10], "--yes")
    seen = _read(alice, "alice")
    assert _by_body(seen, "dave 1")["replayed"] is False and seen["gaps"] == []


def test_clearing_a_history_leaves_no_false_gaps_for_the_messages_after_it(homes: dict[str, Any]) -> None:
    alice, bob = homes["alice"], homes["bob"]
    for n in range(1, 5):
        ok(bob, "bob", "send", "family", stdin=f"before {n}")
    ok(alice, "alice", "send", "family", stdin="mine, before")
    ok(bob, "bob", "poll")
    assert len(_read(alice, "alice")["messages"]) == 5
    assert "deleted for good" in ok(alice, "alice", "chat", "clear", "family", "--yes")
    assert _read(alice, "alice")["messages"] == []
    ok(bob, "bob", "send", "family", stdin="after")
    ok(bob, "bob", "poll")
    ok(alice, "alice", "send", "family", stdin="mine, after")
    seen = _read(alice, "alice")
    assert sorted(m["body"] for m in seen["messages"]) == ["after", "mine, after"]
    assert seen["gaps"] == [] and not any(m["replayed"] for m in seen["messages"])
    # bob never cleared: he holds every message, and sees no gap either
    assert _gaps(_read(bob, "bob")) == []


def _export(home: Path, user: str, path: Path) -> None:
    assert "exported" in ok(home, user, "export", str(path))


def test_an_export_and_import_keep_the_purged_numbers_and_cannot_flag_what_is_here(homes: dict[str, Any]) -> None:
    alice, bob, root = homes["alice"], homes["bob"], homes["root"]
    for n in (1, 2, 3):
        ok(bob, "bob", "send", "family", stdin=f"bob {n}")
    ok(bob, "bob", "poll")
    two = _by_body(_read(alice, "alice"), "bob 2")["id"]
    _export(alice, "alice", root / "before.jsonl")
    ok(alice, "alice", "purge", "family", two[:10], "--yes")
    _export(alice, "alice", root / "after.jsonl")

    restored = root / "restored"  # a new home of alice's identity, from the export after the purge
    done = ok(restored, "alice", "import", str(root / "after.jsonl"))
    assert "1 new purged numbers" in done
    seen = _read(restored, "alice", poll=False)
    assert [m["body"] for m in seen["messages"]] == ["bob 1", "bob 3"] and seen["gaps"] == []
    assert "0 new purged numbers" in ok(restored, "alice", "import", str(root / "after.jsonl"))  # twice: nothing new

    other = root / "other"  # a home that still holds bob 2 takes the purged numbers in
    ok(other, "alice", "import", str(root / "before.jsonl"))
    assert "1 new purged numbers" in ok(other, "alice", "import", str(root / "after.jsonl"))
    seen = _read(other, "alice", poll=False)
    # the file can only count numbers as arrived: bob 2, stored here, is no replay
    assert [m["body"] for m in seen["messages"]] == ["bob 1", "bob 2", "bob 3"]
    assert seen["gaps"] == [] and not any(m["replayed"] for m in seen["messages"])


def test_a_record_written_before_purged_numbers_loads_and_a_damaged_one_is_refused() -> None:
    record = ChatRecord("Family", "family", ["shared"], 1.0)
    earlier = json.loads(record.to_bytes())
    assert "purged" not in earlier  # nothing purged: the field is not written
    assert ChatRecord.from_bytes(json.dumps(earlier)).purged == {}
    note_purged(record.purged, [(b"k" * 32, b"s" * 8, n) for n in (2, 3, 4, 9)], 17)
    again = ChatRecord.from_bytes(record.to_bytes())
    assert again.purged == {(b"k" * 32, b"s" * 8): PurgedStream([(2, 4, 17), (9, 9, 17)], 0)}
    damaged = json.loads(record.to_bytes())
    damaged["purged"][0]["runs"] = [[5, 4, 1]]
    with pytest.raises(StoreError, match="damaged"):
        ChatRecord.from_bytes(json.dumps(damaged))


def test_purged_numbers_stay_bounded() -> None:
    purged: dict[tuple[bytes, bytes], PurgedStream] = {}
    note_purged(purged, [(b"k", b"s", n) for n in range(2, 4 * MAX_RUNS, 2)], 5)  # every other number
    kept = purged[(b"k", b"s")]
    assert len(kept.runs) == MAX_RUNS and kept.below == kept.runs[0][0] - 2  # the lowest folded in
    assert kept.arrived(1) and kept.arrived(kept.below) and not kept.arrived(kept.runs[0][0] - 1)
    assert not kept.replays(1, 99) and kept.replays(kept.runs[0][0], 99) and not kept.replays(kept.runs[0][0], 5)
    note_purged(purged, [(bytes([n]), b"s", 1) for n in range(MAX_STREAMS + 3)], 6)
    assert len(purged) == MAX_STREAMS and (b"k", b"s") not in purged  # the stream noted longest ago forgotten


def test_a_message_routed_while_a_history_is_cleared_stays_and_leaves_no_false_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice = make_home(tmp_path, "alice", shared)
    carol, stream = raw_identity("carol"), new_stream()
    key = ChatKey.derive("Family", SECRET, chat_salt("Family"))
    sealed = {n: seal_content(key, carol, Text(f"carol {n}"), stream=stream, seq=n)[0] for n in range(1, 5)}
    with opened(alice) as app:
        chat = app.create_chat("Family", SECRET, ["shared"], salt=chat_salt("Family"))
        app.receive(sealed[1] + "\n" + sealed[2], [chat])
        real_read = app.read

        def read_then_a_poll_elsewhere(*args: Any, **kwargs: Any) -> Any:
            read = real_read(*args, **kwargs)
            # Between this read and the delete, another process with the chat unlocked (the
            # console, say) stores a pointer of it and routes it by reading.
            app.receive(sealed[3], [chat])
            real_read(chat)
            return read

        monkeypatch.setattr(app, "read", read_then_a_poll_elsewhere)
        assert app.clear_history(chat) == (2, 0)
        monkeypatch.undo()
        app.receive(sealed[4], [chat])
        view, _ = app.read_view(chat)
    assert [m.body for m in view.messages] == ["carol 3", "carol 4"]
    assert view.gaps == ()
