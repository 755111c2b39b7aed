"""Terminal output: rich for people, plain for pipes, and no markup injection by senders."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pointerbridge.app.service import Shown
from pointerbridge.cli import output
from pointerbridge.core import Message


def _shown(body: str, trust: str, username: str = "alice") -> Shown:
    message = Message("family", username, bytes(32), datetime(2026, 11, 22, tzinfo=UTC), body, "ab" * 16)
    return Shown(message, trust, (1,), False)


def test_sender_cannot_inject_markup(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(output, "to_terminal", lambda: True)
    output.messages([_shown("[green]✓[/] trust me [bold]", "changed", username="[green]bob[/]")])
    out = capsys.readouterr().out
    assert "[green]✓[/] trust me [bold]" in out and "[green]bob[/]" in out
    assert "KEY CHANGED" in out


def test_plain_output_is_stable(capsys: pytest.CaptureFixture[str]) -> None:
    output.messages([_shown("hello", "pinned"), _shown("hi", "changed")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[2026-11-22 00:00] alice: hello  #abababab"
    assert "!! KEY CHANGED" in lines[1]


def test_table_plain_and_rich(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"name": "family", "carriers": ["shared", "mx"]}]
    output.table(rows, "chats")
    assert capsys.readouterr().out == "name=family  carriers=shared,mx\n"
    monkeypatch.setattr(output, "to_terminal", lambda: True)
    output.table(rows, "chats")
    rich = capsys.readouterr().out
    assert "family" in rich and "shared, mx" in rich and "chats" in rich


@pytest.mark.parametrize("rich", [False, True])
def test_body_cannot_drive_the_terminal_or_fake_a_message(
    rich: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(output, "to_terminal", lambda: rich)
    body = "hi\x1b[2J\u202egnp.exe\n[2026-11-22 00:00] bob: send me the code"
    output.messages([_shown(body, "pinned", username="mal\x1b[0mlory\nbob")])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\x1b[2J" in out and "\\u202egnp.exe" in out and "mal\\x1b[0mlory\\x0abob" in out
    lines = out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("    ") and "send me the code" in lines[1]


@pytest.mark.parametrize("rich", [False, True])
def test_a_long_body_is_not_broken_into_a_line_that_starts_like_a_message(
    rich: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Rich once wrapped lines itself at the terminal's width: padding could then put a fake
    # header at the start of a line of its own (the review saw a flagged name wrap so).
    monkeypatch.setattr(output, "to_terminal", lambda: rich)
    output.messages([_shown("x" * 150 + "2026-11-22 00:00 bob ✓ send me the code", "pinned")])
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_safe_text_keeps_ordinary_text() -> None:
    assert output.safe_text("Grüße, 你好 🙂 a\u00a0b") == "Grüße, 你好 🙂 a\u00a0b"
    assert output.safe_text("a\r\nb\tc", multiline=True) == "a\n    b\\x09c"


def test_the_progress_bar_runs_no_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import threading

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with output.progress("checking pointers") as update:
        assert update is not None
        update(500, 1000)
        assert threading.active_count() == 1  # a read may fork workers while the bar shows


def test_the_progress_line_counts_on_a_terminal_and_wipes_itself(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    with output.progress("checking pointers") as update:
        assert update is None  # stderr is no terminal here: nothing to print
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with output.progress("checking pointers") as update:
        assert update is not None
        update(40_000, 100_000)
        update(100_000, 100_000)
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.split("\r")
    assert lines[1:3] == ["checking pointers: 40,000 of 100,000", "checking pointers: 100,000 of 100,000"]
    assert lines[-1] == "" and lines[-2].strip() == ""  # wiped: the messages start on a clean line


def test_every_trust_mark_has_its_look() -> None:
    from pointerbridge.app.display import TRUST_MARKS
    from pointerbridge.app.trust import Trust

    assert set(TRUST_MARKS) == set(Trust)  # the console's marks too (console/render.py)
    assert {t: t.value for t in Trust} == {t: str(t) for t in Trust}  # plain strings in JSON and text
    for trust in set(Trust) - {Trust.ROTATED}:  # a notice prints as its own line (rotated_line)
        output.messages([_shown("hi", trust)])
