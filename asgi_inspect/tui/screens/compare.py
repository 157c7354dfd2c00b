"""Comparisons: two exchanges side by side (``c`` with two marked), and two sessions' pairs
(``view A --compare B``), each pair opening side by side.

Both are :func:`asgi_inspect.ops.session_diff.diff_sessions` (the operation ``asgi-inspect
diff`` runs), with the session's ignored headers and the body rules ``I`` edits, so the TUI and
the CLI tell the same differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static

from asgi_inspect.content import body_of
from asgi_inspect.http import response_headers, response_type, status_text, target_of
from asgi_inspect.model import Exchange
from asgi_inspect.ops.session_diff import SessionDiff, diff_sessions
from asgi_inspect.replay.ignore import BodyIgnore
from asgi_inspect.tui.bodies import render_body
from asgi_inspect.tui.formatting import data_text, plain
from asgi_inspect.tui.widgets.detail import change_texts


def side_lines(exchange: Exchange) -> list[Text]:
    """One side: the request, the status, the response headers and the body (decoded)."""
    lines = [data_text(f"#{exchange.id} {exchange.method} {target_of(exchange)}", "bold"),
             data_text(f"status {status_text(exchange)}"), Text("")]
    lines += [data_text(f"{name.decode('latin-1')}: {value.decode('latin-1')}", "cyan")
              for name, value in response_headers(exchange)]
    body = render_body(body_of(exchange, "send").data, response_type(exchange))
    lines += [Text(""), *(data_text(line) for line in body.lines)]
    if body.shown < body.total:
        lines.append(Text(f"… {body.total - body.shown} more bytes", "dim"))
    return lines


def comparison_lines(a: Exchange, b: Exchange, ignore_headers: Sequence[str],
                     ignore_body: BodyIgnore) -> list[Text]:
    """The diff of ``a`` against ``b``: a summary line, then the changes by section."""
    (pair,) = diff_sessions([a], [b], pairing="order", ignore_headers=ignore_headers,
                            ignore_body=ignore_body).pairs
    if pair.diff is None:  # a lifespan: not traffic the diff compares
        return [Text("only HTTP and WebSocket exchanges are compared", "dim")]
    summary = data_text(f"#{a.id} → #{b.id}: {pair.diff.summary()}",
                        "bold red" if pair.diff.differs else "bold green")
    return [summary, Text(""), *change_texts(pair.diff)]


class CompareScreen(ModalScreen[None]):
    """The two exchanges in two columns, their diff below; Esc closes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,c", "dismiss", "Close")]
    DEFAULT_CSS = """
    CompareScreen {
        background: $background 60%;
        & > Vertical { border: round $border; background: $panel; }
        & #sides { height: 2fr; }
        & #sides > VerticalScroll { width: 1fr; padding: 0 1; }
        & #changes { height: 1fr; border-top: solid $border; padding: 0 1; }
    }
    """

    def __init__(self, a: Exchange, b: Exchange, *, ignore_headers: Sequence[str],
                 ignore_body: BodyIgnore) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.ignore_headers, self.ignore_body = ignore_headers, ignore_body

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = plain(f"compare #{self.a.id} with #{self.b.id}")
            box.border_subtitle = "Esc closes"
            with Horizontal(id="sides"):
                for exchange in (self.a, self.b):
                    with VerticalScroll():
                        yield Static(_joined(side_lines(exchange)))
            with VerticalScroll(id="changes"):
                yield Static(_joined(comparison_lines(self.a, self.b, self.ignore_headers,
                                                      self.ignore_body)))


def _joined(lines: list[Text]) -> Text:
    """One text of many lines (each captured line is a ``Text`` with no end of its own)."""
    return Text("\n").join(lines)


_KIND_STYLES = {"same": "dim", "changed": "yellow", "missing": "red", "added": "green"}


class PairsScreen(ModalScreen[None]):
    """Two sessions' pairs, one line each as ``diff`` reports them; Enter compares a pair side
    by side, Esc shows session A."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    PairsScreen {
        background: $background 60%;
        & > Vertical { border: round $border; background: $panel; }
        & OptionList { height: 1fr; border: none; }
    }
    """

    def __init__(self, compared: SessionDiff, title: str, *, ignore_headers: Sequence[str],
                 ignore_body: BodyIgnore) -> None:
        super().__init__()
        self.compared, self.title_text = compared, title
        self.ignore_headers, self.ignore_body = ignore_headers, ignore_body

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = plain(self.title_text)
            box.border_subtitle = plain(f"{self.compared.summary()} · Enter compares · Esc: A")
            yield OptionList(*(data_text(pair.headline(), _KIND_STYLES[pair.kind])
                               for pair in self.compared.pairs))

    @on(OptionList.OptionSelected)
    def _compare(self, event: OptionList.OptionSelected) -> None:
        pair = self.compared.pairs[event.option_index]
        if pair.a is None or pair.b is None:
            self.notify(f"only in {'A' if pair.b is None else 'B'}: nothing to compare with")
            return
        self.app.push_screen(CompareScreen(pair.a, pair.b, ignore_headers=self.ignore_headers,
                                           ignore_body=self.ignore_body))
