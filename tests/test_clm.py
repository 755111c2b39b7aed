"""CLM compatibility: every shared vector, and the integrity signal CLM has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pointerbridge.core import (
    ClmFormatError,
    ClmTamperedError,
    ClmWrongChatError,
    ClmWrongSecretError,
    InvalidInputError,
    clm,
)

# CLM's own vectors live in the project's shared/ folder, beside the repository.
SHARED = Path(__file__).resolve().parents[2] / "shared" / "clm" / "clm-vectors.jsonl"
if not SHARED.exists():
    raise FileNotFoundError(f"CLM vectors not found at {SHARED}: shared/ must sit beside the repository")
VECTORS = [json.loads(line) for line in SHARED.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("v", VECTORS, ids=[f"{i}-{v['kind']}" for i, v in enumerate(VECTORS)])
def test_shared_vector(v: dict[str, Any]) -> None:
    if v["kind"] == "pointer":
        assert clm.encode(v["chat_name"], v["username"], v["message"], v["chat_secret"], v["epoch"]) == v["pointer"]
        got = clm.decode(v["pointer"], v["chat_name"], v["chat_secret"])
        assert (got.chat, got.username, got.body, got.epoch) == (
            v["chat_name"],
            v["username"],
            v["message"],
            v["epoch"],
        )
    elif v["kind"] == "pointer_v1":
        assert (
            clm.encode_legacy(v["chat_id"], v["username"], v["message"], v["master_seed"], v["seed_suffix"], v["epoch"])
            == v["pointer"]
        )
        got = clm.decode_legacy(v["pointer"], v["master_seed"], v["seed_suffix"])
        assert (got.chat, got.username, got.body) == (v["chat_id"], v["username"], v["message"])
    elif v["kind"] == "auth":
        assert clm.auth_public_key(v["username"], v["secret"]) == v["public_key"]
    elif v["kind"] == "chat_secret_hash":
        assert clm.chat_secret_hash(v["chat_name"], v["chat_secret"]) == v["secret_hash"]
    else:
        raise AssertionError(f"unknown kind {v['kind']}")


def test_all_vector_kinds_present() -> None:
    assert {v["kind"] for v in VECTORS} == {"pointer", "pointer_v1", "auth", "chat_secret_hash"}


BASE = next(v for v in VECTORS if v["kind"] == "pointer")


def test_wrong_secret() -> None:
    with pytest.raises(ClmWrongSecretError):
        clm.decode(BASE["pointer"], "general", "not the secret")


def test_wrong_chat() -> None:
    with pytest.raises(ClmWrongChatError):
        clm.decode(BASE["pointer"], "random", BASE["chat_secret"])


def test_malleability_is_caught_by_the_nonce() -> None:
    obj = json.loads(BASE["pointer"])
    data = bytearray.fromhex(obj["d"])
    caught = 0
    for i in range(len(data)):
        data[i] ^= 0x01
        obj["d"] = data.hex()
        try:
            clm.decode(json.dumps(obj), "general", BASE["chat_secret"])
        except (ClmTamperedError, ClmWrongSecretError, ClmWrongChatError):
            caught += 1
        data[i] ^= 0x01
    assert caught == len(data)


def test_separator_inside_the_body_is_kept() -> None:
    pointer = clm.encode("c", "u", "a |¶| b", "s", 5)
    assert clm.decode(pointer, "c", "s").body == "a |¶| b"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "{}",
        '{"e": 1, "n": "x", "d": "00"}',
        '{"e": "1", "n": "0123456789abcdef", "d": "00"}',
        '{"e": 1, "n": "0123456789abcdef", "d": "zz"}',
        '{"e": 1, "n": "0123456789abcdef", "d": "00", "x": 1}',
        "[" * 100000,
        '{"e": 0, "n": "\\ud800aaaaaaaaaaaaaaa", "d": "00"}',
        '{"e": 0, "n": "ééééééééééééééééé", "d": "00"}',
        '{"e": 0, "n": "0123456789abcdef", "d": "00 11"}',
        '{"e": ' + "9" * 5000 + ', "n": "0123456789abcdef", "d": "00"}',
        '{"e": 99999999999999999999, "n": "0123456789abcdef", "d": "00"}',
    ],
)
def test_format_errors(text: str) -> None:
    with pytest.raises(ClmFormatError):
        clm.decode(text, "general", "s")


def test_legacy_wrong_seed() -> None:
    v = next(v for v in VECTORS if v["kind"] == "pointer_v1")
    with pytest.raises(ClmWrongSecretError):
        clm.decode_legacy(v["pointer"], "wrong seed", v["seed_suffix"])


def test_legacy_format_errors() -> None:
    with pytest.raises(ClmFormatError):
        clm.decode_legacy('{"c": 1, "e": 1, "d": "00"}', "seed", "general")
    with pytest.raises(ClmFormatError):
        clm.decode_legacy('{"c": "1", "e": ' + "1" * 5000 + ', "d": "00"}', "seed", "general")


def test_the_separator_is_refused_in_names_and_a_legacy_name_cannot_end_early() -> None:
    for chat, user in (("a |¶| b", "alice"), ("general", "alice|¶|admin")):
        with pytest.raises(InvalidInputError, match="CLM's field separator"):
            clm.encode(chat, user, "hi", "s", 5)
    assert clm.clm_cuts("a |¶| b") and not clm.clm_cuts("a | b ¶")
    with pytest.raises(InvalidInputError, match="': '"):
        clm.encode_legacy("1", "alice: admin", "hi", "seed", "general", 5)


# The command line (a real process): what CLM 2.0.2 itself would make of the same input.
CLM_ENV = {"PBRIDGE_CHAT_SECRET": "correct horse battery staple"}
HELLO = (  # "Hello, Bob!" from alice in chat general at epoch 1758411713 (shared/clm's vector)
    '{"e": 1758411713, "n": "Vw5cvhB554xq8ESk", '
    '"d": "6965bb042f38182fdd9c0bc7f87955c8eef10753fdfccf91381213e31e8a2700"}'
)
ENCODE = ("clm", "encode", "--chat", "general", "--username", "alice", "--epoch", "1758411713")


def test_encode_refuses_the_separator_in_names_before_asking_for_the_secret() -> None:
    from test_cli import run

    for args in (("--chat", "fam|¶|ily", "--username", "alice"), ("--chat", "general", "--username", "al|¶|ice")):
        result = run("clm", "encode", *args, stdin="hi\n")  # no secret given: it is not asked for
        assert (result.returncode, result.stdout) == (3, ""), result.stderr
        assert result.stderr.count("\n") == 1 and "CLM's field separator" in result.stderr


def test_encode_warns_that_a_clm_peer_cuts_a_body_at_the_separator() -> None:
    from test_cli import run

    result = run(*ENCODE, stdin="price |¶| 100\n", env=CLM_ENV)
    assert result.returncode == 0
    assert result.stderr == (
        "warning: the message holds |¶|, CLM's field separator: a CLM peer shows only what comes before it\n"
    )
    body = clm.decode(result.stdout.strip(), "general", CLM_ENV["PBRIDGE_CHAT_SECRET"]).body
    assert body == "price |¶| 100"  # written whole: this project's reader keeps it


def test_a_crlf_line_end_is_removed_as_a_newline_is() -> None:
    from test_cli import run

    for ending in ("\n", "\r\n"):
        result = run(*ENCODE, stdin=f"Hello, Bob!{ending}", env=CLM_ENV)
        assert (result.returncode, result.stdout.strip(), result.stderr) == (0, HELLO, "")
    for ending in ("\n", "\r\n"):  # only the line end goes, even when nothing else is stripped
        kept = run(*ENCODE, "--no-strip", stdin=f"  Hello, Bob! {ending}", env=CLM_ENV)
        assert clm.decode(kept.stdout.strip(), "general", CLM_ENV["PBRIDGE_CHAT_SECRET"]).body == "  Hello, Bob! "


def test_what_clm_would_have_stripped_is_stripped_unless_no_strip() -> None:
    from test_cli import run

    # CLM strips every typed input: a secret, a name or a message with spaces around it.
    padded = {"PBRIDGE_CHAT_SECRET": "  correct horse battery staple \n"}
    decoded = run("clm", "decode", "--chat", " general ", stdin=HELLO, env=padded)
    assert (decoded.returncode, decoded.stdout) == (0, "alice: Hello, Bob!\n"), decoded.stderr
    assert decoded.stderr == (
        "note: removed spaces or line breaks around the chat and the secret, as CLM does with everything typed "
        "(--no-strip keeps them)\n"
    )
    assert "horse" not in decoded.stderr
    exact = run("clm", "decode", "--chat", "general", "--no-strip", stdin=HELLO, env=padded)
    assert exact.returncode == 21  # the secret with its spaces is another secret
    args = ("--chat", "general ", "--username", " alice", "--epoch", "1758411713")
    encoded = run("clm", "encode", *args, stdin="  Hello, Bob!  \r\n", env=padded)
    assert (encoded.returncode, encoded.stdout.strip()) == (0, HELLO), encoded.stderr
    assert "around the message, the username, the chat and the secret" in encoded.stderr
    blank = run("clm", "decode", "--chat", "general", stdin=HELLO, env={"PBRIDGE_CHAT_SECRET": " \t "})
    assert blank.returncode == 3 and "the secret is empty once stripped" in blank.stderr


def _fields_as_clm_reads_them(pointer: str, secret: str) -> list[str]:
    """CLM's own reader: decrypt, drop the '#', split on every separator (shared/clm)."""
    import hashlib

    obj = json.loads(pointer)
    cipher = bytes.fromhex(obj["d"])
    seed = hashlib.sha256(f"{secret}_{obj['e']}_{obj['n']}".encode()).digest()
    signed = bytes(a ^ b for a, b in zip(cipher, clm.keystream(seed, len(cipher)), strict=True)).decode()
    assert signed.startswith("#")
    return signed[1:].split(clm.SEPARATOR)


