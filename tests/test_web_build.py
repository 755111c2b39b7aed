"""The page ships built (webpage/pbridge.html): it must be exactly what web/'s sources and
lockfile build, load in Chromium from disk, and hold its Content-Security-Policy."""

from __future__ import annotations

import subprocess
from pathlib import Path

from browser import BUILT, WEB, build_page, node_modules, open_page
from pointerbridge.webpage import content_security_policy, page_html


def test_the_shipped_page_is_what_the_sources_build(tmp_path: Path) -> None:
    rebuilt = build_page(tmp_path / "pbridge.html")
    assert rebuilt.read_bytes() == BUILT.read_bytes(), "webpage/pbridge.html is stale: cd web && npm run build"
    assert page_html() == BUILT.read_bytes()


def test_the_page_forbids_every_connection() -> None:
    policy = dict(item.strip().split(" ", 1) for item in content_security_policy().split(";"))
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'none'"
    assert policy["form-action"] == "'none'" and policy["base-uri"] == "'none'"
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"].split()


def test_the_page_opens_from_disk_in_chromium_and_offers_its_api() -> None:
    with open_page(BUILT.as_uri()) as seen:
        assert seen.page.evaluate("Object.isFrozen(window.pointerbridge)") is True
        assert seen.page.evaluate("window.pointerbridge.VERSIONS") == ["1", "2"]
        assert seen.requests == [BUILT.as_uri()]  # the file itself, nothing else
        assert seen.console_errors == []  # no CSP violation, no error


def test_the_typescript_type_checks_strictly() -> None:
    tsc = node_modules() / ".bin" / "tsc"
    done = subprocess.run([str(tsc), "-p", str(WEB)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
