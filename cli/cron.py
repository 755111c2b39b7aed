"""TEMPORARY (issue 16, item 7): this module is :mod:`pointerbridge.cli.entry` now.

Only the ``pbridge poll`` command (cli/messages.py, another engineer's, not edited with
this change) still imports ``run_poll`` from here; once it imports it from ``.entry``,
delete this file.
"""

from __future__ import annotations

from .entry import run_poll

__all__ = ["run_poll"]
