"""The filter bar: type an expression, the list follows when you pause; errors show inline.

A valid expression is applied once the typing pauses for ``APPLY_AFTER`` (or at once on Enter),
so the valid prefix of what is being typed (``~c >=4`` on the way to ``~c >=400``) is never
applied. A bad expression leaves the last good filter in place and shows where the fault is,
so typing through an incomplete expression never empties the list. Control characters (pasted,
or from ``--filter``) show as escapes such as ``\\x1b``, which the filter's regular expressions
read as the characters.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Static

from asgi_inspect.filters import FilterError, compile_filter
from asgi_inspect.text import printable
from asgi_inspect.tui.formatting import PrintableInput

APPLY_AFTER = 0.4  # seconds without a key before a valid expression typed is applied


class FilterBar(Vertical):
    """An input for the filter expression, with the compile error (and a caret) under it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear", "Clear filter", tooltip="Clear the filter and close the bar"),
    ]
    DEFAULT_CSS = """
    FilterBar {
        height: auto;
        display: none;
        &.-open { display: block; }
        & > Input { border: tall $border-blurred; }
        & > Input:focus { border: tall $border; }
        & > .error { color: $text-error; padding: 0 1; display: none; }
        &.-error > .error { display: block; }
        &.-error > Input { border: tall $error; }
    }
    """

    class Applied(Message):
        """A new, valid filter is in force (``text`` empty: show everything); the view
        compiles it, with its session's N+1 threshold for ``~n1``."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Closed(Message):
        """The user is done with the bar (Enter or Escape)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.input = PrintableInput(
            placeholder="filter, e.g.  ~m POST  ~c 5xx  ~u /api  !~websocket",
            id="filter-input", select_on_focus=False)
        self.error = Static(classes="error")
        self.text = ""  # the expression in force
        self._pending: Timer | None = None  # applies the valid expression typed last

    def compose(self) -> ComposeResult:
        yield self.input
        yield self.error

    def open(self) -> None:
        self.add_class("-open")
        self.input.focus()

    def set_expression(self, text: str) -> None:
        """Start with ``text`` (from the command line), applied at once."""
        self.input.value = text
        self._apply(self.input.value)  # as shown: control characters spelled out
        if text:
            self.add_class("-open")

    @on(Input.Changed, "#filter-input")
    def _changed(self, event: Input.Changed) -> None:
        """Check what is typed at once; apply it only when the typing pauses."""
        event.stop()
        self._cancel_pending()
        text = event.value
        if self._valid(text) and text != self.text:
            self._pending = self.set_timer(APPLY_AFTER, lambda: self._apply(text))

    def _cancel_pending(self) -> None:
        if self._pending is not None:
            self._pending.stop()
            self._pending = None

    def _valid(self, text: str) -> bool:
        """Whether ``text`` compiles (empty does); if not, the error and where it is shown."""
        try:
            compile_filter(text)
        except FilterError as exc:
            self.add_class("-error")
            caret = exc.caret().split("\n")[-1]
            self.error.update(Text(f" {caret}\n{printable(exc.message)} at column "
                                   f"{exc.position + 1}", no_wrap=True))
            return False
        self.remove_class("-error")
        self.error.update("")
        return True

    def _apply(self, text: str) -> None:
        """Put ``text`` in force if it is valid (the last good filter stays otherwise)."""
        self._cancel_pending()
        if self._valid(text):
            self.text = text
            self.post_message(self.Applied(text))

    @on(Input.Submitted, "#filter-input")
    def _submitted(self, event: Input.Submitted) -> None:
        """Enter: apply what is typed now, and go back to the list."""
        event.stop()
        if event.value != self.text:
            self._apply(event.value)
        if not self.text:
            self.remove_class("-open")
        self.post_message(self.Closed())

    def action_clear(self) -> None:
        self.input.value = ""
        self._apply("")
        self.remove_class("-open")
        self.post_message(self.Closed())
