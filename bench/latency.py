"""End-to-end latency of a message, live, per carrier, beside CMD-CHAT's own (issue 20,
item 4). Usage:

    python bench/latency.py [--count 200] [--rounds 4] [--carriers files,cmdchat,matrix,telegram,email]
                            [--cmdchat-dir DIR] [--cmdchat-source URL] [--sender-listens] [--json]

For each carrier (its entry in ``bench/live_carriers.py``, against the suite's own test
server), two homes in this process share a chat: Alice's ``App`` seals a message and posts
it (``send``, then ``poll(fetch=False)``, what ``pbridge send`` does); Bob's home has a
``Session`` with the chat unlocked listening live (``Session.start_listening``: a
``Listener`` of app/listen.py on the carrier, the push hook ``Bridge.listen`` in its thread),
as the console and the daemon do. When the listener reports it ``Heard`` pointers, Bob's
session takes the event on this, the front-end's, thread (``Session.heard``: routed,
``NewMessages``) and reads the chat's page as the console does (``read_page``, 200
pointers): the message is **shown** when that page holds its body. One message at a time;
the figure is sealed → shown, p50, p95 and the max over ``count`` messages (after 3
unmeasured ones), with three steps on the way: posted (Alice's ``poll`` returned), heard
(stored by Bob's listener) and routed. ``--sender-listens`` gives Alice a listening session
too (a console on both ends): a carrier that keeps a connection then posts over her
listener's (CMD-CHAT: no login per post).

The floor, in the same run and interleaved with the carriers (each round: ``count/rounds``
messages per carrier, then as many for CMD-CHAT): CMD-CHAT's own client-to-client latency,
two clients of its client class through its real server (``bench/cmdchat_peer.py``,
Fernet-encrypted at the sender → decrypted at the receiver). Its code is a checkout of
github:emilycodestar/cmd-chat at ``--cmdchat-dir`` (default ~/.cache/pbridge-bench/cmd-chat,
cloned from ``--cmdchat-source`` when absent, with a venv of its own: ``srp``,
``cryptography``, ``rich`` from PyPI); it is never part of this repository.

A carrier whose bridge does not listen on this branch is reported so, not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_carriers import CMDCHAT_DIR, CMDCHAT_SOURCE, ENTRIES, CmdChatServer, Servers, not_listening
from pointerbridge.app.listen import ListenEvent, ListenFailed
from pointerbridge.app.service import App
from pointerbridge.app.session import Event, NewMessages, Session
from pointerbridge.core.keys import RecoveryCode
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config

TARGETS_MS = {"files": 150, "cmdchat": 50, "matrix": 300, "telegram": 300, "email": 1500}
PAGE = 200  # pointers the console's chat screen reads per page (console/chat.py)
SECRET = "bench chat secret, long enough to pass"
SALT = bytes(range(16))
WARM_UP = 3
TIMEOUT = 60.0  # seconds a message may take before the carrier's run is called failed


def _home(root: Path, user: str, carrier: str, settings: dict[str, Any]) -> tuple[App, Any]:
    home = Home(root / user, root / user)
    home.create()
    save_config(home.config_path, Config(carriers={carrier: CarrierConfig.model_validate(settings)}))
    app = App(home)
    app.init(user, f"{user} bench master phrase", recovery=RecoveryCode.new(64), allow_weak=True)
    chat = app.create_chat("bench", SECRET, [carrier], salt=SALT, allow_weak=True)
    return app, chat


@dataclass
class _Pair:
    """Alice sends, Bob's session shows; one carrier."""

    name: str
    alice: App
    alice_chat: Any
    bob: App
    session: Session
    heard: queue.Queue[tuple[float, ListenEvent]] = field(default_factory=queue.Queue)
    news: list[Event] = field(default_factory=list)
    sent: int = 0
    identity: Any = None
    alice_session: Session | None = None
    times: dict[str, list[float]] = field(
        default_factory=lambda: {"posted": [], "heard": [], "routed": [], "shown": []}
    )

    def one(self, measured: bool) -> None:
        body = f"latency {self.name} {self.sent:06d}"
        self.sent += 1
        start = time.perf_counter()
        self.alice.send(self.alice_chat, self.identity, body)
        summary = self.alice.poll([self.name], fetch=False)
        posted = time.perf_counter()
        if summary.errors or summary.posted.get(self.name) != 1:
            raise RuntimeError(f"{self.name}: posting failed: {summary.errors or summary.posted}")
        heard, routed, shown = self._shown(body, start + TIMEOUT)
        if measured:
            for step, at in (("posted", posted), ("heard", heard), ("routed", routed), ("shown", shown)):
                self.times[step].append((at - start) * 1000)

    def _shown(self, body: str, deadline: float) -> tuple[float, float, float]:
        heard = routed = 0.0
        while (left := deadline - time.perf_counter()) > 0:
            try:
                at, event = self.heard.get(timeout=left)
            except queue.Empty:
                break
            if isinstance(event, ListenFailed):
                if event.fatal:
                    raise RuntimeError(f"{self.name}: the listener stopped: {event.message}")
                print(f"  {self.name}: {event.message} (again in {event.retry_in:.1f} s)", file=sys.stderr)
                continue
            heard = heard or at
            self.session.heard(event)  # on this, the front-end's thread
            if not self.news:
                continue
            self.news.clear()
            routed = routed or time.perf_counter()
            chat = next(iter(self.session.unlocked.values()))
            page = self.bob.read_page(chat, limit=PAGE)
            if any(shown.message.body == body for shown in page.messages):
                return heard, routed, time.perf_counter()
        raise RuntimeError(f"{self.name}: message not shown within {TIMEOUT:.0f} s")

    def start(self, sender_listens: bool) -> None:
        self.identity = self.alice.unlock_identity("alice bench master phrase")
        if sender_listens:  # a console of hers: her posts go over her listener's connection
            self.alice_session = Session(self.alice)
            self.alice_session.start_listening(lambda event: None)
        listening = self.session.start_listening(lambda event: self.heard.put((time.perf_counter(), event)))
        if listening != [self.name]:
            raise RuntimeError(f"{self.name}: Bob's session listens to {listening}")

    def close(self) -> None:
        self.session.stop_listening(timeout=30)
        self.session.close()
        if self.alice_session is not None:
            self.alice_session.stop_listening(timeout=30)
        self.alice.close()


