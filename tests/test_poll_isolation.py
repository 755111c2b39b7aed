"""One carrier's bridge failing in a way it did not foresee (its bug, or an answer of its
carrier it did not expect: carriers are hostile) stops neither the run nor the other
carriers: it is that carrier's error, naming only the exception's type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import raw_chat, raw_identity
from pointerbridge.app.service import App
from pointerbridge.core import seal
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from servers.telegram import BotApiServer
from test_telegram_probe import _known, _settings, answering


def test_a_bridge_that_breaks_on_an_answer_leaves_the_other_carriers_to_run(
    bot_api: BotApiServer, answering: tuple[str, list[bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PBRIDGE_DEBUG", raising=False)
    bot, group, _, cursor = _known(bot_api)
    odd_telegram, body = answering  # a well-formed batch whose one message's text is a number
    message = {"message_id": 1, "date": 1, "chat": {"id": group.id, "type": "supergroup"}, "text": 5}
    body[0] = json.dumps({"ok": True, "result": [{"update_id": 7, "message": message}]}).encode()
    shared = tmp_path / "shared"
    shared.mkdir()
    pointer = seal(raw_chat("isolation"), raw_identity("pat"), "still arrives")[0]
    (shared / "one.txt").write_text(pointer)
    home = Home(tmp_path / "home", tmp_path / "home")
    home.create()
    telegram = {"type": "telegram", **_settings(bot_api, bot, group, base_url=odd_telegram)}
    carriers = {"a_tg": telegram, "b_files": {"type": "files", "path": str(shared)}}
    save_config(home.config_path, Config(carriers={k: CarrierConfig.model_validate(v) for k, v in carriers.items()}))
    with App(home) as app:
        app.init("bob", "bob's master phrase for this test", allow_weak=True)
        app.store.save_cursor("a_tg", cursor)  # the bot's id known: the probe asks, then the bridge reads
        summary = app.poll()
    assert summary.received.get("b_files") == 1
    assert summary.errors["a_tg"] == (
        "carrier 'a_tg': its bridge failed unexpectedly (TypeError); PBRIDGE_DEBUG=1 shows more"
    )


__all__ = ["answering"]  # the fixture, imported for pytest to find
