"""The export dialog (``x``): which exchanges, which format, which file; and the writing itself."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet

from asgi_inspect.model import Caps, Exchange
from asgi_inspect.tui.screens.dialogs import DIALOG_CSS

Format = Literal["json", "jsonl", "har", "curl", "httpie"]
Which = Literal["focused", "marked", "shown"]
FORMATS: dict[Format, str] = {"json": "json", "jsonl": "jsonl", "har": "har", "curl": "sh",
                              "httpie": "sh"}  # format → file extension
WHICH: tuple[Which, ...] = ("focused", "marked", "shown")


@dataclass(frozen=True)
class ExportRequest:
    format: Format
    which: Which
    path: Path


def default_path(fmt: Format) -> str:
    return f"asgi-inspect-export.{FORMATS[fmt]}"


def write_export(exchanges: list[Exchange], fmt: Format, path: Path, *,
                 base_url: str | None = None, caps: Caps | None = None) -> None:
    """Write ``exchanges`` to ``path``; secrets are redacted in HAR, curl and HTTPie output.

    Raises OSError, or ValueError for an exchange the format cannot express (curl of a
    WebSocket).
    """
    if fmt in ("json", "jsonl"):
        from asgi_inspect import codec

        codec.write(codec.new_trace(exchanges, caps=caps or Caps()), path, jsonl=fmt == "jsonl")
    elif fmt == "har":
        from asgi_inspect.export.har import to_har

        path.write_text(json.dumps(to_har(exchanges, redact=True), indent=1), encoding="utf-8")
    else:
        from asgi_inspect.export.curl import to_curl, to_httpie

        convert = to_curl if fmt == "curl" else to_httpie
        commands = [convert(e, base_url=base_url, redact=True) for e in exchanges
                    if e.type == "http"]
        if not commands:
            raise ValueError(f"none of these exchanges is an HTTP request {fmt} can re-send")
        path.write_text("\n\n".join(commands) + "\n", encoding="utf-8")


class ExportScreen(ModalScreen[ExportRequest | None]):
    """Pick the format, the exchanges (focused, marked or shown) and the file."""

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
            yield Label("File")
            yield Input(default_path("json"), id="path")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Export", id="export", variant="primary")

    def _choice(self, radio_set: str) -> str:
        pressed = self.query_one(f"#{radio_set}", RadioSet).pressed_button
        return (pressed.name or "") if pressed else ""

    @on(RadioSet.Changed, "#format")
    def _format_changed(self, event: RadioSet.Changed) -> None:
        path_input = self.query_one("#path", Input)
        if Path(path_input.value).stem == Path(default_path("json")).stem:
            path_input.value = default_path(cast(Format, event.pressed.name))

    @on(Button.Pressed, "#export")
    @on(Input.Submitted, "#path")
    def _export(self) -> None:
        path = self.query_one("#path", Input).value.strip()
        if not path:
            self.notify("give a file name", severity="error")
            return
        self.dismiss(ExportRequest(cast(Format, self._choice("format")),
                                   cast(Which, self._choice("which")), Path(path).expanduser()))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
