"""The local app's commands: init, chats, carriers, send, poll, read, receive, trash."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pointerbridge.core import InvalidInputError

if TYPE_CHECKING:  # imported where used, so each command loads only what it needs
    from pointerbridge.app.service import App, Shown, UnlockedChat
    from pointerbridge.core import RecoveryCode

from .common import PhraseFd, SecretFd, ShowPhraseFd, ShowSecretFd, WeakSecretOk, stdin_text
from .errors import one_line_errors
from .output import messages, progress, safe_text, table
from .secrets import new_secret, read_secret

__all__ = ["register"]

chat_app = typer.Typer(help="Create, list and delete chats.", no_args_is_help=True)
identity_app = typer.Typer(help="Rotate your identity (a new master phrase) and tell your chats.", no_args_is_help=True)
carrier_app = typer.Typer(help="Add, log in and list carriers (config.toml).", no_args_is_help=True)
login_app = typer.Typer(
    help="Log a carrier's bot account in: the password is asked, never stored.", no_args_is_help=True
)
carrier_app.add_typer(login_app, name="login")

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _open(ctx: typer.Context) -> App:
    return _open_home(ctx.find_root().obj)


def _open_home(home: Path | None) -> App:
    from pointerbridge.app.service import App

    return App.at(home)


def _emit(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=None))


def _phrase(fd: int | None, *, confirm: bool = False) -> str:
    return read_secret("Master phrase", "PBRIDGE_MASTER_PHRASE", fd, confirm=confirm)


def _secret(fd: int | None, *, confirm: bool = False) -> str:
    return read_secret("Chat secret", "PBRIDGE_CHAT_SECRET", fd, confirm=confirm)


_CHAT_ADVICE = (
    "Tell it to the members in person or on another channel (never with the invite); it is "
    "not stored anywhere. Clear this screen once it is noted."
)
_PHRASE_ADVICE = (
    "Write it down and keep it safe: your identity is derived from it, and nothing can recover it. "
    "Clear this screen once it is noted."
)


def _new_secret(
    prompt: str, env_var: str, fds: tuple[int | None, int | None], allow_weak: bool, words: tuple[str, ...]
) -> str:
    """A new chat secret; ``fds``: the one to read it from, the one to write a generated one to."""
    from pointerbridge.app.secret_policy import generate_chat_secret

    return _new(prompt, env_var, fds, allow_weak, words, generate_chat_secret, _CHAT_ADVICE)


def _new_phrase(
    prompt: str, env_var: str, fds: tuple[int | None, int | None], allow_weak: bool, words: tuple[str, ...]
) -> str:
    """A new master phrase; ``fds``: the one to read it from, the one to write a generated one to."""
    from pointerbridge.app.secret_policy import generate_master_phrase

    return _new(prompt, env_var, fds, allow_weak, words, generate_master_phrase, _PHRASE_ADVICE)


def _new(
    prompt: str,
    env_var: str,
    fds: tuple[int | None, int | None],
    allow_weak: bool,
    words: tuple[str, ...],
    generate: Callable[[], str],
    advice: str,
) -> str:
    return new_secret(
        prompt,
        env_var,
        fds[0],
        generate=generate,
        advice=advice,
        allow_weak=allow_weak,
        user_inputs=words,
        show_fd=fds[1],
    )


def init(
    ctx: typer.Context,
    username: Annotated[str, typer.Option(help="The name your chats will see.")],
    phrase_fd: PhraseFd = None,
    recovery_code: Annotated[
        str | None,
        typer.Option(
            "--recovery-code",
            help="Regenerate the identity 'init' made elsewhere: the code it showed "
            "('none': one made before recovery codes).",
        ),
    ] = None,
    weak_secret_ok: WeakSecretOk = False,
    show_phrase_fd: ShowPhraseFd = None,
) -> None:
    """Create this home's identity from a username and a master phrase (a generated one
    is offered; one typed is asked twice and refused if weak), or regenerate one made on
    another machine (its phrase and the recovery code it showed)."""
    from pointerbridge.core import RecoveryCode

    unsalted = recovery_code is not None and recovery_code.strip().lower() == "none"
    code = RecoveryCode.parse(recovery_code) if recovery_code is not None and not unsalted else None
    with _open(ctx) as app:
        if code is not None or unsalted:
            # The phrase exists already: asked (twice: no stored key here tells a typo), not generated or judged.
            phrase = _phrase(phrase_fd, confirm=True)
        else:
            fds = (phrase_fd, show_phrase_fd)
            phrase = _new_phrase("Master phrase", "PBRIDGE_MASTER_PHRASE", fds, weak_secret_ok, (username,))
        identity = app.init(username, phrase, recovery=code, unsalted=unsalted, allow_weak=weak_secret_ok)
        typer.echo(_who(identity.username, identity.fingerprint, app.recovery_code()))
        typer.echo(
            "(keep it with your master phrase: on another machine, pbridge init --recovery-code CODE "
            "regenerates this identity)"
        )


def _who(username: str, fingerprint: str, code: RecoveryCode | None) -> str:
    """One line: who this home is, the fingerprint to compare, the code to regenerate it."""
    if code is None:
        return (
            f"{username}  fingerprint {fingerprint}  no recovery code (made before them: 'pbridge identity "
            "rotate' moves it to a stronger key)"
        )
    return f"{username}  fingerprint {fingerprint}  recovery code {code}"


def whoami(ctx: typer.Context, as_json: Json = False) -> None:
    """Show this home's username and public key fingerprint."""
    with _open(ctx) as app:
        known = app.public_identity()
        if known is None:
            app.username()  # raises the "run init" error
            return
        from pointerbridge.core import fingerprint

        code = app.recovery_code()
        data = {
            "username": known.username,
            "public_key": known.public_key.hex(),
            "fingerprint": fingerprint(known.public_key),
            "recovery_code": code.text if code else None,
        }
        if as_json:
            _emit(data)
            return
        typer.echo(_who(known.username, fingerprint(known.public_key), code))


