"""The built-in carriers for the shipped contract suite (``pointerbridge.testing``, loaded
by tests/conftest.py): each test gets a fresh one of each, from carriers.py."""

from __future__ import annotations

import pytest
from carriers import FACTORIES
from pointerbridge.testing import CarrierFactory


def pytest_pointerbridge_carriers(config: pytest.Config) -> dict[str, CarrierFactory]:
    return FACTORIES
