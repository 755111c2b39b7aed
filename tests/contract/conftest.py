"""The contract suite's fixture: one fresh carrier of each bridge per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from carriers import FACTORIES, CarrierUnderTest


@pytest.fixture(params=sorted(FACTORIES))
def carrier(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CarrierUnderTest]:
    made = FACTORIES[request.param](tmp_path)
    try:
        yield made
    finally:
        made.close()
