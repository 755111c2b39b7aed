"""The blob half of the bridge contract (issue 21): what every carrier that keeps blobs
(``blob_limit`` not None) must do with them, and how one that keeps none says so. Mixed
into :class:`~pointerbridge.testing.contract.TestBridgeContract`, so it runs on every
carrier the suite runs on.

A blob is an opaque encrypted file to a carrier: these tests move random bytes.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pointerbridge.bridges.base import Bridge, ConfigurationError, bridge_class
from pointerbridge.bridges.blob_io import BlobNotFoundError, BlobTooLargeError

from . import CarrierUnderTest

__all__ = ["BlobContract"]

_SIZES = (1, 65_536 * 3 + 17, 300_001)  # one byte, a few STREAM chunks, not a multiple of 3 or 4


@contextlib.contextmanager
def _keeping(carrier: CarrierUnderTest, tmp_path: Path) -> Iterator[tuple[Bridge, Bridge] | None]:
    """The first member's bridge and the second's (who fetches what the first put), closed
    after; None where the carrier keeps no blobs, having checked it says so (:func:`_keeps_none`)."""
    mine = bridge_class(carrier.config.type).from_config("c", carrier.config.settings)
    theirs = bridge_class(carrier.other.type).from_config("c", carrier.other.settings)
    try:
        yield None if _keeps_none(mine, theirs, tmp_path) else (mine, theirs)
    finally:
        mine.close()
        theirs.close()


def _blob(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    source = tmp_path / f"blob-source-{size}"
    source.write_bytes(data)
    return source, data


def _keeps_none(mine: Bridge, theirs: Bridge, tmp_path: Path) -> bool:
    """Whether the carrier keeps no blobs, having checked that it says so (and what to
    do) on both sides, leaving nothing: each case then has nothing more to test."""
    if mine.blob_limit is not None:
        return False
    source, _ = _blob(tmp_path, 10)
    with pytest.raises(ConfigurationError, match="keeps no files"):
        mine.put_blob(source, 10)
    with pytest.raises(ConfigurationError, match="keeps no files"):
        theirs.get_blob("anything", tmp_path / "dest", 10)
    assert not (tmp_path / "dest").exists()
    return True


def _put(bridge: Bridge, tmp_path: Path, size: int) -> tuple[str, bytes]:
    source, data = _blob(tmp_path, size)
    return bridge.put_blob(source, size), data


def _named_nothing(locator: str) -> str:
    """``locator`` with one character of its longest run of letters and digits changed:
    the same form, naming nothing (a random id, one character off)."""
    runs = list(re.finditer(r"[0-9A-Za-z]+", locator))
    assert runs, f"a locator with no letters or digits: {locator!r}"
    run = max(runs, key=lambda m: len(m.group()))
    at = run.start() + len(run.group()) // 2
    old = locator[at]
    new = ("1" if old != "1" else "2") if old.isdigit() else ("b" if old.lower() != "b" else "c")
    return locator[:at] + (new.upper() if old.isupper() else new) + locator[at + 1 :]


def _seen(theirs: Bridge) -> None:
    """What the app does before it fetches (app/attachments.py): a carrier whose blobs a
    member can fetch only once its poll saw them (Telegram: a file id per bot) is polled,
    and the cursor handed over."""
    use_cursor = getattr(theirs, "use_cursor", None)
    if use_cursor is not None:
        use_cursor(theirs.poll(None).cursor)


class BlobContract:
    """put_blob, get_blob and blob_limit, test by test (``carrier``: a fresh one, from the plugin)."""

    def test_a_blob_put_is_fetched_whole_by_another_member(self, carrier: CarrierUnderTest, tmp_path: Path) -> None:
        with _keeping(carrier, tmp_path) as pair:
            if pair is None:  # a carrier without a blob store says so, and what to do
                return
            mine, theirs = pair
            assert mine.blob_limit is not None and mine.blob_limit >= max(_SIZES)
            put = {size: _put(mine, tmp_path, size) for size in _SIZES}
            _seen(theirs)
            for size, (locator, data) in put.items():
                assert isinstance(locator, str) and 0 < len(locator) <= 1000
                dest = tmp_path / f"fetched-{size}"
                theirs.get_blob(locator, dest, size)
                assert dest.read_bytes() == data
                assert stat.S_IMODE(dest.stat().st_mode) == 0o600

    def test_a_locator_that_names_nothing_is_refused(self, carrier: CarrierUnderTest, tmp_path: Path) -> None:
        with _keeping(carrier, tmp_path) as pair:
            if pair is None:
                return
            mine, theirs = pair
            locator, _ = _put(mine, tmp_path, 1000)
            strangers = [_named_nothing(locator), "", "../x", "/etc/passwd", "x" * 2000, locator + "\n"]
            for stranger in strangers:
                dest = tmp_path / "dest"
                with pytest.raises(BlobNotFoundError):
                    theirs.get_blob(stranger, dest, 1000)
                assert not dest.exists()

    def test_a_blob_over_max_bytes_is_refused_and_leaves_nothing(
        self, carrier: CarrierUnderTest, tmp_path: Path
    ) -> None:
        with _keeping(carrier, tmp_path) as pair:
            if pair is None:
                return
            mine, theirs = pair
            size = 200_000
            locator, data = _put(mine, tmp_path, size)
            _seen(theirs)
            for max_bytes in (size - 1, size // 2, 16):
                dest = tmp_path / f"dest-{max_bytes}"
                with pytest.raises(BlobTooLargeError):
                    theirs.get_blob(locator, dest, max_bytes)
                assert not dest.exists()
            whole = tmp_path / "whole"
            theirs.get_blob(locator, whole, size)  # the refusals broke nothing: it is still there
            assert whole.read_bytes() == data

    def test_a_blob_over_the_carriers_limit_is_refused_before_it_is_put(
        self, carrier: CarrierUnderTest, tmp_path: Path
    ) -> None:
        with _keeping(carrier, tmp_path) as pair:
            if pair is None:
                return
            mine, _ = pair
            assert mine.blob_limit is not None
            source, _ = _blob(tmp_path, 10)  # the size said is what counts: nothing is read
            with pytest.raises(BlobTooLargeError):
                mine.put_blob(source, mine.blob_limit + 1)
