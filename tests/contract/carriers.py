"""What a bridge provides to run the contract suite: a fresh carrier and a way to put
arbitrary text on it. Add a bridge by adding a factory here and its name to FACTORIES."""

from __future__ import annotations

import atexit
import itertools
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pointerbridge.core.config import CarrierConfig
from servers.synapse import Synapse


@dataclass
class CarrierUnderTest:
    """A fresh, empty carrier for one test."""

    config: CarrierConfig
    inject: Callable[[str], None]  # put text on the carrier as a stranger or a person would


def _files(tmp_path: Path) -> CarrierUnderTest:
    folder = tmp_path / "shared-folder"
    folder.mkdir()
    counter = iter(range(10**6))

    def inject(text: str) -> None:
        (folder / f"zz-foreign-{next(counter)}.txt").write_text(text, encoding="utf-8")

    config = CarrierConfig.model_validate({"type": "files", "path": str(folder), "max_pointer_chars": 2000})
    return CarrierUnderTest(config, inject)


_synapse: Synapse | None = None
_accounts = itertools.count()


def _server() -> Synapse:
    """One Synapse for the whole session (fresh users and rooms per test)."""
    global _synapse
    if _synapse is None:
        server = Synapse(Path(tempfile.mkdtemp(prefix="pbridge-synapse-")))
        server.start()
        atexit.register(server.stop)
        _synapse = server
    return _synapse


def _matrix(tmp_path: Path) -> CarrierUnderTest:
    server = _server()
    name = f"bot{next(_accounts)}x{os.getpid()}"
    account = server.register(name, "bot-password")
    token = account["access_token"]
    room = server.request("POST", "/_matrix/client/v3/createRoom", {"name": "pointers"}, token)["room_id"]
    variable = f"PBRIDGE_TEST_MATRIX_TOKEN_{name.upper()}"
    os.environ[variable] = token
    counter = itertools.count()

    def inject(text: str) -> None:  # a person in the room types (or pastes) this
        path = f"/_matrix/client/v3/rooms/{room}/send/m.room.message/person{next(counter)}"
        server.request("PUT", path, {"msgtype": "m.text", "body": text}, token)

    config = CarrierConfig.model_validate({
        "type": "matrix", "homeserver": server.url, "user_id": account["user_id"], "device_id": account["device_id"],
        "access_token_env": variable, "room_id": room, "start": "history", "max_pointer_chars": 2000,
    })
    return CarrierUnderTest(config, inject)


FACTORIES: dict[str, Callable[[Path], CarrierUnderTest]] = {"files": _files, "matrix": _matrix}