@carrier_app.command("add")
@one_line_errors
def carrier_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short name for this carrier.")],
    carrier_type: Annotated[str, typer.Option("--type", help="Bridge type, e.g. files.")],
    path: Annotated[Path | None, typer.Option(help="files: the shared folder.")] = None,
    setting: Annotated[list[str] | None, typer.Option("--set", help="Another bridge setting, KEY=VALUE.")] = None,
) -> None:
    """Declare a carrier in config.toml (checked by its bridge before it is saved)."""
    with _open(ctx) as app:
        settings: dict[str, Any] = {"path": str(path.resolve())} if path else {}
        for item in setting or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise InvalidInputError(f"--set {item!r} is not KEY=VALUE")
            settings[key] = value
        lines = app.add_carrier(name, carrier_type, settings)
        typer.echo(f"carrier {name!r} ({carrier_type}) saved to {app.config_path}")
        for line in lines:
            typer.echo(safe_text(line))


@login_app.command("matrix")
@one_line_errors
def login_matrix(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The carrier's name (new, or one to log in again).")],
    homeserver: Annotated[str | None, typer.Option(help="e.g. https://matrix.example.org")] = None,
    user: Annotated[str | None, typer.Option(help="The bot account: @bot:example.org or bot.")] = None,
    room: Annotated[str | None, typer.Option(help="Join this room: its id (!...) or alias (#...).")] = None,
    create_room: Annotated[bool, typer.Option("--create-room", help="Create a private room instead.")] = False,
    invite: Annotated[list[str] | None, typer.Option(help="With --create-room: invite this user id.")] = None,
    start: Annotated[
        str | None, typer.Option(help="Where the first poll begins: history (new carrier's default) or now.")
    ] = None,
    device_name: Annotated[str, typer.Option(help="The device name other members may see.")] = "pointer-bridge",
    password_fd: Annotated[
        int | None, typer.Option("--password-fd", help="Read the password from this file descriptor.")
    ] = None,
) -> None:
    """Log a Matrix bot in with a password (asked, or PBRIDGE_MATRIX_PASSWORD); keep only
    the token it gets, in a 0600 file, and the device id, in config.toml."""
    from pointerbridge.app.login import matrix_login

    if start not in (None, "history", "now"):
        raise InvalidInputError("--start is history or now")
    with _open(ctx) as app:
        done = matrix_login(
            app,
            name,
            lambda: read_secret("Matrix password", "PBRIDGE_MATRIX_PASSWORD", password_fd),
            homeserver=homeserver,
            user=user,
            room=room,
            create_room=create_room,
            invite=tuple(invite or ()),
            start=start,
            device_name=device_name,
        )
    typer.echo(safe_text(f"carrier {name!r}: {done.user_id}, device {done.device_id}, room {done.room_id}"))
    typer.echo(f"token saved in {done.token_file} (0600); the password was not stored")
    for note in done.notes:
        typer.echo(safe_text(f"note: {note}"), err=True)


