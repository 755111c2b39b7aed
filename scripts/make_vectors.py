"""Write tests/vectors/pb1.json: the pb1 test vectors, from injected randomness.

Every vector tests exactly one success or one failure and names it in ``expect``. Run
``python scripts/make_vectors.py`` after a deliberate format change, then pin the new
sha256 in docs/SPEC.md §10; tests/test_vectors.py checks both the file and the pin.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pointerbridge.core import ChatKey, Identity, armor, pointer
from pointerbridge.core.keys import _CHAT_SALT_LABEL, _IDENTITY_SALT_LABEL, _argon2, _argon2_salt
from pointerbridge.core.padding import padded_length

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "pb1.json"
SENT_MS = 1_790_000_000_123  # 2026-09-21, fixed so the file is reproducible


class Drbg:
    """Deterministic stand-in for os.urandom: SHA-256(label || counter) blocks."""

    def __init__(self, label: str) -> None:
        self.label, self.counter, self.drawn = label.encode(), 0, bytearray()

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(self.label + struct.pack(">Q", self.counter)).digest()
            self.counter += 1
        self.drawn += out[:n]
        return out[:n]


# pb1's vectors use the first (open, unsalted) key schedules; keys2.json has the second.
CHAT = ChatKey.derive_open("general", "correct horse battery staple")
OTHER = ChatKey.derive_open("other", "another secret")
ALICE = Identity.derive_unsalted("alice", "alice's master phrase")
MALLORY = Identity.derive_unsalted("mallory", "mallory's master phrase")
CHAT_KEY_HEX = CHAT._key.hex()


def seal_with(
    body: str, label: str, *, chat: ChatKey = CHAT, sender: Identity = ALICE, max_chars: int | None = None
) -> list[str]:
    return pointer._seal(chat, sender, body, max_chars, Drbg(label), SENT_MS)


def legacy_split(body: str, label: str, max_chars: int) -> list[str]:
    """The parts a sealer before balanced splitting (SPEC §8) made: every part as full as
    it fits, the last one shorter. The join vectors keep them, so old split pointers are
    shown to join; the randomness is drawn as the sealer draws it (message id, nonces)."""
    rng = Drbg(label)
    data = body.encode()
    chunk = pointer._part_capacity(pointer.FIXED_BYTES + len(ALICE.username) + pointer._SPLIT_BYTES, max_chars)
    count = -(-len(data) // chunk)
    message_id = rng(16)
    return [
        pointer._seal_content(
            CHAT,
            ALICE,
            rng(16),
            pointer._content(ALICE, SENT_MS, data[i * chunk : (i + 1) * chunk], (message_id, i, count)),
        )
        for i in range(count)
    ]


def payload(text: str) -> bytearray:
    return bytearray(armor.dearmor(text)[1])


def rearmor(data: bytes | bytearray) -> str:
    return armor.armor(1, bytes(data))


def message_fields(body: str, unique_hex: str, sender: Identity = ALICE) -> dict[str, Any]:
    """Expected fields; the id is SHA-256 over the sender key and nonce (or message id)."""
    digest = hashlib.sha256(b"pb1 message id\0" + sender.public_key + bytes.fromhex(unique_hex))
    return {
        "username": sender.username,
        "sender_key": sender.public_key.hex(),
        "sent_at_ms": SENT_MS,
        "body": body,
        "id": digest.digest()[:16].hex(),
    }


def craft(
    label: str,
    mutate: Callable[[bytes, bytes, bytes], tuple[bytes, bytes, bytes]],
    body: str = "crafted",
    split: tuple[bytes, int, int] | None = None,
    sign_chat: ChatKey = CHAT,
    signer: Identity = ALICE,
) -> str:
    """Seal by hand: mutate(head, body, signature) may change any part before encryption."""
    rng = Drbg(label)
    nonce = rng(16)
    content = pointer._content(ALICE, SENT_MS, body.encode(), split)
    signature = signer._sign(content.signed(sign_chat, nonce))
    head, data, sig = mutate(content.head, content.body, signature)
    resigned = pointer._Content(head, data)
    if (head, data) != (content.head, content.body) and sig == signature:
        sig = signer._sign(resigned.signed(sign_chat, nonce))  # isolate the one failure
    inner = head + data + sig
    return pointer._encrypt(CHAT, nonce, inner + bytes(padded_length(len(inner)) - len(inner)))


def craft_inner(label: str, build: Callable[[bytes], bytes]) -> str:
    """Encrypt arbitrary plaintext for CHAT: build(nonce) returns the padded inner bytes."""
    nonce = Drbg(label)(16)
    return pointer._encrypt(CHAT, nonce, build(nonce))


def signed_inner(nonce: bytes, head: bytes, body: bytes, pad_to: int | None = None, pad_byte: int = 0) -> bytes:
    sig = ALICE._sign(pointer._Content(head, body).signed(CHAT, nonce))
    inner = head + body + sig
    size = padded_length(len(inner)) if pad_to is None else pad_to
    return inner + bytes([pad_byte]) * (size - len(inner))


def flip(text: str, byte: int, bit: int = 0) -> str:
    data = payload(text)
    data[byte] ^= 1 << bit
    return rearmor(data)


def wrap_quoted(text: str, width: int = 70) -> str:
    return "\n".join("> " + text[i : i + width] for i in range(0, len(text), width))


def unseal_vector(name: str, text: str, expect: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "unseal",
        "name": name,
        "chat_name": CHAT.name,
        "chat_key": CHAT_KEY_HEX,
        "pointer": text,
        "expect": expect,
        **extra,
    }


def success(name: str, body: str, label: str, transform: Callable[[str], str] = str) -> dict[str, Any]:
    text = seal_with(body, label)[0]
    nonce = bytes(payload(text)[:16]).hex()
    return unseal_vector(name, transform(text), "success", message=message_fields(body, nonce))


def kdf_vectors() -> list[dict[str, Any]]:
    out = []
    for name, secret in (("general", "correct horse battery staple"), ("  Family\u00a0CHAT ", "se\u0301same")):
        key = ChatKey.derive_open(name, secret)
        out.append(
            {
                "kind": "chat_key",
                "name": f"chat key for {name!r}",
                "chat_name": name,
                "secret": secret,
                "expect": "success",
                "normalized_name": key.normalized_name,
                "argon2_salt": hashlib.sha256(_CHAT_SALT_LABEL + b"\0" + key.normalized_name.encode()).hexdigest(),
                "chat_key": key._key.hex(),
                "routing_tag_key": key._tag_key.hex(),
                "chat_id": key._chat_id.hex(),
            }
        )
    for user, phrase in (("alice", "alice's master phrase"), ("Алиса", "фраза")):
        ident = Identity.derive_unsalted(user, phrase)
        seed = _argon2(_argon2_salt(_IDENTITY_SALT_LABEL, ident.username, None), phrase.encode())
        out.append(
            {
                "kind": "identity",
                "name": f"identity of {user!r}",
                "username": user,
                "master_phrase": phrase,
                "expect": "success",
                "seed": seed.hex(),
                "public_key": ident.public_key.hex(),
                "fingerprint": ident.fingerprint,
            }
        )
    return out


def seal_vectors() -> list[dict[str, Any]]:
    out = []
    for name, body, max_chars in (
        ("seal an empty body", "", None),
        ("seal 100 bytes", "x" * 100, None),
        ("seal 1000 bytes split at 700 chars", "split me " * 111 + "!", 700),
    ):
        rng = Drbg(name)
        pointers = pointer._seal(CHAT, ALICE, body, max_chars, rng, SENT_MS)
        seed = _argon2(_argon2_salt(_IDENTITY_SALT_LABEL, "alice", None), b"alice's master phrase")
        out.append(
            {
                "kind": "seal",
                "name": name,
                "chat_key": CHAT_KEY_HEX,
                "chat_name": CHAT.name,
                "sender_seed": seed.hex(),
                "username": "alice",
                "body": body,
                "sent_at_ms": SENT_MS,
                "max_chars": max_chars,
                "random": bytes(rng.drawn).hex(),
                "expect": "success",
                "pointers": pointers,
            }
        )
    return out


def unseal_successes() -> list[dict[str, Any]]:
    mixed = "Привет, мир · مرحبا · 你好 · नमस्ते · e\u0301 · 🙂👍🏽"
    edge = "e" * (240 - pointer.FIXED_BYTES - len("alice"))
    return [
        success("empty body", "", "s0"),
        success("one byte", "a", "s1"),
        success("100 bytes", "0123456789" * 10, "s100"),
        success("4 KiB", "four kibibytes. " * 256, "s4k"),
        success("emoji", "🔐🌉✉️ 👩‍👩‍👧", "semoji"),
        success("mixed scripts", mixed, "smixed"),
        success("fills the smallest bucket exactly", edge, "sedge"),
        success("one byte over the smallest bucket", edge + "e", "sedge1"),
        success("wrapped at 70 columns and quoted with '> '", "quoted", "squote", wrap_quoted),
        success(
            "spaces, tabs and CRLF inside", "spaced", "sspace", lambda t: t[:10] + " \t" + t[10:50] + "\r\n" + t[50:]
        ),
        success(
            "zero-width space, NBSP and soft hyphen inside",
            "zw",
            "szw",
            lambda t: t[:5] + "\u200b" + t[5:40] + "\u00a0" + t[40:90] + "\u00ad" + t[90:],
        ),
    ]


def armor_failures(base: str) -> list[dict[str, Any]]:
    data = payload(base)
    full = rearmor(data)
    header, body = full[:6], full[6:]
    too_long_block = header + "z" * 43 + body[43:]
    last_len = armor._CHARS_FOR[len(data) % 32]
    return [
        unseal_vector("wrong prefix", "qb" + base[2:], "armor"),
        unseal_vector("character outside the alphabet", base[:40] + "+" + base[41:], "armor"),
        unseal_vector("characters after the end", base + "AB", "armor"),
        unseal_vector("declared length zero", "pb1000", "armor"),
        unseal_vector("empty text", "", "armor"),
        unseal_vector("a full block above 2^256", too_long_block, "noncanonical"),
        unseal_vector(
            "a last block above its byte count", full[: len(full) - last_len] + "z" * last_len, "noncanonical"
        ),
        unseal_vector("version 3 (pb2 is read since issue 21)", "pb3" + base[3:], "version"),
        unseal_vector("version Z", "pbZ" + base[3:], "version"),
        unseal_vector("ten characters missing", base[:-10], "truncated"),
        unseal_vector("only the prefix", "pb1", "truncated"),
        unseal_vector("a valid armor too short for pb1", rearmor(data[:200]), "truncated"),
        unseal_vector("declared length above 32 KiB", "pb1" + armor._encode_number(40000, 3) + base[6:], "oversize"),
    ]


def crypto_failures(base: str) -> list[dict[str, Any]]:
    data = payload(base)
    split = (bytes(range(16)), 0, 2)
    other_text = seal_with("for the other chat", "sother", chat=OTHER)[0]
    head_len = pointer._HEAD.size + len("alice")

    def set_flags(h: bytes, b: bytes, s: bytes) -> tuple[bytes, bytes, bytes]:
        return bytes([h[0] | 0x80]) + h[1:], b, s

    def denormal_user(h: bytes, b: bytes, s: bytes) -> tuple[bytes, bytes, bytes]:
        user = b"alice "
        head = h[:41] + bytes([len(user)]) + user + h[head_len:]
        return head, b, s

    def far_future(h: bytes, b: bytes, s: bytes) -> tuple[bytes, bytes, bytes]:
        return h[:1] + struct.pack(">Q", 2**64 - 1) + h[9:], b, s

    def long_body_len(h: bytes, b: bytes, s: bytes) -> tuple[bytes, bytes, bytes]:
        return h[:-4] + struct.pack(">I", 5000), b, s

    def bad_utf8(h: bytes, b: bytes, s: bytes) -> tuple[bytes, bytes, bytes]:
        return h, b"\xff\xfe" + b[2:], s

    def flip_sig(h: bytes, b: bytes, s: bytes) -> tuple[bytes, bytes, bytes]:
        return h, b, bytes([s[0] ^ 1]) + s[1:]

    def other_key(h: bytes, b: bytes, s: bytes) -> tuple[bytes, bytes, bytes]:
        return h[:9] + MALLORY.public_key + h[41:], b, s

    def impossible_part(h: bytes, b: bytes, s: bytes) -> tuple[bytes, bytes, bytes]:
        return h[:head_len] + struct.pack(">16sHH", bytes(range(16)), 2, 2) + h[head_len + 20 :], b, s

    padded_body = b"padded " * 50
    head = pointer._content(ALICE, SENT_MS, padded_body, None).head
    content_len = len(head) + len(padded_body) + 64
    bucket = padded_length(content_len)
    return [
        unseal_vector("another chat's pointer", other_text, "no_match"),
        unseal_vector("a bit flipped in the nonce", flip(base, 3), "no_match"),
        unseal_vector("a bit flipped in the routing tag", flip(base, 17, 5), "no_match"),
        unseal_vector("a bit flipped in the ciphertext", flip(base, 60), "aead"),
        unseal_vector("a bit flipped in the AEAD tag", flip(base, len(data) - 1, 7), "aead"),
        unseal_vector(
            "the last byte cut and re-armored", rearmor(payload(seal_with("y" * 300, "cut")[0])[:-1]), "aead"
        ),
        unseal_vector(
            "a non-zero padding byte",
            craft_inner("pad1", lambda n: signed_inner(n, head, padded_body, pad_byte=1)),
            "padding",
        ),
        unseal_vector(
            "padded one bucket too far",
            craft_inner("pad2", lambda n: signed_inner(n, head, padded_body, pad_to=padded_length(bucket + 1))),
            "padding",
        ),
        unseal_vector(
            "no padding where the bucket needs some",
            craft_inner("pad3", lambda n: signed_inner(n, head, padded_body, pad_to=content_len)),
            "padding",
        ),
        unseal_vector("an unknown flag bit", craft("m1", set_flags), "malformed"),
        unseal_vector("body length past the end", craft("m2", long_body_len), "malformed"),
        unseal_vector("send time after the year 9999", craft("m6", far_future), "malformed"),
        unseal_vector("body not UTF-8", craft("m3", bad_utf8, body="\u00e9\u00e9 body"), "malformed"),
        unseal_vector("username not normalized", craft("m4", denormal_user), "malformed"),
        unseal_vector("part index equal to the count", craft("m5", impossible_part, split=split), "malformed"),
        unseal_vector("a bit flipped in the signature", craft("g1", flip_sig), "signature"),
        unseal_vector("another sender key", craft("g2", other_key), "signature"),
        unseal_vector("signed for another chat", craft("g3", lambda h, b, s: (h, b, s), sign_chat=OTHER), "signature"),
    ]


def join_vectors() -> list[dict[str, Any]]:
    body = "Ein langer Brief. " * 40
    parts = legacy_split(body, "join", 500)
    msg_id = Drbg("join")(16).hex()
    expected = message_fields(body, msg_id)
    chunk = pointer._part_capacity(pointer.FIXED_BYTES + len("alice") + pointer._SPLIT_BYTES, 500)
    one_part = unseal_vector(
        "one part of a split message",
        parts[1],
        "success",
        part={
            "username": "alice",
            "sender_key": ALICE.public_key.hex(),
            "sent_at_ms": SENT_MS,
            "message_id": msg_id,
            "index": 1,
            "count": len(parts),
            "data": body.encode()[chunk : 2 * chunk].hex(),
        },
    )
    mismatched = craft("j3", lambda h, b, s: (h, b, s), body="x", split=(bytes.fromhex(msg_id), 0, len(parts) + 1))
    pieces = (b"\xc3", b"A")  # half of a two-byte character, then a letter
    halves = [
        craft(f"j4{i}", lambda h, b, s, piece=pieces[i]: (h, piece, s), body=".", split=(b"\x11" * 16, i, 2))
        for i in range(2)
    ]
    return [
        one_part,
        {
            "kind": "join",
            "name": f"{len(parts)} parts in order",
            "chat_name": CHAT.name,
            "chat_key": CHAT_KEY_HEX,
            "pointers": parts,
            "expect": "success",
            "message": expected,
        },
        {
            "kind": "join",
            "name": "the same parts in reverse order",
            "chat_name": CHAT.name,
            "chat_key": CHAT_KEY_HEX,
            "pointers": parts[::-1],
            "expect": "success",
            "message": expected,
        },
        {
            "kind": "join",
            "name": "a part that disagrees about the count",
            "chat_name": CHAT.name,
            "chat_key": CHAT_KEY_HEX,
            "pointers": [parts[0], mismatched],
            "expect": "malformed",
        },
        {
            "kind": "join",
            "name": "parts that join into invalid UTF-8",
            "chat_name": CHAT.name,
            "chat_key": CHAT_KEY_HEX,
            "pointers": halves,
            "expect": "malformed",
        },
    ]


def find_vectors() -> list[dict[str, Any]]:
    a, b = seal_with("first", "f1")[0], seal_with("second", "f2")[0]
    return [
        {
            "kind": "find",
            "name": "a pointer inside a sentence",
            "text": f"look: {a} - nice?",
            "expect": "success",
            "pointers": [a],
        },
        {
            "kind": "find",
            "name": "two pointers in a quoted, wrapped e-mail reply",
            "text": f"On Monday Bob wrote:\n{wrap_quoted(a, 60)}\n>\n{wrap_quoted(b, 64)}\n\nThanks!",
            "expect": "success",
            "pointers": [a, b],
        },
        {
            "kind": "find",
            "name": "pointer-like words that are not pointers",
            "text": "pb1 is a lead pencil; pb12 and xpb1" + a[3:50] + " too",
            "expect": "success",
            "pointers": [],
        },
    ]


def review_vectors() -> list[dict[str, Any]]:
    """Added after the cryptographic review (issue 15), after every earlier vector so
    their ids stay as they were: small-order and non-canonical sender keys (refused before
    the signature is checked: OpenSSL takes (identity, 0) under the identity point for
    any message) and a split message whose sender gave one index two texts."""
    identity_point = bytes([1]) + bytes(31)
    identity_signature = identity_point + bytes(32)  # R = the identity, S = 0

    def key_vector(name: str, label: str, key: bytes) -> dict[str, Any]:
        nonce = Drbg(label)(16)
        user = ALICE.username.encode()
        body = b"signed by nobody"
        head = pointer._HEAD.pack(0, SENT_MS, key, len(user)) + user + pointer._U32.pack(len(body))
        inner = head + body + identity_signature
        text = pointer._encrypt(CHAT, nonce, inner + bytes(padded_length(len(inner)) - len(inner)))
        return unseal_vector(name, text, "signature")

    p = 2**255 - 19
    message_id = Drbg("equivocation")(16)
    first, second = (
        craft(f"eq{i}", lambda h, b, s: (h, b, s), body=piece, split=(message_id, i, 2))
        for i, piece in enumerate(("the first half, ", "then the second"))
    )
    other_first = craft("eq0 other", lambda h, b, s: (h, b, s), body="ANOTHER first h.", split=(message_id, 0, 2))
    return [
        key_vector(
            "a sender key of small order (the identity point, signature (identity, 0))", "weak1", identity_point
        ),
        key_vector(
            "a sender key of order 8",
            "weak8",
            bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
        ),
        key_vector(
            "a sender key not canonically encoded (y = p + 1, the identity again)",
            "weakp",
            (p + 1).to_bytes(32, "little"),
        ),
        {
            "kind": "join",
            "name": "two parts with one index and different data",
            "chat_name": CHAT.name,
            "chat_key": CHAT_KEY_HEX,
            "pointers": [first, other_first, second],
            "expect": "malformed",
        },
    ]


def build() -> dict[str, Any]:
    base = seal_with("the base pointer for failure vectors", "base")[0]
    vectors = [
        *kdf_vectors(),
        *seal_vectors(),
        *unseal_successes(),
        *armor_failures(base),
        *crypto_failures(base),
        *join_vectors(),
        *find_vectors(),
        *review_vectors(),
    ]
    return document("pb1 test vectors", "docs/SPEC.md", "scripts/make_vectors.py", vectors)


def document(title: str, spec: str, generator: str, vectors: list[dict[str, Any]]) -> dict[str, Any]:
    """A vector file: its vectors numbered from 1, in order."""
    for number, vector in enumerate(vectors, 1):
        vector["id"] = number
    return {"format": title, "spec": spec, "generator": generator, "vectors": vectors}


def render(make: Callable[[], dict[str, Any]] = build) -> bytes:
    return (json.dumps(make(), ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def main(make: Callable[[], dict[str, Any]] = build, out: Path = OUT) -> None:
    """Write the file ``make`` builds to the path given, else to ``out``."""
    data = render(make)
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else out
    target.write_bytes(data)
    print(f"{target}: {len(json.loads(data)['vectors'])} vectors, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
