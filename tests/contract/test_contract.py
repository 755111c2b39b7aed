"""The bridge contract, run against every built-in bridge: the suite that ships as
``pointerbridge.testing.contract``, on the carriers conftest.py names (see carriers.py)."""

from __future__ import annotations

from pointerbridge.testing.contract import TestBridgeContract

__all__ = ["TestBridgeContract"]  # collected here, run once per carrier
