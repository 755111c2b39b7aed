"""Attachments (issue 21): a file encrypted and put where the chat's carriers keep files,
and saved back from them, checked, to a file the user names.

- **Preparing** (:func:`prepare_attachment`) takes a fresh file key, encrypts the file
  streaming (``core/blob.py``: one 64 KiB chunk at a time, never the whole file in memory)
  into a 0600 temporary file in the home's 0700 ``tmp`` folder (ciphertext only, removed
  afterwards whatever happens), and puts it on every carrier of the chat that takes a
  blob that large. The :class:`~pointerbridge.core.content.Attachment` it returns names
  each carrier that took it (one locator per carrier: its type and its locator there); a
  pb2 message seals it (``App.send_content``).
- **Saving** (:func:`save_attachment`) fetches the blob from a carrier of this chat whose
  type a locator names (a carrier that lacks it or fails: the next), into the home's
  ``tmp`` folder, bounded by the size the attachment states, checks its hash and length
  before decrypting anything, then decrypts it streaming into a 0600 file beside the
  destination (``app/publish.py``: nameless on Linux, so even a killed run leaves none),
  named only once the whole blob verified: nothing half-written is ever left.

The carriers are hostile: a blob is bounded while fetched and checked before it is read;
a file name comes from another member and is re-checked to be a base name before it
names a file here.
"""

from __future__ import annotations

import contextlib
import functools
import mimetypes
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pointerbridge.bridges.base import Bridge, BridgeError
from pointerbridge.core.blob import (
    CHUNK_BYTES,
    SEALED_CHUNK_BYTES,
    BlobDigest,
    BlobKey,
    check_blob,
    decrypt_stream,
    encrypt_stream,
    encrypted_size,
    new_file_key,
)
from pointerbridge.core.content import Attachment, Locator, encode_content
from pointerbridge.core.errors import BlobError, InvalidInputError, PointerBridgeError

from .carriers import bridge_call
from .errors import DestinationExistsError, MessageNotFoundError, NoFileCarrierError, NotAFileError
from .publish import beside

if TYPE_CHECKING:
    from pointerbridge.core.keys import Identity

    from .models import UnlockedChat
    from .service import App

__all__ = [
    "DEFAULT_MEDIA_TYPE",
    "Progress",
    "attachment_of",
    "prepare_attachment",
    "save_attachment",
    "send_attachment",
]

Progress = Callable[[int, int], None]
"""A progress callback: ``progress(done_bytes, total_bytes)``."""
DEFAULT_MEDIA_TYPE = "application/octet-stream"
_STALE_SECONDS = 3600  # a temporary blob no write touched for an hour: a killed run's


def _temp_blob(app: App) -> Path:
    """A new 0600 file name in the home's 0700 ``tmp`` folder (not created: a carrier's
    ``get_blob`` makes its file itself). A killed run's leftovers there are removed first."""
    folder = app.home.temp_folder()
    stale = time.time() - _STALE_SECONDS
    for old in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if old.name.startswith(".blob-") and old.lstat().st_mtime < stale:
                old.unlink()
    return folder / f".blob-{secrets.token_hex(16)}.pbb"


def _file_type(name: str, media_type: str | None) -> str:
    if media_type is not None:
        return media_type
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed if guessed and guessed.isascii() and guessed.isprintable() else DEFAULT_MEDIA_TYPE


def _carrier_type(app: App, carrier: str) -> str:
    return app.config.carriers[carrier].type


def _read_bounded(src: BinaryIO, size: int, progress: Progress | None, total: int) -> Iterator[bytes]:
    """The file's bytes, at most ``size`` (one more is the file growing: refused)."""
    done = 0
    while piece := src.read(min(CHUNK_BYTES, size + 1 - done)):
        done += len(piece)
        if done > size:
            raise InvalidInputError("the file grew while it was encrypted: send it again once it is written")
        yield piece
        if progress is not None:
            progress(done, total)
    if done != size:
        raise InvalidInputError("the file shrank while it was encrypted: send it again once it is written")


