"""`pbridge web`: the page written to a path (exactly the shipped page) or served on this
machine (that one file, with its Content-Security-Policy as a header, never cached; 404
for any other path), as a user runs it: a real process and real HTTP requests."""

from __future__ import annotations

import signal
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from pointerbridge.cli.web import FRAMING
from pointerbridge.webpage import content_security_policy, page_html
from test_cli import EXIT_CODES, PBRIDGE, run


def test_web_writes_the_page_and_refuses_to_overwrite_it(tmp_path: Path) -> None:
    out = tmp_path / "pbridge.html"
    done = run("web", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == page_html()
    out.write_bytes(b"mine")
    refused = run("web", str(out))
    assert refused.returncode == EXIT_CODES["PageExistsError"] == 65
    assert refused.stderr.count("\n") == 1 and "--force" in refused.stderr
    assert out.read_bytes() == b"mine"
    assert run("web", str(out), "--force").returncode == 0 and out.read_bytes() == page_html()


def test_web_wants_a_path_or_serve_not_both(tmp_path: Path) -> None:
    assert run("web").returncode == EXIT_CODES["InvalidInputError"]
    assert run("web", str(tmp_path / "x.html"), "--serve").returncode == EXIT_CODES["InvalidInputError"]
    assert not (tmp_path / "x.html").exists()
    assert run("web", str(tmp_path / "missing" / "x.html")).returncode == EXIT_CODES["DestinationWriteError"]


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


def test_web_serve_serves_only_the_page_with_its_policy_until_ctrl_c() -> None:
    assert PBRIDGE
    server = subprocess.Popen(
        [PBRIDGE, "web", "--serve", "--port", "0", "--qr"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        qr = server.stdout.readline()
        assert "█" in qr or "▀" in qr  # the URL as a QR code, for a phone's camera
        for path in ("", "pbridge.html", "?from=phone"):
            status, headers, body = _get(url + path)
            assert status == 200 and body == page_html()
            assert headers["Content-Security-Policy"] == f"{content_security_policy()}; {FRAMING}"
            assert headers["Cache-Control"] == "no-store"
            assert headers["Content-Type"] == "text/html; charset=utf-8"
        for path in ("favicon.ico", "pbridge.html/x", "../pyproject.toml", "%2e%2e/README.md", "index.html"):
            status, headers, body = _get(url + path)
            assert status == 404 and body == b"not found\n", path
            assert headers["Content-Security-Policy"] == f"{content_security_policy()}; {FRAMING}"
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = server.communicate(timeout=10)
    assert server.returncode == 0, err
    assert "holds no secret" in err and "Anyone who can reach" in err and err.rstrip().endswith("stopped")


def test_web_serve_on_a_port_in_use_is_one_line_and_its_own_code() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = run("web", "--serve", "--port", str(taken.getsockname()[1]))
    assert done.returncode == EXIT_CODES["ServeError"] == 66
    assert done.stderr.startswith("pbridge: cannot serve on 127.0.0.1:") and done.stderr.count("\n") == 1
