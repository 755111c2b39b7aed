"""A private D-Bus session bus and a desktop notification server on it, for tests.

:func:`session_bus` runs Debian's ``dbus-daemon`` from a config of its own (no service
files: nothing on this machine is activated on it, so a name nobody owns fails at once),
listening in a temporary folder, and gives its address. :func:`notification_server`
runs this file as a program on that bus: it owns ``org.freedesktop.Notifications`` and
implements the freedesktop notification spec's methods with dbus-fast (the library
desktop-notifier itself talks through), writing each ``Notify`` call it gets to a file
as one JSON line, which the test reads (no thread in the test reads a pipe). Both are separate processes, ended (and
waited for) when their block ends: a test keeps no thread or process of theirs.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={folder}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@contextmanager
def session_bus() -> Iterator[str]:
    """A D-Bus session bus of the test's own while the block runs: its address."""
    from helpers import debian_command

    daemon = debian_command("dbus-daemon", "dbus")
    with tempfile.TemporaryDirectory(prefix="pbridge-dbus-") as folder:
        config = Path(folder) / "session.conf"
        config.write_text(_CONFIG.format(folder=folder))
        bus = subprocess.Popen(
            [daemon, f"--config-file={config}", "--nofork", "--nopidfile", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # it says, as root, that it may not raise its fd limit
            text=True,
        )
        try:
            assert bus.stdout is not None
            address = bus.stdout.readline().strip()
            assert address.startswith("unix:"), f"dbus-daemon printed no address (exit {bus.poll()})"
            yield address
        finally:
            bus.terminate()
            bus.wait(timeout=10)
            if bus.stdout is not None:
                bus.stdout.close()


class NotificationServer:
    """The notification server of :func:`notification_server`: what it was sent."""

    def __init__(self, process: subprocess.Popen[str], address: str, record: Path) -> None:
        self.process = process
        self.address = address  # the bus it serves on
        self.record = record

    def calls(self) -> list[dict[str, Any]]:
        """Every ``Notify`` call so far, oldest first."""
        text = self.record.read_text() if self.record.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip() and line != "ready"]

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Wait until the server owns its name on the bus."""
        from helpers import wait_for

        def ready() -> bool:
            assert self.process.poll() is None, f"the notification server ended (exit {self.process.returncode})"
            return self.record.exists() and self.record.read_text().startswith("ready")

        wait_for(ready, "the notification server owns its name", timeout)

    def stop(self) -> None:
        """End the server, and wait for it."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)


@contextmanager
def notification_server(address: str, folder: Path) -> Iterator[NotificationServer]:
    """This file's server on the bus at ``address`` while the block runs, writing what it
    gets to a file in ``folder``."""
    record = folder / "notifications.jsonl"
    process = subprocess.Popen(
        [sys.executable, __file__, address, str(record)],
        env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": address},
    )
    server = NotificationServer(process, address, record)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _plain(value: Any) -> Any:
    # A hint's Variant, as JSON can carry it.
    inner = getattr(value, "value", value)
    return inner if isinstance(inner, str | int | float | bool) else repr(inner)


async def _serve(address: str, record: Path) -> None:
    # dbus-fast reads the D-Bus types from the annotations, so this runs as a program of its
    # own (no ``from __future__ import annotations`` here: it needs them evaluated).
    from typing import Annotated

    from dbus_fast.aio import MessageBus
    from dbus_fast.annotations import DBusDict, DBusInt32, DBusSignature, DBusStr, DBusUInt32
    from dbus_fast.service import ServiceInterface, dbus_method

    strings = Annotated[list[str], DBusSignature("as")]
    info = Annotated[list[str], DBusSignature("ssss")]

    class Notifications(ServiceInterface):
        def __init__(self) -> None:
            super().__init__("org.freedesktop.Notifications")
            self.sent = 0

        @dbus_method("Notify")
        def notify(
            self,
            app_name: DBusStr,
            replaces_id: DBusUInt32,
            app_icon: DBusStr,
            summary: DBusStr,
            body: DBusStr,
            actions: strings,
            hints: DBusDict,
            expire_timeout: DBusInt32,
        ) -> DBusUInt32:
            self.sent += 1
            call = {"app_name": app_name, "summary": summary, "body": body, "actions": actions}
            call["hints"] = {key: _plain(value) for key, value in hints.items()}
            with record.open("a") as out:
                out.write(json.dumps(call) + "\n")
            return self.sent

        @dbus_method("GetCapabilities")
        def capabilities(self) -> strings:
            return ["body", "body-markup"]

        @dbus_method("GetServerInformation")
        def server_information(self) -> info:
            return ["pbridge-test", "pointerbridge", "1", "1.2"]

        @dbus_method("CloseNotification")
        def close_notification(self, notification_id: DBusUInt32) -> None:
            return None

    bus = await MessageBus(bus_address=address).connect()
    bus.export("/org/freedesktop/Notifications", Notifications())
    await bus.request_name("org.freedesktop.Notifications")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    record.write_text("ready\n")
    await stop.wait()
    bus.disconnect()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], Path(sys.argv[2])))
