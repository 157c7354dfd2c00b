"""The export dialog (``x``): which exchanges, which format, which file, redacted or not.

It only asks: the writing is :func:`asgi_inspect.ops.export.export_to`, the same function
behind ``asgi-inspect export``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet

from asgi_inspect.ops.export import FORMATS, Format, default_path
from asgi_inspect.store.view import WHICH, Which
from asgi_inspect.tui.screens.dialogs import DIALOG_CSS


@dataclass(frozen=True)
class ExportRequest:
    format: Format
    which: Which
    path: Path
    redact: bool = True


class ExportScreen(ModalScreen[ExportRequest | None]):
    """Pick the format, the exchanges (focused, marked, shown or all) and the file."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = "ExportScreen {" + DIALOG_CSS + """
        & RadioSet { width: 1fr; height: auto; }
        & .choices { height: auto; }
        & Label { margin-top: 1; }
    }"""

    def __init__(self, counts: dict[Which, int]) -> None:
        super().__init__()
        self.counts = counts

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
                                          value=which == "focused", name=which,
                                          disabled=not self.counts.get(which))
            yield Checkbox("Redact secrets", value=True, id="redact")
            yield Label("File")
            yield Input(str(default_path("json")), id="path")
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
            self.notify("give a file name", severity="error")
            return
        self.dismiss(ExportRequest(cast(Format, self._choice("format")),
                                   cast(Which, self._choice("which")), Path(path).expanduser(),
                                   redact=self.query_one("#redact", Checkbox).value))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