def test_a_name_ending_in_half_a_separator_is_refused_and_every_other_edge_parses() -> None:
    # "bob|¶" + "|¶|" + "hi" reads as "bob" + "|¶|" + "¶|hi": the separator forms a character early.
    for chat, user in (("fam|¶", "bob"), ("fam", "bob|¶"), ("|¶", "bob"), ("fam", "|¶")):
        with pytest.raises(InvalidInputError, match="CLM's field separator"):
            clm.encode(chat, user, "hi", "s", 5)
    # Anything else at a field's edge is where it was written, for this reader and for CLM's.
    edges = ("¶|", "|", "¶", "¶|x", "x|", "x¶", "|x", "¶¶||", "")
    for chat, user, body in [(f"c{e}", e, "hi") for e in edges] + [(e or "c", "u", f"¶|{e}") for e in edges]:
        pointer = clm.encode(chat, user, body, "s", 5)
        got = clm.decode(pointer, chat, "s")
        assert (got.chat, got.username, got.body) == (chat, user, body), (chat, user, body)
        fields = _fields_as_clm_reads_them(pointer, "s")
        assert fields[:2] == [chat, user], (chat, user, body)
        assert fields[2] == body or (clm.clm_cuts(body) and body.startswith(fields[2])), body  # "¶|¶|": cut


