"""The bridge contract suite as a pytest plugin, so that a third-party bridge runs the same
tests as the built-in ones.

A bridge's project implements one hook in its ``conftest.py``, naming the carriers to test
and a factory for each, and collects the suite from one test module::

    # conftest.py
    from pathlib import Path

    from pointerbridge.testing import CarrierConfig, CarrierUnderTest

    pytest_plugins = ["pointerbridge.testing"]  # or: pytest -p pointerbridge.testing


    def pytest_pointerbridge_carriers(config):
        def fresh(tmp_path: Path) -> CarrierUnderTest:
            folder = tmp_path / "carrier"  # a fresh, empty carrier for one test
            folder.mkdir()
            settings = CarrierConfig.model_validate({"type": "mine", "path": str(folder)})
            return CarrierUnderTest(settings, inject=lambda text: ...)  # text on it, as a stranger's

        return {"mine": fresh}


    # test_contract.py
    from pointerbridge.testing.contract import TestBridgeContract  # noqa: F401  (collected)

The bridge must be registered under the ``pointerbridge.bridges`` entry-point group (the
suite checks that too). Each test gets a fresh carrier from the factory (``tmp_path`` is the
test's own), and calls its ``close`` afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pluggy
import pytest
from pointerbridge.home.config import CarrierConfig

__all__ = ["CarrierConfig", "CarrierFactory", "CarrierUnderTest", "ContractSetupError"]

_NAME = "pointerbridge_carrier_name"  # the parameter that runs each test once per carrier
_IDENTITY_COST = "PBRIDGE_IDENTITY_MEMORY_MIB"


@dataclass
class CarrierUnderTest:
    """A fresh, empty carrier for one test: one member's config, the other member's (the
    same, unless the carrier needs an account each: a Telegram bot never sees its own posts)
    and a way to put text on it."""

    config: CarrierConfig
    inject: Callable[[str], None]  # put text on the carrier as a stranger or a person would
    peer: CarrierConfig | None = None
    close: Callable[[], None] = lambda: None  # stop what the factory started

    @property
    def other(self) -> CarrierConfig:
        """The config the second member uses."""
        return self.peer or self.config


CarrierFactory = Callable[[Path], CarrierUnderTest]


class ContractSetupError(Exception):
    """No carrier to run the suite on, or one name given twice."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Make the bridge-factory hook known (a conftest.py implements it)."""
    from . import hooks

    pluginmanager.add_hookspecs(hooks)


class _Node(Protocol):
    """What the hook is called from: a test or a module, with its path-aware hooks."""

    config: pytest.Config

    @property
    def ihook(self) -> pluggy.HookRelay: ...


def _factories(node: _Node) -> dict[str, CarrierFactory]:
    """The carriers that the ``pytest_pointerbridge_carriers`` implementations seen from
    ``node`` (plugins, and conftest.py files above it) name, merged; a name twice is refused."""
    merged: dict[str, CarrierFactory] = {}
    for found in node.ihook.pytest_pointerbridge_carriers(config=node.config):
        for name, factory in dict(found).items():
            if name in merged:
                raise ContractSetupError(
                    f"pointerbridge.testing: carrier {name!r} is named by two hook implementations"
                )
            merged[name] = factory
    return merged


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses the ``carrier`` fixture once per carrier the hook names."""
    if _NAME not in metafunc.fixturenames:
        return
    names = sorted(_factories(metafunc.definition))
    if not names:
        raise ContractSetupError(
            "pointerbridge.testing: no carrier to run the contract suite on: implement "
            "pytest_pointerbridge_carriers(config) in a conftest.py (see the module's docstring)"
        )
    metafunc.parametrize(_NAME, names)


@pytest.fixture
def carrier(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pointerbridge_carrier_name: str
) -> Iterator[CarrierUnderTest]:
    """A fresh carrier of the kind this test runs on (one per name the hook gives). The
    test's homes make identities at the smallest cost (64 MiB) unless the environment
    says otherwise: the bridge is under test, not the key derivation."""
    if not os.environ.get(_IDENTITY_COST):
        monkeypatch.setenv(_IDENTITY_COST, "64")
    made = _factories(request.node)[pointerbridge_carrier_name](tmp_path)
    try:
        yield made
    finally:
        made.close()
