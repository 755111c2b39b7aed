"""Keys for tests, built from raw bytes so most tests skip the 150 ms Argon2id; an export's
records opened, and sealed again."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pointerbridge.core import ChatKey, Identity

if TYPE_CHECKING:
    from pointerbridge.home.store import Store


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


def opened_export(store: Store, path: Path) -> list[dict[str, Any]]:
    """The records of the export at ``path`` (header left out) as a version-2 file held
    them: each sealed record opened under ``store``'s key (the store that wrote it, or one
    of the same identity), each pointer's chat lookup turned back into the chat's name."""
    import base64
    import json

    records = []
    for line in path.read_text().splitlines()[1:]:
        record = json.loads(line)
        if record["kind"] == "sealed":
            record = json.loads(store.open_from_export(base64.b64decode(record["data"])))
        records.append(record)
    names = {store.chat_lookup(c.normalized_name).hex(): c.normalized_name for c in store.chats()}
    for record in records:
        if record["kind"] == "pointer" and record["chat"] is not None:
            record["chat"] = names[record["chat"]]
    return records


def write_export_file(path: Path, records: list[dict[str, Any]], sealed_by: Store | None = None) -> Path:
    """Write ``records`` (as :func:`opened_export` gives them) as an export: of version 3,
    sealed again under ``sealed_by``'s key, or of version 2 (still read) without it."""
    import base64
    import json

    from pointerbridge.app.export_format import SEALED_KINDS

    lines = [{"format": "pointerbridge-export", "version": 2 if sealed_by is None else 3, "schema": 10}]
    for record in records:
        if sealed_by is not None and record["kind"] in SEALED_KINDS:
            data = sealed_by.seal_for_export(json.dumps(record).encode())
            record = {"kind": "sealed", "data": base64.b64encode(data).decode()}
        elif sealed_by is not None and record["kind"] == "pointer" and record["chat"] is not None:
            record = {**record, "chat": sealed_by.chat_lookup(record["chat"]).hex()}
        lines.append(record)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path
