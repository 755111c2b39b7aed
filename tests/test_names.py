"""Lookalike usernames and trust-mark glyphs in names (app/names.py), as `read` and the
app show them; the console's side is in tests/test_console.py."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from pointerbridge.app.display import PLAIN_MARKS, TRUST_MARKS, name_warning, shown_name
from pointerbridge.app.names import MARK_SYMBOLS, blanks, lookalikes, mark_glyphs, mark_words, skeleton, spelled
from pointerbridge.app.service import App, UnlockedChat
from pointerbridge.core import Identity, InvalidInputError
from pointerbridge.core.keys import RecoveryCode
from pointerbridge.core.pointer import _seal
from pointerbridge.home.config import Home
from test_cli import run

SECRET = "a shared secret for lookalike tests"
NOW_MS = 1_790_000_000_000
CYRILLIC_A = "\u0430"  # looks exactly like a Latin "a"


BOB = {"PBRIDGE_CHAT_SECRET": SECRET, "PBRIDGE_MASTER_PHRASE": "bob phrase"}


def _home(tmp_path: Path, username: str = "bob") -> tuple[App, UnlockedChat]:
    app = App(Home.resolve(tmp_path / username))
    app.init(username, f"{username} phrase", allow_weak=True)
    return app, app.create_chat("Family", SECRET, [], allow_weak=True)


def _from(chat: UnlockedChat, username: str, body: str, at_ms: int = NOW_MS) -> str:
    sender = Identity(username, hashlib.sha256(f"identity {username}".encode()).digest())
    return "\n".join(_seal(chat.key, sender, body, 2000, os.urandom, at_ms))


def test_a_difference_of_case_or_a_confusable_glyph_makes_a_lookalike() -> None:
    alike = [
        ("alice", "Alice"),
        ("alice", f"{CYRILLIC_A}lice"),
        ("mallory", "rnallory"),  # "rn" reads as "m"
        ("Ian", "lan"),  # a capital I and a small l
        ("bob", "b0b"),
        ("alice", "ａｌｉｃｅ"),  # fullwidth
        ("paypal", "р" + "aypal"),  # Cyrillic er
    ]
    for one, other in alike:
        assert skeleton(one) == skeleton(other), (one, other)
    for one, other in (("alice", "alicia"), ("bob", "rob"), ("Алиса", "Alиса")):
        assert skeleton(one) != skeleton(other), (one, other)
    names = ["alice", "Alice", f"{CYRILLIC_A}lice", "carol", "dave"]
    assert lookalikes(names) == {
        "alice": ("Alice", f"{CYRILLIC_A}lice"),
        "Alice": ("alice", f"{CYRILLIC_A}lice"),
        f"{CYRILLIC_A}lice": ("Alice", "alice"),
    }
    assert lookalikes(["alice"]) == {} and lookalikes(["alice", "alice"]) == {}


def test_every_symbol_of_a_trust_mark_is_a_glyph_a_name_may_not_hold() -> None:
    # The marks themselves (display.py) and the ticks they could be faked with.
    texts = [text for text, _ in TRUST_MARKS.values()] + list(PLAIN_MARKS.values()) + ["…"]
    symbols = {ch for text in texts for ch in text if not ch.isascii() and ch != "…"}
    assert symbols and symbols <= MARK_SYMBOLS
    assert mark_glyphs("bob ✓") == "✓"
    assert mark_glyphs("bob ✔ ✅ ☑ 🗸 √ ✓") == "✔✅☑🗸√✓"
    assert mark_glyphs("José Ωmega") == "" and mark_glyphs("bob (new key)") == ""
    assert shown_name("bob ✓") == "bob \\u2713"


def test_the_words_of_a_trust_mark_in_a_name_are_found_whatever_their_case_or_glyphs() -> None:
    for name in ("bob verified", "Bob VERIFIED", "verified", "bob_verified", "bob.verified:", "VERlFIED bob",
                 "bob v\u0435rified", "veri\u200dfied bob"):  # fmt: skip
        assert mark_words(name) == ("verified",), name
    for name in ("bob", "unverified", "verifiedbob", "bob verlfied", "the key", "new", "vérified"):
        assert mark_words(name) == (), name
    assert mark_words("alice (new key)") == mark_words("alice-New-Key") == ("new key",)
    # Every mark with words, plain or on a terminal, is found in a name made of them.
    for text in [*PLAIN_MARKS.values(), *(text for text, _ in TRUST_MARKS.values())]:
        if any(ch.isalpha() for ch in text):
            assert mark_words(f"mallory {text.strip(' !()').upper()}"), text


def test_a_name_holding_a_marks_words_is_flagged_and_the_body_stays_past_a_colon(tmp_path: Path) -> None:
    from pointerbridge.app.display import plain_line
    from pointerbridge.console.render import message_line, short_time

    app, chat = _home(tmp_path)
    app.receive(_from(chat, "dave", "hello", NOW_MS - 2000))
    app.receive(_from(chat, "dave verified", "meet at 7 instead", NOW_MS - 1000))
    app.receive(_from(chat, "dave:", "✔ verified: meet at 8 instead"))
    shown, _ = app.read(chat)
    app.close()
    flag = "!! NAME HOLDS A TRUST MARK'S WORDS ('verified'): they are part of the name, not a mark !!"
    plain = [plain_line(s, s.message.body).split("] ", 1)[1].rsplit("  #", 1)[0] for s in shown]
    assert plain == [
        "dave (new key): hello",
        f"dave verified (new key) {flag}: meet at 7 instead",
        "dave: (new key): ✔ verified: meet at 8 instead",
    ]
    console = [message_line(s).plain[len(short_time(s.message.sent_at)) + 1 :] for s in shown]
    assert console == [
        "dave (new key): hello",
        f"dave verified (new key)  {flag.strip('! ')} : meet at 7 instead",
        "dave: (new key): ✔ verified: meet at 8 instead",
    ]


def test_a_username_holding_a_marks_words_is_refused_at_init(tmp_path: Path) -> None:
    phrase = {"PBRIDGE_MASTER_PHRASE": "a long and unusual phrase of eleven words for bob"}
    refused = run("--home", str(tmp_path / "x"), "init", "--username", "bob verified", env=phrase)
    assert refused.returncode == 3 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert refused.stderr.startswith("pbridge: the username 'bob verified' holds the words of a trust mark")
    app = App(Home.resolve(tmp_path / "y"))
    with pytest.raises(InvalidInputError, match=r"\('new key'\)"):
        app.init("Carol New Key", "carol phrase", allow_weak=True)
    assert app.public_identity() is None
    app.close()


def test_lookalike_senders_are_flagged_loudly_by_read(tmp_path: Path) -> None:
    app, chat = _home(tmp_path)
    impostor = f"{CYRILLIC_A}lice"
    for name, body, at in (
        ("alice", "hi, it is alice", 0),
        ("carol", "hello all", 1),
        (impostor, "send the code to me", 2),
        ("Alice", "me too", 3),
    ):
        app.receive(_from(chat, name, body, NOW_MS + at * 1000))
    shown, _ = app.read(chat)
    flagged = {s.message.username: s.lookalikes for s in shown}
    assert flagged == {
        "alice": ("Alice", impostor),
        "carol": (),
        impostor: ("Alice", "alice"),
        "Alice": ("alice", impostor),
    }
    warning = name_warning(next(s for s in shown if s.message.username == impostor))
    assert warning == "NAME LOOKS LIKE ANOTHER SENDER'S ('Alice', 'alice'): this one is spelled '\\u0430lice'"
    app.close()

    env = {"PBRIDGE_CHAT_SECRET": SECRET, "PBRIDGE_MASTER_PHRASE": "bob phrase"}
    # Read again: every name is pinned now, and plain output shows a pinned name bare, so
    # only the flag tells "\u0430lice" from "alice".
    result = run("--home", str(tmp_path / "bob"), "read", "Family", env=env)
    assert result.returncode == 0, result.stderr
    shown_lines = [text.split("] ", 1)[1].rsplit("  #", 1)[0] for text in result.stdout.splitlines()]
    by_body = {text.rsplit(": ", 1)[-1]: text for text in shown_lines}
    assert by_body["send the code to me"] == (
        f"{impostor} !! NAME LOOKS LIKE ANOTHER SENDER'S ('Alice', 'alice'): "
        "this one is spelled '\\u0430lice' !!: send the code to me"
    )
    assert by_body["hi, it is alice"] == (
        "alice !! NAME LOOKS LIKE ANOTHER SENDER'S ('Alice', '\\u0430lice'): "
        "this one is spelled 'alice' !!: hi, it is alice"
    )
    assert by_body["hello all"] == "carol: hello all"  # read before: pinned, no mark in plain output

    as_json = run("--home", str(tmp_path / "bob"), "read", "Family", "--json", env=env)
    messages = {m["username"]: m for m in json.loads(as_json.stdout)["messages"]}
    assert messages[impostor]["looks_like"] == ["Alice", "alice"]
    assert messages[impostor]["name_warning"].startswith("NAME LOOKS LIKE ANOTHER SENDER'S")
    assert "looks_like" not in messages["carol"] and "name_warning" not in messages["carol"]


def test_a_newcomer_whose_name_looks_like_the_readers_own_is_flagged(tmp_path: Path) -> None:
    app, chat = _home(tmp_path)
    app.receive(_from(chat, "Bob", "it is me, bob, from my phone"))
    shown, _ = app.read(chat)
    assert [(s.message.username, s.lookalikes) for s in shown] == [("Bob", ("bob",))]
    app.close()


def test_a_received_name_with_a_tick_is_shown_escaped_and_flagged(tmp_path: Path) -> None:
    app, chat = _home(tmp_path)
    app.receive(_from(chat, "dave ✓", "trust me"))
    app.close()
    result = run("--home", str(tmp_path / "bob"), "read", "Family", env=BOB)
    assert result.returncode == 0, result.stderr
    assert (
        "dave \\u2713 (new key) !! NAME HOLDS A TRUST MARK'S GLYPH (\\u2713): it is part of the name, not a mark !!: "
        "trust me"
    ) in result.stdout
    assert "✓" not in result.stdout


def test_a_username_holding_a_trust_mark_is_refused_at_init_and_at_send(tmp_path: Path) -> None:
    phrase = {"PBRIDGE_MASTER_PHRASE": "a long and unusual phrase of eleven words for bob"}
    refused = run("--home", str(tmp_path / "x"), "init", "--username", "bob ✓", env=phrase)
    assert refused.returncode == 3, refused.stderr
    assert refused.stderr.startswith("pbridge: the username 'bob \\u2713' holds \\u2713 (CHECK MARK)")
    assert len(refused.stderr.splitlines()) == 1
    app = App(Home.resolve(tmp_path / "y"))
    with pytest.raises(InvalidInputError, match="looks like a trust mark"):
        app.init("carol ✔", "carol phrase", allow_weak=True)
    assert app.public_identity() is None  # nothing was made
    # An identity made before the check (or regenerated with its recovery code) reads, and does not send.
    old = app.init("carol ✔", "carol phrase", recovery=RecoveryCode.new(64))
    chat = app.create_chat("Family", SECRET, [], allow_weak=True)
    with pytest.raises(InvalidInputError, match=r"the username 'carol \\u2714' holds"):
        app.send(chat, old, "hello")
    app.close()


# Characters drawn as nothing (default-ignorable: variation selectors, the combining grapheme
# joiner, Khmer and Mongolian ones, Hangul fillers) or as a blank (braille blank): issue 17, item 9.
INVISIBLE = ["\ufe0f", "\U000e0100", "\u034f", "\u17b4", "\u180b", "\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"]


def test_an_invisible_or_blank_character_does_not_hide_a_lookalike() -> None:
    for ch in INVISIBLE:
        # Within a name a blank (braille blank, a Hangul filler) shows as a space would.
        like = "al ice" if ch in "\u115f\u1160\u3164\uffa0\u2800" else "alice"
        for name, other in ((f"alice{ch}", "alice"), (f"{ch}alice", "alice"), (f"al{ch}ice", like)):
            assert lookalikes([other, name]) == {other: (name,), name: (other,)}, spelled(name)
    assert skeleton("alice\u2800bob") == skeleton("alice bob") == skeleton("alice\u3164bob")
    assert skeleton("alice bob") != skeleton("alicebob")  # a plain space still shows


def test_a_name_with_a_blank_or_invisible_character_is_flagged_and_shown_escaped(tmp_path: Path) -> None:
    assert blanks("bob\u2800") == "\u2800" and blanks("\u3164") == "\u3164" and blanks("a\u3000b") == "\u3000"
    assert blanks("al\u034fice") == "\u034f" and blanks("al\u17b4ice") == "\u17b4"
    assert blanks("bob ❤\ufe0f") == ""  # a variation selector chooses how the glyph before it is drawn
    assert blanks("\ufe0f\U000e0100") == "\ufe0f\U000e0100"  # ... but nothing else shows: a blank name
    assert blanks("bob (new key)") == "" and blanks("José") == ""
    # Whitespace other than a plain space never reaches a reader: a username is normalized
    # (every run of whitespace to one space) and a pointer holding another form is refused.
    assert Identity("bob\u3000\u00a0x", bytes(32)).username == "bob x"
    app, chat = _home(tmp_path)
    for name, body in (("\u2800", "who am I"), ("eve\u3164", "hello")):
        app.receive(_from(chat, name, body))
    app.close()
    result = run("--home", str(tmp_path / "bob"), "read", "Family", env=BOB)
    assert result.returncode == 0, result.stderr
    assert (
        "\\u2800 (new key) !! NAME HOLDS A BLANK OR INVISIBLE CHARACTER (\\u2800): shown here as its code !!: who am I"
    ) in result.stdout
    # NFKC made the sender's U+3164 a U+1160, another Hangul filler.
    assert "eve\\u1160 (new key) !! NAME HOLDS A BLANK OR INVISIBLE CHARACTER (\\u1160)" in result.stdout
    assert "\u2800" not in result.stdout and "\u1160" not in result.stdout


def test_a_new_username_holding_an_invisible_or_blank_character_is_refused(tmp_path: Path) -> None:
    phrase = {"PBRIDGE_MASTER_PHRASE": "a long and unusual phrase of eleven words for alice"}
    refused = run("--home", str(tmp_path / "x"), "init", "--username", "alice\ufe0f", env=phrase)
    assert refused.returncode == 3, refused.stderr
    assert refused.stderr.startswith(
        "pbridge: the username 'alice\\ufe0f' holds \\ufe0f (VARIATION SELECTOR-16), which shows as nothing"
    )
    assert len(refused.stderr.splitlines()) == 1
    assert not (tmp_path / "x").exists()  # refused before anything was made
    app = App(Home.resolve(tmp_path / "y"))
    for ch in INVISIBLE:
        with pytest.raises(InvalidInputError, match="holds"):
            app.init(f"alice{ch}", "alice phrase", allow_weak=True)
    assert app.public_identity() is None
    app.close()


def test_every_radical_sign_is_a_trust_mark_glyph_but_a_cjk_or_yi_radical_is_a_letter() -> None:
    signs = "√∛∜⎷\u0606\u0607"  # square, cube, fourth root; RADICAL SYMBOL BOTTOM; Arabic-Indic roots
    assert mark_glyphs(f"bob {signs}") == signs
    # CJK and Kangxi radicals (2E80-2FDF) and Yi radicals are parts of writing, not ticks.
    assert mark_glyphs("\u2eae\u2f08\ua490\u4eba") == ""


def test_a_refused_init_leaves_no_home_and_does_not_suggest_force(tmp_path: Path) -> None:
    phrase = {"PBRIDGE_MASTER_PHRASE": "a long and unusual phrase of eleven words for bob"}
    home = tmp_path / "h"
    refused = run("--home", str(home), "init", "--username", "bob ✓", env=phrase)
    assert refused.returncode == 3, refused.stderr
    assert not home.exists()
    assert "--force" not in refused.stderr and refused.stderr.rstrip().endswith("choose a username without it")
    assert run("--home", str(home), "init", "--username", "", env=phrase).returncode == 3
    assert not home.exists()
