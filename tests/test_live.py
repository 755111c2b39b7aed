"""``pbridge live``, the RAM-only session (issue 20, item 3), as a user runs it: a real
process in a real terminal (tmux), traced (strace: every file it creates or opens to
write), against a carrier Bob reaches from an ordinary home with the ``pbridge`` CLI.

Bob writes, the live session shows it without anyone polling; the live user types a reply,
Bob reads it. Afterwards the disk is searched for the chat secret, the master phrase and
every body (the live user's HOME and XDG folders, the cwd, its TMPDIR, /tmp, /dev/shm and
the carrier's own files), the live user's folders are compared with what they were, and
the trace must show no file made but the carrier's pointers.

Each carrier type is a :class:`CarrierCase` in ``CASES``: a files carrier (its posts are
pointer files), and CMD-CHAT's relay (its faithful test server, tests/servers/cmdchat.py,
which keeps everything in RAM: the session makes no file at all), with the relay password
in a 0600 file the carrier file names, or named nowhere and typed at the session's hidden
prompt (then it is one more needle: no file anywhere may hold it)."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import debian_command
from pointerbridge.core import RecoveryCode
from test_cli import EXIT_CODES, PBRIDGE, run
from test_console_tmux import Tmux

# The live session's poll of a carrier that cannot push: a day away, so what it shows within
# the test's wait came by the carrier's push (the files carrier's inotify, CMD-CHAT's relay).
_NO_POLL = "poll_every = 86400\n"
_POINTER_FILE = re.compile(r"\d+-[0-9a-f]+\.pb")


class CarrierCase:
    """One carrier type as the live test needs it: started in ``root``, Bob's ``carrier
    add`` arguments, the live user's carrier file, and which of its files on disk are its
    own ciphertext (a files carrier's pointer files)."""

    name = "shared"
    live_name = "shared"  # the live user's name for it (its carrier file's)
    typed: str | None = None  # a password the live user types at a prompt (no file holds it)

    def start(self, root: Path) -> None:
        """Start what the carrier needs (a folder, a test server)."""
        raise NotImplementedError

    def bob_add(self) -> list[str]:
        """``pbridge carrier add`` arguments for Bob's home."""
        raise NotImplementedError

    def bob_env(self) -> dict[str, str]:
        """What Bob's commands need in their environment (a credential by reference)."""
        return {}

    def live_toml(self) -> str:
        """The live user's carrier file: ``[carriers.NAME]``, credentials by reference."""
        raise NotImplementedError

    def places(self) -> list[Path]:
        """Folders the carrier itself keeps on disk (searched too; may gain pointers)."""
        return []

    def is_pointer(self, path: Path) -> bool:
        """Whether ``path``, new since the session started, is one of the carrier's pointers."""
        return False

    def live_logins(self) -> int | None:
        """How often the live session logged in to the carrier (None: it has no logins)."""
        return None

    def stop(self) -> None:
        """Stop what :meth:`start` started."""


class FilesCase(CarrierCase):
    """A shared folder: the live session's posts are pointer files there."""

    def start(self, root: Path) -> None:
        self.folder = root / "carrier"
        self.folder.mkdir(mode=0o700)

    def bob_add(self) -> list[str]:
        return ["carrier", "add", self.name, "--type", "files", "--path", str(self.folder)]

    def live_toml(self) -> str:
        return f'[carriers.{self.name}]\ntype = "files"\npath = "{self.folder}"\n{_NO_POLL}'

    def places(self) -> list[Path]:
        return [self.folder]

    def is_pointer(self, path: Path) -> bool:
        return path.parent == self.folder and _POINTER_FILE.fullmatch(path.name) is not None


class CmdChatCase(CarrierCase):
    """A CMD-CHAT room on the faithful test server: Bob's bot and the live user's log in
    under names of their own; the relay pushes, and keeps everything in RAM. The live user
    calls the carrier otherwise: joining finds it by its server (the invite's port, as Bob's
    ``carrier add --set`` kept it, a string; the carrier file's a number)."""

    live_name = "relay"

    def start(self, root: Path) -> None:
        from servers.cmdchat import CmdChatServer

        self.password = f"relay {secrets.token_hex(6)} room"
        self.server = CmdChatServer(self.password).start()
        self.file = root / "scaffold" / "cmdchat-password"
        self.file.parent.mkdir(exist_ok=True)
        self.file.write_text(self.password + "\n")
        self.file.chmod(0o600)

    def bob_add(self) -> list[str]:
        where = ["--set", "host=127.0.0.1", "--set", f"port={self.server.port}", "--set", "username=bob-bot"]
        return ["carrier", "add", self.name, "--type", "cmdchat", *where, "--set", "password_env=PB_TEST_RELAY"]

    def bob_env(self) -> dict[str, str]:
        return {"PB_TEST_RELAY": self.password}

    def live_toml(self) -> str:
        where = f'host = "127.0.0.1"\nport = {self.server.port}\nusername = "alice-bot"\n'
        return f'[carriers.{self.live_name}]\ntype = "cmdchat"\n{_NO_POLL}{where}password_file = "{self.file}"\n'

    def live_logins(self) -> int | None:
        return self.server.logins_by["alice-bot"]

    def stop(self) -> None:
        self.server.close()


class TypedCmdChatCase(CmdChatCase):
    """The same room, its password named nowhere in the carrier file: typed at the prompt."""

    def start(self, root: Path) -> None:
        super().start(root)
        self.file.unlink()  # nothing on disk holds it: Bob's comes from his environment
        self.typed = self.password

    def live_toml(self) -> str:
        return super().live_toml().replace(f'password_file = "{self.file}"\n', "")


CASES: dict[str, type[CarrierCase]] = {"files": FilesCase, "cmdchat": CmdChatCase, "cmdchat-typed": TypedCmdChatCase}


@pytest.fixture(params=sorted(CASES))
def carrier(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CarrierCase]:
    case = CASES[request.param]()
    case.start(tmp_path)
    yield case
    case.stop()


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    server = Tmux(debian_command("tmux", "tmux"), f"pblive-{os.getpid()}")
    yield server
    subprocess.run([server.binary, "-L", server.socket, "kill-server"], capture_output=True, timeout=30)


def _words() -> str:
    """A phrase no file holds by chance: a needle for the disk search."""
    return f"lantern {secrets.token_hex(5)} orbit {secrets.token_hex(5)} mill"


class LiveUser:
    """The live user's world: HOME, XDG folders, cwd and TMPDIR of its own (all compared
    and searched afterwards), the carrier file in its HOME, a trace file outside it."""

    def __init__(self, root: Path, carrier: CarrierCase) -> None:
        self.root = root / "live"
        self.home, self.cwd, self.tmp = self.root / "home", self.root / "cwd", self.root / "tmp"
        self.xdg = {v: self.root / v.lower() for v in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")}
        self.xdg |= {v: self.root / v.lower() for v in ("XDG_STATE_HOME", "XDG_RUNTIME_DIR")}
        for folder in (self.home, self.cwd, self.tmp, *self.xdg.values()):
            folder.mkdir(mode=0o700, parents=True)
        self.carrier_file = self.home / "carriers.toml"
        self.carrier_file.write_text(carrier.live_toml())
        self.trace = root / "scaffold" / "live.strace"
        self.trace.parent.mkdir(exist_ok=True)
        self.phrase = _words()
        self.code = RecoveryCode.new(64).text  # what `init` elsewhere showed (the suite's identity cost)

    def env(self) -> dict[str, str]:
        """Nothing of the test's environment but PATH: no PBRIDGE_ variable, no secret."""
        return {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "TERM": "xterm-256color",
            "PBRIDGE_IDENTITY_MEMORY_MIB": "64",
            # The interpreter's bytecode cache of an editable install is the installer's
            # (pip compiles an installed package), not the session's: kept out of the trace.
            "PYTHONDONTWRITEBYTECODE": "1",
            **{k: str(v) for k, v in self.xdg.items()},
        }

    def command(self, *args: str) -> list[str]:
        """``pbridge live ARGS`` under strace, which writes every file call to :attr:`trace`."""
        assert PBRIDGE
        strace = debian_command("strace", "strace")
        traced = [strace, "-f", "-qq", "-e", "trace=%file", "-e", "signal=none", "-o", str(self.trace)]
        return [*traced, PBRIDGE, "live", "--carrier-config", str(self.carrier_file), *args]


def _listing(folders: list[Path]) -> dict[str, tuple[int, int, int]]:
    """Every file and folder under ``folders``: (mode, size, mtime) by path."""
    found = {}
    for folder in folders:
        for path in [folder, *folder.rglob("*")]:
            st = path.lstat()
            found[str(path)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return found


_WRITES = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC")
_MAKES = ("mkdir", "mkdirat", "mknod", "mknodat", "link", "linkat", "symlink", "symlinkat", "truncate")
_MOVES = ("rename", "renameat", "renameat2")


def _made(trace: Path) -> list[str]:
    """The paths the traced process (and its children) created or opened to write."""
    made = []
    for line in trace.read_text(errors="replace").splitlines():
        call = re.match(r"\d+\s+(\w+)\((.*)\)\s+= (-?\d+)", line)
        if call is None or call.group(3).startswith("-"):
            continue
        name, args = call.group(1), call.group(2)
        paths = re.findall(r'"((?:[^"\\]|\\.)*)"', args)
        if name in ("open", "openat", "openat2", "creat") and (name == "creat" or _WRITES.search(args)):
            made.append(paths[0])
        elif name in _MAKES or name in _MOVES:
            made.append(paths[-1])
    return made


def _devices(path: str) -> bool:
    return path in ("/dev/null", "/dev/tty") or path.startswith("/dev/pts/")


def _files_holding(needles: list[str], folders: list[Path], since: float) -> list[str]:
    """Regular files under ``folders`` changed since ``since`` (None: all) holding a needle."""
    wanted = [n.encode() for n in needles]
    hits = []
    for folder in folders:
        for dirpath, _dirs, files in os.walk(folder):
            for file in files:
                path = Path(dirpath, file)
                try:
                    st = path.lstat()
                    if not path.is_file() or st.st_mtime < since or st.st_size > 64 * 1024 * 1024:
                        continue
                    data = path.read_bytes()
                except OSError:  # another process's file, gone or closed to us meanwhile
                    continue
                hits += [f"{path}: {n.decode()!r}" for n in wanted if n in data]
    return hits


def _bob(root: Path, carrier: CarrierCase, secret: str) -> tuple[str, str]:
    """Bob's home, with the carrier and a chat; returns (its --home, the chat's invite)."""
    home = str(root / "scaffold" / "bob")
    env = {"PBRIDGE_CHAT_SECRET": secret, **carrier.bob_env()}
    assert run("--home", home, "init", "--username", "bob").returncode == 0
    added = run("--home", home, *carrier.bob_add(), env=carrier.bob_env())
    assert added.returncode == 0, added.stderr
    made = run("--home", home, "chat", "create", "Family", "--carrier", carrier.name, env=env)
    assert made.returncode == 0, made.stderr
    invite = next(line for line in made.stdout.splitlines() if line.startswith("pbinvite1."))
    return home, invite


def _bob_sends(home: str, carrier: CarrierCase, secret: str, body: str) -> None:
    sent = run("--home", home, "send", "Family", stdin=body, env={"PBRIDGE_CHAT_SECRET": secret, **carrier.bob_env()})
    assert sent.returncode == 0 and "posted 1" in sent.stdout, sent.stdout + sent.stderr


def _wait_for(tmux: Tmux, pattern: str, seconds: float = 60.0) -> str:
    deadline = time.monotonic() + seconds
    while True:
        shown = tmux.screen()
        if re.search(pattern, shown):
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"{pattern!r} did not appear within {seconds} s; the screen:\n{shown}")
        time.sleep(0.1)


def test_a_live_session_chats_and_leaves_nothing_on_disk(tmp_path: Path, carrier: CarrierCase, tmux: Tmux) -> None:
    started = time.time()
    secret = _words()
    bob, invite = _bob(tmp_path, carrier, secret)
    backlog, pushed, reply = (f"body {secrets.token_hex(8)}" for _ in range(3))
    _bob_sends(bob, carrier, secret, backlog)
    user = LiveUser(tmp_path, carrier)
    mine = [user.home, user.cwd, user.tmp, *user.xdg.values()]
    before, carried_before = _listing(mine), _listing(carrier.places())

    env = " ".join(f"{k}={v}" for k, v in user.env().items())
    line = " ".join(user.command("--username", "alice", "--recovery-code", user.code, invite))
    tmux(
        "new-session",
        "-d",
        "-s",
        "pb",
        "-x",
        "160",
        "-y",
        "40",
        f"cd {user.cwd} && env -i {env} {line}; echo LIVE-EXIT=$?; sleep 600",
    )
    _wait_for(tmux, "Master phrase:")
    tmux.type(user.phrase)
    tmux.press("Enter")
    _wait_for(tmux, "Chat secret:")
    tmux.type(secret)
    tmux.press("Enter")
    if carrier.typed is not None:
        _wait_for(tmux, f"Password for carrier '{carrier.live_name}':")
        tmux.type(carrier.typed)
        tmux.press("Enter")
    _wait_for(tmux, rf"bob.*{backlog} #")  # what the carrier held, with sender and mark
    _wait_for(tmux, "type a line and Enter to send")

    _bob_sends(bob, carrier, secret, pushed)  # nobody polls the live session: it hears it
    screen = _wait_for(tmux, rf"bob.*{pushed} #")
    assert "new key" in screen  # Bob's trust mark, as `pbridge read` shows it
    tmux.type(reply)
    tmux.press("Enter")
    _wait_for(tmux, rf"alice.*{reply} #")  # posted, and shown as the others see it

    assert run("--home", bob, "poll", env=carrier.bob_env()).returncode == 0
    read = run("--home", bob, "read", "Family", env={"PBRIDGE_CHAT_SECRET": secret})
    assert re.search(rf"alice \(new key\): {reply}", read.stdout), read.stdout + read.stderr
    assert carrier.live_logins() in (None, 1)  # one login: caught up, heard, posted, never polled again
    tmux.type("/quit")
    tmux.press("Enter")
    screen = _wait_for(tmux, "LIVE-EXIT=0")
    assert user.phrase not in screen and secret not in screen  # typed hidden
    assert carrier.typed is None or carrier.typed not in screen

    # Nothing of the session on disk: not a secret, not a body, in any file changed meanwhile.
    needles = [secret, user.phrase, backlog, pushed, reply, *([carrier.typed] if carrier.typed else [])]
    searched = [*mine, *carrier.places(), Path("/dev/shm")]
    assert _files_holding(needles, searched, 0) == []
    assert _files_holding(needles, [Path("/tmp")], started) == []
    # The live user's folders exactly as they were; the carrier's hold only new pointers.
    assert _listing(mine) == before
    carried = _listing(carrier.places())
    new = [Path(p) for p in carried if p not in carried_before]
    assert all(carrier.is_pointer(p) for p in new), new
    # And the trace: no file made or opened to write anywhere but the carrier's pointers.
    assert str(user.carrier_file) in user.trace.read_text()  # strace did trace it: it saw the file read
    made = [p for p in _made(user.trace) if not _devices(p)]
    assert all(any(Path(p).is_relative_to(place) for place in carrier.places()) for p in made), made
    assert carrier.places() or made == []  # a relay that keeps everything in RAM: not one file made


def test_bad_input_is_one_line_its_own_code_and_writes_nothing(tmp_path: Path) -> None:
    carrier = FilesCase()
    carrier.start(tmp_path)
    secret = _words()
    bob, invite = _bob(tmp_path, carrier, secret)
    _bob_sends(bob, carrier, secret, "something for the chat")
    user = LiveUser(tmp_path, carrier)
    plaintext = user.home / "plaintext.toml"
    plaintext.write_text(f'{carrier.live_toml()}password = "hunter2"\n')
    watched = [user.home, user.cwd, user.tmp, *user.xdg.values(), *carrier.places()]
    before = _listing(watched)

    def attempt(carrier_file: Path) -> subprocess.CompletedProcess[str]:
        command = user.command("--username", "alice", "--recovery-code", user.code, invite)
        command[command.index("--carrier-config") + 1] = str(carrier_file)
        typed = {"PBRIDGE_MASTER_PHRASE": user.phrase, "PBRIDGE_CHAT_SECRET": "not the secret at all 42"}
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**user.env(), **typed},
            cwd=user.cwd,
            timeout=120,
            start_new_session=True,
        )
        assert [p for p in _made(user.trace) if not _devices(p)] == []  # not a file made, anywhere
        assert "Traceback" not in done.stderr and "hunter2" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("pbridge: "), done.stderr
        return done

    wrong = attempt(user.carrier_file)
    assert wrong.returncode == EXIT_CODES["WrongSecretError"] and "wrong secret" in wrong.stderr
    missing = attempt(user.home / "nowhere.toml")
    assert missing.returncode == EXIT_CODES["ConfigError"] and "no such carrier file" in missing.stderr
    exposed = attempt(plaintext)
    assert exposed.returncode == EXIT_CODES["PlaintextCredentialError"] == 43
    assert "password_env" in exposed.stderr
    assert _listing(watched) == before


