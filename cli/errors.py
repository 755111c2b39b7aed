"""Exit codes and the one-line error reporting every pbridge command shares."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from pointerbridge.app.service import ChatNotFoundError, NotInitialisedError, PollBusyError, WrongSecretError
from pointerbridge.bridges.base import ConfigurationError, RetryableError
from pointerbridge.core import (
    ArmorError,
    BadSignatureError,
    ClmFormatError,
    ClmTamperedError,
    ClmWrongChatError,
    ClmWrongSecretError,
    InvalidInputError,
    MalformedError,
    NonCanonicalError,
    NotForThisChatError,
    PaddingError,
    PointerBridgeError,
    TamperedError,
    TooLargeError,
    TruncatedError,
    UnknownVersionError,
)
from pointerbridge.core.config import ConfigError
from pointerbridge.core.store import StoreError

from .secrets import SecretUnavailableError

__all__ = ["EXIT_CODES", "EXIT_INTERNAL", "exit_code", "one_line_errors"]

P = ParamSpec("P")
R = TypeVar("R")

# Most specific first: the first match wins. Typer's own usage errors exit with 2.
EXIT_CODES: list[tuple[type[PointerBridgeError], int]] = [
    (InvalidInputError, 3),
    (SecretUnavailableError, 4),
    (WrongSecretError, 5),
    (NotInitialisedError, 6),
    (ChatNotFoundError, 7),
    (StoreError, 8),
    (ConfigError, 9),
    (NonCanonicalError, 11),
    (ArmorError, 10),
    (UnknownVersionError, 12),
    (TruncatedError, 13),
    (TooLargeError, 14),
    (NotForThisChatError, 15),
    (TamperedError, 16),
    (PaddingError, 17),
    (MalformedError, 18),
    (BadSignatureError, 19),
    (ClmFormatError, 20),
    (ClmWrongSecretError, 21),
    (ClmWrongChatError, 22),
    (ClmTamperedError, 23),
    (ConfigurationError, 24),
    (RetryableError, 25),
    (PollBusyError, 26),
]
EXIT_INTERNAL = 70
_MAX_STDIN_BYTES = 64 * 1024 * 1024


def exit_code(exc: PointerBridgeError) -> int:
    """The process exit code for an expected failure."""
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), 1)


def one_line_errors(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except PointerBridgeError as exc:
            typer.echo(f"pbridge: {exc}", err=True)
            raise typer.Exit(exit_code(exc)) from None

    return wrapper


