"""Write tests/vectors/pb2.json: the pb2 test vectors (SPEC §11), from injected randomness.

Every vector tests exactly one success or one failure and names it in ``expect``. Run
``python scripts/make_pb2_vectors.py`` after a deliberate format change, then pin the new
sha256 in docs/SPEC.md §11; tests/test_vectors_pb2.py checks both the file and the pin.
The chat, the sender and the randomness are pb1's (scripts/make_vectors.py).
"""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from make_vectors import ALICE, CHAT, CHAT_KEY_HEX, OTHER, SENT_MS, Drbg, document, main, seal_with, wrap_quoted
from pointerbridge.core import armor, content, layout, pointer2
from pointerbridge.core.keys import _IDENTITY_SALT_LABEL, Identity, _argon2, _argon2_salt
from pointerbridge.core.padding import padded_length
from pointerbridge.core.rotation import make_notice, notice_bytes

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "pb2.json"
STREAM = bytes.fromhex("5eed5eed00c0ffee")
TARGET = hashlib.sha256(b"the message replied to").hexdigest()[:32]


def content_json(c: content.Content) -> dict[str, Any]:
    """A content as the vectors write it: its kind's name and its fields (bytes as hex)."""
    if isinstance(c, content.Unknown):
        return {"kind": "unknown", "code": c.kind, "data": c.data.hex()}
    if isinstance(c, content.Attachment):
        return {
            "kind": "attachment",
            "file_key": c.file_key.hex(),
            "hash": c.hash.hex(),
            "size": c.size,
            "name": c.name,
            "media_type": c.media_type,
            "locators": [{"carrier": loc.carrier, "value": loc.value} for loc in c.locators],
            "caption": c.caption,
        }
    fields = {"text": getattr(c, "text", None), "target": getattr(c, "target", None)}
    if isinstance(c, content.Rotation):
        fields["notice"] = c.notice.hex()
    kind = type(c).__name__.lower()
    return {"kind": kind, **{k: v for k, v in fields.items() if v is not None}}


def rotation() -> content.Rotation:
    old = Identity("alice", Drbg("the old alice")(32))
    notice = make_notice(old, ALICE, datetime.fromtimestamp(SENT_MS / 1000, UTC))
    return content.Rotation(notice_bytes(notice))


def attachment(name: str = "holiday photo.jpg") -> content.Attachment:
    rng = Drbg("attachment")
    return content.Attachment(
        rng(32),
        rng(32),
        5_000_000,
        name,
        "image/jpeg",
        (content.Locator("files", "blob-3f9a.pbb"), content.Locator("matrix", "mxc://example.org/AbCdEf")),
        "the view from the top",
    )


KINDS: list[tuple[str, content.Content]] = [
    ("text", content.Text("dinner at eight?")),
    ("empty text", content.Text("")),
    ("reply", content.Reply(TARGET, "yes, see you there")),
    ("edit", content.Edit(TARGET, "dinner at nine?")),
    ("delete", content.Delete(TARGET)),
    ("attachment", attachment()),
    ("rotation", rotation()),
    ("an unknown kind (0x42): kept, shown as a message this version cannot show", content.Unknown(0x42, b"later")),
]


def sealed2(c: content.Content, label: str, *, seq: int = 1, max_chars: int | None = None) -> tuple[list[str], bytes]:
    rng = Drbg(label)
    return pointer2._seal2(CHAT, ALICE, c, STREAM, seq, max_chars, rng, SENT_MS), bytes(rng.drawn)


def message_json(c: content.Content, unique: bytes, seq: int = 1) -> dict[str, Any]:
    digest = hashlib.sha256(b"pb2 message id\0" + ALICE.public_key + unique).digest()
    return {
        "username": ALICE.username,
        "sender_key": ALICE.public_key.hex(),
        "sent_at_ms": SENT_MS,
        "stream": STREAM.hex(),
        "seq": seq,
        "body": c.body,
        "id": digest[:16].hex(),
        "record": content.encode_content(c).hex(),
        "content": content_json(c),
    }


def unseal_vector(name: str, text: str, expect: str, **extra: Any) -> dict[str, Any]:
    where = {"chat_name": CHAT.name, "chat_key": CHAT_KEY_HEX}
    return {"kind": "unseal", "name": name, **where, "pointer": text, "expect": expect, **extra}


def seal_vectors(seed: bytes) -> list[dict[str, Any]]:
    out = []
    for name, c in KINDS:
        pointers, drawn = sealed2(c, name, seq=3)
        base = {"chat_name": CHAT.name, "chat_key": CHAT_KEY_HEX, "sender_seed": seed.hex(), "username": "alice"}
        out.append(
            {"kind": "seal", "name": f"seal: {name}", **base, "content": content_json(c)}
            | {"record": content.encode_content(c).hex(), "stream": STREAM.hex(), "seq": 3, "sent_at_ms": SENT_MS}
            | {"max_chars": None, "random": drawn.hex(), "expect": "success", "pointers": pointers}
        )
        out.append(unseal_vector(f"unseal: {name}", pointers[0], "success", message=message_json(c, drawn, 3)))
    return out


