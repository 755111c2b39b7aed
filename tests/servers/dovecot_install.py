"""Which Dovecot the tests' mail server runs: this machine's (Debian's package, installed
on first use when root), or Debian 13's Dovecot 2.4 in a root of its own.

Dovecot 2.4 needs Debian 13's libc, so on an older Debian it runs in a minimal trixie
root made once by ``debootstrap`` under the git-ignored ``.cache/dovecot-trixie`` (or
``$PBRIDGE_DOVECOT_ROOT``), through ``chroot``: the same network, so it listens on the
127.0.0.1 ports the test chose, and its folders live under the root's ``/tmp``.
``$PBRIDGE_TEST_DOVECOT=2.4`` makes the session's shared server that one. A Dovecot that
cannot be had raises :class:`MailServerUnavailable` with the reason: tests fail, never skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRIXIE = Path(os.environ.get("PBRIDGE_DOVECOT_ROOT", ROOT / ".cache" / "dovecot-trixie"))
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("dovecot-imapd", "dovecot-lmtpd")
SERIES = ("2.3", "2.4")  # the Dovecots dovecot_config.py writes a configuration for


class MailServerUnavailable(RuntimeError):
    """Dovecot could not be installed or started here; the message says why."""


@dataclass(frozen=True)
class Dovecot:
    """One Dovecot to run: the host's (``root`` None) or the one inside ``root``."""

    version: str  # as ``dovecot --version`` says it, e.g. "2.4.1-4 (7d8c0e5759)"
    root: Path | None = None

    @property
    def series(self) -> str:
        """ "2.3" or "2.4": which configuration syntax it reads."""
        return ".".join(self.version.split(".")[:2])

    def command(self, program: str, *args: str) -> list[str]:
        """The argv running ``program`` (dovecot, doveadm) of this Dovecot."""
        if self.root is None:
            return [shutil.which(program) or f"/usr/sbin/{program}", *args]
        return [_chroot(), str(self.root), program, *args]

    def folder(self, prefix: str) -> Path:
        """A fresh folder this Dovecot can see (under its root's /tmp when it has one)."""
        return Path(tempfile.mkdtemp(prefix=prefix, dir=None if self.root is None else self.root / "tmp"))

    def inside(self, path: Path) -> Path:
        """``path`` as this Dovecot sees it (its configuration names its own paths)."""
        return path if self.root is None else Path("/") / path.relative_to(self.root)


def chosen_dovecot() -> Dovecot:
    """The Dovecot ``$PBRIDGE_TEST_DOVECOT`` names: "2.4" (Debian 13's), else this machine's."""
    return debian13_dovecot() if os.environ.get("PBRIDGE_TEST_DOVECOT") == "2.4" else host_dovecot()


def named_dovecot(which: str) -> Dovecot:
    """ "2.4": Debian 13's Dovecot; anything else: :func:`chosen_dovecot`'s."""
    return debian13_dovecot() if which == "2.4" else chosen_dovecot()


def host_dovecot() -> Dovecot:
    """This machine's Dovecot, installing Debian's packages first when root and it is missing."""
    from helpers import apt_install, machine_lock

    with machine_lock("apt"):
        found = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
        failed = None if found else apt_install(*PACKAGES)
        if failed:
            raise MailServerUnavailable(f"Dovecot is not installed and cannot be: {failed}")
    return _known(Dovecot(_version(Dovecot("").command("dovecot"))))


def debian13_dovecot() -> Dovecot:
    """Debian 13's Dovecot in the cached trixie root, made on first use (70-90 s); this
    machine's own when that is 2.4 already (Debian 13 itself)."""
    from helpers import machine_lock

    if shutil.which("dovecot"):
        own = Dovecot(_version(Dovecot("").command("dovecot")))
        if own.series == "2.4":
            return own
    with machine_lock("dovecot-trixie"):
        root, ready = TRIXIE / "root", TRIXIE / "ready"
        wanted = f"trixie {' '.join(PACKAGES)}\n"
        if not ready.exists() or ready.read_text() != wanted:
            _debootstrap(root)
            ready.write_text(wanted)
    dovecot = Dovecot(_version([_chroot(), str(root), "dovecot"]), root)
    if dovecot.series != "2.4":
        raise MailServerUnavailable(f"the trixie root at {root} holds Dovecot {dovecot.version}, not 2.4")
    return dovecot


def _debootstrap(root: Path) -> None:
    from helpers import debian_command

    if os.geteuid() != 0:
        raise MailServerUnavailable("Dovecot 2.4 runs in a Debian 13 root made by debootstrap and chroot: needs root")
    debootstrap = debian_command("debootstrap", "debootstrap")
    shutil.rmtree(root, ignore_errors=True)  # a root an interrupted run left half made
    root.parent.mkdir(parents=True, exist_ok=True)
    step = [debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}", "trixie", str(root), MIRROR]
    done = subprocess.run(step, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise MailServerUnavailable(f"{' '.join(step)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    for package in (root / "var" / "cache" / "apt" / "archives").glob("*.deb"):
        package.unlink()  # 50 MB the root never needs again


def _version(command: list[str]) -> str:
    done = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise MailServerUnavailable(f"{' '.join(command)} --version failed: {done.stderr.strip()[-500:]}")
    return done.stdout.strip()


def _known(dovecot: Dovecot) -> Dovecot:
    if dovecot.series not in SERIES:
        raise MailServerUnavailable(f"Dovecot {dovecot.version or '(unknown)'}: the tests configure only {SERIES}")
    return dovecot


def _chroot() -> str:
    return shutil.which("chroot") or "/usr/sbin/chroot"
