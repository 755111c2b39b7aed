"""The hook a bridge's conftest.py implements to run the contract suite on its carriers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from . import CarrierFactory


@pytest.hookspec
def pytest_pointerbridge_carriers(config: pytest.Config) -> Mapping[str, CarrierFactory]:  # type: ignore[empty-body]
    """The carriers to run the contract suite on: a name (it appears in the tests' ids)
    for each, and a factory that makes a fresh, empty carrier of it in a test's
    ``tmp_path``. Every implementation's carriers are run; a name may appear once."""