def split_vectors(seed: bytes) -> list[dict[str, Any]]:
    c = content.Reply(TARGET, "a long answer. " * 60)
    pointers, drawn = sealed2(c, "split", seq=9, max_chars=700)
    message_id = drawn[:16]
    joined = message_json(c, message_id, 9)
    base = {"chat_name": CHAT.name, "chat_key": CHAT_KEY_HEX}
    return [
        {"kind": "seal", "name": f"a reply split into {len(pointers)} parts at 700 characters", **base}
        | {"sender_seed": seed.hex(), "username": "alice", "content": content_json(c)}
        | {"record": content.encode_content(c).hex(), "stream": STREAM.hex(), "seq": 9, "sent_at_ms": SENT_MS}
        | {"max_chars": 700, "random": drawn.hex(), "expect": "success", "pointers": pointers},
        unseal_vector(
            "one part of a split pb2 message (every part has the message's stream and seq)",
            pointers[1],
            "success",
            part={"message_id": message_id.hex(), "index": 1, "count": len(pointers), "stream": STREAM.hex(), "seq": 9},
        ),
        {"kind": "join", "name": "the parts joined in reverse order", **base, "pointers": pointers[::-1]}
        | {"expect": "success", "message": joined},
    ]


def craft(label: str, record: bytes, *, stream: bytes = STREAM, seq: int = 1, bad_signature: bool = False) -> str:
    """A pb2 pointer sealed by hand, so that a field a sealer refuses can be put in."""
    nonce = Drbg(label)(16)
    sealed = layout._content(ALICE, SENT_MS, record, None, struct.pack(">8sI", stream, seq), 2)
    signature = ALICE._sign(sealed.signed(CHAT, nonce))
    if bad_signature:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    inner = sealed.head + sealed.body + signature
    return layout._encrypt(CHAT, nonce, inner + bytes(padded_length(len(inner)) - len(inner)), 2)


def relabel(text: str, version: int) -> str:
    return armor.armor(version, armor.dearmor(text)[1])


def flip(text: str, byte: int) -> str:
    version, data = armor.dearmor(text)
    changed = bytearray(data)
    changed[byte] ^= 1
    return armor.armor(version, bytes(changed))


def bad_name_record(name: bytes) -> bytes:
    """An attachment record whose name is ``name`` (bytes, unchecked)."""
    good = content.encode_content(attachment("x"))
    at = 1 + 32 + 32 + 8
    return good[:at] + bytes([len(name)]) + name + good[at + 2 :]


def failure_vectors() -> list[dict[str, Any]]:
    text = content.encode_content(content.Text("a plain text"))
    other = pointer2._seal2(OTHER, ALICE, content.Text("for the other chat"), STREAM, 1, None, Drbg("other2"), SENT_MS)
    parts, _ = sealed2(content.Text("part " * 200), "mismatch", seq=4, max_chars=700)
    wrong_seq, _ = sealed2(content.Text("part " * 200), "mismatch", seq=5, max_chars=700)
    pb1, pb2 = seal_with("found", "find1")[0], sealed2(content.Text("found"), "find2")[0][0]
    return [
        unseal_vector("content kind 0", craft("k0", b"\x00hello"), "malformed"),
        unseal_vector("an empty content record", craft("k-empty", b""), "malformed"),
        unseal_vector("a byte after a delete's target", craft("trail", b"\x04" + bytes(16) + b"\x00"), "malformed"),
        unseal_vector("a reply shorter than its target", craft("short", b"\x02" + bytes(15)), "malformed"),
        unseal_vector("text not UTF-8", craft("utf8", b"\x01caf\xc3"), "malformed"),
        unseal_vector("an attachment named '../x'", craft("dotdot", bad_name_record(b"../x")), "malformed"),
        unseal_vector("an attachment named '..'", craft("dots", bad_name_record(b"..")), "malformed"),
        unseal_vector("an attachment name with a backslash", craft("bs", bad_name_record(b"a\\b")), "malformed"),
        unseal_vector("stream 0", craft("stream0", text, stream=bytes(8)), "malformed"),
        unseal_vector("sequence number 0", craft("seq0", text, seq=0), "malformed"),
        unseal_vector("a pb2 pointer of another chat (a wrong key)", other[0], "no_match"),
        unseal_vector("a bit flipped in the ciphertext", flip(sealed2(content.Text("x"), "flip2")[0][0], 60), "aead"),
        unseal_vector("a pb1 pointer relabelled pb2", relabel(seal_with("a pb1 message", "relabel1")[0], 2), "aead"),
        unseal_vector(
            "a pb2 pointer relabelled pb1", relabel(sealed2(content.Text("pb2"), "relabel2")[0][0], 1), "aead"
        ),
        unseal_vector("a bit flipped in the signature", craft("sig", text, bad_signature=True), "signature"),
        {"kind": "join", "name": "two parts of one message id that disagree about the seq", "chat_name": CHAT.name}
        | {"chat_key": CHAT_KEY_HEX, "pointers": [parts[0], wrong_seq[1]], "expect": "malformed"},
        {"kind": "find", "name": "a pb1 and a pb2 pointer in a quoted, wrapped e-mail reply"}
        | {"text": f"Bob wrote:\n{wrap_quoted(pb1)}\n>\n{wrap_quoted(pb2, 64)}\n", "expect": "success"}
        | {"pointers": [pb1, pb2]},
    ]


def build() -> dict[str, Any]:
    seed = _argon2(_argon2_salt(_IDENTITY_SALT_LABEL, "alice", None), b"alice's master phrase")
    vectors = [*seal_vectors(seed), *split_vectors(seed), *failure_vectors()]
    return document("pb2 test vectors", "docs/SPEC.md §11", "scripts/make_pb2_vectors.py", vectors)


if __name__ == "__main__":
    main(build, OUT)
