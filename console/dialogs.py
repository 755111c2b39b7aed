"""Small modal dialogs: a form of a few fields (secrets masked), and a yes/no question.

A typed secret lives in the dialog's input only until it is handed back; the input is
cleared as the dialog closes, so the widget tree keeps no copy of it. A new secret comes
generated (shown, and in its inputs already); one typed instead that the app refuses as
weak can still be used after an explicit "use it anyway".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pointerbridge.app.errors import WrongSecretError
from pointerbridge.app.secret_policy import WeakSecretError
from pointerbridge.core import PointerBridgeError
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label

__all__ = ["Confirm", "Field", "Form", "weak_ok"]

_WEAK_OK = "weak_ok"  # the values key of the "use it anyway" checkbox, once it is shown


def weak_ok(values: dict[str, str]) -> bool:
    """Whether the user ticked "use it anyway" after a weak secret was refused."""
    return values.get(_WEAK_OK) == "yes"


@dataclass(frozen=True, slots=True)
class Field:
    """One input of a :class:`Form`. ``confirm`` asks for it twice (a new secret);
    ``generated`` is a new secret offered: shown, and in the input(s) unless replaced."""

    key: str
    label: str
    secret: bool = False
    confirm: bool = False
    value: str = ""
    optional: bool = False
    generated: str = ""


class Form(ModalScreen[Any]):
    """A few labelled inputs; Enter on the last one (or OK) submits, Escape returns None.

    With ``run``, submitting calls it with the values: what it returns is the dialog's
    result, and a :class:`PointerBridgeError` it raises (a wrong secret) is shown under
    the fields, keeping the dialog open. Without, the result is the values themselves.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        fields: list[Field],
        *,
        note: str = "",
        ok: str = "OK",
        run: Callable[[dict[str, str]], Any] | None = None,
    ) -> None:
        super().__init__()
        self._title = title
        self._fields = fields
        self._note = note
        self._ok = ok
        self._run = run

    def compose(self) -> ComposeResult:
        # Scrolls: a generated phrase, a refusal and its checkbox make a tall form, and the
        # buttons and the refusal must stay reachable on a 24-line terminal. Not a
        # VerticalScroll: that takes the focus the first input should have.
        with Vertical(classes="dialog") as dialog:
            dialog.styles.overflow_y = "auto"
            yield Label(self._title, classes="title", markup=False)
            if self._note:
                yield Label(self._note, classes="note", markup=False)
            for field in self._fields:
                yield Label(field.label, markup=False)
                if field.generated:
                    yield Label(f"generated: {field.generated}", id=f"g-{field.key}", classes="generated", markup=False)
                    yield Label("(in the fields below: keep it, or type your own in both)", markup=False)
                yield Input(value=field.value or field.generated, password=field.secret, id=f"f-{field.key}")
                if field.confirm:
                    yield Label(f"{field.label} (again)", markup=False)
                    yield Input(value=field.generated, password=field.secret, id=f"f-{field.key}-again")
            error = Label("", id="error", classes="error", markup=False)
            error.display = False  # until there is something to say
            yield error
            with Horizontal(classes="buttons"):
                yield Button(self._ok, variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def _inputs(self) -> list[Input]:
        return list(self.query(Input))

    @on(Input.Submitted)
    def _next(self, event: Input.Submitted) -> None:
        inputs = self._inputs()
        position = inputs.index(event.input)
        # Keys reach the input focused when they are read, before this handler moves the
        # focus: Enters typed quickly (or pasted) all come from the first input. The focus
        # is set here at once (not deferred, as Widget.focus is), so a later Enter from an
        # input before the focused one was meant for the focused one.
        if isinstance(self.focused, Input) and self.focused in inputs:
            position = max(position, inputs.index(self.focused))
        if position + 1 < len(inputs):
            self.set_focus(inputs[position + 1])
        else:
            self._submit()

    @on(Button.Pressed, "#ok")
    def _submit(self) -> None:
        values: dict[str, str] = {}
        for field in self._fields:
            value = self.query_one(f"#f-{field.key}", Input).value
            if not value.strip() and not field.optional:
                self._fail(f"{field.label}: please type something")
                return
            if field.confirm and value != self.query_one(f"#f-{field.key}-again", Input).value:
                self._fail(f"{field.label}: the two entries differ")
                return
            values[field.key] = value
        values.update(self._weak_ok())
        result: Any = values
        if self._run is not None:
            try:
                result = self._run(values)
            except WeakSecretError as exc:
                self._fail(str(exc))
                self._offer_weak_ok()
                return
            except WrongSecretError as exc:  # a wrong phrase or secret is not left to be sent again
                self._fail(str(exc))
                self._clear_secrets()
                return
            except PointerBridgeError as exc:
                self._fail(str(exc))
                return
        self._clear()
        self.dismiss(result)

    def _fail(self, message: str) -> None:
        error = self.query_one("#error", Label)
        error.update(message)
        error.display = bool(message)

    def _weak_ok(self) -> dict[str, str]:
        boxes = self.query("#weak-ok").results(Checkbox)
        return {_WEAK_OK: "yes" if any(box.value for box in boxes) else ""}

    def _offer_weak_ok(self) -> None:
        """Show the "use it anyway" checkbox (once), under the refusal."""
        if not self.query("#weak-ok"):
            box = Checkbox("Use it anyway: I accept that it can be guessed as estimated", id="weak-ok")
            self.query_one(".dialog", Vertical).mount(box, after="#error")
        self.query_one("#error", Label).scroll_visible()

    @on(Input.Changed)
    def _secret_changed(self, event: Input.Changed) -> None:
        # Consent was for the secret refused: another one typed is estimated afresh.
        for box in self.query("#weak-ok").results(Checkbox):
            box.value = False

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without a result."""
        self._clear()
        self.dismiss(None)

    def _clear_secrets(self) -> None:
        """Empty the secret fields the app checked (a phrase or secret typed once; a new one,
        typed twice, stays), and put the cursor in the first."""
        checked = [f for f in self._fields if f.secret and not f.confirm] or [f for f in self._fields if f.secret]
        secret = [self.query_one(f"#f-{f.key}", Input) for f in checked]
        secret += [self.query_one(f"#f-{f.key}-again", Input) for f in checked if f.confirm]
        for widget in secret:
            widget.value = ""
        if secret:
            self.set_focus(secret[0])

    def _clear(self) -> None:
        for widget in self._inputs():
            widget.value = ""
        for label in self.query(".generated").results(Label):
            label.update("")


class Confirm(ModalScreen[bool]):
    """A yes/no question; No is the default (Enter on No, Escape, or n)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "No"),
        Binding("y", "answer(True)", "Yes"),
    ]

    def __init__(self, question: str, yes: str = "Yes, for good") -> None:
        super().__init__()
        self._question = question
        self._yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._question, classes="title", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("No", variant="primary", id="no")
                yield Button(self._yes, variant="error", id="yes")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        """Answer the question."""
        self.dismiss(answer)
