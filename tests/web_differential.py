"""Hostile inputs for the page's differential test (tests/test_web_differential.py), and
what the Python core (the reference) makes of each.

Everything comes from one seeded RNG: valid pb1 and pb2 pointers of every kind, split
messages, then mutations of them: armor characters changed, cut, extended, relabelled,
payload bits flipped and re-armored, and inner plaintexts altered and sealed again with the
chat key (re-signed or not), so that every check behind the AEAD is reached: layout,
padding, username form, content records, weak keys, signatures. Texts with pointers inside
for the finder, and sets of split parts (shuffled, repeated, missing, conflicting) to join.
"""

from __future__ import annotations

import itertools
import random
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pointerbridge.core import PointerError, armor, content, layout, pointer2
from pointerbridge.core.armor import ALPHABET, dearmor, find_pointers
from pointerbridge.core.keys import ChatKey, Identity, normalize_chat_name
from pointerbridge.core.padding import padded_length
from pointerbridge.core.pointer import Message, Part, _decrypt, _seal, unseal
from pointerbridge.core.reassembly import Reassembler
from pointerbridge.core.rotation import make_notice, notice_bytes

CHAT_NAME = "Family Chat"
LAST_EXACT_MS = layout.MAX_SENT_AT_MS  # the core reads every time exactly (core/millis.py)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_IGNORABLE = [" ", "\n", "\r\n> ", "\u200b", "\u00ad", "\ufeff", "\u3000", ">", "\t"]
# Text a pointer is pasted into: words, punctuation, non-ASCII, pointer-like junk.
_JUNK = ["hello", "pb", "pb1", "pb2", "pb9", "pb10", "pb1000", "p", "b1", "ok.", ":", "é", "🫨", "\u0301", "-", "pbpb1"]
_NAMES = ["alice", "Bob", "élodie", "李", "bob\U0001fae8", "Alice", "a b", " a", "x" * 65, "", "ab\u200b", "\u1e9e"]


def content_json(c: content.Content) -> dict[str, Any]:
    """A content as the page's hex API writes it (bytes as hex; a size past 2^53 as text)."""
    if isinstance(c, content.Unknown):
        return {"kind": "unknown", "code": c.kind, "data": c.data.hex()}
    if isinstance(c, content.Attachment):
        size: int | str = c.size if c.size <= 2**53 - 1 else str(c.size)
        locators = [{"carrier": loc.carrier, "value": loc.value} for loc in c.locators]
        return {"kind": "attachment", "file_key": c.file_key.hex(), "hash": c.hash.hex(), "size": size} | {
            "name": c.name,
            "media_type": c.media_type,
            "locators": locators,
            "caption": c.caption,
        }
    if isinstance(c, content.Rotation):
        return {"kind": "rotation", "notice": c.notice.hex()}
    if isinstance(c, content.Delete):
        return {"kind": "delete", "target": c.target}
    if isinstance(c, content.Reply | content.Edit):
        return {"kind": type(c).__name__.lower(), "target": c.target, "text": c.text}
    assert isinstance(c, content.Text)
    return {"kind": "text", "text": c.text}


def item_json(item: Message | Part) -> dict[str, Any]:
    """A message or part as the page's hex API writes one."""
    common = {
        "chat": normalize_chat_name(item.chat),  # the page's ChatKey.name is the normal form
        "username": item.username,
        "sender_key": item.sender_key.hex(),
        "sent_at_ms": (item.sent_at - _EPOCH) // layout._MILLISECOND,
        "version": item.version,
        "stream": item.stream.hex() if item.stream is not None else None,
        "seq": item.seq,
    }
    if isinstance(item, Part):
        fields = {"message_id": item.message_id, "index": item.index, "count": item.count, "data": item.data.hex()}
        return {"part": common | fields}
    c = item.content or content.Text(item.body)
    record = content.encode_content(c).hex() if item.version == 2 else None
    fields = {"fingerprint": item.fingerprint, "body": item.body, "id": item.id, "record": record}
    return {"message": common | fields | {"content": content_json(c)}}


def outcome(run: Callable[[], Message | Part | None]) -> dict[str, Any]:
    """What the page's hex API answers for the same call: success with its fields, or the
    failure's ``expect`` (any other exception is the Python core's own crash, and is named)."""
    try:
        done = run()
    except PointerError as exc:
        return {"outcome": exc.expect}
    except Exception as exc:  # noqa: BLE001  (reported as a disagreement, never hidden)
        return {"outcome": f"python crashed: {type(exc).__name__}: {exc}"}
    return {"outcome": "success", **({} if done is None else item_json(done))}


def join_outcome(chat: ChatKey, pointers: list[str]) -> dict[str, Any]:
    """Each pointer unsealed and added in order; the last result, as the hex API's join."""

    def run() -> Message | None:
        joiner, done = Reassembler(), None
        for text in pointers:
            done = joiner.add(unseal(chat, text))
        return done

    return outcome(run)


