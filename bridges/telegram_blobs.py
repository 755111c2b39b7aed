"""Where a Telegram carrier keeps blobs: documents in the chat (issue 21).

- **Putting** is python-telegram-bot's ``send_document`` into the chat, named ``file.bin``,
  with no caption and no server-side type detection: the group sees a file of some size
  from the member's bot, never a name, a type or a word. python-telegram-bot reads the file
  whole into memory to send it (its ``InputFile``), at most :data:`BLOB_LIMIT` bytes.
- **The limit** is 20 MiB although a bot may upload 50 MB: a bot downloads at most 20 MiB
  through getFile (``MAX_DOWNLOAD_FILE_SIZE`` in the Bot API server's Client.h), and a blob
  is for the other members' bots to download.
- **The locator** is ``<file_unique_id>/<bot id>/<file_id>``. A ``file_id`` works only
  for the bot that received it ("unique for each individual bot and can't be transferred
  from one bot to another", Bot API docs), so another member's bot cannot use the
  sender's: it learns its own from the document's message in its updates. The poll
  (telegram_updates.py) keeps the last :data:`KEPT_BLOBS` documents' ids in the carrier's
  cursor, and the app hands that cursor to :meth:`TelegramBlobs.use_cursor` before
  fetching; the sender's own bot uses the id in the locator. ``file_unique_id`` is the same
  for every bot.
- **Getting** is getFile (its ``file_size`` checked against the bound first) and the
  download of ``/file/bot<token>/<file_path>`` over httpx, read in chunks and bounded
  (asked with ``Accept-Encoding: identity``, read raw: a file sent compressed is refused,
  never inflated, as a 1 MB gzip of 1 GB would be before any bound could look): not
  python-telegram-bot's ``download_to_drive``, which holds the whole file in memory and
  copies a *local* file when the server names a path that exists on this machine.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import AsyncBridge, ConfigurationError, RetryableError, json_cursor, printable
from .blob_io import BlobNotFoundError, BlobTooLargeError, write_blob
from .telegram_probe import api_url, new_client, socks_errors, unreachable

if TYPE_CHECKING:
    from .proxy import Proxy

__all__ = ["BLOB_LIMIT", "KEPT_BLOBS", "TelegramBlobs", "known_blobs", "remember_blob"]

BLOB_LIMIT = 20 << 20  # the most a bot downloads through getFile
KEPT_BLOBS = 100  # documents' ids a cursor keeps, newest last
_NAME = "file.bin"
_SLOWEST = 16 * 1024  # bytes a second a download may slow to before it is given up
_ID = r"[A-Za-z0-9_-]{1,200}"
_LOCATOR = re.compile(rf"({_ID})/([0-9]{{1,20}})/({_ID})")
_FILE_PATH = re.compile(r"[A-Za-z0-9_.-]{1,200}(?:/[A-Za-z0-9_.-]{1,200}){0,4}")


def known_blobs(cursor: str | None) -> dict[str, str]:
    """file_unique_id -> this bot's file_id, as a cursor keeps them."""
    kept = json_cursor(cursor).get("blobs")
    pairs = kept if isinstance(kept, list) else []
    return {p[0]: p[1] for p in pairs if isinstance(p, list) and len(p) == 2 and all(isinstance(i, str) for i in p)}


def remember_blob(state: dict[str, Any], unique: str, file_id: str) -> None:
    """Keep a document's ids in the cursor's ``state``: the newest :data:`KEPT_BLOBS`."""
    kept = [p for p in state.get("blobs") or [] if isinstance(p, list) and p and p[0] != unique]
    state["blobs"] = [*kept, [unique, file_id]][-KEPT_BLOBS:]


