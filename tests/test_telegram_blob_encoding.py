"""A Telegram file download answered gzip-encoded (issue 21, review item 5): asked for as
it is (``Accept-Encoding: identity``) and read raw, a file sent compressed is refused
before any of it is inflated (httpx once inflated each 64 KiB read: a gzip bomb's
1000-fold before the bound looked). A small local HTTP server plays the hostile answer."""

from __future__ import annotations

import http.server
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from pointerbridge.bridges import telegram_blobs
from pointerbridge.bridges.base import RetryableError

_BOMB_ZEROS = 64 << 20


def _bomb() -> bytes:
    pack = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip
    return b"".join(pack.compress(bytes(1 << 20)) for _ in range(_BOMB_ZEROS >> 20)) + pack.flush()


class _Gzipping(http.server.BaseHTTPRequestHandler):
    body: ClassVar[bytes] = _bomb()
    asked: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        type(self).asked.append(self.headers.get("Accept-Encoding"))
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_args: object) -> None:
        """Quiet."""


@pytest.fixture
def gzip_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gzipping)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_a_gzip_encoded_download_is_refused_uninflated(
    gzip_server: http.server.ThreadingHTTPServer, tmp_path: Path
) -> None:
    assert len(_Gzipping.body) < 1 << 20  # 64 MiB of zeros in well under 1 MiB
    dest = tmp_path / "blob"
    url = f"http://127.0.0.1:{gzip_server.server_address[1]}/file/botX/documents/file_1.bin"
    with pytest.raises(RetryableError, match="gzip-encoded, not as asked"):
        telegram_blobs._download("tg", url, dest, 20 << 20, 10, None)
    assert _Gzipping.asked == ["identity"]
    assert not dest.exists()
