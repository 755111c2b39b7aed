"""Where a Matrix carrier keeps blobs: the homeserver's media repository (issue 21).

- **Putting** is nio's ``AsyncClient.upload``, streamed from the file (nio reads a path
  with aiofiles, 4 KiB at a time), typed ``application/octet-stream`` under the neutral
  name ``file.bin``: the media repository learns a size and a time, never a name or a type.
  The locator is the ``mxc://`` URI the homeserver answers.
- **The limit** is the homeserver's own, ``m.upload.size`` of its media config (Matrix 1.11's
  authenticated ``/_matrix/client/v1/media/config``, else the older ``/_matrix/media/v3/config``),
  asked once per bridge; a homeserver that does not say is taken at ``max_blob_bytes``. A
  blob over it is refused before a byte is sent.
- **Getting** is Matrix 1.11's authenticated download,
  ``/_matrix/client/v1/media/download/{server}/{id}`` with the access token in the header
  (Synapse refuses the older unauthenticated path for media uploaded since it turned
  authenticated media on, its default since 1.120). Any well-formed ``mxc://server/id`` is
  fetched, not only this homeserver's: a member whose account lives on another homeserver
  uploaded there, and this homeserver fetches it over federation. The bytes are read by
  aiohttp, not nio: nio's ``download`` reads the whole answer into memory or a file with no
  bound, and the answer comes from a server that is hostile until shown otherwise; the
  path is the one nio's ``Api.download`` makes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .base import AsyncBridge, ConfigurationError, RetryableError, printable
from .blob_io import BlobNotFoundError, BlobTooLargeError
from .matrix_api import Answer, Budget, call_api, error_answer, get_json, nio_answer

__all__ = ["DEFAULT_BLOB_BYTES", "MatrixBlobs"]

DEFAULT_BLOB_BYTES = 50 * 1024 * 1024  # Synapse's own default max_upload_size
_NAME = "file.bin"  # what the media repository is told the file is called
_CONFIG = ("/_matrix/client/v1/media/config", "/_matrix/media/v3/config")
_DOWNLOAD = "/_matrix/client/v1/media/download"
_ANSWER_BYTES = 65_536  # a media config or an error answer
_SLOWEST = 16 * 1024  # bytes a second a transfer may slow to before it is given up
# mxc://<server name>/<media id>: a server name is a host (DNS name, IPv4, [IPv6]) and an
# optional port; a media id is what the spec lets a server make ([A-Za-z0-9_-]).
_MXC = re.compile(r"mxc://((?:[A-Za-z0-9.-]{1,255}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?)/([A-Za-z0-9_-]{1,255})")


def parse_mxc(locator: str) -> tuple[str, str] | None:
    """(server name, media id) of a well-formed ``mxc://`` URI, else None."""
    match = _MXC.fullmatch(locator)
    return (match.group(1), match.group(2)) if match else None