def test_encode_refuses_a_name_ending_in_half_a_separator_before_asking_for_the_secret() -> None:
    from test_cli import run

    for args in (("--chat", "fam", "--username", "bob|¶"), ("--chat", "fam|¶", "--username", "bob")):
        for extra in ((), ("--no-strip",)):
            result = run("clm", "encode", *args, *extra, stdin="hi\n")  # no secret given: it is not asked for
            assert (result.returncode, result.stdout) == (3, ""), result.stderr
            assert result.stderr.count("\n") == 1 and "CLM's field separator" in result.stderr
    # Stripped as CLM strips it, "bob|¶ " ends in half a separator too: refused before the secret.
    result = run("clm", "encode", "--chat", "fam", "--username", "bob|¶ ", stdin="hi\n")
    assert (result.returncode, result.stdout) == (3, ""), result.stderr


def test_decode_help_says_only_what_applies_to_decode() -> None:
    from click.testing import CliRunner
    from pointerbridge.cli.main import pbridge

    result = CliRunner().invoke(pbridge, ["clm", "decode", "--help"], env={"COLUMNS": "300"}, prog_name="pbridge")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert "--secret-fd" in text.split("Options", 1)[0]  # the description names every source of the secret
    assert "(encode)" not in text and "piped message" not in text and "the message" not in text
    assert "around the secret and the chat name" in text
