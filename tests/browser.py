"""The page's tests' tools: ``web/``'s dependencies installed from its lockfile (npm ci),
the page built from its sources, and Debian's Chromium driven headless by Playwright's
Python API (``executable_path``: Playwright's own browser download is not used).

Chromium is installed with apt-get when it is missing and this is root (as the other Debian
tools of the suite are); a test that cannot have it fails with the reason, never skips.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from helpers import debian_command, machine_lock

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
BUILT = ROOT / "webpage" / "pbridge.html"

# As the machine's own probe starts it: without the background-networking flags Chromium
# tries to reach Google's hosts at every start (refused here, and no business of a test).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    """Debian's Chromium, installed first if it is missing."""
    return debian_command("chromium", "chromium")


def node_modules() -> Path:
    """``web/node_modules`` as ``web/package-lock.json`` pins it (npm ci, once per lockfile)."""
    npm = shutil.which("npm")
    assert npm, "npm is missing: the page's build needs Node.js and npm"
    lock = WEB / "package-lock.json"
    stamp = WEB / "node_modules" / ".pbridge-lock"
    with machine_lock("web-npm"):
        if not stamp.exists() or stamp.read_bytes() != lock.read_bytes():
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, f"npm ci failed in web/: {done.stderr[-2000:]}"
            stamp.write_bytes(lock.read_bytes())
    return WEB / "node_modules"


def build_page(out: Path) -> Path:
    """The page built from ``web/``'s sources into ``out``."""
    node_modules()
    node = shutil.which("node")
    assert node, "node is missing: the page's build needs Node.js"
    done = subprocess.run([node, "build.mjs", str(out)], cwd=WEB, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"the page's build failed: {done.stderr[-2000:]}"
    return out


@dataclass
class Browsing:
    """A page open in Chromium, and every request it made (URL strings, in order)."""

    page: Page
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@contextmanager
def shipped_page() -> Iterator[Page]:
    """The shipped page (webpage/pbridge.html) open from disk; on leaving, checked to have
    logged no error and made no request but for itself."""
    with open_page(BUILT.as_uri()) as seen:
        yield seen.page
        assert seen.console_errors == []
        assert seen.requests == [BUILT.as_uri()]


@contextmanager
def open_page(url: str, *, width: int = 1280, height: int = 800) -> Iterator[Browsing]:
    """``url`` open in a fresh headless Chromium profile (nothing kept between tests)."""
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with tempfile.TemporaryDirectory(prefix="pbridge-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": width, "height": height},
        )
        try:
            page = context.new_page()
            seen = Browsing(page)
            page.on("request", lambda request: seen.requests.append(request.url))
            page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
            page.goto(url)
            yield seen
        finally:
            context.close()
