"""Where the command line gets secrets: a file descriptor, the environment, or a prompt.

Never argv and never a file path: a secret on the command line is visible to every
user of the machine in ``ps``, and a file would put it on disk.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable

from pointerbridge.core import InvalidInputError, PointerBridgeError

__all__ = ["SecretUnavailableError", "another_secret", "new_secret", "read_secret", "tty_available"]

WEAK_OK_HINT = "pass --weak-secret-ok to use it anyway"

_MAX_SECRET_BYTES = 4096


class SecretUnavailableError(PointerBridgeError):
    """No secret was given and there is no terminal to ask on."""

    exit_code = 4


def _from_fd(fd: int) -> str:
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := os.read(fd, 1024):
            chunks.append(chunk)
            size += len(chunk)
            if size > _MAX_SECRET_BYTES:
                raise SecretUnavailableError(f"more than {_MAX_SECRET_BYTES} bytes on fd {fd}")
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise SecretUnavailableError(f"the secret on fd {fd} is not UTF-8") from None


def tty_available() -> bool:
    """Whether this process has a terminal to ask a secret on."""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True


def read_secret(prompt: str, env_var: str | None, fd: int | None, *, confirm: bool = False) -> str:
    """Return a secret from ``fd``, else ``env_var`` (None: no variable), else a hidden
    prompt on the terminal."""
    if fd is not None:
        try:
            secret = _from_fd(fd)
        except OSError as exc:
            raise SecretUnavailableError(f"cannot read a secret from fd {fd}: {exc.strerror}") from None
    elif env_var is not None and env_var in os.environ:
        secret = os.environ[env_var]
    elif tty_available():
        secret = getpass.getpass(f"{prompt}: ")
        if confirm and getpass.getpass(f"{prompt} (again): ") != secret:
            raise SecretUnavailableError("the two entries differ")
    else:
        option = "--phrase-fd" if "PHRASE" in (env_var or "") else "--secret-fd"
        variable = f"set {env_var} or " if env_var else ""
        raise SecretUnavailableError(f"no terminal to ask for the {prompt.lower()}: {variable}use {option}")
    if not secret:
        raise SecretUnavailableError(f"the {prompt.lower()} is empty")
    try:
        secret.encode("utf-8")  # the environment can smuggle undecodable bytes in
    except UnicodeEncodeError:
        raise SecretUnavailableError(f"the {prompt.lower()} is not valid UTF-8") from None
    return secret


def another_secret(prompt: str, why_asked: str) -> str | None:
    """One more secret typed at a hidden prompt on the terminal; None when it is left
    empty (the user stops). With no terminal, :class:`SecretUnavailableError` saying
    ``why_asked`` (what the secret was wanted for, and how else to give it)."""
    if not tty_available():
        raise SecretUnavailableError(why_asked)
    secret = getpass.getpass(f"{prompt}: ")
    try:
        secret.encode("utf-8")
    except UnicodeEncodeError:
        raise SecretUnavailableError("that secret is not valid UTF-8") from None
    return secret or None


def _offer(prompt: str, generated: str, advice: str) -> str:
    """Show a generated secret on the terminal and return it, or the one typed instead."""
    # The terminal itself, never stdout: a redirected stdout (a log, a pipe, a file) would
    # keep the secret; /dev/tty is only a screen.
    with open("/dev/tty", "w", encoding="utf-8") as tty:
        tty.write(f"A generated {prompt.lower()}:\n\n    {generated}\n\n{advice}\n")
    typed = getpass.getpass(f"Press Enter to use it, or type your own {prompt.lower()}: ")
    if not typed:
        return generated
    if getpass.getpass(f"{prompt} (again): ") != typed:
        raise SecretUnavailableError("the two entries differ")
    return typed


def _deliver(fd: int, secret: str) -> None:
    """Write a generated secret and a newline to ``fd`` (a pipe a script reads) and close it."""
    data = (secret + "\n").encode()
    try:
        while data:
            data = data[os.write(fd, data) :]
        os.close(fd)
    except OSError as exc:
        raise SecretUnavailableError(f"cannot write the generated secret to fd {fd}: {exc.strerror}") from None


def new_secret(
    prompt: str,
    env_var: str,
    fd: int | None,
    *,
    generate: Callable[[], str],
    advice: str,
    allow_weak: bool,
    user_inputs: tuple[str, ...],
    show_fd: int | None = None,
) -> str:
    """A new secret (a chat's, a master phrase): with ``show_fd``, a generated one written
    there; else from ``fd`` or ``env_var``; else on a terminal a generated one offered
    first (Enter takes it) or one typed twice. Anything but a generated one is estimated,
    and refused if weak unless ``allow_weak``; with no secret given and no terminal,
    :class:`SecretUnavailableError`."""
    from pointerbridge.app.secret_policy import check_strength

    if show_fd is not None:
        if fd is not None:
            raise InvalidInputError(
                "a generated secret is written to the --show-*-fd descriptor: read none from another descriptor too"
            )
        generated = generate()
        _deliver(show_fd, generated)
        return generated
    if fd is None and env_var not in os.environ and tty_available():
        generated = generate()
        secret = _offer(prompt, generated, advice)
        if secret == generated:
            return secret
    else:
        secret = read_secret(prompt, env_var, fd)  # no terminal and nothing given: refused there
    what = prompt.lower().removeprefix("new ")
    check_strength(secret, what=what, allow_weak=allow_weak, user_inputs=user_inputs, hint=WEAK_OK_HINT)
    return secret