@carrier_app.command("list")
@one_line_errors
def carrier_list(ctx: typer.Context, as_json: Json = False) -> None:
    """Show the configured carriers."""
    with _open(ctx) as app:
        carriers = app.carriers.items()
        rows = [{"name": n, "type": c.type, "poll_every": c.poll_every, **c.settings} for n, c in carriers]
        _emit(rows) if as_json else table(rows, "carriers")


@chat_app.command("create")
@one_line_errors
def chat_create(
    ctx: typer.Context,
    name: str,
    carrier: Annotated[list[str], typer.Option("--carrier", help="Carrier(s) this chat travels on.")],
    secret_fd: SecretFd = None,
    open_chat: Annotated[
        bool, typer.Option("--open", help="An open chat (CLM's model): joined by name and secret alone. Weaker.")
    ] = False,
    weak_secret_ok: WeakSecretOk = False,
    show_secret_fd: ShowSecretFd = None,
) -> None:
    """Create a chat; a generated secret is offered (one typed is asked twice and refused
    if weak); only a slow verifier is stored. Prints the invite that others join with (it
    carries the chat's random salt, never the secret)."""

    with _open(ctx) as app:
        words = (name, app.username())
        if open_chat:
            from pointerbridge.app.service import OPEN_CHAT_COST

            typer.echo(f"warning: {OPEN_CHAT_COST}", err=True)
        secret = _new_secret("Chat secret", "PBRIDGE_CHAT_SECRET", (secret_fd, show_secret_fd), weak_secret_ok, words)
        chat = app.create_chat(name, secret, carrier, open_chat=open_chat, allow_weak=weak_secret_ok)
        typer.echo(f"chat {chat.row.name!r} created on {', '.join(chat.row.carriers)}")
        typer.echo(app.invite(chat.row))
        typer.echo("Others join with that invite (pbridge chat join); tell the secret separately.", err=True)


@chat_app.command("list")
@one_line_errors
def chat_list(ctx: typer.Context, as_json: Json = False) -> None:
    """List chats with their carriers."""
    with _open(ctx) as app:
        rows: list[dict[str, Any]] = [{"name": c.name, "carriers": c.carriers, "open": c.is_open} for c in app.chats()]
        if as_json:
            _emit(rows)
            return
        table([{**r, "open": "open: weaker key" if r["open"] else ""} for r in rows], "chats")


@chat_app.command("carriers")
@one_line_errors
def chat_carriers(
    ctx: typer.Context,
    name: str,
    carrier: Annotated[list[str] | None, typer.Option("--carrier", help="Set the carrier(s) it travels on.")] = None,
) -> None:
    """Show a chat's carriers, or set them (a chat created by receiving starts with none)."""
    with _open(ctx) as app:
        row = app.set_chat_carriers(name, carrier) if carrier else app.chat_row(name)
        typer.echo(", ".join(row.carriers) if row.carriers else "(none: set them with --carrier)")


@chat_app.command("invite")
@one_line_errors
def chat_invite(
    ctx: typer.Context,
    name: str,
    qr: Annotated[bool | None, typer.Option("--qr/--no-qr", help="Show a QR code (default: on a terminal).")] = None,
) -> None:
    """Print an invite (chat name and carriers, never the secret) and its QR code."""
    import sys

    with _open(ctx) as app:
        text = app.invite(app.chat_row(name))
    typer.echo(text)
    if qr if qr is not None else sys.stdout.isatty():
        import segno

        segno.make(text, error="m").terminal(compact=True)
    typer.echo("Tell the secret separately: in person, or on another channel.", err=True)


