"""What a whole ``pbridge`` process costs when there is nothing to do (issue 19, item 3). Usage:

    python bench/idle.py [--rounds 7] [--carriers files,telegram,email,matrix] [--baseline VENV] [--json]

Each round runs every command once, interleaved, as a new process; a figure is the best
of ``rounds`` (the least disturbed by the other work of a shared machine), in ms and as a
ratio to ``python -c pass`` of the same interpreter measured in the same rounds:

- ``python -c pass`` and ``python -c "import pointerbridge"``: the floor;
- idle ``pbridge poll`` of a home with one carrier of each kind: a files folder, and the
  tests' servers for Telegram (Bot API), e-mail (Dovecot behind an SMTP front) and Matrix
  (Synapse from the tests' cached venv; the slowest to start, so name it to include it);
- ``pbridge send CHAT TEXT --queue`` on a files carrier, which pays two Argon2id: the
  identity's (the master phrase) and the chat key's (its secret); both are also measured
  in this process, so "send, the rest" is what else a send costs.

``--baseline VENV`` (e.g. ``/work/main/.venv``) adds the same commands run by another
installation, in the same rounds, against the same homes: before and after side by side.
Bytecode is written on the first run (``PYTHONDONTWRITEBYTECODE`` is dropped), as an
installed package's is at install time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

PHRASE = "bench master phrase, long enough to pass"
SECRET = "bench chat secret, long enough to pass"
IDENTITY_MIB = "64"  # the identity cost of the bench's homes (the default is 512 MiB)


def _env(**extra: str) -> dict[str, str]:
    dropped = {"PBRIDGE_HOME", "PBRIDGE_MASTER_PHRASE", "PBRIDGE_CHAT_SECRET", "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    return {**env, "PBRIDGE_IDENTITY_MEMORY_MIB": IDENTITY_MIB, **extra}


def _pbridge(venv: Path, *args: str, **env: str) -> None:
    done = subprocess.run([str(venv / "bin" / "pbridge"), *args], capture_output=True, text=True, env=_env(**env))
    if done.returncode:
        raise SystemExit(f"pbridge {' '.join(args[:3])} failed ({done.returncode}): {done.stderr.strip()}")


def _files_home(venv: Path, root: Path) -> Path:
    home, shared = root / "files", root / "shared"
    shared.mkdir()
    _pbridge(venv, "--home", str(home), "init", "--username", "alice", PBRIDGE_MASTER_PHRASE=PHRASE)
    _pbridge(venv, "--home", str(home), "carrier", "add", "shared", "--type", "files", "--path", str(shared))
    _pbridge(venv, "--home", str(home), "chat", "create", "bench", "--carrier", "shared", PBRIDGE_MASTER_PHRASE=PHRASE,
             PBRIDGE_CHAT_SECRET=SECRET)  # fmt: skip
    return home


def _carrier_home(root: Path, name: str, settings: dict[str, Any]) -> Path:
    """A home whose one carrier is ``settings``, polled once in-process (its cursor: now)."""
    from pointerbridge.app.service import App
    from pointerbridge.home.config import CarrierConfig, Config, Home, save_config

    home = Home(root / name, root / name)
    home.create()
    save_config(home.config_path, Config(carriers={name: CarrierConfig.model_validate(settings)}))
    with App(home) as app:
        app.init(name, PHRASE, allow_weak=True)  # a cron poll refuses a home never initialised
        summary = app.poll()
    if summary.errors:
        raise SystemExit(f"{name}: {summary.errors}")
    return root / name


@contextlib.contextmanager
def _telegram(root: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    from servers.telegram import BotApiServer

    server = BotApiServer(rate_limits=False)
    server.start()
    try:
        bot = server.add_bot("idle_bench_bot", bot_to_bot=True, privacy=False)
        group = server.add_chat("bench", members={bot.id: "admin"})
        os.environ["PBRIDGE_BENCH_TG"] = bot.token
        settings = {"type": "telegram", "token_env": "PBRIDGE_BENCH_TG", "chat_id": group.id}
        # Telegram slows a poll that asks again with the same offset within 3 s: a minute
        # passes on the server's clock before each run, as between two cron runs.
        yield _carrier_home(root, "telegram", {**settings, "base_url": server.base_url}), lambda: server.advance(60)
    finally:
        server.stop()


@contextlib.contextmanager
def _email(root: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    from servers.dovecot import MailServer, mailbox_config

    server = MailServer()
    server.start()
    try:
        config = mailbox_config(server, "idlebench", ["idlebench", "idlepeer"])
        yield _carrier_home(root, "email", config.model_dump(exclude_none=True)), lambda: None
    finally:
        server.stop()


@contextlib.contextmanager
def _matrix(root: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    from servers.synapse import Synapse

    server = Synapse(root / "synapse")
    server.start()
    try:
        account = server.register("idlebench", "bench-password")
        os.environ["PBRIDGE_BENCH_MX"] = account["access_token"]
        room = server.request("POST", "/_matrix/client/v3/createRoom", {"name": "bench"}, account["access_token"])
        settings = {
            "type": "matrix",
            "homeserver": server.url,
            "user_id": account["user_id"],
            "device_id": account["device_id"],
            "access_token_env": "PBRIDGE_BENCH_MX",
            "room_id": room["room_id"],
        }
        yield _carrier_home(root, "matrix", settings), lambda: None
    finally:
        server.stop()


_SERVERS = {"telegram": _telegram, "email": _email, "matrix": _matrix}


def _commands(venv: Path, homes: dict[str, Path]) -> dict[str, list[str]]:
    python, pbridge = str(venv / "bin" / "python"), str(venv / "bin" / "pbridge")
    commands = {"python -c pass": [python, "-c", "pass"]}
    commands["import pointerbridge"] = [python, "-c", "import pointerbridge"]
    for name, home in homes.items():
        commands[f"poll {name}"] = [pbridge, "--home", str(home), "poll"]
    if "files" in homes:
        commands["send files"] = [pbridge, "--home", str(homes["files"]), "send", "bench", "hello", "--queue"]
    return commands


def _argon2_ms(rounds: int) -> dict[str, float]:
    """The two Argon2id a send pays, in this process: the identity's, at the bench homes'
    cost, and a chat key's."""
    from pointerbridge.core.keys import ChatKey, Identity, RecoveryCode

    code = RecoveryCode.new(int(IDENTITY_MIB))
    work = {
        "identity": lambda: Identity.derive("alice", PHRASE, code),
        "chat": lambda: ChatKey.derive("bench", SECRET, bytes(16)),
    }
    best = dict.fromkeys(work, float("inf"))
    for _ in range(max(3, rounds // 2)):
        for name, call in work.items():
            start = time.perf_counter()
            call()
            best[name] = min(best[name], (time.perf_counter() - start) * 1000)
    return best


def measure(rounds: int, carriers: list[str], baseline: Path | None) -> dict[str, Any]:
    """Best-of-``rounds`` ms of every command (and of the baseline's), interleaved."""
    venvs = {"now": Path(sys.executable).parent.parent}
    if baseline is not None:
        venvs["before"] = baseline
    with tempfile.TemporaryDirectory(prefix="pbridge-bench-idle-") as scratch, contextlib.ExitStack() as stack:
        root = Path(scratch)
        homes: dict[str, Path] = {}
        before_each: dict[str, Callable[[], None]] = {}
        if "files" in carriers:
            homes["files"] = _files_home(venvs["now"], root)
        for name in carriers:
            if name in _SERVERS:
                homes[name], before_each[f"poll {name}"] = stack.enter_context(_SERVERS[name](root))
        runs = {(label, name): cmd for label, venv in venvs.items() for name, cmd in _commands(venv, homes).items()}
        env = _env(PBRIDGE_MASTER_PHRASE=PHRASE, PBRIDGE_CHAT_SECRET=SECRET)
        for command in runs.values():  # warm up: bytecode written, files in the page cache
            subprocess.run(command, capture_output=True, env=env, check=True)
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(rounds):
            for key, command in runs.items():
                before_each.get(key[1], lambda: None)()
                start = time.perf_counter()
                subprocess.run(command, capture_output=True, env=env, check=True)
                best[key] = min(best[key], (time.perf_counter() - start) * 1000)
        argon2 = _argon2_ms(rounds)
    result: dict[str, Any] = {"rounds": rounds, "argon2_ms": {k: round(v, 1) for k, v in argon2.items()}}
    for label in venvs:
        floor = best[(label, "python -c pass")]
        figures = {name: ms for (lab, name), ms in best.items() if lab == label}
        if "send files" in figures:
            figures["send files, the rest"] = figures["send files"] - sum(argon2.values())
        result[label] = {name: {"ms": round(ms, 1), "ratio": round(ms / floor, 2)} for name, ms in figures.items()}
    return result


def _table(result: dict[str, Any]) -> str:
    labels = [label for label in ("before", "now") if label in result]
    head = " | ".join(f"{label} ms | {label} ratio" for label in labels)
    lines = [f"| command | {head} |", "|---|" + "---:|" * 2 * len(labels)]
    for name in result["now"]:
        cells = " | ".join(
            f"{result[label][name]['ms']} | {result[label][name]['ratio']}x" if name in result[label] else "— | —"
            for label in labels
        )
        lines.append(f"| {name} | {cells} |")
    argon2 = result["argon2_ms"]
    lines.append(f"\nArgon2id in this process: identity ({IDENTITY_MIB} MiB, 2 passes) {argon2['identity']} ms, "
                 f"chat key (64 MiB, 3 passes) {argon2['chat']} ms; best of {result['rounds']} rounds.")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    """The command line: print the table (or ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--carriers", default="files,telegram,email", help="of files,telegram,email,matrix")
    parser.add_argument("--baseline", type=Path, help="another venv with pbridge installed: its figures beside these")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    carriers = [c.strip() for c in args.carriers.split(",") if c.strip()]
    unknown = set(carriers) - {"files", *_SERVERS}
    if unknown:
        parser.error(f"unknown carriers: {', '.join(sorted(unknown))}")
    os.environ["PBRIDGE_IDENTITY_MEMORY_MIB"] = IDENTITY_MIB  # the homes made in this process too
    result = measure(args.rounds, carriers, args.baseline)
    print(json.dumps(result, indent=2) if args.json else _table(result))


if __name__ == "__main__":
    main()
