"""The local app: one user's home, chats, outbox, polling and reading.

The CLI and the console call this and hold no logic of their own. Keys are derived from
typed secrets and live in the objects returned here, in RAM; the store gets pointers,
verifiers and public keys only.
"""

from __future__ import annotations

import fcntl
import gc
import hmac
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from pointerbridge.bridges.base import Bridge, BridgeError, ConfigurationError, bridge_class, printable
from pointerbridge.core.armor import dearmor, find_pointers
from pointerbridge.core.errors import (
    InvalidInputError,
    NotForThisChatError,
    PointerBridgeError,
    PointerError,
    UnknownVersionError,
)
from pointerbridge.home.config import (
    CARRIER_NAME_RULE,
    CarrierConfig,
    Config,
    ConfigError,
    Home,
    load_config,
    valid_carrier_name,
)
from pointerbridge.home.store import ChatRow, Direction, Store, Verifier

if TYPE_CHECKING:
    from pointerbridge.app.trust import TrustWalk
    from pointerbridge.core.keys import ChatKey, Identity, RecoveryCode
    from pointerbridge.core.pointer import Message
    from pointerbridge.core.rotation import RotationNotice

# The cryptography (keys, pointer) is imported by the methods that use it, so that moving
# pointers (poll) starts fast: it never derives, seals or opens anything.

__all__ = [
    "OPEN_CHAT_COST",
    "App",
    "ChatNotFoundError",
    "ChatOverview",
    "NoCarriersError",
    "NotInitialisedError",
    "Page",
    "PollBusyError",
    "PollSummary",
    "Shown",
    "StaleSecretError",
    "UnlockedChat",
    "WrongSecretError",
    "carrier_clashes",
]


class _Printable(dict[str, Any]):
    """Invite values for a one-line command hint: printable characters only, each quoted
    for the shell (an invite is someone else's text), a gap shown as ?."""

    def __getitem__(self, key: str) -> str:
        import shlex

        return shlex.quote(printable(self.get(key, "?"), 200))


# Said by every front-end wherever an open chat is made: what giving up the random salt costs.
OPEN_CHAT_COST = (
    "an open chat's key is salted by its name alone: anyone who sees one of its pointers can test guesses of the "
    "secret offline, and a dictionary computed once for this name serves every chat of that name. Only a strong "
    "secret protects it."
)


class WrongSecretError(PointerBridgeError):
    """The typed secret or master phrase does not match what this home knows."""


class NotInitialisedError(PointerBridgeError):
    """This home has no identity yet: run ``pbridge init``."""


class ChatNotFoundError(PointerBridgeError):
    """No chat of that name in this home."""


class NoCarriersError(PointerBridgeError):
    """The chat has no carrier to post to (it was created by receiving)."""


class PollBusyError(PointerBridgeError):
    """Another poll of this home is running."""


class StaleSecretError(PointerBridgeError):
    """The chat was unlocked with one of its earlier secrets: it reads, it does not send
    or rekey (the chat's secret was changed since)."""


@dataclass(frozen=True, slots=True)
class UnlockedChat:
    """A chat whose secret was typed this session: its row and its key (RAM only).

    ``current`` says whether ``key`` is the chat's newest secret (only then can it send);
    ``older`` holds the chat's other secrets unlocked this session, for reading only.
    """

    row: ChatRow
    key: ChatKey
    current: bool = True
    older: tuple[ChatKey, ...] = ()

    @property
    def keys(self) -> tuple[ChatKey, ...]:
        """Every key unlocked for this chat: ``key`` first, then ``older``."""
        return (self.key, *self.older)