def test_a_home_in_memory_writes_nowhere_and_locks_within_the_process(tmp_path: Path) -> None:
    from pointerbridge.app.service import App
    from pointerbridge.home.config import CarrierConfig, Config
    from pointerbridge.home.memory import MemoryHome

    carrier_file = tmp_path / "carriers.toml"
    carrier_file.write_text('[carriers.shared]\ntype = "files"\npath = "/nowhere"\n')
    kept = carrier_file.read_bytes()
    with MemoryHome.from_carrier_file(carrier_file) as home:
        with App(home) as app:
            app.init("alice", _words(), unsalted=True)
            other = Config(
                {**app.config.carriers, "more": CarrierConfig.model_validate({"type": "files", "path": "/x"})}
            )
            home.save_config(other)  # what a join that adds an invite's carrier does
            assert set(home.load_config().carriers) == {"shared", "more"}
            with App(home, create=False) as second:  # a Listener's own connection: the same store
                assert second.username() == "alice"
            with home.hold("poll") as first, home.hold("poll") as again, home.hold("listen-more") as apart:
                assert (first, again, apart) == (True, False, True)
        with pytest.raises(RuntimeError):
            home.config_dir  # noqa: B018  (a home in RAM names no folder to write to)
    assert carrier_file.read_bytes() == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["carriers.toml"]


