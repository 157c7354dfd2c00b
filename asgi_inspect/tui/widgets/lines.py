"""Line-API building blocks: a table of rows with a cursor, and a scrollable block of text.

Both render only the lines on screen (``render_line``), so their cost does not grow with the
number of rows: this is what keeps a list of 100k exchanges, a 1,000-event timeline or a 64 KiB
body fluid while they update live. ``DataTable`` measures and re-lays out every row instead.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from functools import lru_cache
from typing import ClassVar

from rich.cells import cell_len
from rich.highlighter import Highlighter
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

# A column: (name, title, width, right-aligned); width 0 marks the one that takes what is left.
Column = tuple[str, str, int, bool]


@lru_cache(maxsize=64)
def fit_columns(columns: tuple[Column, ...], drop_order: tuple[str, ...],
                width: int, min_flex: int = 16) -> tuple[Column, ...]:
    """The columns that fit in ``width`` cells, the flexible one's width filled in."""
    kept = list(columns)
    for name in (None, *drop_order):
        kept = [c for c in kept if c[0] != name]
        fixed = sum(c[2] + 1 for c in kept if c[2])
        if width - fixed >= min_flex:
            break
    flex = max(width - fixed, 1)
    return tuple((n, t, w or flex, r) for n, t, w, r in kept)