@chat_app.command("join")
@one_line_errors
def chat_join(
    ctx: typer.Context,
    invite: Annotated[str, typer.Argument(help="The invite text, or - for stdin.")],
    path: Annotated[list[str] | None, typer.Option("--path", help="CARRIER=FOLDER: your copy of a folder.")] = None,
    secret_fd: SecretFd = None,
) -> None:
    """Join a chat from an invite; the chat secret is asked twice."""
    text = stdin_text() if invite == "-" else invite
    paths = {}
    for item in path or []:
        carrier, sep, folder = item.partition("=")
        if not sep:
            raise InvalidInputError(f"--path {item!r} is not CARRIER=FOLDER")
        paths[carrier] = str(Path(folder).expanduser().resolve())
    with _open(ctx) as app:
        app.username()
        chat = app.join_invite(text, _secret(secret_fd, confirm=True), paths)
        typer.echo(f"joined chat {chat.row.name!r} on {', '.join(chat.row.carriers)}")
        if chat.row.is_open:  # an invite of version 1, or one stripped of its salt: say what that costs
            from pointerbridge.app.service import OPEN_CHAT_COST

            typer.echo(f"warning: that invite is an open chat's (no salt): {OPEN_CHAT_COST}", err=True)


@chat_app.command("delete")
@one_line_errors
def chat_delete(
    ctx: typer.Context, name: str, yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False
) -> None:
    """Delete a chat and all its pointers from this home (asks y/N)."""
    with _open(ctx) as app:
        row = app.chat_row(name)
        if not yes and not typer.confirm(f"Delete chat {row.name!r} and all its messages?", default=False):
            raise typer.Exit(1)
        app.delete_chat(name)
        typer.echo(f"chat {row.name!r} deleted")


@chat_app.command("rekey")
@one_line_errors
def chat_rekey(
    ctx: typer.Context,
    name: str,
    secret_fd: SecretFd = None,
    new_secret_fd: Annotated[
        int | None, typer.Option("--new-secret-fd", help="Read the new chat secret from this file descriptor.")
    ] = None,
    invite: Annotated[
        str | None, typer.Option("--invite", help="The new invite of the member who rekeyed first (- for stdin).")
    ] = None,
    weak_secret_ok: WeakSecretOk = False,
    show_secret_fd: ShowSecretFd = None,
) -> None:
    """Give a chat a new secret (a generated one offered; or PBRIDGE_NEW_CHAT_SECRET): new
    messages use it, older history stays readable with the old one. Each member rekeys
    their own home: the first prints a new invite (a new random salt), the others rekey
    with --invite and the secret they were told."""

    salt = _rekey_salt(name, invite)
    with _open(ctx) as app:
        unlocked = _unlock(app, name, secret_fd)
        if salt is not None:  # told by the first member: asked, not generated
            fresh = read_secret("New chat secret", "PBRIDGE_NEW_CHAT_SECRET", new_secret_fd, confirm=True)
        else:
            words = (unlocked.row.name, app.username())
            fds = (new_secret_fd, show_secret_fd)
            fresh = _new_secret("New chat secret", "PBRIDGE_NEW_CHAT_SECRET", fds, weak_secret_ok, words)
        chat = app.rekey_chat(unlocked, fresh, salt=salt, allow_weak=weak_secret_ok)
        typer.echo(
            f"chat {chat.row.name!r}: new pointers use the new secret; older history stays readable with the old one"
        )
        if salt is None:
            typer.echo(app.invite(chat.row))
            typer.echo("The other members rekey with that invite: pbridge chat rekey CHAT --invite INVITE", err=True)


def _rekey_salt(name: str, invite: str | None) -> bytes | None:
    """The new key's salt from the invite of the member who rekeyed first (None: make one)."""
    if invite is None:
        return None
    from pointerbridge.app.invite import rekey_salt

    return rekey_salt(name, stdin_text() if invite == "-" else invite)


@chat_app.command("clear")
@one_line_errors
def chat_clear(
    ctx: typer.Context,
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    secret_fd: SecretFd = None,
) -> None:
    """Delete every message of a chat for good, keeping the chat (asks y/N)."""
    with _open(ctx) as app:
        unlocked = _unlock(app, name, secret_fd)
        if not yes and not typer.confirm(f"Delete every message of {unlocked.row.name!r} for good?", default=False):
            raise typer.Exit(1)
        deleted, kept = app.clear_history(unlocked)
        line = f"chat {unlocked.row.name!r}: {deleted} pointer(s) deleted for good"
        typer.echo(line + (f"; {kept} still waiting to be posted were kept" if kept else ""))


