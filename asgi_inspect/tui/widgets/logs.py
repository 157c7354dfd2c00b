"""The logs pane: the server process's stdout and stderr, and our notes about the process.

It reads the session's bounded tail (``Session.logs``, the last ``MAX_LOG_LINES`` lines) in
place and renders only the lines on screen (line API), so a server that logs every request
costs the pane nothing while it is hidden and one screenful when shown, however long it ran.
(Textual's ``RichLog`` queued every line written while hidden, without bound.)
"""

from __future__ import annotations

from itertools import islice
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from asgi_inspect.runtime.session import LogLine, Session
from asgi_inspect.text import printable

STYLED_STREAMS = frozenset({"stderr", "inspector"})


def shown_text(line: LogLine) -> str:
    """A log line as the pane shows it: printable, tabs expanded."""
    return printable(line.text, keep_tabs=True).expandtabs(4)


class LogsView(ScrollView, can_focus=True):
    """The session's log tail; stderr and the inspector's notes in their own colours.

    Lines are numbered from the first ever logged, so a rendered line stays cached while the
    tail moves on; ``sync`` (on each poll) only counts what is new, and keeps the view at the
    end (or, when scrolled up, on the same lines while older ones drop off the top).
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"logs--stderr", "logs--inspector"}
    DEFAULT_CSS = """
    LogsView {
        background: $surface;
        & > .logs--stderr { color: $text-warning; }
        & > .logs--inspector { color: $text-accent; text-style: italic; }
    }
    """

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self._end = 0  # session.log_count at the last sync: the number after the last line
        self._count = 0  # lines shown as of the last sync
        self._width = 0  # cells of the widest line taken in
        self._strips: LRUCache[int, Strip] = LRUCache(512)  # by line number

    @property
    def first(self) -> int:
        """The number of the first line shown."""
        return self._end - self._count

    def sync(self) -> None:
        """Take in the lines logged since the last call; nothing while the pane is hidden."""
        session = self.session
        if session.log_count == self._end or not self.display:
            return
        first, at_end = self.first, self.is_vertical_scroll_end
        new = min(session.log_count - self._end, len(session.logs))
        if new == len(session.logs):  # everything is new (or the pane was hidden): measure all
            self._width = 0
        for line in islice(reversed(session.logs), new):
            self._width = max(self._width, cell_len(shown_text(line)))
        self._end, self._count = session.log_count, len(session.logs)
        self.virtual_size = Size(self._width, self._count)
        if at_end:  # after the next layout, when the new height is known
            self.scroll_end(animate=False, x_axis=False, force=True)
        elif self.first > first:  # lines dropped off the top: stay on the same ones
            self.scroll_to(y=max(0, self.scroll_offset.y - (self.first - first)),
                           animate=False, immediate=True)
        self.refresh()

    def line(self, number: int) -> LogLine | None:
        """Line ``number`` (counted from the first ever logged), if the tail still holds it."""
        logs = self.session.logs
        index = number - (self.session.log_count - len(logs))
        return logs[index] if 0 <= index < len(logs) else None

    def notify_style_update(self) -> None:
        self._strips.clear()
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        number = self.first + scroll_y + y
        if scroll_y + y >= self._count:
            return Strip.blank(width, base)
        strip = self._strips.get(number)
        if strip is None:
            line = self.line(number)
            if line is None:  # dropped off since the last sync
                return Strip.blank(width, base)
            strip = self._strips[number] = self.render_log_line(line, base)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def render_log_line(self, line: LogLine, base: Style) -> Strip:
        """One line, whole (uncropped), over the ``base`` style."""
        style = (self.get_component_rich_style(f"logs--{line.stream}")
                 if line.stream in STYLED_STREAMS else Style())
        text = Text(shown_text(line), style=style, no_wrap=True, end="")
        segments = [Segment(s.text, base + s.style if s.style else base)
                    for s in text.render(self.app.console)]
        return Strip(segments, text.cell_len)
