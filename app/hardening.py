"""Keep a process that will hold secrets from writing them out in a core dump.

A crash (SIGABRT, SIGSEGV) of a process whose core limit allows it writes its memory to a
file: the chat secret, the master phrase, carriers' tokens and decrypted bodies with it.
Every ``pbridge`` command (the cron poll too) calls :func:`harden_process` first: the core limit drops
to 0 (soft and hard, so nothing later in the process can raise it again) and, on Linux,
the process is marked not dumpable (no core whatever the limit or ``core_pattern``, and no
``ptrace`` attach or ``/proc/PID/mem`` read by other processes of the same user).

``prctl`` is called through :mod:`ctypes`: the one wrapper on PyPI (python-prctl) builds
against libcap's headers for this single call, which the standard library reaches as is.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys

__all__ = ["die_with_parent", "harden_process", "is_dumpable"]

_PR_SET_PDEATHSIG = 1
_PR_GET_DUMPABLE = 3
_PR_SET_DUMPABLE = 4


def harden_process() -> None:
    """No core dumps from this process from now on (see the module's docstring)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def is_dumpable() -> bool:
    """Whether this process may still be dumped (Linux: ``PR_GET_DUMPABLE``; elsewhere: a
    core limit above 0)."""
    if sys.platform == "linux":
        return bool(ctypes.CDLL(None).prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0))
    return resource.getrlimit(resource.RLIMIT_CORE)[0] != 0


def die_with_parent(parent: int) -> None:
    """A worker process killed (SIGKILL) when its ``parent`` ends, on Linux: killed itself
    (the OOM killer's first choice is the reader), the parent must not leave behind workers
    that hold what it gave them and wait forever for more. Ended already: exit now."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os._exit(1)