class Inputs:
    """The seeded generator: ``calls`` collects (hex API function, its arguments, Python's answer)."""

    def __init__(self, seed: int) -> None:
        """Everything derives from ``seed``."""
        self.rng = random.Random(seed)
        self.chat = ChatKey(CHAT_NAME, self.bytes(32))
        self.other = ChatKey("other", self.bytes(32))
        self.seeds = {name: self.bytes(32) for name in ("alice", "bob", "élodie")}
        self.people = [Identity(name, seed) for name, seed in self.seeds.items()]
        self.calls: list[tuple[str, list[Any], dict[str, Any] | list[str]]] = []

    def bytes(self, n: int) -> bytes:
        """``n`` bytes of the seeded RNG."""
        return self.rng.randbytes(n)

    def text(self, low: int = 0, high: int = 60) -> str:
        """A message text: ASCII, accents, emoji, newer characters, controls."""
        pool = "abc xyz.\n\t" + "éßΣ李🫨\u200b\u0301\x00\x7f" + "\U0001ccf0"
        return "".join(self.rng.choice(pool) for _ in range(self.rng.randint(low, high)))

    def sent_ms(self) -> int:
        """A send time up to the last one SPEC §7 allows (both read every one exactly since
        core/millis.py); times past it are made by :meth:`altered`."""
        return self.rng.choice([0, 1, LAST_EXACT_MS, self.rng.randrange(LAST_EXACT_MS + 1)])

    def content(self) -> content.Content:
        """A valid content of a random kind."""
        target = self.bytes(16).hex()
        kind = self.rng.randrange(8)
        if kind == 0:
            return content.Text(self.text())
        if kind in (1, 2):
            return (content.Reply if kind == 1 else content.Edit)(target, self.text())
        if kind == 3:
            return content.Delete(target)
        if kind == 4:
            locators = tuple(content.Locator("files", self.text(1, 8).strip() or "f") for _ in range(2))
            size = self.rng.choice([0, 5_000_000, 2**53, 2**64 - 1])
            name = self.rng.choice(["a.jpg", "é li.txt", "x" * 200])
            return content.Attachment(self.bytes(32), self.bytes(32), size, name, "image/jpeg", locators, self.text())
        if kind == 5:
            old, new = Identity("alice", self.bytes(32)), self.people[0]
            at = datetime.fromtimestamp(self.rng.randrange(2**31), UTC)
            return content.Rotation(notice_bytes(make_notice(old, new, at)))
        return content.Unknown(self.rng.randrange(7, 256), self.bytes(self.rng.randrange(40)))

    def sealed(self, *, split: bool = False) -> tuple[int, list[str]]:
        """A valid pb1 or pb2 message: one pointer, or (``split``) the parts of one."""
        sender = self.rng.choice(self.people)
        max_chars = self.rng.randrange(500, 900) if split else None
        if self.rng.random() < 0.4:
            body = self.text(600, 1500) if split else self.text()
            return 1, _seal(self.chat, sender, body, max_chars, self.bytes, self.sent_ms())
        c = content.Reply(self.bytes(16).hex(), self.text(600, 1500)) if split else self.content()
        stream, seq = self.bytes(7) + b"\x01", self.rng.randrange(1, 2**32)
        return 2, pointer2._seal2(self.chat, sender, c, stream, seq, max_chars, self.bytes, self.sent_ms())

    def craft(self, version: int, *, username: bytes | None = None, record: bytes | None = None) -> str:
        """A pointer sealed by hand, signed by a random key: fields a sealer refuses can be put in."""
        private = Ed25519PrivateKey.from_private_bytes(self.bytes(32))
        user = username if username is not None else self.rng.choice(_NAMES).encode()
        body = record if record is not None else (content.encode_content(self.content()) if version == 2 else b"hi")
        extra = struct.pack(">8sI", self.bytes(8), self.rng.randrange(2**32)) if version == 2 else b""
        head = struct.pack(">BQ32sB", 0, self.sent_ms(), private.public_key().public_bytes_raw(), len(user))
        fields = head + user + extra + struct.pack(">I", len(body)) + body
        nonce = self.bytes(16)
        inner = fields + private.sign(layout._signed(self.chat, nonce, fields, label=layout._format(version).signature))
        return layout._encrypt(self.chat, nonce, inner + bytes(padded_length(len(inner)) - len(inner)), version)

    def altered(self, text: str) -> str:
        """``text`` with its inner plaintext altered and sealed again under the chat key."""
        version, payload = dearmor(text)
        nonce, inner = _decrypt(self.chat, payload, fmt=layout._format(version))
        data = bytearray(inner)
        how = self.rng.randrange(5)
        if how == 0:  # a bit anywhere: flags, lengths, username, body, signature, padding
            data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
        elif how == 1:  # a field's byte set to a value of its own
            data[self.rng.choice([0, 1, 41, 42, 50, 60, 70])] = self.rng.randrange(256)
        elif how == 2:  # padding: a byte more, a byte less, a byte not zero
            data = data + b"\x00" if self.rng.random() < 0.3 else data[:-1] if self.rng.random() < 0.5 else data
            data[-1] |= 1 if self.rng.random() < 0.5 else 0
        elif how == 3:  # a small-order or non-canonical sender key
            weak = [bytes(32), (1).to_bytes(32, "little"), (2**255 - 1).to_bytes(32, "little")]
            data[9:41] = self.rng.choice(weak)
        else:  # the send time past the year 9999
            data[1:9] = struct.pack(">Q", layout.MAX_SENT_AT_MS + self.rng.randrange(1, 2**20))
        return layout._encrypt(self.chat, nonce, bytes(data), version)

    def mutated(self, text: str) -> str:
        """``text`` changed in its armor or payload."""
        how = self.rng.randrange(9)
        pos = self.rng.randrange(len(text))
        if how == 8:  # a block's first digit as high as it goes: a value past its bytes
            at = 6 + 43 * self.rng.randrange((len(text) - 6) // 43 + 1)
            return text[:at] + "z" + text[at + 1 :] if at < len(text) else text[:-1] + "z"
        if how == 0:
            return text[:pos] + self.rng.choice(ALPHABET) + text[pos + 1 :]
        if how == 1:
            return text[:pos]
        if how == 2:
            return text + "".join(self.rng.choices(ALPHABET, k=self.rng.randrange(1, 50)))
        if how == 3:
            return text[:2] + self.rng.choice("0123pb9") + text[3:]
        if how == 4:  # the length field
            return text[:3] + "".join(self.rng.choices(ALPHABET, k=3)) + text[6:]
        if how == 5:  # ignorables inserted: still the same pointer
            return text[:pos] + self.rng.choice(_IGNORABLE) + text[pos:]
        version, payload = dearmor(text)
        data = bytearray(payload)
        data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
        return armor.armor(self.rng.choice([version, version, 3 - version]), bytes(data))

    def unseal(self, text: str) -> None:
        """Opening ``text`` in the chat (and now and then in the other one)."""
        chat = self.chat if self.rng.random() < 0.95 else self.other
        self.calls.append(("unseal", [chat.name, chat._key.hex(), text], outcome(lambda: unseal(chat, text))))

    def pasted(self, pointers: list[str]) -> str:
        """A text with ``pointers`` in it, among junk, wrapped and quoted now and then."""
        pieces: list[str] = []
        for text in pointers:
            pieces += self.rng.choices(_JUNK, k=self.rng.randrange(4))
            if self.rng.random() < 0.3:
                cuts = [0, *sorted(self.rng.sample(range(1, len(text)), 3)), None]
                text = "".join(text[a:b] + self.rng.choice(_IGNORABLE) for a, b in itertools.pairwise(cuts))
            glue = "" if self.rng.random() < 0.2 else self.rng.choice([" ", "\n", "(", "é", "p"])
            pieces.append(glue + text)
        return "".join(pieces)

    def join_set(self) -> list[str]:
        """Parts of split messages: shuffled, repeated, missing, mixed, conflicting."""
        _, parts = self.sealed(split=True)
        how = self.rng.randrange(5)
        if how == 1:
            parts = parts + self.rng.sample(parts, k=1)
        elif how == 2:
            parts = parts[1:]
        elif how == 3:
            parts = parts + self.sealed(split=True)[1]
        elif how == 4:  # another text under the same message id: the sender equivocates
            same = self.bytes(16)
            draws = iter([same])
            rng = lambda n: next(draws, None) or self.bytes(n)  # noqa: E731
            sender = self.people[0]
            one = _seal(self.chat, sender, self.text(900, 1000), 600, rng, 7)
            draws = iter([same])
            parts = one + _seal(self.chat, sender, self.text(900, 1000), 600, rng, 7)[: len(one)]
        self.rng.shuffle(parts)
        return parts


def generate(seed: int, rounds: int) -> list[tuple[str, list[Any], dict[str, Any] | list[str]]]:
    """``rounds`` groups of inputs and Python's answer to each."""
    gen = Inputs(seed)
    for _ in range(rounds):
        _, pointers = gen.sealed(split=gen.rng.random() < 0.1)
        first = pointers[0]
        gen.unseal(first)
        for _ in range(4):
            gen.unseal(gen.mutated(first))
        gen.unseal(gen.altered(first))
        gen.unseal(gen.altered(first))
        record = gen.bytes(gen.rng.randrange(120)) if gen.rng.random() < 0.5 else None
        if record is not None and gen.rng.random() < 0.7:
            record = bytes([gen.rng.randrange(9)]) + record
        gen.unseal(gen.craft(gen.rng.choice([1, 2]), record=record))
        text = gen.pasted([first, *(gen.mutated(first) for _ in range(gen.rng.randrange(3)))])
        gen.calls.append(("find", [text], find_pointers(text)))
        if gen.rng.random() < 0.15:
            parts = gen.join_set()
            chat = gen.chat
            gen.calls.append(("join", [chat.name, chat._key.hex(), parts], join_outcome(chat, parts)))
    return gen.calls
