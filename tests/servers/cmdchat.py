"""A CMD-CHAT server for tests, written for them after CMD-CHAT's own (github:emilycodestar/
cmd-chat 18a1aab, cmd_chat/server/*.py; no registry has it), and a raw client that speaks to
it as CMD-CHAT's client does (cmd_chat/client/client.py), independent of the bridge's code.

It keeps the real server's rules, so that the carrier cannot pass against a kinder one:

- plain TCP on 127.0.0.1, asyncio's default 64 KiB line limit on every read: a longer line
  from a member drops that member (as the real one does, through its catch-all);
- SRP-6a with ``srp`` as the server uses it: ``rfc5054_enable()``, SHA-256, NG_2048, the
  identity ``b"chat"``, one salt and verifier made at start; a fresh 16-byte ``room_salt``
  per server process; each read of the login under a 30 s timeout;
- the handshake lines and their errors ("Invalid JSON", "Expected srp_init", "Missing A",
  "Username taken" (checked before SRP), "SRP init failed", "Expected srp_verify", "Invalid
  verify request", "Invalid session", "Authentication failed"), each followed by the end of
  the connection; the name is taken once the login completes;
- ``init`` with the whole backlog and the members (the joiner included); ``user_joined`` to
  the others; ``message`` stored (text unchecked) and broadcast to everyone, the sender
  included, with a UUID4 id, an ISO 8601 UTC timestamp, the sender's IP and name;
  ``clear`` from any member empties the backlog and broadcasts ``cleared``; any other type,
  and any non-JSON line, ignored; a JSON line that is not an object drops the member;
  ``user_left`` when a member goes;
- a broadcast writes to each member in turn under one lock, waiting for each to take it;
- the backlog lives in memory only: :meth:`CmdChatServer.restart` is a new server process
  on the same port (new room salt, new SRP salt, empty backlog, no members).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import srp
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

srp.rfc5054_enable()

_AUTH_TIMEOUT = 30.0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class _Room:
    """One server process's state: what a restart loses."""

    def __init__(self, password: str) -> None:
        self.password = password.encode()
        self.salt, self.verifier = srp.create_salted_verification_key(b"chat", self.password, hash_alg=srp.SHA256)
        self.room_salt = os.urandom(16)
        self.pending: dict[str, Any] = {}  # user id -> srp.Verifier, until verified
        self.sessions: dict[str, str] = {}  # user id -> username, once logged in
        self.writers: dict[str, asyncio.StreamWriter] = {}
        self.messages: list[dict[str, Any]] = []
        self.lock = asyncio.Lock()


