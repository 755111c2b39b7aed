"""Saving a file safely (issue 21, review items 1, 3 and 4): a save killed mid-way leaves no
plaintext beside DEST, a name from another member cannot hide its kind or become a dot
file, and a folder that refuses hard links or writes gets a typed answer."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from attachment_helpers import marked_file as _file
from attachment_helpers import no_plaintext
from console_helpers import make_home, opened, with_chat
from pointerbridge.app.attachments import prepare_attachment, save_attachment
from pointerbridge.app.errors import DestinationExistsError, DestinationWriteError
from pointerbridge.app.models import UnlockedChat
from pointerbridge.core.content import Attachment, Locator, decode_content, encode_content
from pointerbridge.core.errors import InvalidInputError, MalformedError
from pointerbridge.home.config import Home
from test_cli import PBRIDGE
from test_local_app import CHAT_SECRET, PHRASES, ok, setup_user

TESTS = Path(__file__).parent

_CHILD = """
import contextlib, os, signal, sys
from pathlib import Path
from console_helpers import make_home, opened, with_chat
from attachment_helpers import marked_file
from pointerbridge.app.attachments import prepare_attachment, save_attachment

root, named = Path(sys.argv[1]), sys.argv[2] == "named"
shared = root / "shared"; shared.mkdir()
alice, bob = make_home(root, "alice", shared), make_home(root, "bob", shared)
(root / "src").mkdir()
source = marked_file(root / "src", "secret.pdf", 8 << 20)
chat, bob_chat = with_chat(alice, "alice"), with_chat(bob, "bob")
with opened(alice) as app:
    attachment = prepare_attachment(app, chat, source)
if named:
    del os.O_TMPFILE  # as on a filesystem that refuses O_TMPFILE (none can be mounted here)

def progress(done, total):
    if done > total * 0.75:
        os.kill(os.getpid(), signal.SIGTERM)

if named:
    from pointerbridge.cli.files import stop_on_signals
with stop_on_signals() if named else contextlib.nullcontext(), opened(bob) as app:
    save_attachment(app, bob_chat, attachment, root / "saves", progress=progress)
