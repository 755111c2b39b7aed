"""Exit codes and the one-line error reporting every pbridge command shares.

Each error class carries its own exit code (``PointerBridgeError.exit_code``), so reporting
an error reads it off the error and never imports the module of another class (a cheap
command stays cheap). click's own usage errors exit with 2; a bug exits with
:data:`EXIT_INTERNAL`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

from pointerbridge.core import PointerBridgeError
from pointerbridge.core.errors import EXIT_INTERNAL

__all__ = ["EXIT_INTERNAL", "code_of", "exit_code", "exit_codes", "one_line_errors"]

P = ParamSpec("P")
R = TypeVar("R")


# What ``exit_codes`` loads to find every error class: the app facade (which brings the
# app's errors, the store, the config and the bridge contract), doctor, the secret policy,
# rotation notices, the carriers' blob stores and the gateway. tests/test_cli.py checks that
# no error class is defined anywhere these do not reach.
_DEFINED_BY = (
    "pointerbridge.app.service",
    "pointerbridge.app.doctor",
    "pointerbridge.app.secret_policy",
    "pointerbridge.core.rotation",
    "pointerbridge.cli.secrets",
    "pointerbridge.cli.web",
    "pointerbridge.bridges.blob_io",
    "pointerbridge.gateway.errors",
)


def _carries_own_code(cls: type[PointerBridgeError]) -> bool:
    return "exit_code" in vars(cls)


def code_of(cls: type[PointerBridgeError]) -> int:
    """The exit code an error class carries: its own, or its nearest base's (1 for the bases)."""
    return cls.exit_code


def exit_code(exc: PointerBridgeError) -> int:
    """The process exit code for an expected failure (1 for one without its own)."""
    return code_of(type(exc))


def _subclasses(cls: type[PointerBridgeError]) -> Iterator[type[PointerBridgeError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def exit_codes() -> dict[str, int]:
    """Every error class of Pointer Bridge that carries its own code, by name, lowest code first.

    What ``pbridge --help`` lists. It loads the app to find the classes, so it is for help
    and tests, never for reporting one error (:func:`exit_code`)."""
    for module in _DEFINED_BY:
        importlib.import_module(module)
    ours = (c for c in _subclasses(PointerBridgeError) if c.__module__.startswith("pointerbridge."))
    codes = {cls.__name__: code_of(cls) for cls in ours if _carries_own_code(cls)}
    return dict(sorted(codes.items(), key=lambda item: item[1]))


def one_line_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Report a :class:`PointerBridgeError` as one stderr line and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except PointerBridgeError as exc:
            import click  # here, so that the click-free cron line (cli/entry.py) can use this module

            click.echo(f"pbridge: {exc}", err=True)
            raise click.exceptions.Exit(exit_code(exc)) from None

    return wrapper