class LineTable(ScrollView, can_focus=True):
    """Rows drawn by ``render_row``, one per line, with a cursor row.

    Subclasses give ``COLUMNS``, ``row_count``, ``cell`` (or ``render_cell`` for cells made of
    several pieces) and, when a row's look depends only on a hashable summary, ``row_key``
    (rendered strips are then cached by it).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False),
        Binding("pagedown,ctrl+f,space", "page_down", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"line-table--cursor", "line-table--header"}
    DEFAULT_CSS = """
    LineTable {
        overflow-x: hidden;
        background: $surface;
        & > .line-table--header { color: $text-muted; text-style: bold; }
        & > .line-table--cursor { background: $block-cursor-blurred-background; }
        &:focus > .line-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
        }
    }
    """

    class Highlighted(Message):
        """The cursor moved to ``index``."""

        def __init__(self, table: LineTable, index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

        @property
        def control(self) -> LineTable:
            return self.table

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.cursor = 0
        self._strips: LRUCache[Hashable, Strip] = LRUCache(2048)
        self._styles: dict[str, Style] = {}

    # what subclasses provide ---------------------------------------------------------------

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    DROP_ORDER: ClassVar[tuple[str, ...]] = ()  # columns given up first when space is short
    MIN_FLEX: ClassVar[int] = 16  # ...to leave the flexible column at least this wide

    @property
    def row_count(self) -> int:
        raise NotImplementedError

    def cell(self, index: int, name: str) -> tuple[str, Style]:
        """The text and style of one cell (for cells that are one piece of text)."""
        raise NotImplementedError

    def render_cell(self, index: int, name: str, width: int, right: bool, base: Style,
                    selected: bool) -> list[Segment]:
        """One cell, exactly ``width`` cells wide; the cursor row keeps the cursor's colours."""
        text, style = self.cell(index, name)
        return [cells(text, width, base if selected else base + style, right=right)]

    def row_key(self, index: int) -> Hashable | None:
        """A summary that fully determines the row's look, or None to render it every time."""
        return None

    # styles ------------------------------------------------------------------------------

    def component_style(self, name: str) -> Style:
        """A component class's rich style, resolved once per theme (cleared on style updates)."""
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name, partial=True)
        return style

    def notify_style_update(self) -> None:
        self._styles.clear()
        self._strips.clear()
        super().notify_style_update()

    def on_focus(self, event: events.Focus) -> None:
        self.refresh_row(self.cursor)

    def on_blur(self, event: events.Blur) -> None:
        self.refresh_row(self.cursor)

    # rendering ---------------------------------------------------------------------------

    def fitted_columns(self, width: int) -> tuple[Column, ...]:
        """The columns shown at ``width`` cells (``COLUMNS`` less what does not fit)."""
        return fit_columns(self.COLUMNS, self.DROP_ORDER, width, self.MIN_FLEX)

    def render_row(self, index: int, width: int, base: Style) -> Strip:
        """Row ``index`` as a strip exactly ``width`` cells wide, over the ``base`` style."""
        selected = index == self.cursor
        segments: list[Segment] = []
        for name, _, column_width, right in self.fitted_columns(width):
            segments.extend(self.render_cell(index, name, column_width, right, base, selected))
            segments.append(Segment(" ", base))
        return Strip(segments[:-1]).adjust_cell_length(width, base)

    def header_strip(self, width: int) -> Strip:
        """The column titles, aligned with the rows."""
        style = self.component_style("line-table--header")
        segments: list[Segment] = []
        for _, title, column_width, right in self.fitted_columns(width):
            segments.append(cells(title, column_width, style, right=right))
            segments.append(Segment(" ", style))
        return Strip(segments[:-1]).adjust_cell_length(width, style)

    def update_size(self) -> None:
        """Call after the number of rows changed."""
        self.virtual_size = Size(0, self.row_count)

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= self.row_count or width <= 0:
            return Strip.blank(width, base)
        selected = index == self.cursor
        if selected:
            base = base + self.component_style("line-table--cursor")
        key = self.row_key(index)
        if key is None:
            return self.render_row(index, width, base)
        cache_key = (key, selected, self.has_focus, width)
        strip = self._strips.get(cache_key)
        if strip is None:
            strip = self._strips[cache_key] = self.render_row(index, width, base)
        return strip

    def refresh_row(self, index: int) -> None:
        self.refresh_line(index)

    def refresh_rows(self) -> None:
        """Redraw the rows on screen (their data changed, not their number)."""
        self.refresh()

    # cursor --------------------------------------------------------------------------------

    def move_cursor(self, index: int, *, announce: bool = True) -> None:
        """Put the cursor on ``index`` (clamped), keep it on screen, and say so if asked."""
        index = max(0, min(index, self.row_count - 1))
        old, self.cursor = self.cursor, index
        if old != index:
            self.refresh_row(old)
            self.refresh_row(index)
            if announce:
                self.post_message(self.Highlighted(self, index))
        self.scroll_to_row(index)

    def on_resize(self, event: events.Resize) -> None:
        self.scroll_to_row(self.cursor)

    def scroll_to_row(self, index: int) -> None:
        top = self.scroll_offset.y
        height = self.scrollable_content_region.height
        if index < top:
            self.scroll_to(y=index, animate=False)
        elif height and index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor - max(1, self.scrollable_content_region.height - 1))

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor + max(1, self.scrollable_content_region.height - 1))

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(self.row_count - 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and offset.y + self.scroll_offset.y < self.row_count:
            self.move_cursor(offset.y + self.scroll_offset.y)


def fit(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` cells, an ellipsis marking the cut."""
    if cell_len(text) <= width:
        return text
    if width <= 0:
        return ""
    if len(text) == cell_len(text):
        return text[: width - 1] + "…"
    out, used = [], 1
    for char in text:
        used += cell_len(char)
        if used > width:
            break
        out.append(char)
    return "".join(out) + "…"


def cells(text: str, width: int, style: Style, *, right: bool = False) -> Segment:
    """``text`` cut or padded to exactly ``width`` cells."""
    text = fit(text, width)
    pad = " " * (width - cell_len(text))
    return Segment(pad + text if right else text + pad, style)


class TextLines(ScrollView, can_focus=True):
    """Read-only lines of text, scrollable both ways, highlighted lazily line by line."""

    DEFAULT_CSS = """
    TextLines { background: $surface; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.lines: Sequence[str | Text] = []
        self.highlighter: Highlighter | None = None
        self._strips: LRUCache[int, Strip] = LRUCache(1024)

    def set_lines(self, lines: Sequence[str | Text], highlighter: Highlighter | None = None,
                  *, keep_scroll: bool = False) -> None:
        """Show ``lines`` (already printable); back to the top unless ``keep_scroll``.

        ``str`` lines get the highlighter; ``Text`` lines keep their own styles.
        """
        self.lines = lines
        self.highlighter = highlighter
        self._strips.clear()
        width = max((cell_len(line) if isinstance(line, str) else line.cell_len
                     for line in lines), default=0)
        self.virtual_size = Size(width, len(lines))
        if not keep_scroll:
            self.scroll_to(0, 0, animate=False)
        self.refresh()

    def notify_style_update(self) -> None:
        self._strips.clear()
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(width, base)
        strip = self._strips.get(index)
        if strip is None:
            strip = self._strips[index] = self.render_text_line(index, base)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def render_text_line(self, index: int, base: Style) -> Strip:
        """Line ``index`` as a strip, highlighted, over the ``base`` style (whole, uncropped)."""
        line = self.lines[index]
        if isinstance(line, Text):
            text = line
        else:
            text = Text(line, no_wrap=True, end="")
            if self.highlighter is not None:
                self.highlighter.highlight(text)
        segments = [Segment(s.text, base + s.style if s.style else base)
                    for s in text.render(self.app.console)]
        return Strip(segments, text.cell_len)


class ColumnHeader(Widget):
    """A table's column titles, drawn with the table's own layout so they always line up."""

    DEFAULT_CSS = """
    ColumnHeader { height: 1; background: $surface; }
    """

    def __init__(self, table: LineTable, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.table = table

    def render_line(self, y: int) -> Strip:
        width = self.table.scrollable_content_region.width or self.size.width
        return self.table.header_strip(width).adjust_cell_length(self.size.width,
                                                                  self.rich_style)