def test_a_relay_password_from_a_descriptor_and_a_wrong_one_refused_writing_nothing(tmp_path: Path) -> None:
    carrier = TypedCmdChatCase()
    carrier.start(tmp_path)
    try:
        secret = _words()
        bob, invite = _bob(tmp_path, carrier, secret)
        body = f"body {secrets.token_hex(8)}"
        _bob_sends(bob, carrier, secret, body)
        user = LiveUser(tmp_path, carrier)
        watched = [user.home, user.cwd, user.tmp, *user.xdg.values()]
        before = _listing(watched)

        def attempt(password: str | None, *more: str) -> subprocess.CompletedProcess[str]:
            typed = {"PBRIDGE_MASTER_PHRASE": user.phrase, "PBRIDGE_CHAT_SECRET": secret}
            read, write = os.pipe()
            os.write(write, (password or "").encode())
            os.close(write)
            given = ["--carrier-password-fd", f"{carrier.live_name}={read}"] if password is not None else []
            command = user.command("--username", "alice", "--recovery-code", user.code, *given, *more, invite)
            try:
                done = subprocess.run(
                    command,
                    capture_output=True,
                    stdin=subprocess.DEVNULL,  # the session ends at once: end of input
                    text=True,
                    env={**user.env(), **typed},
                    cwd=user.cwd,
                    pass_fds=(read,),
                    timeout=120,
                    start_new_session=True,  # no terminal to ask on
                )
            finally:
                os.close(read)
            assert [p for p in _made(user.trace) if not _devices(p)] == []  # not a file made, anywhere
            assert "Traceback" not in done.stderr and carrier.password not in done.stdout + done.stderr
            return done

        wrong = attempt("not the relay password")
        assert wrong.returncode == EXIT_CODES["CredentialRefusedError"] == 44, wrong.stderr
        assert wrong.stderr.startswith("pbridge: ") and len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
        assert "refused the room password" in wrong.stderr and "not the relay password" not in wrong.stderr
        untold = attempt(None)  # no terminal and no descriptor: it says how to give it
        assert untold.returncode == EXIT_CODES["SecretUnavailableError"], untold.stderr
        assert f"--carrier-password-fd {carrier.live_name}=FD" in untold.stderr
        assert len(untold.stderr.strip().splitlines()) == 1
        stray = attempt(carrier.password, "--carrier-password-fd", "nowhere=0")
        assert stray.returncode == EXIT_CODES["InvalidInputError"] and "'nowhere'" in stray.stderr, stray.stderr
        right = attempt(carrier.password)
        assert right.returncode == 0, right.stderr
        assert re.search(rf"bob \(new key\): {body} +#", right.stdout), right.stdout
        assert _listing(watched) == before
    finally:
        carrier.stop()