def _blob_limit(app: App, carrier: str) -> int | None:
    bridge = app.bridge(carrier)
    try:
        return bridge.blob_limit  # Matrix asks its homeserver
    finally:
        bridge.close()


def _takers(app: App, chat: UnlockedChat, blob_size: int) -> tuple[list[str], list[tuple[str, str]], list[BridgeError]]:
    """The chat's carriers that take a blob of ``blob_size`` bytes, the others with why
    not, and the failures of those that could not say (passed over, as a failed put is)."""
    takers: list[str] = []
    skipped: list[tuple[str, str]] = []
    failures: list[BridgeError] = []
    for carrier in chat.row.carriers:
        if carrier not in app.config.carriers:
            skipped.append((carrier, "not a carrier of this home's config.toml"))
            continue
        try:
            limit = bridge_call(carrier, functools.partial(_blob_limit, app, carrier))
        except BridgeError as exc:
            failures.append(exc)
            skipped.append((carrier, exc.detail))
            continue
        if limit is None:
            skipped.append((carrier, f"a {_carrier_type(app, carrier)} carrier here keeps no files"))
        elif blob_size > limit:
            skipped.append((carrier, f"takes files up to {limit:,} bytes encrypted, this one is {blob_size:,}"))
        else:
            takers.append(carrier)
    return takers, skipped, failures


def _why(skipped: list[tuple[str, str]]) -> str:
    return "; ".join(f"{carrier!r} {why}" for carrier, why in skipped)


