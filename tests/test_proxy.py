"""A carrier's SOCKS5 proxy (issue 24): the setting, the connection through a real
microsocks, and doctor's line. Each network carrier's own proxy test (the carrier's
server sees only the proxy; with the proxy down, "retry later") lives beside its other
tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pointerbridge.bridges.proxy import Proxy, parse_proxy
from servers.socks import PROXY_SOURCE, Socks, Watch, record_lookups
from test_doctor import _doctor, _home


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("socks5://127.0.0.1:9050", "use socks5h:// so the proxy resolves names"),
        ("socks5h://tor.example:9050", "give the proxy's IP address (or localhost)"),
        ("http://127.0.0.1:8080", "only a SOCKS5 proxy is supported"),
        ("socks5h://127.0.0.1:65536", "the port must be 1-65535"),
        ("socks5h://user:pw@127.0.0.1:9050", "give the proxy as socks5h://HOST:PORT"),
        ("socks5h://127.0.0.1", "give the proxy as socks5h://HOST:PORT"),
    ],
)
def test_a_proxy_that_would_leak_or_cannot_be_used_is_refused_saying_why(url: str, said: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_proxy(url)
    assert str(raised.value).startswith(f"{url!r}: {said}"), raised.value


def test_a_proxy_is_kept_in_one_written_form() -> None:
    assert parse_proxy("socks5h://[0:0::1]:1080").url == "socks5h://[::1]:1080"
    assert parse_proxy("socks5h://localhost:9050/") == Proxy("localhost", 9050)


@pytest.fixture
def echo() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that answers each connection's first line with itself."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            with client:
                client.sendall(client.recv(1024))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(10)
    server.close()


def test_a_connection_goes_through_the_proxy_which_resolves_the_name(
    echo: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up = record_lookups(monkeypatch)
    with Socks() as socks, Watch(echo) as watch:
        with parse_proxy(socks.url).connect("localhost", watch.port, timeout=5) as sock:
            sock.sendall(b"hello\n")
            assert sock.recv(1024) == b"hello\n"
        assert watch.peers == [PROXY_SOURCE]
    assert "localhost" not in {name for _, name in looked_up}  # the proxy looked it up, not this process


def test_with_the_proxy_down_nothing_connects_directly(echo: int) -> None:
    socks = Socks()  # never started: its port refuses
    with Watch(echo) as watch:
        with pytest.raises(OSError, match="Could not connect to proxy"):
            parse_proxy(socks.url).connect("127.0.0.1", watch.port, timeout=5)
        assert watch.peers == []


def test_doctor_says_whether_the_proxy_answers(tmp_path: Path) -> None:
    token = tmp_path / "tg.token"
    token.write_text("123:abc\n")
    token.chmod(0o600)
    with Socks() as socks:
        tg = {
            "type": "telegram",
            "chat_id": -100,
            "token_file": str(token),
            "base_url": "http://127.0.0.1:9/bot",
            "proxy": socks.url,
        }
        home = _home(tmp_path, tg=tg)
        found = _doctor(home, code=28)
        assert found["tg proxy"] == (
            "ok",
            f"{socks.url}: every connection and name lookup of this carrier goes through it",
        )
    found = _doctor(home, code=28)
    status, detail = found["tg proxy"]
    assert status == "fail" and detail.startswith(f"{socks.url} does not answer (Connection refused)"), detail


def test_a_bridge_that_does_not_say_it_takes_a_proxy_refuses_one() -> None:
    # A third-party bridge built on NetworkSettings took `proxy` and connected directly,
    # while doctor said all its traffic went through the proxy (found by the review).
    from pointerbridge.bridges.base import Bridge, ConfigurationError, NetworkSettings, PollResult, bridge_class

    class ToySettings(NetworkSettings):
        credential_fields = ("token_env", "token_file")
        token_env: str | None = None
        token_file: Path | None = None

    class ToyBridge(Bridge):
        carrier_type = "toy"
        Settings = ToySettings

        def post(self, pointer: str) -> str:
            return "x"

        def poll(self, cursor: str | None) -> PollResult:
            return PollResult([], cursor or "")

    assert ToyBridge.from_config("t", {"token_env": "T"}).settings.proxy is None
    with pytest.raises(ConfigurationError, match="a toy carrier does not go through a proxy: remove 'proxy'"):
        ToyBridge.from_config("t", {"token_env": "T", "proxy": "socks5h://127.0.0.1:9050"})
    assert all(bridge_class(t).takes_proxy for t in ("matrix", "telegram", "email", "xmpp", "cmdchat"))


def test_plaintext_to_loopback_is_refused_through_a_proxy_on_another_machine() -> None:
    # Through a proxy, 127.0.0.1 is the proxy's own machine: the password would cross the
    # network in clear (found by the review). A proxy on this machine keeps it here.
    from pointerbridge.bridges.base import ConfigurationError, bridge_class

    mail = {
        "address": "bot@example.org",
        "to": ["alice@example.org"],
        "username": "bot",
        "password_env": "X",
        "imap_host": "127.0.0.1",
        "imap_security": "none",
        "smtp_host": "127.0.0.1",
        "smtp_security": "none",
    }
    xmpp = {"jid": "bot@example.org", "room": "r@muc.example.org", "password_env": "X", "host": "127.0.0.1"}
    xmpp["security"] = "none"
    for kind, settings in (("email", mail), ("xmpp", xmpp)):
        bridge = bridge_class(kind)
        assert bridge.from_config("c", {**settings, "proxy": "socks5h://127.0.0.1:9050"})
        with pytest.raises(ConfigurationError, match="not through a proxy on another machine"):
            bridge.from_config("c", {**settings, "proxy": "socks5h://192.0.2.7:1080"})


def test_carrier_add_writes_the_proxy_in_its_one_form() -> None:
    # Written as given, a cron poll's plain path refused it and imported pydantic each time.
    from pointerbridge.app.carriers import _typed
    from pointerbridge.bridges.base import bridge_class

    given = {"type": "telegram", "chat_id": "-100", "token_env": "TG", "proxy": "socks5h://[0:0::1]:9050/"}
    typed = _typed("tg", "telegram", given)
    assert typed == {**given, "chat_id": -100, "proxy": "socks5h://[::1]:9050"}
    assert bridge_class("telegram").plain_settings({k: v for k, v in typed.items() if k != "type"}) is not None
