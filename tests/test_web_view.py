"""The page's chat view (web/src/page/view.ts) against the Python view (app/view.py's
build_view, the reference) on generated hostile histories: edits of edits, deletes of
replies, forged edits and deletes, replies to forged or absent messages, one id twice,
replayed and enormous sequence numbers, astral text past the quote's length. Every line
(kind, body, target, quote, marks, note) and every gap must be the same. view.ts is pure
(no DOM), so it runs in Node, bundled by the page's own esbuild."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from browser import WEB, node_modules
from pointerbridge.app.gaps import MAX_LISTED
from pointerbridge.app.models import Shown
from pointerbridge.app.names import mark_glyphs
from pointerbridge.app.trust import Trust
from pointerbridge.app.view import NOT_HERE, build_view
from pointerbridge.core import content
from pointerbridge.core.pointer import Message

SEED = 2222
CASES = 400
RUNNER = """
const { buildView } = require(process.argv[1]);
const fromHex = (h) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(cases.map((messages) => {
  const opened = messages.map((m, order) => ({ order, message: {
    ...m, senderKey: fromHex(m.sender), stream: m.stream === null ? undefined : fromHex(m.stream),
    seq: m.seq === null ? undefined : m.seq } }));
  const view = buildView(opened, new Map());
  return {
    lines: view.lines.map((l) => [l.message.id, l.kind, l.body, l.target ?? null, l.quote ?? null,
      l.quoteFrom ?? null, l.edited, l.deleted, l.forged, l.replayed, l.note ?? null]),
    gaps: view.gaps.map((g) => [g.username, g.count]),
  };
})));
"""
SHOWN_NAME = """
const { shownName } = require(process.argv[1]);
process.stdout.write(JSON.stringify(JSON.parse(require("fs").readFileSync(0, "utf8")).map(shownName)));
"""
_BODIES = [
    "hi",
    "",
    "two\nlines",
    "\U0001f600" * 130,
    "x" * 125,
    "é" * 119 + "\U0001f600\U0001f600",
    "\u202eevil",
    "a\r\nb",
]
_KINDS = ["text"] * 6 + ["reply"] * 4 + ["edit"] * 3 + ["delete"] * 2 + ["attachment", "rotation", "unknown"]
_BIG = 2**32 - 1


def _history(rng: random.Random) -> list[dict[str, Any]]:
    keys = [rng.randbytes(32).hex() for _ in range(3)]
    names = {key: rng.choice(["alice", "bob", "alice", "m\u0430llory"]) for key in keys}
    streams = {key: [rng.randbytes(8).hex() for _ in range(2)] for key in keys}
    count = rng.randint(1, 30)
    ids = [rng.randbytes(16).hex() for _ in range(count)]
    seqs: dict[tuple[str, str], int] = {}
    out = []
    for at in range(count):
        key = rng.choice(keys)
        mid = rng.choice(ids[:at]) if at and rng.random() < 0.05 else ids[at]  # one id twice
        kind = rng.choice(_KINDS)
        body = "" if kind in ("delete", "unknown") else rng.choice(_BODIES) + rng.choice(["", str(at)])
        message: dict[str, Any] = {"id": mid, "username": names[key], "sender": key, "body": body, "sentAtMs": at // 3}
        message |= {"stream": None, "seq": None, "content": {"kind": kind}}
        if rng.random() < 0.85:  # pb2: numbered, with gaps, replays and a number near the end
            stream = rng.choice(streams[key])
            seq = seqs.get((key, stream), 0) + rng.choice([1, 1, 1, 2, 0])
            seq = _BIG if rng.random() < 0.02 else max(seq, 1)
            seqs[key, stream] = seq
            message |= {"stream": stream, "seq": seq}
        if kind in ("reply", "edit", "delete"):
            message["content"]["target"] = rng.choice(ids) if rng.random() < 0.85 else rng.randbytes(16).hex()
        if kind == "unknown":
            message["content"] |= {"code": 200, "data": ""}
        out.append(message)
    return out


def _content(m: dict[str, Any]) -> content.Content:
    c, body = m["content"], m["body"]
    match c["kind"]:
        case "text":
            return content.Text(body)
        case "reply":
            return content.Reply(c["target"], body)
        case "edit":
            return content.Edit(c["target"], body)
        case "delete":
            return content.Delete(c["target"])
        case "attachment":
            return content.Attachment(b"k" * 32, b"h" * 32, 5, "f.txt", "text/plain", (), body)
        case "rotation":
            return content.Rotation(b"notice")
    return content.Unknown(c["code"], b"")


def _python(history: list[dict[str, Any]]) -> dict[str, Any]:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    shown = [
        Shown(
            Message(
                "chat",
                m["username"],
                bytes.fromhex(m["sender"]),
                epoch + timedelta(milliseconds=m["sentAtMs"]),
                m["body"],
                m["id"],
                _content(m),
                None if m["stream"] is None else bytes.fromhex(m["stream"]),
                m["seq"],
            ),
            Trust.PINNED,
            (),
            False,
        )
        for m in history
    ]
    view = build_view(shown)
    summed: dict[bytes, tuple[str, int]] = {}
    for gap in view.gaps:
        assert len(gap.missing) <= MAX_LISTED
        summed[gap.sender_key] = (gap.username, summed.get(gap.sender_key, ("", 0))[1] + gap.count)
    lines = [
        [v.id, v.kind, v.body, v.target, v.quote, v.quote_from, v.edited, v.deleted, v.forged, v.replayed, v.note]
        for v in view.messages
    ]
    return {"lines": lines, "gaps": [list(pair) for pair in summed.values()]}


def _node(entry: Path, runner: str, data: object, tmp_path: Path) -> Any:
    """``runner`` run in Node over ``entry`` bundled (its module as ``process.argv[1]``), fed ``data``."""
    esbuild = node_modules() / ".bin" / "esbuild"
    bundle = tmp_path / f"{entry.stem}.cjs"
    built = subprocess.run(
        [str(esbuild), str(entry), "--bundle", "--format=cjs", "--platform=node", f"--outfile={bundle}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    node = shutil.which("node")
    assert node, "node is missing: the page's build needs Node.js"
    ran = subprocess.run(
        [node, "-e", runner, str(bundle)], input=json.dumps(data), capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def _page(histories: list[list[dict[str, Any]]], tmp_path: Path) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = _node(WEB / "src/page/view.ts", RUNNER, histories, tmp_path)
    for view in got:  # the page's wording of an absent target (it can only know the paste)
        for line in view["lines"]:
            line[4], line[10] = (
                None if s is None else s.replace("a message not in this paste", NOT_HERE) for s in (line[4], line[10])
            )
    return got


def test_the_pages_view_shows_every_hostile_history_as_the_python_view(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    histories = [_history(rng) for _ in range(CASES)]
    got = _page(histories, tmp_path)
    differ = [(h, want, g) for h, g in zip(histories, got, strict=True) if g != (want := _python(h))]
    assert not differ, f"{len(differ)} of {CASES} differ; first: {differ[0]}"
    # The histories reach what the view has to judge (else the generator lost its reach).
    lines = [line for history in histories for line in _python(history)["lines"]]
    assert sum(line[8] for line in lines) > 20  # forged
    assert sum(line[7] for line in lines) > 20 and sum(line[6] for line in lines) > 20  # deleted, edited
    assert sum(line[9] for line in lines) > 5  # replayed
    assert sum(line[4] is not None and line[4].endswith("…") for line in lines) > 5  # quotes cut
    assert sum(gap[1] > 2**31 for h in histories for gap in _python(h)["gaps"]) > 3


def test_the_pages_view_takes_a_stream_of_200000_messages(tmp_path: Path) -> None:
    key, stream = "11" * 32, "22" * 8
    history = [
        {"id": f"{n:032x}", "username": "bob", "sender": key, "body": "", "sentAtMs": n, "stream": stream, "seq": n + 2}
        | {"content": {"kind": "text"}}
        for n in range(200_000)
    ]
    assert _page([history], tmp_path)[0]["gaps"] == [["bob", 1]]


def test_every_glyph_python_takes_for_a_trust_mark_is_spelled_out_in_a_name_on_the_page(tmp_path: Path) -> None:
    glyphs = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000 and mark_glyphs(chr(c)))
    assert len(glyphs) >= 15
    got = _node(WEB / "src/page/dom.ts", SHOWN_NAME, [f"bob {g}" for g in glyphs], tmp_path)
    left = [(glyph, name) for glyph, name in zip(glyphs, got, strict=True) if glyph in name]
    assert not left, f"shown as themselves: {left}"