def _pair(root: Path, name: str, settings: list[dict[str, Any]]) -> _Pair:
    alice, alice_chat = _home(root / name, "alice", name, settings[0])
    bob, bob_chat = _home(root / name, "bob", name, settings[1])
    session = Session(bob)
    session.remember(bob_chat)
    pair = _Pair(name, alice, alice_chat, bob, session)
    session.subscribe(lambda event: pair.news.append(event) if isinstance(event, NewMessages) else None)
    return pair


class _CmdChatFloor:
    """CMD-CHAT's own two clients, in a process of the checkout's venv."""

    def __init__(self, server: CmdChatServer) -> None:
        peer = Path(__file__).resolve().parent / "cmdchat_peer.py"
        command = [str(server.python), str(peer), str(server.folder), "127.0.0.1", str(server.port)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._say(server.password)
        self.times: list[float] = []

    def _say(self, line: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()

    def run(self, count: int, measured: bool = True) -> None:
        self._say(str(count))
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"CMD-CHAT's clients ended ({self._process.wait()})")
        if measured:
            self.times.extend(json.loads(line))

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(10)


def _percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)

    def at(q: float) -> float:  # nearest rank
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {"n": len(ordered), "p50": round(at(0.5), 2), "p95": round(at(0.95), 2), "max": round(ordered[-1], 2)}