def _two_carrier_session(tmp_path: Path) -> tuple[Path, Path, Path]:
    live_folder, slow_folder = tmp_path / "live", tmp_path / "slow"
    for folder in (live_folder, slow_folder):
        folder.mkdir(mode=0o700)
    carriers = tmp_path / "carriers.toml"
    carriers.write_text(
        f'[carriers.live]\ntype = "files"\npath = "{live_folder}"\n'
        f'[carriers.slow]\ntype = "files"\npath = "{slow_folder}"\npoll_every = 5\n'
    )
    return carriers, live_folder, slow_folder


def test_a_line_sent_while_the_watchers_poll_runs_still_reaches_every_carrier(tmp_path: Path) -> None:
    # Found by the adversarial review: send() met the watcher's poll holding the poll lock,
    # said "the poll running now posts it", but that poll posts only to the carriers that do
    # not listen: the line waited in RAM for 'live' and /quit dropped it without a word.
    from helpers import wait_for
    from pointerbridge.app.base import default_bridge
    from pointerbridge.app.live import LiveChat
    from pointerbridge.bridges.files import FilesBridge
    from pointerbridge.home.config import CarrierConfig

    class PolledFiles(FilesBridge):  # a carrier without push (as e-mail without IDLE is)
        listens = False

    def factory(name: str, config: CarrierConfig) -> FilesBridge:
        if name == "slow":
            return PolledFiles.from_config(name, config.settings)  # type: ignore[return-value]
        return default_bridge(name, config)  # type: ignore[return-value]

    carriers, live_folder, slow_folder = _two_carrier_session(tmp_path)
    with LiveChat.from_carrier_file(carriers, factory) as session:
        session.unlock("alice", "lantern orbit mill quartz harbour", None)
        session.open("general", "a chat secret nobody guesses 8421")
        session.catch_up(new=True)
        session.start(lambda shown: None, lambda note: None)
        with session.home.hold("poll") as held:  # as if the watcher's poll of "slow" were running
            assert held
            assert session.send("hello") is None
        wait_for(lambda: bool(list(live_folder.glob("*.pb"))), "the line posted to the carrier that listens")
        wait_for(lambda: bool(list(slow_folder.glob("*.pb"))), "the line posted to the polled carrier")
        wait_for(lambda: session.unsent() == 0, "both posts recorded (a file lands before its post is marked)")


def test_closing_a_live_session_says_how_many_posts_no_carrier_took(tmp_path: Path) -> None:
    from pointerbridge.app.live import LiveChat

    carriers, live_folder, slow_folder = _two_carrier_session(tmp_path)
    with LiveChat.from_carrier_file(carriers) as session:
        session.unlock("alice", "lantern orbit mill quartz harbour", None)
        session.open("general", "a chat secret nobody guesses 8421")
        session.catch_up(new=True)
        slow_folder.rmdir()  # the carrier's folder is gone: its post stays in RAM
        session.send("into a folder that is gone")
        assert session.unsent() == 1
        assert session.close() == 1  # said by the front-end: gone with the session
        assert session.close() == 0  # a second close does nothing
    assert len(list(live_folder.glob("*.pb"))) == 1