class Shown(NamedTuple):
    """A message ready to show, with what the reader should know about its sender.

    ``trust`` is ``"pinned"`` (the sender key seen before, or the one its owner rotated
    to), ``"new"`` (first message under this name: now pinned), ``"rotated"`` (a
    rotation notice, signed by the name's trusted key, that moves the name to the key
    this message is sealed by: ``notice`` holds it), ``"retired"`` (sent with a key its
    owner has since replaced, arriving after the rotation: a device not yet updated, or
    someone holding the old phrase; show it as a warning), ``"conflict"`` (the name is
    frozen: its old key signed two rotations naming different new keys, so its phrase
    leaked; neither side is genuine until the user re-pins after verifying in person,
    :meth:`App.trust_key`) or ``"changed"`` (the name was pinned to another key: someone
    else, or a new identity without a notice; never show this as genuine).

    ``arrived_late`` is set when the send time the sender wrote is not believable beside
    when the message reached this store (SPEC §9): the time from the claimed send time
    to the first receipt (negative: it claims a time more than an hour after it arrived).
    Such a message is shown at its place in arrival order, not at the time it claims.
    """

    message: Message
    trust: str
    pointer_ids: tuple[int, ...]
    trashed: bool
    notice: RotationNotice | None = None
    arrived_late: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a chat's history (:meth:`App.read_page`).

    ``messages`` oldest first; ``refused``: pointers of the page that failed their checks;
    ``older``: pass it as ``before=`` for the previous page (None: this page reaches the
    chat's first pointer); ``unsettled``: some trust marks of the page are provisional (a
    sender with no stored pin yet, or pointers no full :meth:`App.read` has judged: a
    rotation notice among them is only stored by one); ``locked``: pointers of the page
    under a secret of the chat that was not unlocked.
    """

    messages: list[Shown]
    refused: int
    older: int | None
    unsettled: bool
    locked: int = 0


@dataclass(slots=True)
class PollSummary:
    """What one ``poll`` did, per carrier."""

    posted: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)  # new pointers stored
    known: dict[str, int] = field(default_factory=dict)  # pointers found that were stored already
    skipped: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)  # items a carrier could not read
    to_fix: list[str] = field(default_factory=list)  # carriers whose error is their configuration


class ChatOverview(NamedTuple):
    """A chat at a glance: ``unread`` pointers received since it was last read, and when
    its newest pointer arrived (None: it has none)."""

    row: ChatRow
    unread: int
    last_activity: float | None


class _Fetched(NamedTuple):
    new: int
    known: int
    skipped: int
    notes: list[str]
    failed: BridgeError | None  # a later round failed: what earlier rounds stored is counted all the same


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def _default_bridge(name: str, config: CarrierConfig) -> Bridge:
    return bridge_class(config.type).from_config(name, config.settings)


def carrier_clashes(
    config: Config, factory: Callable[[str, CarrierConfig], Bridge] = _default_bridge
) -> dict[str, str]:
    """Carriers that hold the same thing (one Telegram bot), each with a message naming
    the others. A carrier whose settings are broken is left to its own error."""
    holders: dict[str, list[str]] = {}
    for name, carrier in config.carriers.items():
        try:
            bridge = factory(name, carrier)
            try:
                claim = bridge.claim()
            finally:
                bridge.close()
        except BridgeError:
            continue
        if claim is not None:
            holders.setdefault(claim, []).append(name)
    clashes = {}
    for claim, names in holders.items():
        for name in names if len(names) > 1 else ():
            others = ", ".join(repr(n) for n in names if n != name)
            clashes[name] = (
                f"uses the same {claim} as {others}: one bot can have one poller only (each would "
                "delete what the other has not read yet); give each carrier a bot of its own"
            )
    return clashes


_VERIFIER_INFO = b"pointerbridge store: chat secret verifier"
_STORE_BATCH = 1000  # pointers per transaction while storing a poll
_MAX_ROUNDS = 100  # polls of one carrier in one run while it says there is more
_FLUSH_BUDGET = 20.0  # seconds one run may spend pacing posts to a rate-limited carrier
_CACHE_INFO = b"pointerbridge store: signature verified"
_PROOF_INFO = b"pointerbridge store: proof of a full open"
_READER_PURPOSE = b"store proofs"
# How far a send time may stray from arrival before it is not believed (clocks, carriers'
# delays between members): a message never sorts before one that reached this store more
# than this before it, nor later than this after its own arrival.
_SKEW = 3600.0

# A stored pointer as reading needs it: (id, payload, trashed, proof, received at).
_Row = tuple[int, bytes, int, "bytes | None", float]
# A message opened from the store: (first pointer id, message, its pointer ids, trashed,
# first receipt: the earliest received_at of its pointers).
_Opened = tuple[int, "Message", tuple[int, ...], bool, float]


def _display_order(done: list[_Opened], floor: float = float("-inf")) -> tuple[list[int], list[timedelta | None]]:
    """Where each message of ``done`` (in arrival order) is shown, and which are flagged.

    A message is placed at its send time, but never before a message that reached this
    store more than ``_SKEW`` before it (a backdated message cannot slip into history read
    before it arrived) nor more than ``_SKEW`` after its own first receipt (a message
    from "the future" cannot stay last); ties go by arrival (first pointer id). A message
    whose send time had to be moved is flagged with the time from that send time to its
    arrival. A backlog arriving at once (a first poll, days offline) keeps its send-time
    order unflagged: nothing in it arrived more than ``_SKEW`` before the rest.
    ``floor``: where the messages before ``done`` (a page's) hold it, at least.
    One pass in arrival order (~0.5 µs a message, about what sorting by send time costs)."""
    count = len(done)
    positions = [item[1].sent_at.timestamp() for item in done]  # most keep their send time
    received = [item[4] for item in done]
    late: list[timedelta | None] = [None] * count
    behind = 0  # floor: the latest place among messages that arrived > _SKEW before this one
    for i in range(count):
        while behind < i and received[behind] < received[i] - _SKEW:
            if positions[behind] > floor:
                floor = positions[behind]
            behind += 1
        sent = positions[i]
        if sent < floor:
            positions[i] = floor
        elif sent > received[i] + _SKEW:
            positions[i] = received[i] + _SKEW
        else:
            continue
        late[i] = datetime.fromtimestamp(received[i], UTC) - done[i][1].sent_at
    # done is in arrival order and the sort is stable: equal places keep arrival order.
    return sorted(range(count), key=positions.__getitem__), late


def _storable(texts: Iterable[str]) -> list[tuple[str, bytes]]:
    """(text, payload) of found pointers. A later version's pointer is kept by its text
    with an empty payload: this release cannot open it, a later one will find it stored."""
    items = []
    for text in texts:
        try:
            items.append((text, dearmor(text)[1]))
        except UnknownVersionError:
            items.append((text, b""))
    return items


def _derive(key: ChatKey, info: bytes, salt: bytes | None = None) -> bytes:
    return key.subkey(info, salt)


def _verifier(key: ChatKey) -> Verifier:
    """A new verifier of ``key``: a random salt for the check, and the key's own salt."""
    salt = os.urandom(16)
    return Verifier(salt, _derive(key, _VERIFIER_INFO, salt), key.salt)


def _new_recovery_code() -> RecoveryCode:
    """A fresh recovery code at the identity memory cost: the default, or less where
    ``PBRIDGE_IDENTITY_MEMORY_MIB`` says so (a small machine; the test suite)."""
    from pointerbridge.core.keys import IDENTITY_MEMORY_CHOICES, IDENTITY_MEMORY_MIB, RecoveryCode

    wanted = os.environ.get("PBRIDGE_IDENTITY_MEMORY_MIB", "").strip()
    if not wanted:
        return RecoveryCode.new(IDENTITY_MEMORY_MIB)
    if not wanted.isdigit() or int(wanted) not in IDENTITY_MEMORY_CHOICES:
        raise InvalidInputError(f"PBRIDGE_IDENTITY_MEMORY_MIB is one of {IDENTITY_MEMORY_CHOICES}, not {wanted!r}")
    return RecoveryCode.new(int(wanted))


def _hkdf(key: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    from pointerbridge.core.keys import hkdf  # here, not at the top: polling never loads the cryptography

    return hkdf(key, info, salt)


class App:
    """One user's home, opened. Close it (or use ``with``) when done."""

    def __init__(self, home: Home, bridge_factory: Callable[[str, CarrierConfig], Bridge] | None = None) -> None:
        """Open the home's config and store (creating the folders on first use).

        ``bridge_factory`` builds a carrier's bridge from its config; the default finds the
        bridge by type in the ``pointerbridge.bridges`` entry points (tests wrap it).
        """
        home.create()
        self.home = home
        self._bridge_factory = bridge_factory or _default_bridge
        self.config: Config = load_config(home.config_path)
        self.store = Store.open(home.store_path)
        # chat id -> (the keys that routed it, the last unrouted pointer id they looked at)
        self._routed: dict[int, tuple[tuple[ChatKey, ...], int]] = {}
        # chat id -> unrouted pointers whose routing tag is the chat's but whose AEAD does
        # not open under it: altered, or another chat's with a colliding tag (refused here)
        self._doubtful: dict[int, set[int]] = {}
        # The reader's own key for the store's proofs (app/opening.py), from the identity
        # unlocked this session; None: every read verifies every signature.
        self._reader: bytes | None = None

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # identity ---------------------------------------------------------------------------

    def init(
        self,
        username: str,
        master_phrase: str,
        *,
        recovery: RecoveryCode | None = None,
        unsalted: bool = False,
        allow_weak: bool = False,
    ) -> Identity:
        """Derive this user's identity and record its public half and recovery code.

        ``recovery``: the code shown when the identity was first made (regenerating it on
        another machine); ``unsalted``: regenerate an identity made before recovery codes
        (SPEC §2.3's first schedule); neither: a new identity with a fresh code
        (:meth:`recovery_code`). A new master phrase estimated weak is refused unless
        ``allow_weak`` (:mod:`.secret_policy`); one regenerated is not judged again. A home
        keeps its identity: init again gives it back only if it is the same one (a new one
        would leave every chat's pin behind without a notice: that is ``rotate_identity``).
        """
        from pointerbridge.app.secret_policy import check_strength
        from pointerbridge.core.keys import Identity

        if recovery is not None and unsalted:
            raise InvalidInputError("an identity is regenerated with its recovery code or without one, not both")
        known = self.store.identity()
        code = recovery
        if known is not None and recovery is None and not unsalted:
            identity = self._derive_identity(username, master_phrase)  # the same identity again: a no-op
        else:
            if recovery is None and not unsalted:  # a new identity: its phrase is judged, its code drawn
                check_strength(master_phrase, what="master phrase", allow_weak=allow_weak, user_inputs=(username,))
                code = _new_recovery_code()
            identity = (
                Identity.derive_unsalted(username, master_phrase)
                if code is None
                else Identity.derive(username, master_phrase, code)
            )
        if known is not None and not (
            known[0] == identity.username and hmac.compare_digest(known[1], identity.public_key)
        ):
            raise InvalidInputError(
                f"this home is {known[0]!r}'s already, and that is another identity (another name, phrase or "
                "recovery code): to change your master phrase, pbridge identity rotate (it tells your chats)"
            )
        if known is None:
            self.store.set_identity(identity.username, identity.public_key, code.to_bytes() if code else None)
        self._remember_reader(identity)
        return identity

    def _remember_reader(self, identity: Identity) -> None:
        # Only the identity's holder makes the proofs that let a re-read skip signatures.
        self._reader = identity.local_key(_READER_PURPOSE)

    def recovery_code(self) -> RecoveryCode | None:
        """The identity's recovery code (None: an identity of the first, unsalted schedule)."""
        from pointerbridge.core.keys import RecoveryCode

        raw = self.store.recovery()
        return RecoveryCode.from_bytes(raw) if raw is not None else None

    def _derive_identity(self, username: str, master_phrase: str) -> Identity:
        from pointerbridge.core.keys import Identity

        code = self.recovery_code()
        if code is None:
            return Identity.derive_unsalted(username, master_phrase)
        return Identity.derive(username, master_phrase, code)

    def username(self) -> str:
        """The initialised username."""
        known = self.store.identity()
        if known is None:
            raise NotInitialisedError("this home has no identity yet: run 'pbridge init'")
        return known[0]

    def _guessable(self, *words: str) -> tuple[str, ...]:
        """``words`` and this home's username: what an attacker tries first in a new secret."""
        known = self.store.identity()
        return (*words, known[0]) if known is not None else words

    def unlock_identity(self, master_phrase: str) -> Identity:
        """Re-derive the identity; refuse a master phrase that gives another key."""
        known = self.store.identity()
        if known is None:
            raise NotInitialisedError("this home has no identity yet: run 'pbridge init'")
        identity = self._derive_identity(known[0], master_phrase)
        if not hmac.compare_digest(identity.public_key, known[1]):
            raise WrongSecretError("wrong master phrase")
        self._remember_reader(identity)
        return identity

    def rotate_identity(
        self, old: Identity, new_master_phrase: str, chats: Iterable[UnlockedChat] = (), *, allow_weak: bool = False
    ) -> Identity:
        """Replace this home's identity by the one ``new_master_phrase`` gives (same
        username). ``old`` must be the current identity. In one transaction: every chat
        pins the old key for this user where it had no pin yet, and gets a rotation notice
        signed by the old key; the store's identity becomes the new key. The notice is
        queued at once (:meth:`post_notice`) in each of ``chats`` (unlocked with their
        current secret, and with carriers); the others' wait for the next message there
        (:meth:`pending_notices` names them). A new phrase estimated weak is refused
        unless ``allow_weak``."""
        from pointerbridge.app.secret_policy import check_strength
        from pointerbridge.core.keys import Identity
        from pointerbridge.core.rotation import make_notice, notice_body

        check_strength(new_master_phrase, what="master phrase", allow_weak=allow_weak, user_inputs=(old.username,))
        known = self.store.identity()
        if known is None:
            raise NotInitialisedError("this home has no identity yet: run 'pbridge init'")
        if not hmac.compare_digest(old.public_key, known[1]) or old.username != known[0]:
            raise WrongSecretError("that is not this home's current identity")
        waiting = self.pending_notices()
        if waiting:
            # The next notice must be signed by the key the waiting one names, which is
            # not held any more once it is replaced: post the waiting ones first.
            raise InvalidInputError(
                f"rotation notices still wait in {', '.join(map(repr, waiting))}: post them "
                "first (pbridge identity notify CHAT)"
            )
        # The old phrase again would make a new key under a new salt, but the salt is no
        # secret: whoever learnt the phrase would hold the new key too. Tried under the
        # current schedule (one more Argon2id), so it is refused whatever the salt.
        if hmac.compare_digest(self._derive_identity(old.username, new_master_phrase).public_key, old.public_key):
            raise InvalidInputError("the new master phrase gives the same key: choose another one")
        # A rotation always lands on the salted schedule: it is how identities made
        # before recovery codes move to one.
        code = _new_recovery_code()
        new = Identity.derive(old.username, new_master_phrase, code)
        body = notice_body(make_notice(old, new))
        self.store.rotate_identity(old.username, old.public_key, new.public_key, body, code.to_bytes())
        self._post_notices(chats, new)
        self._remember_reader(new)
        return new

    def _post_notices(self, chats: Iterable[UnlockedChat], identity: Identity) -> None:
        for chat in chats:
            try:
                self.post_notice(chat, identity)
            except PointerBridgeError:
                # The rotation is done: a chat whose carrier is misconfigured keeps its
                # notice waiting (pending_notices reports it) rather than hide the others'.
                continue

    def pending_notices(self) -> list[str]:
        """Names of the chats whose rotation notice is not posted yet."""
        return self.store.pending_notices()

    def post_notice(self, chat: UnlockedChat, identity: Identity) -> bool:
        """Queue the chat's pending rotation notice, sealed by ``identity`` (this home's
        current one), for the chat's carriers; return whether there was one to queue. It
        waits while the chat has no carriers or ``chat`` holds an earlier secret."""
        from pointerbridge.core.pointer import seal

        body = self.store.pending_notice(chat.row.id)
        if body is None or not chat.row.carriers or not chat.current:
            return False
        known = self.store.identity()
        if known is None or not hmac.compare_digest(identity.public_key, known[1]):
            raise WrongSecretError("the notice is posted by this home's current identity: give its master phrase")
        pointers = seal(chat.key, identity, body, max_chars=self._max_chars(chat))
        items = [(p, dearmor(p)[1]) for p in pointers]
        self.store.add_pointers(items, Direction.OUT, chat_id=chat.row.id, post_to=chat.row.carriers, posts_notice=True)
        return True

    # chats ------------------------------------------------------------------------------

    def _check_carriers(self, carriers: Iterable[str]) -> list[str]:
        names = list(dict.fromkeys(carriers))
        for name in names:
            if name not in self.config.carriers:
                raise ConfigError(f"{self.home.config_path}: no carrier named {name!r} (pbridge carrier add)")
        return names

    def create_chat(
        self,
        name: str,
        secret: str,
        carriers: Iterable[str],
        *,
        open_chat: bool = False,
        salt: bytes | None = None,
        allow_weak: bool = False,
    ) -> UnlockedChat:
        """Create a chat: derive its key, store only a salted slow verifier.

        The key is salted with a fresh random salt (or ``salt``, an invite's), which its
        invite carries. ``open_chat=True`` makes an open chat instead (CLM's model: name and
        secret alone; see :meth:`ChatKey.derive_open` for what that costs). A secret
        estimated weak is refused unless ``allow_weak`` (:mod:`.secret_policy`).
        """
        from pointerbridge.app.secret_policy import check_strength
        from pointerbridge.core.keys import ChatKey, new_chat_salt, normalize_chat_name

        check_strength(secret, what="chat secret", allow_weak=allow_weak, user_inputs=self._guessable(name))
        names = self._check_carriers(carriers)
        if self.store.chat(normalize_chat_name(name)) is not None:
            raise InvalidInputError(f"a chat named {name!r} exists already")
        if open_chat:
            if salt is not None:
                raise InvalidInputError("an open chat has no salt")
            return self._add_chat(ChatKey.derive_open(name, secret), names)
        return self._add_chat(ChatKey.derive(name, secret, salt if salt is not None else new_chat_salt()), names)

    def join_invite(self, invite_text: str, secret: str, paths: dict[str, str]) -> UnlockedChat:
        """Join a chat from an invite: use this home's carrier where it has one of that name
        or reaching the same place (the same Matrix room), else add the invite's carrier
        (``paths`` overrides folder paths) to config.toml; then create the chat. config.toml
        is written only once the chat exists: a failed join changes nothing."""
        from pointerbridge.app.invite import read_invite
        from pointerbridge.core.keys import normalize_chat_name
        from pointerbridge.home.config import save_config

        invite = read_invite(invite_text)
        normalized = normalize_chat_name(invite.chat)
        if self.store.chat(normalized) is not None:
            raise InvalidInputError(
                f"a chat named {invite.chat!r} exists already here (if its secret changed: "
                "pbridge chat rekey CHAT --invite INVITE)"
            )
        carriers = dict(self.config.carriers)
        names = [self._carrier_for(name, settings, paths, carriers) for name, settings in invite.carriers.items()]
        config = Config.model_validate({"carriers": {k: v.model_dump() for k, v in carriers.items()}})
        before, self.config = self.config, config
        try:
            # The secret was chosen by whoever made the chat: joining checks nothing.
            chat = self.create_chat(
                invite.chat, secret, names, open_chat=invite.salt is None, salt=invite.salt, allow_weak=True
            )
        except BaseException:
            self.config = before
            raise
        try:
            if config != before:
                save_config(self.home.config_path, config)
        except BaseException:  # a chat whose carriers were not saved is undone, not left half-joined
            self.store.delete_chat(chat.row.id)
            self.config = before
            raise
        return chat

    def _carrier_for(
        self, name: str, shared: dict[str, Any], paths: dict[str, str], carriers: dict[str, CarrierConfig]
    ) -> str:
        """This home's name for an invite's carrier, adding it to ``carriers`` if new."""
        from pydantic import ValidationError

        if name in carriers:
            return name  # this home's own settings for a carrier it already has win
        if not valid_carrier_name(name):  # before any hint tells the user to use this name
            raise InvalidInputError(f"the invite's carrier name {printable(name, 40)!r}: {CARRIER_NAME_RULE}")
        kind = bridge_class(shared["type"])
        for local, config in carriers.items():
            if config.type == shared["type"] and kind.same_place(config.settings, shared):
                return local
        merged = {**shared, **({"path": paths[name]} if name in paths else {})}
        try:
            carriers[name] = CarrierConfig.model_validate(merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInputError(f"the invite's carrier {name!r}: {where}: {first['msg']}") from None
        try:
            self._bridge_factory(name, carriers[name])  # the bridge checks its settings
        except ConfigurationError as exc:
            if not kind.setup_hint:
                raise
            hint = kind.setup_hint.format_map(_Printable({**shared, "name": name}))
            raise ConfigurationError(name, f"this home cannot reach it yet: {hint}") from exc
        return name

    def join_by_receiving(self, name: str, secret: str, text: str) -> UnlockedChat:
        """Create an open chat from received pointers, as CLM does: only if the secret opens
        one. (A chat with a random salt is joined from its invite, which carries the salt.)"""
        from pointerbridge.core.keys import ChatKey

        key = ChatKey.derive_open(name, secret)
        if not self.matching_pointers(text, key):
            raise NotForThisChatError(f"none of these pointers is for chat {name!r} with that secret")
        return self._add_chat(key, [])

    def _add_chat(self, key: ChatKey, names: list[str]) -> UnlockedChat:
        row = self.store.add_chat(key.name, key.normalized_name, _verifier(key), names)
        return UnlockedChat(row, key)

    def chat_row(self, name: str) -> ChatRow:
        """The stored chat called ``name``."""
        from pointerbridge.core.keys import normalize_chat_name

        row = self.store.chat(normalize_chat_name(name))
        if row is None:
            raise ChatNotFoundError(f"no chat named {name!r} (pbridge chat list)")
        return row

    def unlock_chat(self, name: str, secret: str) -> UnlockedChat:
        """Derive the chat key and check it against the stored verifiers (Argon2id first).

        Any of the chat's secrets opens it; ``current`` tells whether it was the newest.
        """

        row = self.chat_row(name)
        key, index = self._derive_known(row, secret)
        return UnlockedChat(row, key, current=index == 0)

    def _derive_known(self, row: ChatRow, secret: str) -> tuple[ChatKey, int]:
        """The key ``secret`` gives and the index of the verifier it matches (0: the
        current secret); WrongSecretError if it is none of the chat's secrets."""
        found = self._match_secret(row, secret)
        if found is None:
            raise WrongSecretError(f"wrong secret for chat {row.name!r}")
        return found

    def _match_secret(self, row: ChatRow, secret: str) -> tuple[ChatKey, int] | None:
        """Try ``secret`` under each key salt the chat's secrets were derived with, the
        current one's first: an Argon2id each, so one for a chat never rekeyed or opened
        with its current secret."""
        from pointerbridge.core.keys import ChatKey

        for key_salt in dict.fromkeys(v.key_salt for v in self.store.verifiers(row.id)):
            key = ChatKey.derive(row.name, secret, key_salt) if key_salt else ChatKey.derive_open(row.name, secret)
            index = self._verifier_index(row, key)
            if index is not None:
                return key, index
        return None

    def _verifier_index(self, row: ChatRow, key: ChatKey) -> int | None:
        """Which of the chat's verifiers ``key`` matches (0: the newest), if any. Every
        verifier is checked, so the time taken does not tell which one matched."""
        found = None
        for index, (salt, verifier, _) in enumerate(self.store.verifiers(row.id)):
            if hmac.compare_digest(_derive(key, _VERIFIER_INFO, salt), verifier) and found is None:
                found = index
        return found

    def add_secret(self, chat: UnlockedChat, secret: str) -> UnlockedChat:
        """Unlock another of the chat's secrets (an earlier one, or the current one) too:
        the result reads pointers under every key unlocked so far. If ``secret`` is the
        current one, it becomes the result's ``key`` (it sends) and the previous key
        moves to ``older``."""
        key, index = self._derive_known(chat.row, secret)
        if any(key.same_key(k) for k in chat.keys):
            return chat  # unlocked already
        if index == 0:
            return UnlockedChat(chat.row, key, current=True, older=chat.keys)
        return UnlockedChat(chat.row, chat.key, current=chat.current, older=(*chat.older, key))

    def rekey_chat(
        self, chat: UnlockedChat, new_secret: str, *, salt: bytes | None = None, allow_weak: bool = False
    ) -> UnlockedChat:
        """Give the chat a new secret: new pointers are sealed under it, older history
        stays readable with the earlier ones (their verifiers are kept). ``chat`` must
        hold the current secret; a secret this chat had before is refused. The new key
        gets a fresh random salt (the member who rekeys first; the chat's new invite
        carries it) or ``salt``, taken from that invite by the other members: so a rekey
        also moves an open chat to a salted key. Returns the chat unlocked with the new
        key (the earlier keys in ``older``). A new secret estimated weak is refused unless
        ``allow_weak``."""
        from pointerbridge.app.secret_policy import check_strength
        from pointerbridge.core.keys import ChatKey, new_chat_salt

        if salt is None:  # the first to rekey chooses; the others take what was chosen, as a join does
            words = self._guessable(chat.row.name)
            check_strength(new_secret, what="chat secret", allow_weak=allow_weak, user_inputs=words)
        self._check_current(chat)
        salts = [v.key_salt for v in self.store.verifiers(chat.row.id)]
        if salt is not None and salt in salts:
            raise InvalidInputError(
                f"that invite is chat {chat.row.name!r}'s from before: ask for the one the new secret came with"
            )
        found = self._match_secret(chat.row, new_secret)
        # Taking the first member's salt for the secret this home already took under a
        # salt of its own (rekeyed without the invite) corrects it; anything else repeats.
        correcting = found is not None and salt is not None and found[1] == 0
        if found is not None and not correcting:
            raise InvalidInputError(f"chat {chat.row.name!r} had that secret before: choose a new one")
        key = ChatKey.derive(chat.row.name, new_secret, salt if salt is not None else new_chat_salt())
        self.store.add_verifier(chat.row.id, _verifier(key))
        row = self.chat_row(chat.row.name)
        return UnlockedChat(row, key, current=True, older=chat.keys)

    def _check_current(self, chat: UnlockedChat) -> None:
        # Against the store, not only the flag: another process may have rekeyed since.
        if not chat.current or self._verifier_index(chat.row, chat.key) != 0:
            raise StaleSecretError(
                f"the secret of chat {chat.row.name!r} was changed: unlock it with the current one to send"
            )

    def set_chat_carriers(self, name: str, carriers: Iterable[str]) -> ChatRow:
        """Replace the carriers a chat's messages are posted to."""
        row = self.chat_row(name)
        return self.store.set_chat_carriers(row.id, self._check_carriers(carriers))

    def delete_chat(self, name: str) -> None:
        """Delete a chat and all its pointers."""
        self.store.delete_chat(self.chat_row(name).id)
        self._routed.clear()  # freed ids can be given again: rescan from the start

    # sending ----------------------------------------------------------------------------

    def bridge(self, carrier: str) -> Bridge:
        """The configured bridge of a carrier."""
        config = self.config.carriers.get(carrier)
        if config is None:
            raise ConfigError(f"{self.home.config_path}: no carrier named {carrier!r}")
        return self._bridge_factory(carrier, config)

    def clashes(self) -> dict[str, str]:
        """This home's carriers that would take each other's updates (see :func:`carrier_clashes`)."""
        return carrier_clashes(self.config, self._bridge_factory)

    def send(self, chat: UnlockedChat, sender: Identity, body: str) -> list[int]:
        """Seal ``body`` and queue its pointers for every carrier of the chat (after the
        chat's pending rotation notice, if there is one)."""
        from pointerbridge.core.pointer import seal

        self._check_current(chat)
        if not chat.row.carriers:
            name = chat.row.name
            raise NoCarriersError(f"chat {name!r} has no carriers: pbridge chat carriers {name!r} --carrier C")
        self.post_notice(chat, sender)  # a new key's first message in a chat follows its notice
        pointers = seal(chat.key, sender, body, max_chars=self._max_chars(chat))
        items = [(p, dearmor(p)[1]) for p in pointers]
        return self.store.add_pointers(items, Direction.OUT, chat_id=chat.row.id, post_to=chat.row.carriers)

    def _max_chars(self, chat: UnlockedChat) -> int | None:
        bridges = [self.bridge(c) for c in chat.row.carriers]
        return min((b.limits.max_pointer_chars for b in bridges), default=None)

    # polling ----------------------------------------------------------------------------

    @contextmanager
    def _poll_lock(self) -> Iterator[None]:
        fd = os.open(self.home.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PollBusyError("another poll of this home is running") from None
            yield
        finally:
            os.close(fd)

    def poll(
        self,
        carriers: Iterable[str] | None = None,
        *,
        fetch: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> PollSummary:
        """One run: post the outbox, then poll each carrier and store what it brings.

        ``fetch=False`` only posts. A carrier's failure is recorded in the summary and the
        run goes on with the next carrier: what was not posted stays in the outbox.
        """
        summary = PollSummary()
        with self._poll_lock():
            clashes = self.clashes()
            for name in list(carriers) if carriers is not None else list(self.config.carriers):
                try:
                    if name in clashes:
                        raise ConfigurationError(name, clashes[name])
                    bridge = self.bridge(name)
                    try:
                        unposted: BridgeError | None = None
                        try:
                            summary.posted[name] = self._flush(bridge)
                        except BridgeError as exc:
                            # Reading must not wait on posting: a carrier that drops what
                            # is not read in time (Telegram, 24 hours) would lose it.
                            unposted = exc
                        if fetch:
                            found = self._fetch(bridge, progress)
                            summary.received[name], summary.known[name], summary.skipped[name] = found[:3]
                            if found.notes:
                                summary.notes[name] = found.notes
                            if found.failed is not None:
                                raise found.failed
                        if unposted is not None:
                            raise unposted
                    finally:
                        bridge.close()
                except ConfigurationError as exc:
                    summary.errors[name] = f"{exc} (fix it in {self.home.config_path})"
                    summary.to_fix.append(name)
                except BridgeError as exc:
                    summary.errors[name] = str(exc)
                self.store.record_run(name, summary.errors.get(name))  # for `pbridge status`
        return summary

    def _flush(self, bridge: Bridge) -> int:
        """Post the outbox at the carrier's pace, counted from this home's last post to it
        in any run (a ``send`` right after a poll must wait too); what does not fit this
        run's time budget waits for the next run (a cron poll must not run for minutes)."""
        outbox = self.store.outbox(bridge.name)
        interval = bridge.limits.min_post_interval
        if not outbox:
            return 0
        started = time.monotonic()
        previous = self.store.last_posted(bridge.name) if interval else None
        # The wall clock only places the last run's post; within a run, the monotonic one.
        due = started + (min(max(previous + interval - time.time(), 0.0), interval) if previous is not None else 0.0)
        posted = 0
        for pointer_id, text in outbox:
            if interval:
                if due - started > _FLUSH_BUDGET:  # the first post's wait counts too
                    break
                time.sleep(max(0.0, due - time.monotonic()))
            reference = bridge.post(text)
            due = time.monotonic() + interval
            self.store.mark_posted(pointer_id, bridge.name, reference)  # durably, before the next post
            posted += 1
        return posted

    def _fetch(self, bridge: Bridge, progress: Callable[[int, int], None] | None) -> _Fetched:
        new = known = skipped = 0
        notes: list[str] = []
        for round_ in range(_MAX_ROUNDS):  # a carrier that hands out batches says when there is more
            try:
                result = bridge.poll(self.store.cursor(bridge.name))
            except BridgeError as exc:
                if not round_:
                    raise
                return _Fetched(new, known, skipped, notes, exc)
            skipped += result.skipped_foreign + result.skipped_malformed
            found = result.pointers
            stored = 0
            for start in range(0, len(found), _STORE_BATCH):
                items = _storable(item.text for item in found[start : start + _STORE_BATCH])
                stored += len(self.store.add_pointers(items, Direction.IN, carrier=bridge.name))
                if progress:
                    progress(min(start + _STORE_BATCH, len(found)), len(found))
            for since, until in result.repost_since:  # queued before the cursor moves past the request
                count = self.store.repost_since(bridge.name, since, until)
                notes.append(
                    f"a member asked for what was posted from {_when(since)} to {_when(until)}: "
                    f"{count} pointer(s) queued"
                )
            self.store.save_cursor(bridge.name, result.cursor)  # only after the pointers are stored
            new, known = new + stored, known + len(found) - stored
            notes += result.notes
            if not result.more:
                break
        return _Fetched(new, known, skipped, notes, None)

    def status(self) -> dict[str, Any]:
        """What a monitoring system scrapes: the store's counts and, per carrier, what
        waits to be posted and how its last runs went (Unix times; None: never)."""
        runs = self.store.runs()
        carriers = {}
        for name, config in self.config.carriers.items():
            ok_at, error, error_at = runs.get(name, (None, None, None))
            carriers[name] = {
                "type": config.type,
                "waiting": self.store.waiting(name),
                "last_poll": self.store.polled_at(name),
                "last_ok": ok_at,
                "last_error": error,
                "last_error_at": error_at,
            }
        return {**self.store.counts(), "carriers": carriers}

    def receive(self, text: str) -> tuple[int, int]:
        """Store the pointers pasted in ``text``; return (new, already known)."""
        items = _storable(find_pointers(text))
        new = self.store.add_pointers(items, Direction.IN)
        return len(new), len(items) - len(new)

    def matching_pointers(self, text: str, key: ChatKey) -> list[str]:
        """The pointers in ``text`` sealed under ``key``: routing tag and AEAD (a tag
        alone collides, by chance or made to)."""
        from pointerbridge.core.pointer import belongs_to

        out = []
        for pointer, payload in _storable(find_pointers(text)):
            if not payload:
                continue  # a later version: this release cannot tell
            if belongs_to(key, payload):
                out.append(pointer)
        return out

    # reading ----------------------------------------------------------------------------

    def _route(self, chat: UnlockedChat) -> None:
        """Assign to the chat the unrouted pointers sealed under one of its unlocked keys
        (routing tag, then AEAD: a tag that matches by chance or on purpose must not take
        another chat's pointer); a pointer under a secret not unlocked stays unrouted.
        Those whose tag matches but whose AEAD fails stay unrouted too, and are counted
        as refused by this chat's reads."""
        from pointerbridge.core.pointer import belongs_to, tag_matches

        keys = chat.keys
        # What these very keys (the same objects, kept alive here) already looked at stays
        # unrouted for them: a page read must not rescan another chat's pointers each time.
        seen_keys, after = self._routed.get(chat.row.id, ((), 0))
        if len(seen_keys) != len(keys) or any(a is not b for a, b in zip(seen_keys, keys, strict=False)):
            after = 0
        if after == 0:
            self._doubtful[chat.row.id] = set()
        doubtful = self._doubtful.setdefault(chat.row.id, set())
        mine = []
        rows = self.store.unrouted(after)
        for row in rows:
            tagged = [key for key in keys if tag_matches(key, row.payload)]  # one BLAKE2s a key
            if not tagged:
                continue
            if any(belongs_to(key, row.payload) for key in tagged):  # an AEAD open (~3 µs)
                mine.append(row.id)
                doubtful.discard(row.id)
            else:
                doubtful.add(row.id)
        if mine:
            self.store.assign(mine, chat.row.id)
        if rows:
            self._routed[chat.row.id] = (keys, rows[-1].id)
        elif after == 0:
            self._routed[chat.row.id] = (keys, 0)

    def read(
        self,
        chat: UnlockedChat,
        *,
        include_trash: bool = False,
        trash_only: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[list[Shown], int]:
        """Decrypt a chat's history on demand; return (messages oldest first, refused count).

        Each pointer is opened with the unlocked key whose routing tag it carries. Each is
        opened fully (signature included) once; afterwards a MAC over its payload, under
        a key from this reader's identity and that chat key, stands for the checks (no
        member can forge it: they hold the chat key, not the reader's master phrase). With
        no identity unlocked this session, every read opens every pointer fully. The AEAD
        runs on every read. Pointers under a secret of this chat that was not unlocked are
        not refused: :meth:`locked_count` counts them; pointers with this chat's routing
        tag whose AEAD does not open are left unrouted and counted as refused. Messages
        come in send-time order held to arrival (:attr:`Shown.arrived_late`).
        """
        self._route(chat)
        rows = self.store.history(chat.row.id, include_trash=include_trash or trash_only, trash_only=trash_only)
        done, refused, _, _ = self._open_all(chat, rows, progress)
        if not trash_only:
            refused += len(self._doubtful.get(chat.row.id, ()))
        # The trash alone is not the chat's history: judging it must not pin or store anything.
        shown = self._judge(chat, done, persist=not trash_only)
        if rows and not trash_only:
            self.store.set_judged(chat.row.id, rows[-1][0])
        return shown, refused

    def read_page(
        self,
        chat: UnlockedChat,
        *,
        before: int | None = None,
        limit: int = 200,
        include_trash: bool = False,
        trash_only: bool = False,
    ) -> Page:
        """The last ``limit`` pointers of the chat below pointer id ``before`` (None: the
        newest), opened and judged: one index range scan, however long the history.

        A split message belongs to the page holding its last part: a page whose messages
        miss earlier parts reaches further down for them (at most ``4 * limit`` pointers
        more), and ``older`` then starts below what it took. A message still incomplete
        is left out (a full :meth:`read` shows it). Trust is judged against the stored
        pins and rotations; nothing new is pinned or stored unless the page reaches the
        chat's first pointer (see :attr:`Page.unsettled`). Send times are held to arrival
        as in :meth:`read`; what arrived before the page counts by its receipt time.
        """
        if not isinstance(limit, int) or limit < 1:
            raise InvalidInputError("a page holds at least one pointer")
        self._route(chat)
        flags = {"include_trash": include_trash or trash_only, "trash_only": trash_only}
        rows = self.store.history_page(chat.row.id, before, limit + 1, **flags)
        more = len(rows) > limit
        rows = rows[1:] if more else rows
        budget = 4 * limit
        done, refused, locked, incomplete = self._open_all(chat, rows, None)
        while incomplete and more and budget > 0:
            wanted = min(budget, max(64, 2 * incomplete))
            extra = self.store.history_page(chat.row.id, rows[0][0], wanted + 1, **flags)
            more = len(extra) > wanted
            extra = extra[1:] if more else extra
            budget -= len(extra)
            rows = extra + rows
            done, refused, locked, incomplete = self._open_all(chat, rows, None)
        older = rows[0][0] if more and rows else None
        if not trash_only:  # the pointers of this chat's tag that do not open, in the page's range
            top = (1 << 63) if before is None else before
            refused += sum((older or 0) < pid < top for pid in self._doubtful.get(chat.row.id, ()))
        # A backdated message is held below what arrived an hour before it on earlier pages
        # too: asked of the store only if a send time on the page is that early.
        first = min((item[4] for item in done), default=0.0)
        floor = None
        if older is not None and any(item[1].sent_at.timestamp() < first - _SKEW for item in done):
            floor = self.store.received_before(chat.row.id, older, first - _SKEW)
        shown = self._judge(chat, done, persist=older is None, floor=float("-inf") if floor is None else floor)
        if older is None and rows and not trash_only:
            self.store.set_judged(chat.row.id, rows[-1][0])
        pins = self.store.pins(chat.row.id)
        judged = self.store.judged_through(chat.row.id)
        unsettled = bool(rows) and (rows[-1][0] > judged or any(s.message.username not in pins for s in shown))
        return Page(shown, refused, older, unsettled, locked)

    def settle(self, chat: UnlockedChat) -> None:
        """Judge for good, in arrival order, the pointers no full read has judged yet (all
        of them the first time), so that pages of history stop being ``unsettled``: new
        names are pinned and rotation notices stored. The stored pins and rotations are
        the state of the walk up to the judged mark, so only what came after it is read.
        (A split message whose first parts were judged incomplete is not judged again.)"""
        self._route(chat)
        rows = self.store.history(chat.row.id, after=self.store.judged_through(chat.row.id))
        if rows:
            done, _, _, _ = self._open_all(chat, rows, None)
            self._judge(chat, done)
            self.store.set_judged(chat.row.id, rows[-1][0])

    def locked_count(self, chat: UnlockedChat, *, include_trash: bool = False, trash_only: bool = False) -> int:
        """How many of the chat's pointers (as :meth:`read` with the same flags sees them)
        are under a secret of this chat that ``chat`` does not hold (before or after a
        rekey): reading with that secret, or :meth:`add_secret`, shows them. Free when
        every secret of the chat is unlocked."""
        if self._all_unlocked(chat):
            return 0
        rows = self.store.history(chat.row.id, include_trash=include_trash or trash_only, trash_only=trash_only)
        return sum(self._under_other(chat.keys, row[1]) for row in rows)

    def _all_unlocked(self, chat: UnlockedChat) -> bool:
        return len(self.store.verifiers(chat.row.id)) <= len(chat.keys)

    @staticmethod
    def _under_other(keys: tuple[ChatKey, ...], payload: bytes) -> bool:
        """Whether a well-formed payload's routing tag is none of ``keys``'."""
        from pointerbridge.core.pointer import envelope

        try:
            nonce, tag = envelope(payload)
        except PointerError:
            return False  # malformed: refused, whatever the secret
        return not any(key._matches(nonce, tag) for key in keys)

    def _open_all(
        self,
        chat: UnlockedChat,
        rows: list[_Row],
        progress: Callable[[int, int], None] | None,
    ) -> tuple[list[_Opened], int, int, int]:
        collecting = gc.isenabled()
        gc.disable()  # 100,000 messages allocate no cycles: collector passes would be pure cost
        try:
            return self._open_rows(chat, rows, progress)
        finally:
            if collecting:
                gc.enable()

    @staticmethod
    def _by_key(keys: tuple[ChatKey, ...], rows: list[_Row]) -> list[tuple[ChatKey, list[_Row]]]:
        """Rows grouped by the key whose routing tag they carry, each group in stored
        order; rows of no key go with the first (they fail there and are sorted out)."""
        from pointerbridge.core.pointer import envelope

        if len(keys) == 1:
            return [(keys[0], rows)]  # one key: no tag check here, opening checks it
        groups: dict[int, list[_Row]] = {}
        for row in rows:
            index = 0
            try:
                nonce, tag = envelope(row[1])
                index = next((i for i, key in enumerate(keys) if key._matches(nonce, tag)), 0)
            except PointerError:
                pass  # refused when opened
            groups.setdefault(index, []).append(row)
        return [(keys[i], group) for i, group in sorted(groups.items())]

    def _proof_key(self, key: ChatKey) -> bytes | None:
        """The key of the store's proofs for ``key``'s pointers: the reader's own (from the
        identity unlocked this session) bound to the chat key; None: no identity unlocked,
        so no proof is made or trusted (see app/opening.py)."""
        if self._reader is None:
            return None
        return _hkdf(self._reader, _PROOF_INFO, salt=_derive(key, _CACHE_INFO))

    def _open_rows(
        self,
        chat: UnlockedChat,
        rows: list[_Row],
        progress: Callable[[int, int], None] | None,
    ) -> tuple[list[_Opened], int, int, int]:
        """Open rows under the chat's unlocked keys: (messages, refused, locked, parts of
        messages still incomplete), where locked counts pointers under a secret of the
        chat that was not unlocked. A split message whose sender gave one part two texts
        is refused whole, every pointer of it counted as refused."""
        from pointerbridge.app.opening import CHUNK, open_chunks
        from pointerbridge.core.pointer import Part, Reassembler, message_from_fields

        done: list[_Opened] = []
        refused = locked = 0
        newly_verified: list[tuple[int, bytes]] = []
        everything = self._all_unlocked(chat)
        offset = incomplete = 0
        equivocated: set[int] = set()  # where in done joined messages refused afterwards are
        for key, group in self._by_key(chat.keys, rows):
            joiner = Reassembler()  # one per key: parts of one message share its key
            chat_name = key.name
            pending: dict[tuple[bytes, str], tuple[list[int], float]] = {}  # ids and first receipt
            joined: dict[tuple[bytes, str], int] = {}  # where in done a joined message is
            for number, chunk in enumerate(open_chunks(key, self._proof_key(key), group)):
                start = number * CHUNK
                if progress:
                    progress(offset + start, len(rows))
                rows_here = group[start : start + CHUNK]
                for (pointer_id, payload, trashed, _, received), (item, proof) in zip(rows_here, chunk, strict=True):
                    if item is None:
                        if not everything and self._under_other(chat.keys, payload):
                            locked += 1  # under a secret not unlocked: not a failed check
                        else:
                            refused += 1
                        continue
                    if proof is not None:
                        newly_verified.append((pointer_id, proof))
                    if type(item) is tuple:
                        message = message_from_fields(chat_name, item)
                        done.append((pointer_id, message, (pointer_id,), bool(trashed), received))
                        continue
                    assert isinstance(item, Part)
                    part_of = (item.sender_key, item.message_id)  # as the reassembler groups them
                    try:
                        joined_message = joiner.add(item)
                    except PointerError:
                        refused += 1
                        if joiner.refuses(item):  # two texts under one id: the message is refused whole
                            refused += len(pending.pop(part_of, ((), 0.0))[0])
                            if part_of in joined:
                                equivocated.add(joined.pop(part_of))
                        continue
                    if part_of in joined:  # a copy of a part of a message joined already: one of its pointers
                        at = joined[part_of]
                        first_id, whole, ids_before, was_trashed, first_receipt = done[at]
                        done[at] = (first_id, whole, (*ids_before, pointer_id), was_trashed, first_receipt)
                        continue
                    ids, first_receipt = pending.get(part_of, ([], received))
                    ids.append(pointer_id)
                    pending[part_of] = (ids, min(first_receipt, received))
                    if joined_message is not None:
                        del pending[part_of]
                        joined[part_of] = len(done)
                        done.append((min(ids), joined_message, tuple(ids), bool(trashed), min(first_receipt, received)))
            offset += len(group)
            incomplete += sum(len(ids) for ids, _ in pending.values())
        if equivocated:
            refused += sum(len(done[i][2]) for i in equivocated)
            done = [item for i, item in enumerate(done) if i not in equivocated]
        if newly_verified:
            self.store.set_verified(newly_verified)
        return done, refused, locked, incomplete

    def _trust_walk(self, chat: UnlockedChat) -> TrustWalk:
        """A trust walk starting from what the store holds for the chat."""
        from pointerbridge.app.trust import StoredConflict, StoredRotation, TrustWalk

        pins = self.store.pins(chat.row.id)
        known = self.store.identity()
        if known is not None and known[0] not in pins:
            self.store.pin(chat.row.id, known[0], known[1])
            pins[known[0]] = known[1]
        rotations = [StoredRotation(*row) for row in self.store.rotations(chat.row.id)]
        conflicts = [StoredConflict(*row) for row in self.store.conflicts(chat.row.id)]
        return TrustWalk(pins, rotations, conflicts, self.store.received_at)

    def _store_walk(self, chat: UnlockedChat, walk: TrustWalk) -> None:
        """Store the pins, rotations and conflicts a full walk found (a crash between
        them is harmless: the next full read finds the rest again)."""
        for name, key in walk.new_pins.items():
            self.store.pin(chat.row.id, name, key)
        for rotation in walk.new_rotations:
            self.store.add_rotation(chat.row.id, *rotation)
        if walk.new_conflicts:
            self.store.add_conflicts(chat.row.id, walk.new_conflicts)

    def trust_key(self, chat_name: str, username: str, fingerprint: str) -> bytes:
        """Settle a frozen name (a rotation conflict, docs/KEYS.md): after verifying in
        person, re-pin ``username`` in the chat to the key with ``fingerprint``, one of
        the keys the leaked old key named. Its notice becomes the accepted rotation, the
        other keys' messages show as changed. Return the key."""
        from pointerbridge.core.keys import fingerprint as fingerprint_of

        row = self.chat_row(chat_name)
        named = self.store.conflict_keys(row.id, username)
        if not named:
            raise InvalidInputError(
                f"{username!r} is not frozen by a key conflict in chat {row.name!r}: nothing to re-pin"
            )
        wanted = "".join(ch for ch in fingerprint if ch.isdigit())
        found = [key for key in named if fingerprint_of(key).replace(" ", "") == wanted]
        if not found:
            choices = "; ".join(fingerprint_of(key) for key in named)
            raise InvalidInputError(f"no key {username!r} was moved to has that fingerprint (the keys: {choices})")
        self.store.choose_conflict_key(row.id, username, found[0])
        return found[0]

    def _judge(
        self, chat: UnlockedChat, done: list[_Opened], *, persist: bool = True, floor: float = float("-inf")
    ) -> list[Shown]:
        # Trust in arrival order (app/trust.py has the rules). This user's own name is
        # pinned to their own key before anyone else can claim it. ``persist=False`` (a
        # page of history) judges against what is stored and stores nothing new.
        walk = self._trust_walk(chat)
        done.sort(key=itemgetter(0))  # arrival order (first pointer id)
        for first_id, message, _, _, _ in done:
            walk.judge(first_id, message)
        if persist:
            self._store_walk(chat, walk)
        trust = [verdict[0] for verdict in walk.verdicts]
        notices = [verdict[1] for verdict in walk.verdicts]
        # By send time, held to arrival where it is not believable (flagged); equal send
        # times (another sender's clock, or a burst) fall back on arrival order.
        order, late = _display_order(done, floor)
        return [Shown(done[i][1], trust[i], done[i][2], done[i][3], notices[i], late[i]) for i in order]

    def set_trashed(self, chat: UnlockedChat, message_ids: Iterable[str], trashed: bool) -> int:
        """Move messages (by id or unique id prefix) to the trash or back; return how many."""
        ids = self._pointer_ids(chat, message_ids)
        self.store.set_trashed(ids, trashed)
        return len(ids)

    def purge(self, chat: UnlockedChat, message_ids: Iterable[str]) -> int:
        """Delete messages for good."""
        ids = self._pointer_ids(chat, message_ids)
        self.store.purge(ids)
        return len(ids)

    def _pointer_ids(self, chat: UnlockedChat, message_ids: Iterable[str]) -> list[int]:
        shown, _ = self.read(chat, include_trash=True)
        found: list[int] = []
        for wanted in message_ids:
            matches = [s for s in shown if s.message.id.startswith(wanted.lower())]
            if len(matches) != 1:
                raise InvalidInputError(f"{wanted!r} matches {len(matches)} messages; give more of the id")
            found.extend(matches[0].pointer_ids)
        return found

    # for the console (and any front end): chats at a glance, acting on shown messages --------

    def route(self, chat: UnlockedChat) -> None:
        """Sort the pointers no chat has claimed yet into ``chat`` where its key opens them."""
        self._route(chat)

    def chat_overview(self) -> list[ChatOverview]:
        """Every chat with its unread count and last activity, the most recent first."""
        items = [ChatOverview(row, *self.store.activity(row.id)) for row in self.store.chats()]
        return sorted(items, key=lambda item: -(item.last_activity or 0.0))

    def mark_seen(self, chat: UnlockedChat) -> None:
        """The chat has been read up to its newest pointer: its unread count drops to 0."""
        self.store.mark_seen(chat.row.id)

    def search(
        self,
        chat: UnlockedChat,
        needle: str,
        *,
        trash_only: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[list[Shown], int]:
        """Messages of the chat containing ``needle`` (any case), trash included (or only
        the trash), oldest first; and how many pointers were refused (as :meth:`read`)."""
        folded = needle.casefold()
        shown, refused = self.read(chat, include_trash=True, trash_only=trash_only, progress=progress)
        return [s for s in shown if folded in s.message.body.casefold()], refused

    def trash_messages(self, chat: UnlockedChat, shown: Iterable[Shown], trashed: bool) -> int:
        """Move messages read from ``chat`` to the trash or back; return how many pointers."""
        ids = self._own_pointers(chat, shown)
        self.store.set_trashed(ids, trashed)
        return len(ids)

    def purge_messages(self, chat: UnlockedChat, shown: Iterable[Shown]) -> int:
        """Delete messages read from ``chat`` for good; return how many pointers."""
        ids = self._own_pointers(chat, shown)
        self.store.purge(ids)
        return len(ids)

    def clear_history(self, chat: UnlockedChat) -> tuple[int, int]:
        """Delete every message of the chat for good (the chat stays), but for pointers
        still waiting to be posted (a key-rotation notice among them must reach the
        members); return (pointers deleted, pointers kept to be posted)."""
        waiting = self.store.chat_pointer_ids(chat.row.id, waiting=True)
        ids = [pid for pid in self.store.chat_pointer_ids(chat.row.id) if pid not in waiting]
        self.store.purge(ids)
        return len(ids), len(waiting)

    def _own_pointers(self, chat: UnlockedChat, shown: Iterable[Shown]) -> list[int]:
        # A front end hands back what it was shown; pointers of another chat are refused.
        ids = [pid for s in shown for pid in s.pointer_ids]
        if not self.store.all_in_chat(chat.row.id, ids):
            raise InvalidInputError(f"those messages are not in chat {chat.row.name!r}")
        return ids