def measure(
    carriers: list[str], count: int, rounds: int, cmdchat_dir: Path, cmdchat_source: str, sender_listens: bool = False
) -> dict[str, Any]:
    """Every carrier's latency and CMD-CHAT's, interleaved in ``rounds`` rounds."""
    result: dict[str, Any] = {"count": count, "rounds": rounds, "sender listens": sender_listens}
    result |= {"load_before": os.getloadavg()[0], "carriers": {}}
    per_round = -(-count // rounds)
    with tempfile.TemporaryDirectory(prefix="pbridge-bench-latency-") as scratch:
        servers = Servers(Path(scratch), cmdchat_dir, cmdchat_source)
        pairs: list[_Pair] = []
        floor: _CmdChatFloor | None = None
        try:
            floor = _CmdChatFloor(servers.get("cmdchat"))
            floor.run(20, measured=False)
            for name in carriers:
                reason = not_listening(name)
                if reason is not None:
                    result["carriers"][name] = {"not measured": reason}
                    continue
                pair = _pair(Path(scratch), name, ENTRIES[name](servers, 2))
                pairs.append(pair)
                pair.start(sender_listens)
                for _ in range(WARM_UP):
                    pair.one(measured=False)
            for _ in range(rounds):
                for pair in pairs:
                    for _ in range(per_round):
                        pair.one(measured=True)
                floor.run(per_round)
        finally:
            for pair in pairs:
                pair.close()
            if floor is not None:
                floor.close()
            servers.close()
    base = _percentiles(floor.times)
    result["CMD-CHAT client to client"] = base
    skipped, result["carriers"] = result["carriers"], {}
    for name in carriers:
        if name in skipped:
            result["carriers"][name] = skipped[name]
    for pair in pairs:
        figures = {step: _percentiles(times) for step, times in pair.times.items()}
        shown = figures["shown"]
        result["carriers"][pair.name] = {
            **figures,
            "p50 / CMD-CHAT p50": round(shown["p50"] / base["p50"], 1),
            "target ms": TARGETS_MS[pair.name],
            "met": {q: shown[q] <= TARGETS_MS[pair.name] for q in ("p50", "p95")},
        }
    result["load_after"] = os.getloadavg()[0]
    return result


def _table(result: dict[str, Any]) -> str:
    base = result["CMD-CHAT client to client"]
    lines = [
        "| carrier | shown p50 ms | p95 ms | max ms | posted p50 | heard p50 | routed p50 | p50 / CMD-CHAT's "
        "| target (p50 and p95) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| CMD-CHAT's own clients (the floor) | {base['p50']} | {base['p95']} | {base['max']} | | | | 1.0x | |",
    ]
    for name, row in result["carriers"].items():
        if "not measured" in row:
            lines.append(f"| {name} | not measured: {row['not measured']} | | | | | | | ≤ {TARGETS_MS[name]} ms |")
            continue
        shown, met = row["shown"], " and ".join(q for q, ok in row["met"].items() if ok) or "neither"
        met = "met" if all(row["met"].values()) else f"**not met** ({met} met)"
        lines.append(
            f"| {name} | {shown['p50']} | {shown['p95']} | {shown['max']} | {row['posted']['p50']} | "
            f"{row['heard']['p50']} | {row['routed']['p50']} | {row['p50 / CMD-CHAT p50']}x | "
            f"≤ {row['target ms']} ms: {met} |"
        )
    lines.append(
        f"\n{result['count']} messages per carrier in {result['rounds']} interleaved rounds"
        f"{', the sender listening too' if result.get('sender listens') else ''}; "
        f"load average {result['load_before']:.1f} before, {result['load_after']:.1f} after."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None, run: Callable[..., dict[str, Any]] = measure) -> None:
    """The command line: print the table (or ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="messages per carrier (and for CMD-CHAT)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--carriers", default=",".join(ENTRIES), help=f"of {','.join(ENTRIES)}")
    parser.add_argument("--cmdchat-dir", type=Path, default=CMDCHAT_DIR)
    parser.add_argument("--cmdchat-source", default=CMDCHAT_SOURCE, help="cloned into --cmdchat-dir when absent")
    parser.add_argument("--sender-listens", action="store_true", help="Alice's session listens too (a console)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    carriers = [c.strip() for c in args.carriers.split(",") if c.strip()]
    unknown = set(carriers) - set(ENTRIES)
    if unknown:
        parser.error(f"unknown carriers: {', '.join(sorted(unknown))}")
    result = run(carriers, args.count, args.rounds, args.cmdchat_dir, args.cmdchat_source, args.sender_listens)
    print(json.dumps(result, indent=2) if args.json else _table(result))


if __name__ == "__main__":
    main()