@chat_app.command("trust")
@one_line_errors
def chat_trust(
    ctx: typer.Context,
    name: str,
    username: str,
    fingerprint: Annotated[str, typer.Option(help="The key's fingerprint, as its owner read it to you in person.")],
) -> None:
    """Re-pin a name frozen by a key conflict (its old key signed two different rotations)
    to the key you verified in person: that key's messages show as its own again, the
    other's as changed."""
    from pointerbridge.core import fingerprint as fingerprint_of

    with _open(ctx) as app:
        key = app.trust_key(name, username, fingerprint)
        typer.echo(f"{safe_text(username)} in chat {app.chat_row(name).name!r} is pinned to {fingerprint_of(key)}")


def _unlock(app: App, chat: str, secret_fd: int | None) -> UnlockedChat:
    app.chat_row(chat)  # a missing chat is reported before a secret is asked for
    return app.unlock_chat(chat, _secret(secret_fd))


def send(
    ctx: typer.Context,
    chat: str,
    text: Annotated[
        str,
        typer.Argument(
            help="- (default): read the message from stdin, or ask on a terminal. Text here shows "
            "in the process list and your shell history."
        ),
    ] = "-",
    queue: Annotated[bool, typer.Option("--queue", help="Only queue; the next poll posts.")] = False,
    lines: Annotated[bool, typer.Option("--lines", help="Each line of the text is a message.")] = False,
    secret_fd: SecretFd = None,
    phrase_fd: PhraseFd = None,
) -> None:
    """Seal a message into the chat's outbox and post it now (unless --queue)."""
    with _open(ctx) as app:
        unlocked = _unlock(app, chat, secret_fd)
        sender = app.unlock_identity(_phrase(phrase_fd))
        body = _message_text(text)
        bodies = [line for line in body.split("\n") if line] if lines else [body]
        noticed = app.has_pending_notice(unlocked)
        ids = [pid for one in bodies for pid in app.send(unlocked, sender, one)]
        line = f"queued {len(bodies)} message(s) in {len(ids)} pointer(s) for {', '.join(unlocked.row.carriers)}"
        if noticed:
            line += ", after your key rotation notice"
        _post_now(app, unlocked, line, queue)


def _post_now(app: App, unlocked: UnlockedChat, line: str, queue: bool) -> None:
    """Post what was just queued (unless --queue) and print ``line`` with the outcome."""
    _post_to(app, unlocked.row.carriers, line, queue)


def _post_to(app: App, carriers: list[str], line: str, queue: bool) -> None:
    """Post what waits for ``carriers`` (unless --queue) and print ``line`` with the outcome."""
    if not queue:
        from pointerbridge.app.service import PollBusyError

        try:
            summary = app.poll(carriers, fetch=False)
        except PollBusyError:
            typer.echo(f"{line}; a poll is running and will post them")
            return
        line += f"; posted {sum(summary.posted.values())}"
        for name, error in summary.errors.items():
            line += f"; {name}: {error} (kept in the outbox)"
    typer.echo(line)


