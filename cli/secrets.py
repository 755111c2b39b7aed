"""Where the command line gets secrets: a file descriptor, the environment, or a prompt.

Never argv and never a file path: a secret on the command line is visible to every
user of the machine in ``ps``, and a file would put it on disk.
"""

from __future__ import annotations

import getpass
import os

from pointerbridge.core import PointerBridgeError

__all__ = ["SecretUnavailableError", "read_secret"]

_MAX_SECRET_BYTES = 4096


class SecretUnavailableError(PointerBridgeError):
    """No secret was given and there is no terminal to ask on."""


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


def _tty_available() -> bool:
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True


def read_secret(prompt: str, env_var: str, fd: int | None, *, confirm: bool = False) -> str:
    """Return a secret from ``fd``, else ``env_var``, else a hidden prompt on the terminal."""
    if fd is not None:
        try:
            secret = _from_fd(fd)
        except OSError as exc:
            raise SecretUnavailableError(f"cannot read a secret from fd {fd}: {exc.strerror}") from None
    elif env_var in os.environ:
        secret = os.environ[env_var]
    elif _tty_available():
        secret = getpass.getpass(f"{prompt}: ")
        if confirm and getpass.getpass(f"{prompt} (again): ") != secret:
            raise SecretUnavailableError("the two entries differ")
    else:
        raise SecretUnavailableError(f"no terminal to ask for the {prompt.lower()}: set {env_var} or use --secret-fd")
    if not secret:
        raise SecretUnavailableError(f"the {prompt.lower()} is empty")
    try:
        secret.encode("utf-8")  # the environment can smuggle undecodable bytes in
    except UnicodeEncodeError:
        raise SecretUnavailableError(f"the {prompt.lower()} is not valid UTF-8") from None
    return secret
