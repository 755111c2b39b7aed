"""Keys for tests, built from raw bytes so most tests skip the 150 ms Argon2id."""

from __future__ import annotations

import hashlib

from pointerbridge.core import ChatKey, Identity


def raw_chat(name: str) -> ChatKey:
    return ChatKey(name, hashlib.sha256(b"test chat " + name.encode()).digest())


def raw_identity(username: str) -> Identity:
    return Identity(username, hashlib.sha256(b"test identity " + username.encode()).digest())


def debian_command(command: str, package: str) -> str:
    """The path of ``command``, installing Debian's ``package`` first when root and it is
    missing; fails (never skips) with the reason when it cannot."""
    import os
    import shutil
    import subprocess

    found = shutil.which(command)
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
            subprocess.run(step, check=True, capture_output=True, env=env, timeout=600)
        found = shutil.which(command)
    assert found, f"{command} is missing and cannot be installed here (apt-get install {package})"
    return found
