"""An export's sealed lines say nothing by their number and cannot be moved (issue 18,
review items 6 and 7): everything about one chat is one sealed line, padded, and each line
is bound to the format version, the export's own id and its place among the sealed lines
(of a count the header gives), so a line dropped, moved, repeated or taken from another
export of the same identity refuses the whole file, nothing imported."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from helpers import opened_export, raw_identity, write_export_file
from pointerbridge.app.service import App
from pointerbridge.core import seal
from pointerbridge.core.padding import padded_length
from pointerbridge.home.config import Home
from test_cli import EXIT_CODES
from test_export_sealed import CHAT, EXPECTED, PHRASE, SECRET, _filled, _marks, _nothing_in, _pb


def _two_chats(root: Path) -> Path:
    """Bob's home of ``_filled`` (a chat with pins and a rotation) and a second, empty chat."""
    _filled(root)
    app = App(Home.resolve(root))
    app.unlock_identity(PHRASE)
    app.create_chat("Quiet Corner", SECRET, [], allow_weak=True)
    app.close()
    return root


def _sealed(lines: list[str]) -> list[int]:
    """The indexes of the sealed lines among ``lines``."""
    return [i for i, line in enumerate(lines) if json.loads(line).get("kind") == "sealed"]


def test_one_sealed_line_per_chat_whatever_it_holds(tmp_path: Path) -> None:
    source = _two_chats(tmp_path / "source")
    export = tmp_path / "backup.jsonl"
    code, _, err = _pb(source, "export", str(export))
    assert code == 0, err
    lines = export.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 4 and header["sealed"] == 2 and len(bytes.fromhex(header["id"])) == 16
    # One chat has two pins (bob's own too) and a rotation, the other nothing: one line each.
    assert len(_sealed(lines)) == 2
    for at in _sealed(lines):
        body = len(base64.b64decode(json.loads(lines[at])["data"])) - 1 - 12 - 16  # version, nonce, tag
        assert body == padded_length(body)  # a Padmé bucket, as a store row is
    app = App(Home.resolve(source))
    app.unlock_identity(PHRASE)
    kinds = [r["kind"] for r in opened_export(app.store, export)]
    app.close()
    assert sorted(k for k in kinds if k not in ("identity", "pointer")) == ["chat", "chat", "pin", "pin", "rotation"]
    code, out, err = _pb(tmp_path / "fresh", "import", str(export))
    assert code == 0 and "2 new chats" in out and "1 new rotations" in out, err
    assert _marks(tmp_path / "fresh") == EXPECTED


