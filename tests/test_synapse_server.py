"""The Synapse the Matrix tests run against: installs, starts, registers users, restarts."""

from __future__ import annotations

from pathlib import Path

from servers.synapse import Synapse


def test_a_real_synapse_starts_registers_and_keeps_its_data_over_a_restart(tmp_path: Path) -> None:
    server = Synapse(tmp_path / "synapse")
    server.start()
    try:
        alice = server.register("alice", "alice-password")
        assert alice["user_id"] == "@alice:localhost" and alice["access_token"] and alice["device_id"]
        room = server.request("POST", "/_matrix/client/v3/createRoom", {"name": "pointers"}, alice["access_token"])
        server.stop()
        server.start()  # as a test that stops Synapse mid-poll will
        me = server.request("GET", "/_matrix/client/v3/account/whoami", token=alice["access_token"])
        assert me["user_id"] == "@alice:localhost"
        joined = server.request("GET", "/_matrix/client/v3/joined_rooms", token=alice["access_token"])
        assert joined["joined_rooms"] == [room["room_id"]]
    finally:
        server.stop()
    assert "Traceback" not in server.log_tail(200)
