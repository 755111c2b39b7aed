"""Files end to end through the CLI (issue 21): `send --file`, `poll`, `read` and `save`
between two homes over a files carrier, with edits and replies on the file's message."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from attachment_helpers import MARKER, marked_file, no_plaintext
from test_local_app import ok, pb, setup_user


def _read(home: Path, user: str) -> dict[str, Any]:
    ok(home, user, "poll")
    data: dict[str, Any] = json.loads(ok(home, user, "read", "family", "--json"))
    return data


def test_a_5_mb_file_sent_with_the_cli_is_read_and_saved_byte_identical(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, bob = (setup_user(tmp_path, u, shared) for u in ("alice", "bob"))
    outside = tmp_path / "outside"
    outside.mkdir()
    original = marked_file(outside)
    ok(alice, "alice", "send", "family", "--file", str(original), "--caption", "from the beach")

    data = _read(bob, "bob")
    (message,) = [m for m in data["messages"] if m["kind"] == "attachment"]
    assert message["file"] == {"name": "holiday photo.jpg", "size": original.stat().st_size, "media_type": "image/jpeg"}
    assert message["body"] == "from the beach"
    plain = ok(bob, "bob", "read", "family")
    assert "[file: holiday photo.jpg, 5.2 MB, image/jpeg] from the beach" in plain

    saves = tmp_path / "saves"
    saves.mkdir()
    ok(bob, "bob", "save", "family", message["id"][:10], str(saves))
    saved = saves / "holiday photo.jpg"
    assert saved.read_bytes() == original.read_bytes()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    again = pb(bob, "bob", "save", "family", message["id"][:10], str(saves))
    assert again["rc"] == "58"  # never over a file without --force
    assert saved.read_bytes() == original.read_bytes()

    ok(alice, "alice", "edit", "family", message["id"][:10], stdin="from the lake")
    ok(bob, "bob", "send", "family", "--reply-to", message["id"][:10], stdin="lovely")
    data = _read(bob, "bob")
    (edited,) = [m for m in data["messages"] if m["kind"] == "attachment"]
    assert (edited["body"], edited["edited"], edited["file"]["name"]) == ("from the lake", True, "holiday photo.jpg")
    (reply,) = [m for m in data["messages"] if m["kind"] == "reply"]
    assert reply["reply_to"] == message["id"]
    no_plaintext(alice, bob, shared)  # the file's plaintext is only where it was saved (and its source)
    assert MARKER in saved.read_bytes()


def test_a_text_message_holds_no_file_to_save(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, bob = (setup_user(tmp_path, u, shared) for u in ("alice", "bob"))
    ok(alice, "alice", "send", "family", stdin="just words")
    (message,) = _read(bob, "bob")["messages"]
    result = pb(bob, "bob", "save", "family", message["id"][:10], str(tmp_path))
    assert result["rc"] == "59" and "holds no file" in result["err"]