class CmdChatServer:
    """The server on 127.0.0.1 in a thread of its own; :meth:`restart` keeps the port."""

    def __init__(self, password: str = "room password") -> None:
        self.password = password
        self.port = 0
        self.logins = 0  # completed logins, for tests that count them
        self.logins_by: Counter[str] = Counter()  # completed logins by username
        self.activity: dict[str, float] = {}  # username -> when (monotonic) its last line came: the idle sweep's clock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cmdchat-server", daemon=True)
        self._server: asyncio.Server | None = None
        self._room = _Room(password)

    def _call(self, work: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(30)

    def start(self) -> CmdChatServer:
        """Listen (on a free port the first time, on the same one after a stop)."""
        if not self._thread.is_alive():
            self._thread.start()
        self._server = self._call(self._listen())
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._client, "127.0.0.1", self.port, reuse_address=True)

    def stop(self) -> None:
        """The server process ends: every connection closed, the port free, the room forgotten."""
        if self._server is not None:
            self._call(self._shutdown(self._server))
            self._server = None

    async def _shutdown(self, server: asyncio.Server) -> None:
        server.close()
        for writer in list(self._room.writers.values()):
            writer.transport.abort()
        await server.wait_closed()

    def restart(self) -> None:
        """A new server process on the same port: new room salt and SRP salt, empty backlog."""
        self.stop()
        self._room = _Room(self.password)
        self.start()

    def close(self) -> None:
        """Stop for good, the thread too."""
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def room_salt(self) -> bytes:
        """This server process's room salt."""
        return self._room.room_salt

    def backlog(self) -> list[dict[str, Any]]:
        """The stored messages, as the server keeps them."""
        return self._call(self._copy())

    async def _copy(self) -> list[dict[str, Any]]:
        return [dict(m) for m in self._room.messages]

    def usernames(self) -> list[str]:
        """The names logged in now."""
        return self._call(self._names())

    async def _names(self) -> list[str]:
        return sorted(self._room.sessions.values())

    # -- the protocol ----------------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        room = self._room
        peer = writer.get_extra_info("peername")
        ip = peer[0] if peer else "unknown"
        user_id = None
        try:
            login = await self._login(room, reader, writer)
            if login is None:
                return
            user_id, username = login
            await self._chat(room, reader, writer, user_id, username, ip)
        except (asyncio.IncompleteReadError, ConnectionResetError, OSError):
            pass
        except Exception:  # noqa: BLE001  # the real server prints "[!] Client error" and drops the member
            pass
        finally:
            if user_id is not None:
                async with room.lock:
                    room.writers.pop(user_id, None)
                room.sessions.pop(user_id, None)
                await self._broadcast(room, {"type": "user_left", "user_id": user_id})
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _send(self, writer: asyncio.StreamWriter, data: dict[str, Any]) -> None:
        writer.write((json.dumps(data) + "\n").encode())
        await writer.drain()

    async def _error(self, writer: asyncio.StreamWriter, text: str) -> None:
        await self._send(writer, {"error": text})

    async def _command(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cmd: str) -> Any:
        """The login's next line, when it is the command ``cmd``; None when the client left or
        sent something else (answered with the real server's error)."""
        line = await asyncio.wait_for(reader.readline(), _AUTH_TIMEOUT)
        if not line:
            return None
        try:
            data = json.loads(line.decode())
        except json.JSONDecodeError:
            return await self._error(writer, "Invalid JSON")
        if data.get("cmd") != cmd:
            return await self._error(writer, f"Expected {cmd}")
        return data

    async def _login(
        self, room: _Room, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[str, str] | None:
        data = await self._command(reader, writer, "srp_init")
        if data is None:
            return None
        username, a_b64 = data.get("username", "unknown"), data.get("A")
        if not a_b64:
            return await self._error(writer, "Missing A")
        if username in room.sessions.values():
            return await self._error(writer, "Username taken")
        try:
            verifier = srp.Verifier(b"chat", room.salt, room.verifier, base64.b64decode(a_b64), hash_alg=srp.SHA256)
            salt, b_public = verifier.get_challenge()
            if b_public is None:
                raise ValueError("SRP challenge generation failed")
        except Exception:  # noqa: BLE001  # as the real server: any failure here is one answer
            return await self._error(writer, "SRP init failed")
        user_id = str(uuid.uuid4())
        room.pending[user_id] = verifier
        await self._send(
            writer, {"user_id": user_id, "B": _b64(b_public), "salt": _b64(salt), "room_salt": _b64(room.room_salt)}
        )
        data = await self._command(reader, writer, "srp_verify")
        if data is None:
            return None
        if data.get("user_id") != user_id or not data.get("M"):
            return await self._error(writer, "Invalid verify request")
        pending = room.pending.get(user_id)
        if pending is None:
            return await self._error(writer, "Invalid session")
        h_amk = pending.verify_session(base64.b64decode(data["M"]))
        if h_amk is None:
            del room.pending[user_id]
            return await self._error(writer, "Authentication failed")
        key = pending.get_session_key()
        room.sessions[user_id] = username
        self.logins += 1
        self.logins_by[username] += 1
        session_key = base64.b64encode(base64.urlsafe_b64encode(key[:32])).decode()  # sent, never used
        await self._send(writer, {"H_AMK": _b64(h_amk), "session_key": session_key})
        return user_id, username

    async def _chat(
        self,
        room: _Room,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        user_id: str,
        username: str,
        ip: str,
    ) -> None:
        async with room.lock:
            room.writers[user_id] = writer
        users = [{"user_id": u, "username": n} for u, n in room.sessions.items()]
        await self._send(writer, {"type": "init", "messages": list(room.messages), "users": users})
        await self._broadcast(room, {"type": "user_joined", "user_id": user_id, "username": username}, user_id)
        while True:
            line = await reader.readline()  # over 64 KiB: ValueError, and the member is dropped
            if not line:
                return
            self.activity[username] = time.monotonic()  # any line counts (update_activity in server.py)
            try:
                data = json.loads(line.decode())
            except json.JSONDecodeError:
                continue
            kind = data.get("type")  # a list or a number here: AttributeError drops the member
            if kind == "message":
                message = {
                    "id": str(uuid.uuid4()),
                    "text": data.get("text", ""),
                    "timestamp": datetime.now(UTC).isoformat(),
                    "user_ip": ip,
                    "username": username,
                }
                room.messages.append(message)
                await self._broadcast(room, {"type": "message", "data": message})
            elif kind == "clear":
                room.messages.clear()
                await self._broadcast(room, {"type": "cleared"})

    async def _broadcast(self, room: _Room, data: dict[str, Any], exclude: str | None = None) -> None:
        line = (json.dumps(data) + "\n").encode()
        async with room.lock:
            gone = []
            for user_id, writer in list(room.writers.items()):
                if user_id == exclude:
                    continue
                try:
                    writer.write(line)
                    await writer.drain()
                except Exception:  # noqa: BLE001  # as the real server: a failed member is dropped
                    gone.append(user_id)
            for user_id in gone:
                room.writers.pop(user_id, None)


class RawClient:
    """A member as CMD-CHAT's client is one: the login, the room key, encrypted messages;
    blocking sockets, a line at a time (no reader limit: the test reads what the server sent)."""

    def __init__(self, port: int, username: str, password: str, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.username, self.password = username, password.encode()
        user = srp.User(b"chat", self.password, hash_alg=srp.SHA256)
        _, a_public = user.start_authentication()
        self.send({"cmd": "srp_init", "username": username, "A": _b64(a_public)})
        challenge = self.receive()
        if "error" in challenge:
            self.close()
            raise ValueError(challenge["error"])
        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=base64.b64decode(challenge["room_salt"]),
            info=b"cmd-chat-room-key",
        )
        self.room = Fernet(base64.urlsafe_b64encode(hkdf.derive(self.password)))
        proof = user.process_challenge(base64.b64decode(challenge["salt"]), base64.b64decode(challenge["B"]))
        self.send({"cmd": "srp_verify", "user_id": challenge["user_id"], "M": _b64(proof)})
        verified = self.receive()
        if "error" in verified:
            self.close()
            raise ValueError(verified["error"])
        user.verify_session(base64.b64decode(verified["H_AMK"]))
        assert user.authenticated()
        self.init = self.receive()

    def send(self, data: dict[str, Any]) -> None:
        """One JSON line, as the client writes it."""
        self.sock.sendall((json.dumps(data) + "\n").encode())

    def receive(self) -> dict[str, Any]:
        """The next line (an error at the end of the stream)."""
        line = self.file.readline()
        if not line:
            raise ConnectionError("Connection closed")
        result: dict[str, Any] = json.loads(line)
        return result

    def say(self, text: str) -> None:
        """Type a line: it goes out encrypted under the room key."""
        self.send({"type": "message", "text": self.room.encrypt(text.encode()).decode()})

    def decrypt(self, data: dict[str, Any]) -> str:
        """A message's text as the client shows it."""
        try:
            return self.room.decrypt(data["text"].encode()).decode()
        except Exception:  # noqa: BLE001  # the client shows this for anything it cannot open
            return "[decrypt failed]"

    def next_message(self) -> dict[str, Any]:
        """The next ``message`` broadcast's data (other lines skipped)."""
        while True:
            line = self.receive()
            if line.get("type") == "message":
                data: dict[str, Any] = line["data"]
                return data

    def close(self) -> None:
        """Leave (closing the socket is leaving)."""
        self.file.close()
        self.sock.close()
