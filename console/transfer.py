"""Files in a chat screen: saving an attachment and sending a file, each in a thread (the
network and the disk) with a progress bar. Presentation only: app/attachments.py does the
work, on a store connection of the worker's own (``App.sibling``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pointerbridge.app.display import human_size, safe_text
from pointerbridge.app.errors import DestinationExistsError
from pointerbridge.core import PointerBridgeError
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar
from textual.worker import Worker, WorkerState

from .dialogs import Confirm, Field, Form

if TYPE_CHECKING:
    from pointerbridge.app.service import App, UnlockedChat
    from pointerbridge.core.content import Attachment

    from .tui import ConsoleApp

__all__ = ["Transfer", "default_folder"]

_T = TypeVar("_T")
_STEPS = 200  # progress updates per file at most: each one waits for the screen's thread


def default_folder() -> Path:
    """Where a file is saved unless the user says otherwise: their Downloads folder if
    they have one, else their home folder."""
    home = Path.home()
    downloads = home / "Downloads"
    return downloads if downloads.is_dir() else home


class Transfer(Vertical):
    """A label and a progress bar, shown while a file is saved or sent (one at a time)."""

    app: ConsoleApp
    DEFAULT_CSS = """
    Transfer { height: auto; padding: 0 1; }
    Transfer ProgressBar { width: 100%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.busy = False
        self.saved: Path | None = None  # the last file saved (tests and the notice read it)
        self.sent = 0  # files sent this session (tests wait on it)
        self._step = 0

    def compose(self) -> ComposeResult:
        yield Label("", id="transfer-what", markup=False)
        yield ProgressBar(total=None, show_eta=True, id="transfer-bar")

    def on_mount(self) -> None:
        self.display = False
        self._bar = self.query_one(ProgressBar)  # kept: a worker may report after the screen closed

    # saving ------------------------------------------------------------------------------

    def ask_save(self, chat: UnlockedChat, attachment: Attachment) -> None:
        """Ask where to save ``attachment`` (a folder: its own name in it), then save it."""
        if self._refuse_busy():
            return
        name = safe_text(attachment.name)
        form = Form(
            f"Save {name} ({human_size(attachment.size)}, {safe_text(attachment.media_type)})",
            [Field("dest", "Save in this folder, or as this file", value=str(default_folder()))],
            note="It is fetched from the chat's carriers and checked, then decrypted: nothing is written "
            "unless it all checks.",
            ok="Save",
        )

        def chosen(values: dict[str, str] | None) -> None:
            if values is not None:
                self._save(chat, attachment, Path(values["dest"].strip()).expanduser(), force=False)

        self.app.push_screen(form, chosen)

    def _replace(self, chat: UnlockedChat, attachment: Attachment, dest: Path, why: str) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._save(chat, attachment, dest, force=True)

        self.app.push_screen(Confirm(f"{safe_text(why)}. Replace it?", yes="Replace it"), answered)

    def _save(self, chat: UnlockedChat, attachment: Attachment, dest: Path, *, force: bool) -> None:
        self._begin(f"saving {safe_text(attachment.name)}")
        self._save_worker(chat, attachment, dest, force)

    @work(thread=True, group="transfer", exit_on_error=False)
    def _save_worker(self, chat: UnlockedChat, attachment: Attachment, dest: Path, force: bool) -> None:
        from pointerbridge.app.attachments import save_attachment

        def run(app: App) -> Path:
            return save_attachment(app, chat, attachment, dest, force=force, progress=self._reporter())

        try:
            saved = self._in_thread(run)
        except DestinationExistsError as exc:
            self.app.call_from_thread(self._end)
            self.app.call_from_thread(self._replace, chat, attachment, dest, _first_clause(str(exc)))
            return
        if saved is not None:
            self.app.call_from_thread(self._saved, saved)

    def _saved(self, path: Path) -> None:
        self._end()
        self.saved = path
        self.app.notify(f"saved as {safe_text(str(path))}", markup=False)

    # sending -----------------------------------------------------------------------------

    def ask_send(self, chat: UnlockedChat, sent: Callable[[], None]) -> None:
        """Ask for a file (and a caption), then encrypt it, put it on the chat's carriers
        that keep files and seal its reference into the outbox; ``sent()`` afterwards."""
        if self._refuse_busy():
            return
        form = Form(
            "Send a file",
            [Field("path", "The file"), Field("caption", "A caption (optional)", optional=True)],
            note="It is encrypted under a key of its own and put on the chat's carriers that keep files.",
            ok="Send",
        )

        def chosen(values: dict[str, str] | None) -> None:
            if values is not None:
                path = Path(values["path"].strip()).expanduser()
                self._begin(f"sending {safe_text(path.name)}")
                self._send_worker(chat, path, values["caption"], sent)

        self.app.push_screen(form, chosen)

    @work(thread=True, group="transfer", exit_on_error=False)
    def _send_worker(self, chat: UnlockedChat, path: Path, caption: str, sent: Callable[[], None]) -> None:
        from pointerbridge.app.attachments import send_attachment

        skipped: list[str] = []
        identity = self.app.identity
        assert identity is not None

        def run(app: App) -> list[int]:
            return send_attachment(
                app,
                chat,
                identity,
                path,
                caption=caption,
                progress=self._reporter(),
                skipped=lambda carrier, why: skipped.append(f"not put on {carrier!r}: {why}"),
            )

        if self._in_thread(run) is None:
            return
        self.app.call_from_thread(self._sent, path, skipped, sent)

    def _sent(self, path: Path, skipped: list[str], sent: Callable[[], None]) -> None:
        self._end()
        self.sent += 1
        for line in skipped:
            self.app.notify(safe_text(line), severity="warning", markup=False)
        self.app.notify(f"{safe_text(path.name)} sent", markup=False)
        sent()

    # both --------------------------------------------------------------------------------

    def _refuse_busy(self) -> bool:
        if self.busy:
            self.app.notify("a file is being saved or sent: wait for it to finish", severity="warning", markup=False)
        return self.busy

    def _begin(self, what: str) -> None:
        self.busy = True
        self._step = 0
        self.query_one("#transfer-what", Label).update(what)
        self._bar.update(total=None, progress=0)
        self.display = True

    def _end(self) -> None:
        self.busy = False
        self.display = False

    def _in_thread(self, run: Callable[[App], _T]) -> _T | None:
        """``run`` on a store connection of this thread's own; a failure (a blob missing or
        altered, a carrier down, a folder that cannot be written) as a one-line notice."""
        try:
            with self.app.service.sibling() as app:
                return run(app)
        except DestinationExistsError:
            raise
        except (PointerBridgeError, OSError) as exc:
            self.app.call_from_thread(self._failed, str(exc) or type(exc).__name__)
            return None

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # A failure nobody foresaw: said, and the bar taken away (the app keeps running).
        if event.state is WorkerState.ERROR and event.worker.group == "transfer":
            self._failed(f"the transfer failed: {type(event.worker.error).__name__}: {event.worker.error}")

    def _failed(self, message: str) -> None:
        self._end()
        self.app.notify(safe_text(message), severity="error", markup=False)

    def _reporter(self) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            step = done * _STEPS // max(total, 1)
            if step != self._step or done >= total:
                self._step = step
                self.app.call_from_thread(self._bar.update, total=total, progress=done)

        return report


def _first_clause(message: str) -> str:
    """ "/x/y exists" of "/x/y exists: give another name, or --force to replace it" (the
    CLI's advice, which the console's question replaces)."""
    head, sep, _ = message.rpartition(" exists: ")
    return f"{head} exists" if sep else message
