"""The export dialog (``x``): which exchanges, which format, which file, redacted or not.

It asks, and hands the request to the app's writer (:func:`asgi_inspect.ops.export.export_to`,
the same function behind ``asgi-inspect export``); when that fails, the error shows here, naming
the file, and the dialog stays open with the user's choices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static

from asgi_inspect.ops.export import FORMATS, Format, default_path
from asgi_inspect.store.view import WHICH, Which
from asgi_inspect.text import printable
from asgi_inspect.tui.screens.dialogs import DIALOG_CSS


@dataclass(frozen=True)
class ExportRequest:
    format: Format
    which: Which
    path: Path
    redact: bool = True
    with_calls: bool = False  # HAR: the app's outbound calls as entries of their own


class ExportScreen(ModalScreen[ExportRequest | None]):
    """Pick the format, the exchanges (focused, marked, shown or all) and the file."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = "ExportScreen {" + DIALOG_CSS + """
        & RadioSet { width: 1fr; height: auto; }
        & .choices { height: auto; }
        & Label { margin-top: 1; }
        & #export-error { color: $text-error; height: auto; }
    }"""

    def __init__(self, counts: dict[Which, int], write: Callable[[ExportRequest], str | None],
                 *, which: Which = "focused") -> None:
        """``write`` exports and returns None, or the error to show; ``which`` is the
        selection chosen at first (the focused exchange, or all when quitting)."""
        super().__init__()
        self.counts = counts
        self.write = write
        self.which = which if counts.get(which) else "focused"

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Export"
            with Horizontal(classes="choices"):
                with RadioSet(id="format"):
                    for i, fmt in enumerate(FORMATS):
                        yield RadioButton(fmt, value=i == 0, name=fmt)
                with RadioSet(id="which"):
                    for which in WHICH:
                        yield RadioButton(f"{which} ({self.counts.get(which, 0):,})",
                                          value=which == self.which, name=which,
                                          disabled=not self.counts.get(which))
            yield Checkbox("Redact secrets", value=True, id="redact")
            yield Checkbox("HAR: outbound calls as entries", value=False, id="with-calls")
            yield Label("File")
            yield Input(str(default_path("json")), id="path")
            yield Static("", id="export-error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Export", id="export", variant="primary")

    def _choice(self, radio_set: str) -> str:
        pressed = self.query_one(f"#{radio_set}", RadioSet).pressed_button
        return (pressed.name or "") if pressed else ""

    @on(RadioSet.Changed, "#format")
    def _format_changed(self, event: RadioSet.Changed) -> None:
        path_input = self.query_one("#path", Input)
        if Path(path_input.value).stem == default_path("json").stem:
            path_input.value = str(default_path(cast(Format, event.pressed.name)))

    @on(Button.Pressed, "#export")
    @on(Input.Submitted, "#path")
    def _export(self) -> None:
        path = self.query_one("#path", Input).value.strip()
        if not path:
            self._error("give a file name")
            return
        fmt = cast(Format, self._choice("format"))
        request = ExportRequest(fmt, cast(Which, self._choice("which")), Path(path).expanduser(),
                                redact=self.query_one("#redact", Checkbox).value,
                                with_calls=fmt == "har"
                                and self.query_one("#with-calls", Checkbox).value)
        error = self.write(request)
        if error is None:
            self.dismiss(request)
        else:
            self._error(error)

    def _error(self, error: str) -> None:
        """Say what went wrong under the file name, and leave everything as the user set it."""
        self.query_one("#export-error", Static).update(Text(printable(error)))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