@identity_app.command("rotate")
@one_line_errors
def identity_rotate(
    ctx: typer.Context,
    chat: Annotated[
        list[str] | None,
        typer.Option(
            "--chat",
            help="Post the notice to this chat at once (repeat; its secret is asked, or "
            "PBRIDGE_CHAT_SECRET / --secret-fd for one chat).",
        ),
    ] = None,
    queue: Annotated[bool, typer.Option("--queue", help="Only queue the notices; the next poll posts.")] = False,
    phrase_fd: PhraseFd = None,
    new_phrase_fd: Annotated[
        int | None, typer.Option("--new-phrase-fd", help="Read the new master phrase from this file descriptor.")
    ] = None,
    secret_fd: SecretFd = None,
    weak_secret_ok: WeakSecretOk = False,
    show_phrase_fd: ShowPhraseFd = None,
) -> None:
    """Change your master phrase, and so your key (same username): asks the current phrase,
    then offers a generated new one (or PBRIDGE_NEW_MASTER_PHRASE). Each chat gets a
    notice, signed by the old key, that lets its members re-pin you: posted at once in the
    chats whose secret you give (--chat, or asked chat by chat on a terminal, Enter skips),
    with your next message in the others."""
    with _open(ctx) as app:
        old = app.unlock_identity(_phrase(phrase_fd))
        fds = (new_phrase_fd, show_phrase_fd)
        fresh = _new_phrase("New master phrase", "PBRIDGE_NEW_MASTER_PHRASE", fds, weak_secret_ok, (old.username,))
        # Every secret is checked before anything changes: a wrong one leaves the old key.
        unlocked = [_unlock(app, name, secret_fd) for name in dict.fromkeys(chat)] if chat else _ask_chats(app)
        new = app.rotate_identity(old, fresh, chats=unlocked, allow_weak=weak_secret_ok)
        typer.echo(_who(new.username, new.fingerprint, app.recovery_code()))
        typer.echo("(a new recovery code: keep it with your new master phrase)")
        waiting = app.pending_notices()
        queued = [c for c in unlocked if c.row.name not in waiting]
        if queued:
            carriers = sorted({name for c in queued for name in c.row.carriers})
            names = ", ".join(repr(c.row.name) for c in queued)
            _post_to(app, carriers, f"queued the rotation notice in {names}", queue)
        if waiting:
            typer.echo(
                f"rotation notices wait in {len(waiting)} chat(s) ({', '.join(map(repr, waiting))}): each is "
                "posted with your next message there (or: pbridge identity notify CHAT)"
            )


def _ask_chats(app: App) -> list[UnlockedChat]:
    """On a terminal, the secret of each chat with carriers in turn (Enter skips it);
    elsewhere none."""
    import getpass
    import sys

    if not sys.stdin.isatty():
        return []
    from pointerbridge.app.service import WrongSecretError

    unlocked = []
    for row in app.chats():
        if not row.carriers:
            continue  # nowhere to post it: it waits for the chat's carriers and next message
        secret = getpass.getpass(
            f"Secret of chat {safe_text(row.name)!r} to post the notice now (Enter: with your next message there): "
        )
        if not secret:
            continue
        try:
            unlocked.append(app.unlock_chat(row.name, secret))
        except WrongSecretError:
            typer.echo(f"wrong secret for chat {safe_text(row.name)!r}: its notice waits", err=True)
    return unlocked


@identity_app.command("notify")
@one_line_errors
def identity_notify(
    ctx: typer.Context,
    chat: str,
    queue: Annotated[bool, typer.Option("--queue", help="Only queue; the next poll posts.")] = False,
    secret_fd: SecretFd = None,
    phrase_fd: PhraseFd = None,
) -> None:
    """Post a chat's pending key rotation notice now (asks the chat secret and your NEW
    master phrase)."""
    with _open(ctx) as app:
        unlocked = _unlock(app, chat, secret_fd)
        if not app.has_pending_notice(unlocked):
            typer.echo(f"no rotation notice waits in chat {unlocked.row.name!r}")
            return
        sender = app.unlock_identity(_phrase(phrase_fd))
        if not app.post_notice(unlocked, sender):
            from pointerbridge.app.service import NoCarriersError, StaleSecretError

            if not unlocked.current:
                raise StaleSecretError(
                    f"the secret of chat {unlocked.row.name!r} was changed: unlock it with the current one to post"
                )
            raise NoCarriersError(
                f"chat {unlocked.row.name!r} has no carriers: pbridge chat carriers {unlocked.row.name!r} --carrier C"
            )
        _post_now(app, unlocked, f"queued the rotation notice for {', '.join(unlocked.row.carriers)}", queue)


def _message_text(text: str) -> str:
    import sys

    if text != "-":
        typer.echo(
            "note: a message given on the command line is visible to other users of this machine "
            "and kept in shell history; pipe it in or type it at the prompt instead",
            err=True,
        )
        return text
    if sys.stdin.isatty():
        typer.echo("Message (end with Ctrl-D on an empty line):", err=True)
    return stdin_text().removesuffix("\n")


