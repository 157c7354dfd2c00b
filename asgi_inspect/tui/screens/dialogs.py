"""Small modal dialogs: a yes/no confirmation and a one-line text prompt."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from asgi_inspect.tui.formatting import PrintableInput, editable, plain, typed

DIALOG_CSS = """
    align: center middle;
    & > Vertical {
        width: 64;
        height: auto;
        border: round $border;
        border-title-align: center;
        background: $panel;
        padding: 1 2;
    }
    & Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    & Button { margin-left: 1; }
"""


class ConfirmScreen(ModalScreen[bool]):
    """Ask before doing something that cannot be undone; ``y``/Enter yes, ``n``/Esc no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]
    DEFAULT_CSS = "ConfirmScreen {" + DIALOG_CSS + "}"

    def __init__(self, title: str, question: str) -> None:
        super().__init__()
        self.title_text = title
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = plain(self.title_text)
            yield Static(Text(self.question))
            with Horizontal():
                yield Button("No", id="no")
                yield Button("Yes", id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text; Enter gives it, Esc gives None.

    The starting value may be captured text (a comment read from a file): it is shown through
    :func:`editable` and given back through :func:`typed`, so it round-trips exactly.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = "PromptScreen {" + DIALOG_CSS + "}"

    def __init__(self, title: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = plain(self.title_text)
            yield PrintableInput(editable(self.value), placeholder=self.placeholder,
                                 id="prompt-input")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(typed(event.value))

    def action_cancel(self) -> None:
        self.dismiss(None)
