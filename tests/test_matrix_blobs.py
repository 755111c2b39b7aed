"""Where a Matrix carrier keeps blobs (issue 21): the media repository of a real Synapse,
its upload limit, and a download bounded and refused where it must be."""

from __future__ import annotations

import itertools
import os
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pointerbridge.bridges.base import Bridge, bridge_class
from pointerbridge.bridges.blob_io import BlobNotFoundError, BlobTooLargeError
from servers.synapse import Synapse, shared_server

_names = itertools.count()


def _pair(server: Synapse) -> tuple[Bridge, Bridge]:
    """Two members' bridges, each its own account, in one room."""
    settings, theirs = server.two_bots_in_new_room(f"blob{next(_names)}x{os.getpid()}")
    settings = {k: v for k, v in settings.items() if k != "type"}
    theirs = {k: v for k, v in theirs.items() if k != "type"}
    matrix = bridge_class("matrix")
    return matrix.from_config("mx", settings), matrix.from_config("mx", theirs)


@pytest.fixture
def pair() -> Iterator[tuple[Bridge, Bridge]]:
    bridges = _pair(shared_server())
    yield bridges
    for bridge in bridges:
        bridge.close()


@pytest.fixture(scope="module")
def small_server() -> Iterator[Synapse]:
    """A homeserver of its own that takes uploads of at most 100 KiB."""
    server = Synapse(Path(tempfile.mkdtemp(prefix="pbridge-synapse-small-")), extra={"max_upload_size": "100K"})
    server.start()
    yield server
    server.stop()


def _blob(folder: Path, size: int) -> Path:
    path = folder / f"blob-{size}"
    path.write_bytes(os.urandom(size))
    return path


def test_a_blob_put_by_one_member_is_fetched_by_another(pair: tuple[Bridge, Bridge], tmp_path: Path) -> None:
    mine, theirs = pair
    source = _blob(tmp_path, 300_000)
    locator = mine.put_blob(source, 300_000)
    assert locator.startswith("mxc://localhost/")
    dest = tmp_path / "fetched"
    theirs.get_blob(locator, dest, 300_000)
    assert dest.read_bytes() == source.read_bytes()
    assert dest.stat().st_mode & 0o777 == 0o600
    # The media repository was told nothing of the file: a neutral name, an opaque type.
    server = shared_server()
    _, media = locator.removeprefix("mxc://").split("/")
    request = urllib.request.Request(
        f"{server.url}/_matrix/client/v1/media/download/localhost/{media}",
        headers={"Authorization": f"Bearer {os.environ[theirs.settings.access_token_env]}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # 127.0.0.1 only
        assert answer.headers["Content-Type"] == "application/octet-stream"
        assert "file.bin" in answer.headers["Content-Disposition"]
        assert "blob" not in answer.headers["Content-Disposition"]


def test_the_limit_is_the_homeservers_own(pair: tuple[Bridge, Bridge], small_server: Synapse) -> None:
    mine, _ = pair
    assert mine.blob_limit == 50 * 1024 * 1024  # Synapse's default max_upload_size, as its media config says
    small, _ = _pair(small_server)
    try:
        assert small.blob_limit == 100 * 1024
    finally:
        small.close()


def test_a_blob_over_the_homeservers_limit_is_refused_before_uploading(
    small_server: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nio

    mine, theirs = _pair(small_server)
    try:
        assert mine.blob_limit == 102_400  # asked before counting requests
        sent: list[str] = []
        real = nio.AsyncClient.send

        async def counting(self: object, method: str, path: str, *args: Any, **kw: Any) -> Any:
            sent.append(path.split("?")[0])
            return await real(self, method, path, *args, **kw)

        monkeypatch.setattr(nio.AsyncClient, "send", counting)
        with pytest.raises(BlobTooLargeError, match=r"102,401 bytes encrypted, more than the 102,400"):
            mine.put_blob(_blob(tmp_path, 102_401), 102_401)
        assert sent == []
        # Exactly the limit is taken, and fetched back whole.
        source = _blob(tmp_path, 102_400)
        locator = mine.put_blob(source, 102_400)
        assert any("upload" in path for path in sent)
        theirs.get_blob(locator, tmp_path / "back", 102_400)
        assert (tmp_path / "back").read_bytes() == source.read_bytes()
    finally:
        mine.close()
        theirs.close()


def test_a_fetch_longer_than_expected_is_refused_and_leaves_nothing(
    pair: tuple[Bridge, Bridge], tmp_path: Path
) -> None:
    mine, theirs = pair
    locator = mine.put_blob(_blob(tmp_path, 200_000), 200_000)
    dest = tmp_path / "fetched"
    with pytest.raises(BlobTooLargeError, match=r"longer than the 199,999 bytes expected"):
        theirs.get_blob(locator, dest, 199_999)
    assert not dest.exists()


@pytest.mark.parametrize(
    "locator",
    ["https://localhost/abc", "mxc://localhost/", "mxc://localhost/a/b", "mxc://local host/abc", "mxc://x/a?b=c", ""],
)
def test_a_locator_that_is_no_media_uri_is_refused_without_asking(
    pair: tuple[Bridge, Bridge], tmp_path: Path, locator: str
) -> None:
    _, theirs = pair
    with pytest.raises(BlobNotFoundError, match="is not a Matrix media URI"):
        theirs.get_blob(locator, tmp_path / "fetched", 1000)
    assert not (tmp_path / "fetched").exists()


def test_a_media_uri_that_names_nothing_is_not_found(pair: tuple[Bridge, Bridge], tmp_path: Path) -> None:
    _, theirs = pair
    with pytest.raises(BlobNotFoundError, match="the homeserver has no file localhost/NoSuchMediaHere"):
        theirs.get_blob("mxc://localhost/NoSuchMediaHere", tmp_path / "fetched", 1000)
    assert not (tmp_path / "fetched").exists()