def poll(ctx: typer.Context, as_json: Json = False) -> None:
    """One run: post the outbox, poll every carrier, store what arrives. Safe from cron."""
    from .cron import run_poll

    code = run_poll(ctx.find_root().obj, as_json)
    if code:
        raise typer.Exit(code)


def _render(shown: Shown) -> dict[str, Any]:
    m = shown.message
    data = {
        "id": m.id,
        "sent_at": m.sent_at.isoformat(),
        "username": m.username,
        "fingerprint": m.fingerprint,
        "trust": shown.trust,
        "trashed": shown.trashed,
        "body": m.body,
    }
    if shown.notice is not None:
        data["rotated_from"] = shown.notice.old_key.hex()
    if shown.arrived_late is not None:  # shown at its arrival, not at the sent_at it claims
        data["arrived_late_seconds"] = round(shown.arrived_late.total_seconds(), 3)
    return data


def read(
    ctx: typer.Context,
    chat: str,
    limit: Annotated[int | None, typer.Option(help="Only the last N messages.", min=1)] = None,
    search: Annotated[str | None, typer.Option(help="Only messages containing this (any case).")] = None,
    trash: Annotated[bool, typer.Option("--trash", help="Show the trash instead.")] = False,
    as_json: Json = False,
    secret_fd: SecretFd = None,
    phrase_fd: PhraseFd = None,
) -> None:
    """Decrypt and show a chat's messages (nothing decrypted is written anywhere).

    Given the master phrase (--phrase-fd or PBRIDGE_MASTER_PHRASE; never asked for),
    signatures checked on an earlier read are not checked again: the store's proofs of
    them are keyed by it. Without it every signature is verified (slower, as safe)."""
    import os

    with _open(ctx) as app:
        if (phrase_fd is not None or "PBRIDGE_MASTER_PHRASE" in os.environ) and app.public_identity() is not None:
            app.unlock_identity(_phrase(phrase_fd))
        unlocked = _unlock(app, chat, secret_fd)
        with progress("decrypting history") as report:
            if search:
                shown, refused = app.search(unlocked, search, trash_only=trash, progress=report)
            else:
                shown, refused = app.read(unlocked, trash_only=trash, progress=report)
        if limit:
            shown = shown[-limit:]
        locked = app.locked_count(unlocked, trash_only=trash, include_trash=bool(search))
        if as_json:
            _emit({"messages": [_render(s) for s in shown], "refused": refused, "other_secret": locked})
            return
        messages(shown)
        if refused:
            typer.echo(f"({refused} pointer(s) of this chat failed their checks and are not shown)", err=True)
        if locked:
            typer.echo(
                f"({locked} pointer(s) of this chat are under another of its secrets: 'pbridge read "
                f"{safe_text(unlocked.row.name)}' with that secret shows them)",
                err=True,
            )


def receive(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Text with pointers, or - for stdin.")] = "-",
    chat: Annotated[str | None, typer.Option(help="Chat to open them with; created if new.")] = None,
    secret_fd: SecretFd = None,
) -> None:
    """Store the pointers in pasted text. With --chat (asked for on a terminal), a chat
    that does not exist yet is created from them, as CLM does, if the secret opens one."""
    import sys

    pasted = stdin_text() if text == "-" else text
    with _open(ctx) as app:
        new, known = app.receive(pasted)
        typer.echo(f"stored {new} new pointer(s), {known} already known")
        if chat is None and new and text != "-" and sys.stdin.isatty():
            chat = typer.prompt("Open them as a new chat? Its name (empty: no)", default="", show_default=False)
        if not chat:
            return
        if not app.has_chat(chat):
            created = app.join_by_receiving(chat, _secret(secret_fd), pasted)
            typer.echo(f"chat {created.row.name!r} created from what you received")
            from pointerbridge.app.service import OPEN_CHAT_COST

            typer.echo(
                f"warning: {created.row.name!r} is an open chat: {OPEN_CHAT_COST} "
                "'pbridge chat rekey' moves it to a salted key.",
                err=True,
            )


