"""The help screen (``?``): every key, read from the bindings themselves, and the filter syntax."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from asgi_inspect.filters import OPERATORS

KeySection = tuple[str, Sequence[BindingType]]

_KEY_NAMES = {"up": "↑", "down": "↓", "left": "←", "right": "→", "pageup": "PgUp",
              "pagedown": "PgDn", "home": "Home", "end": "End", "enter": "Enter",
              "escape": "Esc", "space": "Space", "question_mark": "?", "slash": "/",
              "semicolon": ";", "tab": "Tab", "shift+tab": "Shift+Tab",
              "left_square_bracket": "[", "right_square_bracket": "]"}


def key_label(key: str) -> str:
    """``ctrl+p`` → ``Ctrl+P``; ``pageup`` → ``PgUp``; single letters stay as they are."""
    if key in _KEY_NAMES:
        return _KEY_NAMES[key]
    if key.startswith("ctrl+"):
        return "Ctrl+" + key_label(key[5:]).upper()
    return key


def binding_rows(bindings: Iterable[BindingType]) -> list[tuple[str, str, str]]:
    """(keys, description, tooltip) for each binding that has a description."""
    rows = []
    for binding in bindings:
        if not isinstance(binding, Binding) or not binding.description:
            continue
        keys = " ".join(key_label(k.strip()) for k in binding.key.split(","))
        rows.append((keys, binding.description, binding.tooltip))
    return rows


def help_table(sections: Sequence[KeySection]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(style="dim")
    for title, bindings in sections:
        table.add_row(Text(title, style="bold underline"), "", "")
        for keys, description, tooltip in binding_rows(bindings):
            table.add_row(keys, description, tooltip)
        table.add_row("", "", "")
    return table


def filter_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row(Text("Filter expressions", style="bold underline"), "")
    table.add_row("a b, a & b", "both;   a | b  either;   !a  not;   ( )  grouping")
    for name, operator in OPERATORS.items():
        usage = f"~{name} {operator.argument}".rstrip()
        table.add_row(usage, operator.help)
    return table


class HelpScreen(ModalScreen[None]):
    """All the keys, grouped by where they work, and the filter operators."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        & > VerticalScroll {
            width: 90%;
            max-width: 120;
            height: 90%;
            border: round $border;
            border-title-align: center;
            background: $panel;
            padding: 0 1;
        }
    }
    """

    def __init__(self, sections: Sequence[KeySection]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "asgi-inspect keys  (Esc closes)"
            yield Static(help_table(self.sections))
            yield Static(filter_table())
