"""Exit codes and the one-line error reporting every pbridge command shares."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from pointerbridge.core import PointerBridgeError

__all__ = ["EXIT_CODES", "EXIT_INTERNAL", "exit_code", "one_line_errors"]

P = ParamSpec("P")
R = TypeVar("R")

# By class name, so reporting an error never imports the module that defines it (a cheap
# command stays cheap). An error's own class is looked up first, then its bases.
# Typer's own usage errors exit with 2.
EXIT_CODES: dict[str, int] = {
    "InvalidInputError": 3,
    "SecretUnavailableError": 4,
    "WrongSecretError": 5,
    "NotInitialisedError": 6,
    "ChatNotFoundError": 7,
    "StoreError": 8,
    "ConfigError": 9,
    "ArmorError": 10,
    "NonCanonicalError": 11,
    "UnknownVersionError": 12,
    "TruncatedError": 13,
    "TooLargeError": 14,
    "NotForThisChatError": 15,
    "TamperedError": 16,
    "PaddingError": 17,
    "MalformedError": 18,
    "BadSignatureError": 19,
    "ClmFormatError": 20,
    "ClmWrongSecretError": 21,
    "ClmWrongChatError": 22,
    "ClmTamperedError": 23,
    "ConfigurationError": 24,
    "RetryableError": 25,
    "PollBusyError": 26,
    "NoCarriersError": 27,
    "CheckFailedError": 28,
    "StaleSecretError": 29,
    "RotationError": 30,
    "WeakSecretError": 31,
    "WeakKeyError": 32,  # a small-order or non-canonical sender key (a BadSignatureError, SPEC §7 step 8)
    "LoginUnsupportedError": 33,  # pbridge carrier login for a type whose bridge has no login hook
}
EXIT_INTERNAL = 70


def exit_code(exc: PointerBridgeError) -> int:
    """The process exit code for an expected failure (1 for one without its own)."""
    return next((EXIT_CODES[k.__name__] for k in type(exc).__mro__ if k.__name__ in EXIT_CODES), 1)


def one_line_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Report a :class:`PointerBridgeError` as one stderr line and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except PointerBridgeError as exc:
            import typer  # here, so that the typer-free cron path can use this module

            typer.echo(f"pbridge: {exc}", err=True)
            raise typer.Exit(exit_code(exc)) from None

    return wrapper
