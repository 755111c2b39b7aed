"""``pbridge web``: the browser page (issue 22), written to a file or served on this machine.

The page holds no secret: it is the same public file for everyone (the built
``pointerbridge.webpage``), and the secrets are typed into it in the browser, where they
stay. Serving it is for a phone on the same network: one file, nothing else, with the
page's Content-Security-Policy also sent as a header and nothing cached.
"""

from __future__ import annotations

import socket
import sys
import threading
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click
from pointerbridge.app.escape import safe_text
from pointerbridge.core import InvalidInputError, PointerBridgeError

from .common import flag
from .errors import one_line_errors

__all__ = ["PageExistsError", "ServeError", "page_server", "web"]

# What the server answers: the page at these paths, 404 at any other.
PAGE_PATHS = ("/", "/pbridge.html")
# A client on the network must not hold the server: each read waits at most READ_SECONDS,
# a whole exchange lasts at most CLIENT_SECONDS (one byte every few seconds passes every
# read's timeout), and at most MAX_CLIENTS are served at once (each is a thread): the
# page is a few hundred kilobytes, which a phone loads in well under a second.
READ_SECONDS = 10.0
CLIENT_SECONDS = 30.0
MAX_CLIENTS = 32
# Sent as a header only (a meta tag cannot say it): no other site may frame the page and
# draw over the fields where secrets are typed.
FRAMING = "frame-ancestors 'none'"


class PageExistsError(PointerBridgeError):
    """``pbridge web PATH`` where PATH exists: it is replaced only when asked (``--force``)."""

    exit_code = 65


class ServeError(PointerBridgeError):
    """``pbridge web --serve`` could not listen on the address asked (in use, not this
    machine's, or a port it may not bind)."""

    exit_code = 66


class _PageHandler(BaseHTTPRequestHandler):
    """Answers GET and HEAD of the page's paths with the page; 404 for anything else."""

    page: bytes = b""
    policy: str = ""
    timeout = READ_SECONDS
    deadline: float = CLIENT_SECONDS

    def setup(self) -> None:
        super().setup()
        self._cut = threading.Timer(self.deadline, self._hang_up)
        self._cut.daemon = True
        self._cut.start()

    def _hang_up(self) -> None:
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        self._cut.cancel()
        with suppress(OSError):  # a client cut off mid-answer
            super().finish()

    def version_string(self) -> str:
        return "pbridge"

    def _answer(self, with_body: bool) -> None:
        found = self.path.split("?", 1)[0] in PAGE_PATHS
        body = self.page if found else b"not found\n"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8" if found else "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", f"{self.policy}; {FRAMING}")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(True)

    def do_HEAD(self) -> None:
        self._answer(False)

    def log_message(self, format: str, *args: object) -> None:
        # Who loaded what, on stderr: anyone who can reach the address can load the page.
        # The request line is theirs: its control characters (a terminal's escapes) are shown
        # as codes, as http.server's own log_message does and this one replaces.
        click.echo(safe_text(f"{self.client_address[0]} {format % args}"), err=True)


class _PageServer(ThreadingHTTPServer):
    daemon_threads = True  # a browser's kept-alive connection must not hold up Ctrl-C
    max_clients = MAX_CLIENTS

    def server_activate(self) -> None:
        super().server_activate()
        self._slots = threading.BoundedSemaphore(self.max_clients)

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # too many at once: this one is hung up on
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: object, client_address: object) -> None:
        # socketserver prints a traceback for whatever a request raised: a client that hangs
        # up mid-answer (a closed tab, the deadline's cut) is one line of the log, like a request.
        error = sys.exc_info()[1]
        host = client_address[0] if isinstance(client_address, tuple) else client_address
        click.echo(safe_text(f"{host} gone before its answer was sent ({type(error).__name__})"), err=True)


class _PageServer6(_PageServer):
    address_family = socket.AF_INET6


def page_server(
    host: str,
    port: int,
    *,
    read_seconds: float = READ_SECONDS,
    client_seconds: float = CLIENT_SECONDS,
    max_clients: int = MAX_CLIENTS,
) -> ThreadingHTTPServer:
    """A server of the page on ``host``:``port`` (0: any free port), not yet serving; the
    limits on each client are the module's (READ_SECONDS...) unless given."""
    from pointerbridge.webpage import content_security_policy, page_html

    handler = type(
        "PageHandler",
        (_PageHandler,),
        {"page": page_html(), "policy": content_security_policy(), "timeout": read_seconds, "deadline": client_seconds},
    )
    base = _PageServer6 if ":" in host else _PageServer
    server_class: type[_PageServer] = type(base.__name__, (base,), {"max_clients": max_clients})
    try:
        return server_class((host, port), handler)
    except (OSError, OverflowError) as exc:
        raise ServeError(f"cannot serve on {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from None


def _shown_host(host: str) -> str:
    """The address a phone would type: this machine's LAN address for a wildcard bind."""
    if host not in ("0.0.0.0", "::", ""):  # noqa: S104 (comparing, not binding)
        return f"[{host}]" if ":" in host else host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # UDP connect sends nothing: it only picks the route's address
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _write(path: Path, force: bool) -> None:
    from pointerbridge.app.errors import DestinationWriteError
    from pointerbridge.webpage import page_html

    try:
        with path.open("wb" if force else "xb") as out:
            out.write(page_html())
    except FileExistsError:
        raise PageExistsError(f"{path} exists: --force replaces it") from None
    except OSError as exc:
        raise DestinationWriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    click.echo(f"wrote {path}: open it in any browser; it works offline and keeps nothing")


@click.command()
@click.argument("path", required=False, type=click.Path(path_type=Path, dir_okay=False))
@flag("--force", "Replace PATH if it exists.")
@flag("--serve", "Serve the page over HTTP (until Ctrl-C) instead of writing it.")
@click.option("--host", default="127.0.0.1", help="The address to listen on (0.0.0.0: every network of this machine).")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="The port (0: any free one).")
@click.option("--qr/--no-qr", default=None, help="Show the URL as a QR code (default: on a terminal).")
@one_line_errors
def web(path: Path | None, force: bool, serve: bool, host: str, port: int, qr: bool | None) -> None:
    """Write the browser page to PATH, or --serve it: one HTML file that opens and seals
    pointers in any browser (a phone too), with no install, no network and nothing stored.

    The page holds no secret: the chat's secret and your master phrase are typed into it
    and stay in that browser tab. With --serve only the page is served (every other path
    is 404), to this machine unless --host says otherwise: anyone who can reach the
    address can load the page (not your secrets)."""
    if serve == (path is not None):
        raise InvalidInputError("give a PATH to write the page to, or --serve (not both)")
    if path is not None:
        _write(path, force)
        return
    server = page_server(host, port)
    url = f"http://{_shown_host(host)}:{server.server_address[1]}/"
    click.echo(url)
    if qr if qr is not None else sys.stdout.isatty():
        import segno

        segno.make(url, error="m").terminal(compact=True)
    click.echo(
        "The page holds no secret: your secrets are typed into it and stay in the browser. "
        f"Anyone who can reach {url} can load it. Ctrl-C stops.",
        err=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        server.server_close()
