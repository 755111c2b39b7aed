"""Homes and pilot helpers for the console tests."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pointerbridge.app.service import App, UnlockedChat
from pointerbridge.console.tui import ConsoleApp
from pointerbridge.home.config import CarrierConfig, Config, Home, save_config
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

if TYPE_CHECKING:
    from pointerbridge.console.chat import ChatScreen

PHRASES = {"alice": "alice master phrase 11", "bob": "bob master phrase 22", "carol": "carol master phrase 33"}
SECRET = "tulips in the rain 7 by the old mill"
SIZE = (110, 32)


def make_home(root: Path, user: str, shared: Path, *, poll_every: int = 60, init: bool = True) -> Home:
    """A home with a files carrier ``shared`` on ``shared`` and (unless not ``init``) an identity."""
    home = Home.resolve(root / user)
    home.create()
    home.config_path.write_text(f'[carriers.shared]\ntype = "files"\npath = "{shared}"\npoll_every = {poll_every}\n')
    home.config_path.chmod(0o600)
    if init:
        with App(home) as app:
            app.init(user, PHRASES[user], allow_weak=True)  # weak: kept, the snapshots show their keys
    return home


def carrier_home(root: Path, user: str, carrier: CarrierConfig) -> Home:
    """A home whose carrier ``shared`` is ``carrier`` (a mailbox, a Matrix room), with an identity."""
    home = Home.resolve(root / user)
    home.create()
    save_config(home.config_path, Config(carriers={"shared": carrier}))
    with App(home) as app:
        app.init(user, PHRASES[user], allow_weak=True)
    return home


def opened(home: Home) -> App:
    """The home opened as its user would: the identity unlocked with their phrase (the
    chat list is sealed under it), unless the home has none yet."""
    app = App(home)
    known = app.public_identity()
    if known is not None:
        app.unlock_identity(PHRASES[known.username])
    return app


def with_chat(
    home: Home,
    user: str,
    name: str = "Family",
    secret: str = SECRET,
    bodies: tuple[str, ...] = (),
    *,
    open_chat: bool = False,
) -> UnlockedChat:
    """Create chat ``name`` posting to ``shared`` and send ``bodies`` into it (posted); the
    chat, to send more. Every home gets the same salt for a name, as if all had joined one
    invite; ``open_chat``: an open chat instead (CLM's model, joined by receiving)."""
    with opened(home) as app:
        salt = None if open_chat else chat_salt(name)
        chat = app.create_chat(name, secret, ["shared"], open_chat=open_chat, salt=salt)
        send(app, chat, user, bodies)
    return chat


def chat_salt(name: str) -> bytes:
    """The salt every test home uses for chat ``name`` (an invite's, in real use)."""
    return hashlib.sha256(b"test chat salt " + name.encode()).digest()[:16]


def send(app: App, chat: UnlockedChat, user: str, bodies: tuple[str, ...] | list[str]) -> None:
    """Send and post ``bodies`` as ``user``."""
    if bodies:
        identity = app.unlock_identity(PHRASES[user])
        for body in bodies:
            app.send(chat, identity, body)
        app.poll(fetch=False)


def keys(text: str) -> list[str]:
    """Key names that type ``text`` (letters, digits, spaces)."""
    return ["space" if c == " " else c for c in text]


async def fill(pilot: Pilot[None], **values: str) -> None:
    """Fill the open form's fields (``phrase_again`` is the confirmation of ``phrase``) and submit."""
    screen = pilot.app.screen
    for key, value in values.items():
        screen.query_one(f"#f-{key.replace('_', '-')}", Input).value = value
    list(screen.query(Input))[-1].focus()  # Enter on the last field submits (two quick clicks would be a double click)
    await pilot.press("enter")
    await settle(pilot)


async def until(pilot: Pilot[None], condition: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    """Let the app run until ``condition()`` holds, failing after ``seconds`` (a bound for a
    loaded machine, not a guess at how long it takes: it returns as soon as it holds)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        await pilot.pause(0.05)


async def chat_list(pilot: Pilot[None]) -> DataTable[Any]:
    """The chat list's table, once its screen is the one shown and has loaded its rows."""
    from pointerbridge.console.chats import ChatListScreen

    def shown() -> bool:
        screen = pilot.app.screen
        return (
            isinstance(screen, ChatListScreen)
            and bool(screen.query(DataTable))
            and screen.query_one(DataTable).row_count > 0
        )

    await until(pilot, shown, "the chat list with its rows")
    return pilot.app.screen.query_one(DataTable)


async def settle(pilot: Pilot[None]) -> None:
    """Let background workers finish and their results reach the screen."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def unlock(pilot: Pilot[None], user: str) -> None:
    """Answer the master phrase dialog the console opens with."""
    await pilot.pause()
    await fill(pilot, phrase=PHRASES[user])


async def polled_chat(pilot: Pilot[None], user: str, senders: int) -> ChatScreen:
    """Unlock as ``user``, poll once, open the first chat (its secret :data:`SECRET`), wait
    for a message of each of ``senders`` senders, and highlight the last sender's in the
    history (focused)."""
    from pointerbridge.console.chat import ChatScreen

    await unlock(pilot, user)
    await pilot.press("ctrl+g")
    await until(pilot, lambda: pilot.app.polls == 1, "a poll")
    await pilot.press("enter")
    await fill(pilot, secret=SECRET)
    chat = pilot.app.screen
    assert isinstance(chat, ChatScreen)
    await until(pilot, lambda: len({s.message.username for s in chat.shown}) == senders, "every sender's message")
    return chat


def drive(
    home: Home, scenario: Callable[[Pilot[None]], Awaitable[None]], poll_every: float = 0, live: bool = False
) -> None:
    """Run a console on ``home`` (as :func:`console` makes it) through ``scenario``."""

    async def main() -> None:
        app = console(home, poll_every, live)
        async with app.run_test(size=SIZE) as pilot:
            await scenario(pilot)

    asyncio.run(main())


def console(home: Home, poll_every: float = 0, live: bool = False) -> ConsoleApp:
    """A console on ``home`` (no background polling and no live listening unless asked:
    a test then decides when pointers arrive)."""
    return ConsoleApp(home, poll_every=poll_every, live=live)
