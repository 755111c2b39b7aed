"""The contract suite's fixture: one fresh carrier of each bridge per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from carriers import FACTORIES, CarrierUnderTest


@pytest.fixture(params=sorted(FACTORIES))
def carrier(request: pytest.FixtureRequest, tmp_path: Path) -> CarrierUnderTest:
    return FACTORIES[request.param](tmp_path)
