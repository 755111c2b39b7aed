"""Every vector of tests/vectors/ (pb1, pb2, keys2, blob) run by the page in Chromium.

The page is the shipped file (webpage/pbridge.html) opened from disk; its core is driven
through ``window.pointerbridge.hex`` (hex and JSON in and out) and every result is
compared here, in Python, as tests/test_vectors.py, test_vectors_pb2.py,
test_key_vectors.py and test_blob_vectors.py compare the Python core's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from browser import shipped_page
from pointerbridge.core import InvalidInputError
from pointerbridge.core.blob import SEALED_CHUNK_BYTES
from pointerbridge.core.keys import normalize_chat_name, normalize_username
from test_blob_vectors import blob_of, plaintext

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"


def _load(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((VECTORS / name).read_text(encoding="utf-8"))["vectors"]
    return data


PB1, PB2, KEYS2, BLOB = _load("pb1.json"), _load("pb2.json"), _load("keys2.json"), _load("blob.json")


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    """The shipped page, open once for the module (Chromium's start is slow)."""
    with shipped_page() as page:
        yield page


def call(page: Page, name: str, *args: Any) -> Any:
    """``pointerbridge.hex[name](...args)`` in the page (awaited when it is a promise)."""
    return page.evaluate("([name, args]) => window.pointerbridge.hex[name](...args)", [name, list(args)])


def _check_message(page: Page, got: dict[str, Any], want: dict[str, Any], chat: str, version: int) -> None:
    assert got["chat"] == normalize_chat_name(chat)
    assert (got["username"], got["sender_key"], got["sent_at_ms"]) == (
        want["username"],
        want["sender_key"],
        want["sent_at_ms"],
    )
    assert (got["body"], got["id"], got["version"]) == (want["body"], want["id"], version)
    if version == 2:
        assert (got["stream"], got["seq"]) == (want["stream"], want["seq"])
        assert got["content"] == want["content"]
        assert got["record"] == want["record"]
        assert call(page, "encodeContent", got["content"]) == want["record"]
    else:
        assert (got["stream"], got["seq"], got["record"]) == (None, None, None)
        assert got["content"] == {"kind": "text", "text": want["body"]}


def _check_part(got: dict[str, Any], want: dict[str, Any], version: int) -> None:
    assert (got["message_id"], got["index"], got["count"]) == (want["message_id"], want["index"], want["count"])
    assert got["version"] == version
    if "data" in want:
        assert got["data"] == want["data"]
    if version == 2:
        assert (got["stream"], got["seq"]) == (want["stream"], want["seq"])


def _replay(page: Page, v: dict[str, Any], version: int) -> None:
    kind, expect = v["kind"], v["expect"]
    if kind == "chat_key":
        got = call(page, "chatKey", v["chat_name"], v["secret"], None)
        assert got["outcome"] == "success"
        fields = ("normalized_name", "argon2_salt", "chat_key", "routing_tag_key", "chat_id")
        assert {f: got[f] for f in fields} == {f: v[f] for f in fields}
    elif kind == "identity":
        got = call(page, "identity", v["username"], v["master_phrase"], None)
        assert (got["outcome"], got["seed"], got["public_key"], got["fingerprint"]) == (
            "success",
            v["seed"],
            v["public_key"],
            v["fingerprint"],
        )
        assert call(page, "identityFromSeed", v["username"], v["seed"])["public_key"] == got["public_key"]
    elif kind == "find":
        assert call(page, "find", v["text"]) == v["pointers"]
    elif kind == "seal" and version == 1:
        args = (v["username"], v["body"], v["sent_at_ms"], v["max_chars"], v["random"])
        got = call(page, "seal", v["chat_name"], v["chat_key"], v["sender_seed"], *args)
        assert got["pointers"] == v["pointers"]
        assert got["random_left"] == 0, "the seal drew fewer random bytes than the vector lists"
    elif kind == "seal":
        assert call(page, "encodeContent", v["content"]) == v["record"]
        args = (v["content"], v["stream"], v["seq"], v["sent_at_ms"], v["max_chars"], v["random"])
        got = call(page, "seal2", v["chat_name"], v["chat_key"], v["sender_seed"], v["username"], *args)
        assert (got["pointers"], got["record"]) == (v["pointers"], v["record"])
        assert got["random_left"] == 0, "the seal drew fewer random bytes than the vector lists"
    elif kind == "unseal":
        got = call(page, "unseal", v["chat_name"], v["chat_key"], v["pointer"])
        assert got["outcome"] == expect, got.get("error")
        assert ("message" in got, "part" in got) == ("message" in v, "part" in v)
        if "message" in v:
            _check_message(page, got["message"], v["message"], v["chat_name"], version)
        if "part" in v:
            _check_part(got["part"], v["part"], version)
    elif kind == "join":
        got = call(page, "join", v["chat_name"], v["chat_key"], v["pointers"])
        assert got["outcome"] == expect, got.get("error")
        if expect == "success":
            _check_message(page, got["message"], v["message"], v["chat_name"], version)
    else:
        raise AssertionError(f"unknown vector kind {kind}")


@pytest.mark.parametrize("vector", PB1, ids=[f"{v['id']}-{v['name']}" for v in PB1])
def test_pb1_vector_in_the_page(page: Page, vector: dict[str, Any]) -> None:
    _replay(page, vector, 1)


@pytest.mark.parametrize("vector", PB2, ids=[f"{v['id']}-{v['name'][:60]}" for v in PB2])
def test_pb2_vector_in_the_page(page: Page, vector: dict[str, Any]) -> None:
    _replay(page, vector, 2)


@pytest.mark.parametrize("vector", KEYS2, ids=[v["name"] for v in KEYS2])
def test_salted_key_vector_in_the_page(page: Page, vector: dict[str, Any]) -> None:
    v, kind = vector, vector["kind"]
    if kind == "chat_key_salted":
        got = call(page, "chatKey", v["chat_name"], v["secret"], v["salt"])
        fields = ("normalized_name", "argon2_salt", "chat_key", "routing_tag_key", "chat_id")
    elif kind == "identity_salted":
        got = call(page, "identity", v["username"], v["master_phrase"], v["recovery_code"])
        fields = ("argon2_salt", "seed", "public_key", "fingerprint")
        if v["expect"] == "success":
            assert call(page, "recoveryCode", v["recovery_code"])["memory_mib"] == v["memory_mib"]
            assert call(page, "identityFromSeed", v["username"], v["seed"])["public_key"] == v["public_key"]
    elif kind == "recovery_code":
        got = call(page, "recoveryCode", v["text"])
        fields = ("memory_mib", "salt")
    else:
        raise AssertionError(f"unknown kind {kind}")
    assert got["outcome"] == v["expect"], got.get("error")
    if v["expect"] == "success":
        assert {f: got[f] for f in fields} == {f: v[f] for f in fields}


@pytest.mark.parametrize("vector", BLOB, ids=[v["name"] for v in BLOB])
def test_blob_vector_in_the_page(page: Page, vector: dict[str, Any]) -> None:
    blob = blob_of(vector)
    assert len(blob) == vector["blob_size"]
    key, digest, size = vector["file_key"], vector["hash"], vector["size"]
    if vector["expect"] == "success":
        plain = plaintext(vector)
        sealed = call(page, "sealBlob", key, plain.hex())
        assert (sealed["blob"], sealed["hash"]) == (blob.hex(), digest)
        made = bytes.fromhex(sealed["blob"])
        tags = [made[i - 16 : i].hex() for i in range(SEALED_CHUNK_BYTES, len(made), SEALED_CHUNK_BYTES)]
        assert [*tags, made[-16:].hex()] == vector["chunk_tags"]
        opened = call(page, "openBlob", key, digest, size, blob.hex())
        assert (opened["outcome"], opened["plaintext"]) == ("success", plain.hex())
        return
    assert hashlib.sha256(blob).hexdigest() == digest or vector["expect"] == "blob_hash"  # one defect each
    opened = call(page, "openBlob", key, digest, size, blob.hex())
    assert opened["outcome"] == vector["expect"], opened.get("error")
    assert "plaintext" not in opened


def test_every_vector_file_is_run() -> None:
    assert (len(PB1), len(PB2), len(KEYS2), len(BLOB)) == (61, 36, 13, 17)


# Names whose normal form a second implementation gets wrong with toLowerCase, a narrower
# whitespace set or a missing ignorable: each is compared with the Python core's.
NAMES = [
    "  Family\u00a0CHAT ",
    "Straße",
    "\ufb01le",
    "\u0130stanbul",
    "ΣΊΣΥΦΟΣ",
    "a\u200bb\u00adc\ufeffd",
    "x\u1680y\u2028z\u3000w\x1cv\x85u",
    "\u2460 \u3392 \uff21",
    "\U0001d400\U00010400",
    "",
    "   ",
    "a\u0007b",
    "a\u202eb",
    "a\ue000b",
    "é" * 65,
    "x" * 129,
    "e\u0301",
]


# A name as the page normalizes it as a chat name and as a username (or the error's name).
NORMALIZE_BOTH = """(name) => { const out = {};
  for (const f of ["normalizeChatName", "normalizeUsername"]) {
    try { out[f] = window.pointerbridge[f](name); } catch (e) { out[f] = e.name; } }
  return out; }"""


@pytest.mark.parametrize("name", NAMES)
def test_names_normalize_as_in_the_python_core(page: Page, name: str) -> None:
    got = page.evaluate(NORMALIZE_BOTH, name)
    for fn, key in ((normalize_chat_name, "normalizeChatName"), (normalize_username, "normalizeUsername")):
        try:
            want = fn(name)
        except InvalidInputError:
            want = "InvalidName"
        assert got[key] == want, (key, name)


def test_casefold_in_the_page_is_python_str_casefold(page: Page) -> None:
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert page.evaluate("(t) => window.pointerbridge.casefold(t)", every) == every.casefold()


def test_unicode_table_is_what_the_script_writes(tmp_path: Path) -> None:
    out = tmp_path / "unicode_table.ts"
    script = ROOT / "scripts" / "make_unicode_table.py"
    subprocess.run([sys.executable, str(script), str(out)], check=True, capture_output=True)
    assert out.read_bytes() == (ROOT / "web" / "src" / "core" / "unicode_table.ts").read_bytes()


def test_signatures_are_judged_as_openssl_judges_them(page: Page) -> None:
    """A key with a small-order component passes the key rule; OpenSSL (pyca) refuses its
    signature by the cofactorless equation, and so must the page (a cofactored check,
    noble's own verify, would accept it). A genuine signature verifies in both."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    from web_ed25519 import mixed_order_signature

    made = next(m for m in (mixed_order_signature(b"message %d" % i) for i in range(16)) if m)
    key, signature = made
    message = next(b"message %d" % i for i in range(16) if mixed_order_signature(b"message %d" % i) == made)
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
    assert call(page, "verify", key.hex(), signature.hex(), message.hex()) == {"strict": True, "verifies": False}
    private = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    genuine = private.public_key().public_bytes_raw()
    good = private.sign(message)
    assert call(page, "verify", genuine.hex(), good.hex(), message.hex()) == {"strict": True, "verifies": True}


def _invite(fields: dict[str, Any]) -> str:
    """An invite as app/invite.py writes one (sorted, compact JSON in base64url)."""
    data = json.dumps(fields, separators=(",", ":"), sort_keys=True).encode()
    return "pbinvite1." + base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_invites_read_as_the_app_reads_them(page: Page) -> None:
    from pointerbridge.app.invite import read_invite

    salt = bytes(range(16, 32))
    salted = _invite(
        {
            "v": 2,
            "chat": "Family Chat",
            "salt": base64.urlsafe_b64encode(salt).decode().rstrip("="),
            "carriers": {"home": {"type": "files", "folder": "/srv/x"}},
        }
    )
    script = """(text) => { try { const i = window.pointerbridge.readInvite(text);
        return { name: i.name, salt: i.salt ? window.pointerbridge.toHex(i.salt) : null, carriers: i.carriers }; }
      catch (e) { return { error: e.name }; } }"""
    wrapped = salted[:30] + "\n " + salted[30:]
    for text in (salted, wrapped):
        want = read_invite(text)
        got = page.evaluate(script, text)
        assert (got["name"], got["salt"], got["carriers"]) == (want.chat, salt.hex(), {"home": "files"})
    opened = page.evaluate(script, _invite({"v": 1, "chat": "open one", "carriers": {}}))
    assert (opened["name"], opened["salt"]) == (
        read_invite(_invite({"v": 1, "chat": "open one", "carriers": {}})).chat,
        None,
    )
    for bad in (
        salted[:-3],
        _invite({"v": 3, "chat": "x", "carriers": {}}),
        _invite({"v": 2, "chat": "x", "carriers": {}}),
        "pbinvite2.e30",
    ):
        with pytest.raises(InvalidInputError):
            read_invite(bad)
        assert page.evaluate(script, bad) == {"error": "InvalidInput"}, bad
