"""The logs pane: the server process's stdout and stderr, and our notes about the process."""

from __future__ import annotations

from itertools import islice
from typing import ClassVar

from rich.text import Text
from textual.widgets import RichLog

from asgi_inspect.runtime.session import MAX_LOG_LINES, Session
from asgi_inspect.text import printable


class LogsView(RichLog):
    """Appends the session's new log lines on each poll; stderr in another colour."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"logs--stderr", "logs--inspector"}
    DEFAULT_CSS = """
    LogsView {
        background: $surface;
        & > .logs--stderr { color: $text-warning; }
        & > .logs--inspector { color: $text-accent; text-style: italic; }
    }
    """

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=MAX_LOG_LINES, wrap=False, markup=False,
                         highlight=False, auto_scroll=True)
        self.session = session
        self._seen = 0  # session.log_count already written

    def sync(self) -> None:
        """Write the lines logged since the last call (those still in the session's buffer)."""
        session = self.session
        new = session.log_count - self._seen
        if new <= 0:
            return
        self._seen = session.log_count
        lines = list(islice(reversed(session.logs), min(new, len(session.logs))))
        for line in reversed(lines):
            style = (self.get_component_rich_style(f"logs--{line.stream}")
                     if line.stream in ("stderr", "inspector") else "")
            self.write(Text(printable(line.text, keep_tabs=True).expandtabs(4), style=style,
                            no_wrap=True, end=""))