def _by_ids(action: str):  # type: ignore[no-untyped-def]
    def command(
        ctx: typer.Context,
        chat: str,
        ids: Annotated[list[str], typer.Argument(help="Message ids (or unique prefixes) from 'read'.")],
        yes: Annotated[bool, typer.Option("--yes", help="purge: do not ask.")] = False,
        secret_fd: SecretFd = None,
    ) -> None:
        with _open(ctx) as app:
            unlocked = _unlock(app, chat, secret_fd)
            if action == "purge":
                if not yes and not typer.confirm(f"Delete {len(ids)} message(s) for good?", default=False):
                    raise typer.Exit(1)
                count = app.purge(unlocked, ids)
            else:
                count = app.set_trashed(unlocked, ids, action == "trash")
            typer.echo(f"{action}: {len(ids)} message(s), {count} pointer(s)")

    command.__doc__ = {
        "trash": "Move messages to the trash (they stay searchable).",
        "restore": "Bring messages back from the trash.",
        "purge": "Delete messages for good (asks y/N).",
    }[action]
    return command


def doctor(ctx: typer.Context, as_json: Json = False) -> None:
    """Check this home: folders, config, store, and each carrier (reached once; nothing is
    posted or changed). Exits 28 if any check fails; warnings exit 0."""
    from pointerbridge.app.doctor import CheckFailedError, run_checks
    from pointerbridge.app.service import resolve_home

    checks = run_checks(resolve_home(ctx.find_root().obj))
    failed = sum(c.finding.status == "fail" for c in checks)
    if as_json:
        _emit({"ok": not failed, "checks": [{"scope": c.scope, **c.finding._asdict()} for c in checks]})
    else:
        for scope, finding in checks:
            typer.echo(safe_text(f"{finding.status:<4}  {scope}: {finding.check}: {finding.detail}"))
    if failed:
        raise CheckFailedError(f"{failed} check(s) failed")


def status(ctx: typer.Context, as_json: Json = False) -> None:
    """Outbox and inbox sizes, and per carrier: waiting posts, last poll, last error."""
    import time

    with _open(ctx) as app:
        data = app.status()
    if as_json:
        _emit(data)
        return

    def when(seconds: float | None) -> str:
        return "never" if seconds is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))

    typer.echo(
        f"pointers {data['pointers']}: inbox {data['inbox']} (unrouted {data['unrouted']}), "
        f"outbox {data['outbox']}, trashed {data['trashed']}"
    )
    for name, c in data["carriers"].items():
        current = c["last_error"] and (c["last_ok"] is None or c["last_error_at"] > c["last_ok"])
        error = f"; failing since {when(c['last_error_at'])}: {c['last_error']}" if current else ""
        typer.echo(safe_text(f"{name} ({c['type']}): {c['waiting']} waiting, last poll {when(c['last_poll'])}{error}"))


def export(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="The file to write (0600).")]) -> None:
    """Write this home's store to a file: pointers, chats (verifiers only), cursors. It
    holds nothing secret (docs/EXPORT.md)."""
    with _open(ctx) as app:
        count = app.export_to(file)
    typer.echo(f"exported {count} record(s) to {file}")


def import_(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="A file from 'pbridge export'.")]) -> None:
    """Add an export to this home; what it has already stays (importing twice adds nothing)."""
    with _open(ctx) as app:
        added = app.import_from(file)
    typer.echo("imported: " + ", ".join(f"{count} new {kind}" for kind, count in added.items()))


def daemon(
    ctx: typer.Context,
    log_json: Annotated[bool, typer.Option("--log-json", help="Log JSON lines (for a log collector).")] = False,
) -> None:
    """Poll every carrier on its schedule (config: poll_every or poll_cron) until SIGTERM."""
    from pointerbridge.app.daemon import run_daemon, setup_logging
    from pointerbridge.app.service import resolve_home

    setup_logging(as_json=log_json)
    run_daemon(resolve_home(ctx.find_root().obj))


def register(app: typer.Typer) -> None:
    """Add the local app's commands to the pbridge command."""
    for fn in (init, whoami, send, poll, read, receive, status, doctor, export, daemon):
        app.command()(one_line_errors(fn))
    app.command("import")(one_line_errors(import_))
    for action in ("trash", "restore", "purge"):
        app.command(action)(one_line_errors(_by_ids(action)))
    app.add_typer(chat_app, name="chat")
    app.add_typer(identity_app, name="identity")
    app.add_typer(carrier_app, name="carrier")