class MatrixBlobs(AsyncBridge):
    """Mixed into :class:`~pointerbridge.bridges.matrix.MatrixBridge`: blobs in the media repository."""

    _s: Any  # the bridge's MatrixSettings
    _media_limit: int | None = None  # the homeserver's, once asked

    _budget: Budget  # the bridge's: seconds of 429 waiting left to this post or poll

    async def _media(self, request: Any, what: str) -> Any:
        return await call_api(self.name, request, what, self._budget)  # no room: a 404 is the file's

    @property
    def blob_limit(self) -> int | None:  # type: ignore[override]  # the homeserver's, not the class's
        """The homeserver's ``m.upload.size`` (asked once), else ``max_blob_bytes``. Raises
        :class:`RetryableError` when the homeserver cannot be asked now."""
        if self._media_limit is None:
            self._media_limit = int(self._run(self._ask_limit))
        return self._media_limit

    def put_blob(self, source: Path, size: int) -> str:
        """Upload ``source`` to the media repository; return its ``mxc://`` URI."""
        limit = self.blob_limit
        assert limit is not None
        if size > limit:
            raise BlobTooLargeError(
                self.name, f"the file is {size:,} bytes encrypted, more than the {limit:,} {self._s.homeserver} takes"
            )
        uri: str = self._run(lambda client: self._upload(client, source, size))
        return uri

    def get_blob(self, locator: str, dest: Path, max_bytes: int) -> None:
        """Download the media ``locator`` names into the new file ``dest`` (0600), at most ``max_bytes``."""
        parts = parse_mxc(locator)
        if parts is None:
            raise BlobNotFoundError(self.name, f"{printable(locator, 100)!r} is not a Matrix media URI")
        path = f"{_DOWNLOAD}/{quote(parts[0], safe='')}/{parts[1]}"
        name = self.name
        self._run(lambda client: self._media(lambda: _download(name, client, path, dest, max_bytes), "fetching a file"))

    async def _ask_limit(self, client: Any) -> int:
        config = await self._media(lambda: _media_config(client), "reading the media repository's limit")
        size = config.get("m.upload.size")
        if isinstance(size, int) and not isinstance(size, bool) and size > 0:
            return size
        return int(self._s.max_blob_bytes)

    async def _upload(self, client: Any, source: Path, size: int) -> str:
        async def upload() -> Any:
            response, _ = await client.nio().upload(
                lambda *_: source, content_type="application/octet-stream", filename=_NAME, filesize=size
            )
            return response

        async def attempt() -> Answer:
            try:  # nio gives an upload no time limit of its own
                answer = await asyncio.wait_for(nio_answer(upload()), self._s.timeout + size / _SLOWEST)
            except TimeoutError:
                raise RetryableError(self.name, "uploading a file: the homeserver took too long") from None
            if answer.status == 413 or answer.code == "M_TOO_LARGE":
                refused = f"{self._s.homeserver} refused {size:,} bytes as too large ({answer.message})"
                raise BlobTooLargeError(self.name, refused)
            return answer

        response = await self._media(attempt, "uploading a file")
        uri = getattr(response, "content_uri", None)
        if not isinstance(uri, str) or parse_mxc(uri) is None:
            raise RetryableError(self.name, "uploading a file: the homeserver answered no mxc:// URI")
        return uri


async def _media_config(client: Any) -> Answer:
    """The media config, from the authenticated endpoint or else the older one."""
    answer = await get_json(client, _CONFIG[0], most=_ANSWER_BYTES)
    if answer.status in (400, 404, 405) and answer.code in (None, "M_UNRECOGNIZED", "M_NOT_FOUND"):
        answer = await get_json(client, _CONFIG[1], most=_ANSWER_BYTES)  # a homeserver before Matrix 1.11
    return answer


async def _download(carrier: str, client: Any, path: str, dest: Path, most: int) -> Answer:
    """GET the media at ``path`` into ``dest``: an error answer as it came, or the bytes
    written (at most ``most``; more is a refusal, and ``dest`` is removed)."""
    headers = {"Authorization": f"Bearer {client.access_token}"}
    async with await client.send("GET", path, headers=headers, wait=most / _SLOWEST) as response:
        status = int(response.status)
        if status == 404:  # M_NOT_FOUND: no such media (here, or on the server the URI names)
            raise BlobNotFoundError(carrier, f"the homeserver has no file {path.removeprefix(_DOWNLOAD + '/')}")
        if status >= 400:
            return await _error(response, status)
        if status != 200:
            return Answer(False, None, 502, message=f"the homeserver answered HTTP {status}")
        too_large = BlobTooLargeError(carrier, f"the file is longer than the {most:,} bytes expected")
        if (response.content_length or 0) > most:
            raise too_large
        try:
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise ConfigurationError(carrier, f"cannot write {dest}: {exc.strerror}") from None
        kept = False
        try:
            with os.fdopen(fd, "wb") as out:
                written = 0
                async for chunk in response.content.iter_chunked(1 << 16):
                    written += len(chunk)
                    if written > most:
                        raise too_large
                    out.write(chunk)
            kept = True
        finally:
            if not kept:
                with contextlib.suppress(FileNotFoundError):
                    dest.unlink()
    return Answer(True, None)


async def _error(response: Any, status: int) -> Answer:
    import json

    raw = await response.content.read(_ANSWER_BYTES)
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        body = None
    error = body if isinstance(body, dict) else {}
    return error_answer(status, error.get("errcode"), error.get("error") or "", error.get("retry_after_ms"))
