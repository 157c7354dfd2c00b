"""Small modal dialogs: a yes/no confirmation, a one-line text prompt, and quitting."""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from asgi_inspect.tui.formatting import PrintableInput, editable, plain, typed
from asgi_inspect.units import plural

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


QuitChoice = Literal["export", "quit"]


class QuitScreen(ModalScreen[QuitChoice | None]):
    """``q`` with live exchanges not saved anywhere: export them first, quit anyway, or stay
    (``e``, ``y``, ``n``/Esc); Ctrl+C still quits at once."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "answer('export')", "Export…"),
        Binding("y", "answer('quit')", "Quit anyway"),
        Binding("n,escape", "answer('')", "Cancel"),
    ]
    DEFAULT_CSS = "QuitScreen {" + DIALOG_CSS + "}"

    def __init__(self, unsaved: int) -> None:
        super().__init__()
        self.unsaved = unsaved

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Quit"
            yield Static(Text(f"{plural(self.unsaved, 'exchange')} of this session "
                              f"{'is' if self.unsaved == 1 else 'are'} not saved: quitting "
                              "loses them. Export them first?"))
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Quit anyway", id="quit", variant="error")
                yield Button("Export…", id="export", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#export", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id or "")

    def action_answer(self, answer: str) -> None:
        self.dismiss("export" if answer == "export" else "quit" if answer == "quit" else None)