print("not killed")
"""


@pytest.mark.parametrize("named", [False, True], ids=["nameless", "named-part"])
def test_a_save_killed_by_sigterm_leaves_nothing_beside_dest(tmp_path: Path, named: bool) -> None:
    # Review item 1: SIGTERM mid-save once left the decrypted, unverified .part forever.
    (tmp_path / "saves").mkdir()
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path), "named" if named else "nameless"],
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Nameless: the signal's own death, and the kernel drops the file. Named part: the
    # CLI's handler turns the signal into SystemExit(128 + 15) and the part is removed.
    assert child.returncode == (128 + signal.SIGTERM if named else -signal.SIGTERM), child.stderr
    assert os.listdir(tmp_path / "saves") == []
    no_plaintext(tmp_path / "saves", tmp_path / "alice", tmp_path / "bob", tmp_path / "shared")


def _sent(tmp_path: Path, name: str = "notes.txt") -> tuple[Home, UnlockedChat, Attachment]:
    shared = tmp_path / "shared"
    shared.mkdir()
    alice, bob = make_home(tmp_path, "alice", shared), make_home(tmp_path, "bob", shared)
    (tmp_path / "src").mkdir()
    source = _file(tmp_path / "src", name, 100_000)
    with opened(alice) as app:
        attachment = prepare_attachment(app, with_chat(alice, "alice"), source)
    return bob, with_chat(bob, "bob"), attachment


def test_where_o_tmpfile_is_refused_a_stale_part_is_removed_and_a_fresh_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob, bob_chat, attachment = _sent(tmp_path)
    saves = tmp_path / "saves"
    saves.mkdir()
    old, fresh = saves / ".pbridge-0123456789abcdef.part", saves / ".pbridge-fedcba9876543210.part"
    old.write_bytes(b"left by a run killed outright")
    fresh.write_bytes(b"another save running now")
    hours_ago = time.time() - 7200
    os.utime(old, (hours_ago, hours_ago))
    monkeypatch.delattr(os, "O_TMPFILE")  # a filesystem that refuses it: none can be mounted here
    with opened(bob) as app:
        saved = save_attachment(app, bob_chat, attachment, saves)
    assert sorted(os.listdir(saves)) == sorted([fresh.name, "notes.txt"])
    assert saved.read_bytes() == (tmp_path / "src" / "notes.txt").read_bytes()


@pytest.mark.parametrize("tmpfile", [True, False], ids=["nameless", "named-part"])
def test_a_folder_without_hard_links_still_gets_the_file_and_never_over_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmpfile: bool
) -> None:
    # Review item 4: os.link's EPERM (vfat, exFAT, SMB) was an internal error, exit 70.
    # No vfat can be mounted in this sandbox, so link() answers EPERM by monkeypatch; a
    # vfat also refuses O_TMPFILE, so the named-part case is that filesystem's.
    bob, bob_chat, attachment = _sent(tmp_path)
    saves = tmp_path / "saves"
    saves.mkdir()

    def no_link(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    if not tmpfile:
        monkeypatch.delattr(os, "O_TMPFILE")
    with opened(bob) as app:
        if tmpfile:  # nameless and no link: nothing can name it; a one-line error, nothing left
            with pytest.raises(DestinationWriteError, match=r"cannot write .*notes.txt: Operation not permitted"):
                save_attachment(app, bob_chat, attachment, saves)
            assert os.listdir(saves) == []
            return
        saved = save_attachment(app, bob_chat, attachment, saves)
        assert saved.read_bytes() == (tmp_path / "src" / "notes.txt").read_bytes()
        saved.write_bytes(b"keep me")
        with pytest.raises(DestinationExistsError):
            save_attachment(app, bob_chat, attachment, saves)
    assert saved.read_bytes() == b"keep me" and os.listdir(saves) == ["notes.txt"]


def test_a_folder_that_refuses_writes_is_a_typed_error(tmp_path: Path) -> None:
    # Review item 4: a folder the kernel will not write into (root runs these tests, so a
    # 0500 folder would not refuse: sysfs refuses O_TMPFILE and every new file).
    bob, bob_chat, attachment = _sent(tmp_path)
    with opened(bob) as app, pytest.raises(DestinationWriteError, match=r"^cannot write /sys/kernel/notes.txt: "):
        save_attachment(app, bob_chat, attachment, Path("/sys/kernel"))
    no_plaintext(tmp_path / "bob", tmp_path / "shared")


def test_a_dot_name_is_saved_with_its_leading_dots_as_underscores(tmp_path: Path) -> None:
    # Review item 3: a member's ".bash_login" once landed as a dot file in the folder named.
    bob, bob_chat, attachment = _sent(tmp_path)
    home_dir = tmp_path / "fakehome"
    home_dir.mkdir()
    (home_dir / ".profile").write_text("# mine\n")
    with opened(bob) as app:
        assert save_attachment(app, bob_chat, replace(attachment, name=".bash_login"), home_dir).name == "_bash_login"
        assert save_attachment(app, bob_chat, replace(attachment, name="..profile"), home_dir).name == "__profile"
        forced = save_attachment(app, bob_chat, replace(attachment, name=".profile"), home_dir, force=True)
    assert forced == home_dir / "_profile"
    assert (home_dir / ".profile").read_text() == "# mine\n"  # --force replaces only the sanitised name
    assert sorted(os.listdir(home_dir)) == [".profile", "__profile", "_bash_login", "_profile"]


@pytest.mark.parametrize("hidden", ["\u202e", "\u200b", "\u2028", "\u2029", "\ue000", "\u0378", "\ufeff"])
def test_a_name_with_a_character_that_hides_what_it_shows_is_refused(hidden: str) -> None:
    # Review item 3: "evil\u202egpj.exe" showed as "evilexe.jpg"; a zero-width name showed as nothing.
    good = Attachment(bytes(32), bytes(32), 5, "photo.jpg", "image/jpeg", (Locator("files", "x"),))
    with pytest.raises(InvalidInputError, match=f"U\\+{ord(hidden):04X}"):
        encode_content(replace(good, name=f"evil{hidden}gpj.exe"))
    placeholder = "x" * len(hidden.encode("utf-8"))
    sealed = encode_content(replace(good, name=f"evil{placeholder}gpj.exe"))
    hostile = sealed.replace(placeholder.encode(), hidden.encode("utf-8"), 1)
    with pytest.raises(MalformedError, match="invisible or direction-changing"):
        decode_content(hostile)
    assert decode_content(sealed) == replace(good, name=f"evil{placeholder}gpj.exe")  # the same bytes, but for it


def test_the_cli_prints_the_sanitised_name_it_saved_and_force_replaces_only_that(tmp_path: Path) -> None:
    from test_cli import SECRET, initialised_home, run

    home = initialised_home(tmp_path / "home")
    secret = {"PBRIDGE_CHAT_SECRET": SECRET}
    assert run("--home", home, "chat", "create", "family", "--carrier", "shared", env=secret).returncode == 0
    (tmp_path / "src").mkdir()
    source = tmp_path / "src" / ".bashrc"
    source.write_text("echo sent\n")
    sent = run("--home", home, "send", "family", "--file", str(source), env=secret)
    assert sent.returncode == 0, sent.stderr
    (message,) = json.loads(run("--home", home, "read", "family", "--json", env=secret).stdout)["messages"]
    folder = tmp_path / "fakehome"
    folder.mkdir()
    (folder / ".bashrc").write_text("# mine\n")
    (folder / "_bashrc").write_text("old save\n")
    saved = run("--home", home, "save", "family", message["id"], str(folder), "--force", env=secret)
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.startswith(f"saved {folder / '_bashrc'} ")
    assert (folder / "_bashrc").read_text() == "echo sent\n" and (folder / ".bashrc").read_text() == "# mine\n"


def test_a_save_where_proc_is_not_mounted_still_writes_the_file(tmp_path: Path) -> None:
    # Review leftover: the nameless file was linked through /proc/self/fd, so a save in a
    # sandbox without /proc failed at its end with exit 60. A mount namespace of the test's
    # own (a user namespace: no privilege needed) hides /proc from a real `pbridge save`.
    shared, saves = tmp_path / "shared", tmp_path / "saves"
    shared.mkdir()
    saves.mkdir()
    alice, bob = (setup_user(tmp_path, u, shared) for u in ("alice", "bob"))
    source = _file(tmp_path, "notes.txt", 100_000)
    ok(alice, "alice", "send", "family", "--file", str(source))
    ok(bob, "bob", "poll")
    shown = json.loads(ok(bob, "bob", "read", "family", "--json"))["messages"]
    (sent,) = [m for m in shown if m["kind"] == "attachment"]
    hidden = 'mount -t tmpfs none /proc && test ! -e /proc/self && exec "$@"'
    env = {**os.environ, "PBRIDGE_MASTER_PHRASE": PHRASES["bob"], "PBRIDGE_CHAT_SECRET": CHAT_SECRET}
    save = (str(PBRIDGE), "--home", str(bob), "save", "family", sent["id"][:12])  # no DEST: the current folder
    saved = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", hidden, "sh", *save],
        cwd=saves,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert saved.returncode == 0, saved.stderr
    assert (saves / "notes.txt").read_bytes() == source.read_bytes() and os.listdir(saves) == ["notes.txt"]