class TelegramBlobs(AsyncBridge):
    """Mixed into :class:`~pointerbridge.bridges.telegram.TelegramBridge`: blobs as documents in the chat."""

    blob_limit = BLOB_LIMIT
    _s: Any  # the bridge's TelegramSettings
    _known: dict[str, str] | None = None

    def _token(self) -> str:  # the Telegram bridge's
        raise NotImplementedError

    def use_cursor(self, cursor: str | None) -> None:
        """The carrier's saved cursor: the documents this bot has seen, by their ids for it."""
        self._known = known_blobs(cursor)

    def put_blob(self, source: Path, size: int) -> str:
        """Post ``source`` as a document in the chat; return its locator."""
        if size > BLOB_LIMIT:
            too_large = f"the file is {size:,} bytes encrypted, more than the {BLOB_LIMIT:,} a Telegram bot can fetch"
            raise BlobTooLargeError(self.name, too_large)
        unique, file_id = self._run(lambda bot: self._send_blob(bot, source))
        return f"{unique}/{self._token().partition(':')[0]}/{file_id}"

    def get_blob(self, locator: str, dest: Path, max_bytes: int) -> None:
        """Download the document ``locator`` names into the new file ``dest`` (0600), at most ``max_bytes``."""
        match = _LOCATOR.fullmatch(locator)
        if match is None:
            raise BlobNotFoundError(self.name, f"{printable(locator, 100)!r} is not a Telegram file locator")
        unique, sender, file_id = match.groups()
        if sender != self._token().partition(":")[0]:  # another member's bot posted it: this bot's own id
            mine = (self._known or {}).get(unique)
            if mine is None:
                raise BlobNotFoundError(
                    self.name,
                    f"this bot has not received the file {unique} in chat {self._s.chat_id} (poll first; a file "
                    f"is fetched while it is among the last {KEPT_BLOBS} this bot saw)",
                )
            file_id = mine
        url, size = self._run(lambda bot: self._locate(bot, file_id))
        if size is not None and size > max_bytes:
            raise BlobTooLargeError(self.name, f"the file is {size:,} bytes, more than the {max_bytes:,} expected")
        _download(self.name, url, dest, max_bytes, self._s.timeout, self._s.proxy_server())

    async def _send_blob(self, bot: Any, source: Path) -> tuple[str, str]:
        from telegram.error import NetworkError

        try:
            with source.open("rb") as file:
                message = await bot.send_document(
                    self._s.chat_id,
                    file,
                    filename=_NAME,
                    disable_content_type_detection=True,
                    disable_notification=True,
                )
        except NetworkError as exc:  # api.telegram.org's front answers an upload over 50 MB with 413
            if "too large" in exc.message.lower():
                raise BlobTooLargeError(self.name, "Telegram refused the file as too large") from None
            raise
        document = message.document
        if document is None:
            raise RetryableError(self.name, "Telegram answered sendDocument with no document")
        return str(document.file_unique_id), str(document.file_id)

    async def _locate(self, bot: Any, file_id: str) -> tuple[str, int | None]:
        from telegram.error import BadRequest

        try:
            found = await bot.get_file(file_id)
        except BadRequest as exc:  # gone, not this bot's, or past what a bot may fetch: asking again will not help
            said = f"getFile: {printable(exc.message, 200)}"
            if "too big" in exc.message.lower():
                raise BlobTooLargeError(self.name, f"a bot fetches at most {BLOB_LIMIT:,} bytes ({said})") from None
            raise BlobNotFoundError(self.name, f"Telegram has no such file for this bot ({said})") from None
        prefix = api_url(self._s.base_file_url, self._token(), "")
        path = str(found.file_path or "")
        relative = path.removeprefix(prefix)
        if not path.startswith(prefix) or not _FILE_PATH.fullmatch(relative) or ".." in relative.split("/"):
            raise RetryableError(self.name, "Telegram's getFile answer names no file to download")
        size = found.file_size
        return path, size if isinstance(size, int) else None


def _download(carrier: str, url: str, dest: Path, most: int, timeout: float, proxy: Proxy | None) -> None:
    """GET ``url`` into the new file ``dest`` (0600), at most ``most`` bytes, within a time
    bound, through ``proxy`` when there is one; ``dest`` is removed unless it is whole. The
    URL holds the token: never in a message."""
    client = new_client(proxy)  # first: it imports httpx as telegram_probe.py does
    import httpx

    deadline = time.monotonic() + timeout + most / _SLOWEST
    late: tuple[type[Exception], ...] = (httpx.TimeoutException, *socks_errors(proxy))

    def chunks(response: Any) -> Iterator[bytes]:
        for chunk in response.iter_raw(1 << 16):  # as sent: nothing inflated before the bound
            if time.monotonic() > deadline:
                raise RetryableError(carrier, "downloading a file took too long")
            yield chunk

    try:
        asked = {"Accept-Encoding": "identity"}
        with client, client.stream("GET", url, headers=asked, timeout=httpx.Timeout(timeout)) as response:
            status = response.status_code
            encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):  # a gzip bomb inflates 1000-fold: never inflated here
                raise RetryableError(carrier, f"Telegram sent the file {printable(encoding, 40)}-encoded, not as asked")
            if status in (400, 403, 404):
                raise BlobNotFoundError(carrier, f"Telegram has no such file to download (HTTP {status})")
            if status != 200:
                raise RetryableError(carrier, f"downloading a file: HTTP {status}")
            try:
                write_blob(carrier, dest, chunks(response), most)
            except OSError as exc:
                raise ConfigurationError(carrier, f"cannot write {dest}: {exc.strerror}") from None
    except late as exc:
        raise unreachable(carrier, proxy, exc, "TimedOut") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise unreachable(carrier, proxy, exc, "NetworkError") from None
