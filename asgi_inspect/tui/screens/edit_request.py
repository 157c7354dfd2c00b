"""Edit a request before replaying it: the request as text, in a modal or in ``$EDITOR``.

The modal shows the captured request through :func:`editable` (control characters as escapes
such as ``\\x1b``, which are sent as the characters); ``$EDITOR`` gets the raw text.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea

from asgi_inspect.replay.request import (
    ReplayRequest,
    RequestTextError,
    edited_request,
    request_text,
)
from asgi_inspect.tui.formatting import editable, plain, typed

HELP = ("First line: METHOD /path?query, then one header per line, a blank line, the body. "
        "Control characters show as escapes like \\x1b and are sent as the characters. "
        "ctrl+s sends, ctrl+e opens $EDITOR, Esc cancels.")


class EditRequestScreen(ModalScreen[ReplayRequest | None]):
    """Returns the edited request, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", tooltip="Replay the edited request"),
        Binding("ctrl+e", "external_editor", "$EDITOR", tooltip="Edit in $EDITOR"),
        Binding("escape", "cancel", "Cancel"),
    ]
    DEFAULT_CSS = """
    EditRequestScreen {
        align: center middle;
        & > Vertical { width: 90%; height: 85%; border: round $border; background: $panel;
                       padding: 0 1; border-title-align: center; }
        & TextArea { height: 1fr; }
        & #edit-error { color: $error; height: auto; }
        & Horizontal { height: auto; align-horizontal: right; }
        & Button { margin-left: 1; }
    }
    """

    def __init__(self, request: ReplayRequest, title: str) -> None:
        super().__init__()
        self.request = request
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = plain(self.title_text)
            yield Static(Text(HELP, "dim"))
            yield TextArea(editable(request_text(self.request)), id="edit-text",
                           show_line_numbers=True)
            yield Static("", id="edit-error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Send", id="send", variant="primary")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    @property
    def text(self) -> str:
        """The request text as the user means it (escapes back to characters)."""
        return typed(self.query_one(TextArea).text)

    @on(Button.Pressed, "#send")
    def action_send(self) -> None:
        try:
            self.dismiss(edited_request(self.request, self.text))
        except RequestTextError as exc:
            self.query_one("#edit-error", Static).update(Text(str(exc)))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_external_editor(self) -> None:
        """Edit the text in $EDITOR (or $VISUAL, else vi), the screen suspended meanwhile."""
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        with tempfile.NamedTemporaryFile("w", suffix=".http", delete=False) as file:
            file.write(self.text)
        path = Path(file.name)
        try:
            with self.app.suspend():
                subprocess.run([*shlex.split(editor), str(path)], check=False)
            self.query_one(TextArea).load_text(editable(path.read_text()))
        except Exception as exc:  # no terminal to suspend (headless), or no such editor
            self.notify(f"cannot run {editor}: {exc}", severity="error")
        finally:
            path.unlink(missing_ok=True)