def test_a_chat_too_large_for_one_line_goes_on_as_few_lines_as_fit(tmp_path: Path) -> None:
    """A chat whose records pass the line budget (hundreds of members) continues on the
    next sealed lines, each full but the last, rather than make a line an import refuses."""
    from pointerbridge.app.export_seal import LINE_BUDGET

    source = _two_chats(tmp_path / "source")
    app = App(Home.resolve(source))
    app.unlock_identity(PHRASE)
    chat = app.unlock_chat("Quiet Corner", SECRET)
    members = [raw_identity(f"{'m' * 56}{n:08d}") for n in range(700)]  # 64-byte usernames
    app.receive("\n".join(p for m in members for p in seal(chat.key, m, "hello")))
    assert len(app.read(chat)[0]) == 700 and len(app.store.pins(chat.row.id)) == 701  # bob's own too
    app.close()
    export = tmp_path / "backup.jsonl"
    assert _pb(source, "export", str(export))[0] == 0
    lines = export.read_text().splitlines()
    sealed = [len(base64.b64decode(json.loads(lines[i])["data"])) for i in _sealed(lines)]
    # 700 pins of ~200 bytes: 3 lines of at most LINE_BUDGET, the first two nearly full
    assert len(sealed) == 1 + 3 and all(size < LINE_BUDGET * 9 // 8 for size in sealed), sealed
    assert sealed[1] >= LINE_BUDGET - 1024 and sealed[2] >= LINE_BUDGET - 1024 and sealed[3] < LINE_BUDGET - 1024
    code, out, err = _pb(tmp_path / "fresh", "import", str(export))
    assert code == 0 and "2 new chats" in out and "not taken from the file: 703 pins" in out, err


@pytest.mark.parametrize("tampering", ["drop", "swap", "duplicate", "splice", "truncate the count", "other id"])
def test_a_sealed_line_dropped_moved_repeated_or_from_another_export_refuses_the_file(
    tmp_path: Path, tampering: str
) -> None:
    source = _two_chats(tmp_path / "source")
    export, other = tmp_path / "backup.jsonl", tmp_path / "other.jsonl"
    assert _pb(source, "export", str(export))[0] == 0
    assert _pb(source, "export", str(other))[0] == 0  # the same identity, the same chats: another export
    lines = export.read_text().splitlines()
    first, second = _sealed(lines)[:2]
    header = json.loads(lines[0])
    if tampering == "drop":
        del lines[second]
    elif tampering == "swap":
        lines[first], lines[second] = lines[second], lines[first]
    elif tampering == "duplicate":
        lines.insert(second, lines[first])
    elif tampering == "splice":  # the same chat's line from the other export, where it opens
        lines[first] = other.read_text().splitlines()[first]
    elif tampering == "truncate the count":
        del lines[second]
        lines[0] = json.dumps({**header, "sealed": header["sealed"] - 1})
    else:
        lines[0] = json.dumps({**header, "id": os.urandom(16).hex()})
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n")
    code, _, err = _pb(tmp_path / "fresh", "import", str(tampered))
    assert err.count("\n") == 1 and "Traceback" not in err, err
    if tampering in ("drop", "duplicate"):  # the count tells before the phrase is asked
        assert code == EXIT_CODES["InvalidInputError"] == 3, err
        held = {"drop": 1, "duplicate": 3}[tampering]
        assert f"the header counts 2 sealed lines, the file holds {held}: lines were dropped or added" in err
    else:
        assert code == EXIT_CODES["SealedDataError"] == 37, err
        assert f"line {first + 1}: a sealed record does not open" in err
        assert "moved, or taken from another export" in err
    _nothing_in(tmp_path / "fresh")
    # Into bob's own home, which holds both chats: refused the same, nothing changes.
    assert _pb(source, "import", str(tampered))[0] == code
    assert _marks(source) == [(u, b, "pinned" if t == "new" else t) for u, b, t in EXPECTED]


def test_files_of_versions_2_and_3_still_import(tmp_path: Path) -> None:
    source = _filled(tmp_path / "source")
    export = tmp_path / "backup.jsonl"
    assert _pb(source, "export", str(export))[0] == 0
    app = App(Home.resolve(source))
    app.unlock_identity(PHRASE)
    records = opened_export(app.store, export)
    v3 = write_export_file(tmp_path / "v3.jsonl", records, sealed_by=app.store, version=3)
    v2 = write_export_file(tmp_path / "v2.jsonl", records)
    app.close()
    for version, path in ((3, v3), (2, v2)):
        lines = path.read_text().splitlines()
        assert json.loads(lines[0]) == {"format": "pointerbridge-export", "version": version, "schema": 10}
        assert (CHAT.lower() in path.read_text()) == (version == 2)
        home = tmp_path / f"into-{version}"
        code, out, err = _pb(home, "import", str(path))
        assert code == 0 and "1 new chats" in out and "1 new rotations" in out, (version, err)
        assert _marks(home) == EXPECTED
    assert len(_sealed(v3.read_text().splitlines())) == 4  # version 3: a chat, its two pins, its rotation


def test_a_sealed_line_holds_one_chat_and_the_header_its_id_and_count(tmp_path: Path) -> None:
    from helpers import _place
    from pointerbridge.app.export_format import SEALED_KINDS

    source = _two_chats(tmp_path / "source")
    export = tmp_path / "backup.jsonl"
    assert _pb(source, "export", str(export))[0] == 0
    lines = export.read_text().splitlines()
    header = {**json.loads(lines[0]), "sealed": 1}
    app = App(Home.resolve(source))
    app.unlock_identity(PHRASE)
    both = [r for r in opened_export(app.store, export) if r["kind"] in SEALED_KINDS]  # chat, 2 pins, rotation; chat
    data = app.store.seal_for_export(json.dumps(both).encode(), _place(header, 0))
    app.close()
    one = {"kind": "sealed", "data": base64.b64encode(data).decode()}
    clear = [line for line in lines[1:] if json.loads(line)["kind"] != "sealed"]
    bad = tmp_path / "bad.jsonl"
    for head, body, message in (
        (header, [json.dumps(one)], "(sealed): 4: a sealed line holds one chat's records, its chat record first"),
        ({**header, "id": "00" * 15}, [], "line 1: id: not 16 bytes in hex"),
        ({**header, "sealed": -1}, [], "line 1: sealed: not a count of sealed lines"),
    ):
        bad.write_text("\n".join([json.dumps(head), clear[0], *body, *clear[1:]]) + "\n")
        code, _, err = _pb(tmp_path / "fresh", "import", str(bad))
        assert code == 3 and message in err and err.count("\n") == 1, err
        _nothing_in(tmp_path / "fresh")
