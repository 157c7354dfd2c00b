"""Dialogs around replay: a warning before sending less than was recorded, and the rules of
what the Diff leaves out of bodies (``I``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea

from asgi_inspect.model import Exchange
from asgi_inspect.replay.ignore import BodyIgnore, IgnoreError
from asgi_inspect.tui.formatting import data_text, plain
from asgi_inspect.tui.screens.dialogs import DIALOG_CSS

IGNORE_HELP = ("One rule per line. A JSONPath ($.query_ms, $.rows[*].id, $..etag) leaves that "
               "JSON field out; any other line is a regular expression whose matches in text "
               "are masked on both sides (took [0-9.]+ms). ctrl+s applies, Esc cancels.")


class ReplayWarningScreen(ModalScreen[bool]):
    """Before a replay that cannot send what the client sent: say what, then send anyway
    (``s``) or cancel (Esc, the default)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "answer(True)", "Send anyway"),
        Binding("escape,c", "answer(False)", "Cancel"),
    ]
    DEFAULT_CSS = ("ReplayWarningScreen {" + DIALOG_CSS + "& > Vertical { width: 80%; } "
                   "& VerticalScroll { height: auto; max-height: 16; } }")

    def __init__(self, warned: Sequence[tuple[Exchange, list[str]]]) -> None:
        super().__init__()
        self.warned = warned

    def compose(self) -> ComposeResult:
        count = len(self.warned)
        with Vertical() as box:
            box.border_title = plain("Replay sends less than was recorded")
            with VerticalScroll():
                for exchange, warnings in self.warned:
                    yield Static(data_text(f"#{exchange.id} {exchange.method} {exchange.path}",
                                           "bold"))
                    for warning in warnings:
                        yield Static(data_text(f"  {warning}"))
            yield Static(Text(f"Send {'it' if count == 1 else 'them'} anyway? The answer may "
                              f"differ only because of this.", "dim"))
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Send anyway", id="send", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "send")

    def action_answer(self, send: bool) -> None:
        self.dismiss(send)


class IgnoreRulesScreen(ModalScreen[BodyIgnore | None]):
    """Edit what the Diff leaves out of bodies and frames; a rule that does not parse is
    named and the dialog stays open with the text as typed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "apply", "Apply"),
        Binding("escape", "cancel", "Cancel"),
    ]
    DEFAULT_CSS = ("IgnoreRulesScreen {" + DIALOG_CSS + "& > Vertical { width: 80%; } "
                   "& TextArea { height: 8; } & #ignore-error { color: $error; } }")

    def __init__(self, rules: BodyIgnore) -> None:
        super().__init__()
        self.rules = rules

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = plain("Ignore in diffs")
            yield Static(Text(IGNORE_HELP, "dim"))
            yield TextArea(self.rules.lines(), id="ignore-rules")
            yield Static("", id="ignore-error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Apply", id="apply", variant="primary")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    @on(Button.Pressed, "#apply")
    def action_apply(self) -> None:
        try:
            self.dismiss(BodyIgnore.from_lines(self.query_one(TextArea).text))
        except IgnoreError as exc:
            self.query_one("#ignore-error", Static).update(data_text(str(exc)))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