def prepare_attachment(
    app: App,
    chat: UnlockedChat,
    path: Path | str,
    *,
    caption: str = "",
    media_type: str | None = None,
    progress: Progress | None = None,
    skipped: Callable[[str, str], None] | None = None,
) -> Attachment:
    """Encrypt the file at ``path`` under a fresh key and put it on every carrier of
    ``chat`` that takes it; return the attachment a message carries (its name the file's
    base name, its ``media_type`` guessed from the name unless given).

    A carrier that keeps no files, takes none this large, cannot say its limit now (a
    homeserver down), or fails to put it is passed over and named to ``skipped(carrier,
    why)``. Raises :class:`NoFileCarrierError` (before encrypting anything) when no carrier
    can take it, naming each and why; when every carrier that might take it failed (to say
    its limit, before encrypting; or to put it), the first carrier's failure. ``progress(done,
    total)``: bytes encrypted, then one file's worth more per carrier put.
    """
    path = Path(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO would block an open
    with os.fdopen(fd, "rb") as src:
        found = os.fstat(src.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise InvalidInputError(f"{path} is not a regular file")
        os.set_blocking(fd, True)
        size = found.st_size
        name, kind = path.name, _file_type(path.name, media_type)
        # Every field a reader checks, checked before anything is encrypted or put.
        encode_content(Attachment(bytes(32), bytes(32), size, name, kind, (Locator("files", "x"),), caption))
        takers, passed, failures = _takers(app, chat, encrypted_size(size))
        if not takers and failures:
            raise failures[0]  # a carrier that could not say its limit now may take the file later
        if not takers:
            raise NoFileCarrierError(
                f"no carrier of chat {chat.row.name!r} can carry {name} ({size:,} bytes): {_why(passed)}"
            )
        for carrier, why in passed:
            if skipped is not None:
                skipped(carrier, why)
        total = size * (1 + len(takers))
        key = new_file_key()
        temp = _temp_blob(app)
        try:
            digest = _encrypt_into(key, src, size, temp, progress, total)
            locators = _put_everywhere(app, takers, temp, size, progress, total, skipped)
        finally:
            temp.unlink(missing_ok=True)
    return Attachment(key.to_bytes(), digest.hash, size, name, kind, locators, caption)


def _encrypt_into(
    key: BlobKey, src: BinaryIO, size: int, temp: Path, progress: Progress | None, total: int
) -> BlobDigest:
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out:
        stream = encrypt_stream(key, _read_bounded(src, size, progress, total))
        for sealed in stream:
            out.write(sealed)
    return stream.digest


def _put_everywhere(
    app: App,
    takers: list[str],
    temp: Path,
    size: int,
    progress: Progress | None,
    total: int,
    skipped: Callable[[str, str], None] | None,
) -> tuple[Locator, ...]:
    blob_size, done = encrypted_size(size), size
    locators: list[Locator] = []
    failures: list[BridgeError] = []
    for carrier in takers:
        bridge = app.bridge(carrier)
        try:
            value = bridge_call(carrier, functools.partial(bridge.put_blob, temp, blob_size))
        except BridgeError as exc:
            failures.append(exc)
            if skipped is not None:
                skipped(carrier, exc.detail)
            continue
        finally:
            bridge.close()
        locators.append(Locator(_carrier_type(app, carrier), value))
        done += size
        if progress is not None:
            progress(done, total)
    if not locators:
        raise failures[0]
    return tuple(locators)


def send_attachment(
    app: App,
    chat: UnlockedChat,
    sender: Identity,
    path: Path | str,
    *,
    caption: str = "",
    media_type: str | None = None,
    progress: Progress | None = None,
    skipped: Callable[[str, str], None] | None = None,
) -> list[int]:
    """Prepare the file at ``path`` (:func:`prepare_attachment`) and seal it from ``sender``
    into the chat's outbox as a pb2 message (``App.send_content``); the pointers' ids."""
    attachment = prepare_attachment(
        app, chat, path, caption=caption, media_type=media_type, progress=progress, skipped=skipped
    )
    return app.send_content(chat, sender, attachment)


def attachment_of(app: App, chat: UnlockedChat, message_id: str) -> Attachment:
    """The attachment of the chat's message whose id (or unique id prefix) is ``message_id``."""
    shown, _ = app.read(chat, include_trash=True)
    matches = [s for s in shown if s.message.id.startswith(message_id.lower())]
    if not matches:  # as edit and delete say it (54)
        raise MessageNotFoundError(
            f"no message of chat {chat.row.name!r} has an id starting {message_id!r} ('pbridge read' shows them)"
        )
    if len(matches) > 1:
        raise InvalidInputError(f"{message_id!r} matches {len(matches)} messages; give more of the id")
    content = matches[0].message.content
    if not isinstance(content, Attachment):
        raise NotAFileError(f"message {matches[0].message.id} of chat {chat.row.name!r} holds no file")
    return content


def _destination(dest: Path, name: str, force: bool) -> Path:
    """The file to write: ``dest``, or ``name`` inside it when it is a folder (``name``
    re-checked to be a base name: it comes from another member; its leading dots made
    ``_``, as browsers do, so that it never lands as a hidden file such as ``.bashrc``)."""
    if dest.is_dir():
        if name in ("", ".", "..") or Path(name).name != name or any(c in name for c in "/\\\0"):
            raise InvalidInputError(f"the file's name {name!r} is not a plain file name: give a file to save it as")
        bare = name.lstrip(".")
        dest = dest / ("_" * (len(name) - len(bare)) + bare)
    elif not dest.parent.is_dir():
        raise InvalidInputError(f"{dest.parent} is not a folder")
    if os.path.lexists(dest):
        if not force:
            raise DestinationExistsError(f"{dest} exists: give another name, or --force to replace it")
        if dest.is_dir() or dest.is_symlink():
            raise InvalidInputError(f"{dest} is a folder or a link: not replaced")
    return dest


def _sources(app: App, chat: UnlockedChat, attachment: Attachment) -> list[tuple[str, str]]:
    """(carrier, locator value) to try in turn: each locator on each of this chat's
    carriers of its type, in the order the sender listed them."""
    mine = [(c, _carrier_type(app, c)) for c in chat.row.carriers if c in app.config.carriers]
    tries = [(carrier, loc.value) for loc in attachment.locators for carrier, kind in mine if kind == loc.carrier]
    if not tries:
        put = ", ".join(sorted({loc.carrier for loc in attachment.locators}))
        here = ", ".join(f"{c!r} ({kind})" for c, kind in mine) or "none"
        raise NoFileCarrierError(
            f"{attachment.name} was put on {put} carriers; this chat's carriers here are {here}: "
            "add one of those to the chat (pbridge chat carriers) to fetch it"
        )
    return tries


def _fetch(app: App, carrier: str, locator: str, blob: Path, attachment: Attachment) -> None:
    """The blob from one carrier into ``blob``, checked (length and hash) before anything
    is decrypted; ``blob`` is gone after any failure."""
    bridge: Bridge = app.bridge(carrier)
    try:
        use_cursor = getattr(bridge, "use_cursor", None)  # Telegram: the ids its bot saw, from its cursor
        if use_cursor is not None:
            use_cursor(app.store.cursor(carrier))
        most = encrypted_size(attachment.size)
        bridge_call(carrier, functools.partial(bridge.get_blob, locator, blob, most))
        with open(blob, "rb") as fetched:
            check_blob(attachment.hash, attachment.size, iter(functools.partial(fetched.read, SEALED_CHUNK_BYTES), b""))
    except BaseException:
        blob.unlink(missing_ok=True)
        raise
    finally:
        bridge.close()


def _decrypt_to(
    attachment: Attachment, blob: Path, dest: Path, force: bool, progress: Progress | None, total: int
) -> None:
    """Decrypt ``blob`` into a 0600 file beside ``dest`` (nameless where the kernel allows:
    ``app/publish.py``), given ``dest``'s name once the whole stream verified (never over a
    file unless ``force``)."""
    with beside(dest, force) as out, open(blob, "rb") as src:
        done = total - attachment.size
        pieces = iter(functools.partial(src.read, SEALED_CHUNK_BYTES), b"")
        for plain in decrypt_stream(BlobKey(attachment.file_key), attachment.hash, attachment.size, pieces):
            out.write(plain)
            done += len(plain)
            if progress is not None:
                progress(done, total)
        out.publish()


def save_attachment(
    app: App,
    chat: UnlockedChat,
    attachment: Attachment,
    dest: Path | str,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Fetch the attachment's blob from a carrier of ``chat`` its locators name, check it,
    decrypt it and write it at ``dest`` (a folder: the attachment's name in it), 0600;
    return the file written. An existing file is replaced only with ``force``
    (:class:`DestinationExistsError`).

    Each locator on each carrier of its type is tried in turn (a carrier without the
    blob, or failing, or serving a blob that does not check: the next); when none gives
    a good blob, the first failure is raised: the carrier's (``BlobNotFoundError``,
    ``BlobTooLargeError``, ``RetryableError``, ...) or the blob's (``BlobHashError``,
    ``BlobChunkError``, ``BlobTruncatedError``). :class:`NoFileCarrierError`: no carrier
    of this chat here is of a type the attachment was put on. After any failure nothing
    is left: no blob in the home, no partial file beside ``dest``. ``progress(done,
    total)``: the blob's bytes once fetched, then the file's bytes as they are decrypted.
    """
    dest = _destination(Path(dest), attachment.name, force)
    tries = _sources(app, chat, attachment)
    total = encrypted_size(attachment.size) + attachment.size
    failures: list[PointerBridgeError] = []
    for carrier, locator in tries:
        blob = _temp_blob(app)
        try:
            try:
                _fetch(app, carrier, locator, blob, attachment)
            except (BridgeError, BlobError) as exc:
                failures.append(exc)
                continue
            if progress is not None:
                progress(encrypted_size(attachment.size), total)
            _decrypt_to(attachment, blob, dest, force, progress, total)
            return dest
        finally:
            blob.unlink(missing_ok=True)
    raise failures[0]
