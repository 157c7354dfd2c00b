"""A protocol lens's sections as lines of styled text, laid out for a width.

Tables become aligned columns whose last column wraps (an SSE event's long ``data`` line, a
pretty-printed JSON argument); blocks become a title and their lines, highlighted as JSON or
GraphQL. Everything captured goes through :func:`~asgi_inspect.text.printable` first and into
``Text`` objects, never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.console import Console
from rich.highlighter import Highlighter, JSONHighlighter, RegexHighlighter
from rich.text import Text

from asgi_inspect.lenses import Block, Section, Table
from asgi_inspect.text import printable
from asgi_inspect.tui.widgets.lines import fit


class GraphQLHighlighter(RegexHighlighter):
    """Keywords, variables, strings and comments of a GraphQL document."""

    base_style = "repr."
    highlights: ClassVar[list[str]] = [
        # later patterns win where they overlap: a number or keyword inside a string or a
        # comment is part of it
        r"(?P<number>\b\d+(?:\.\d+)?\b)",
        r"(?P<tag_name>\b(?:query|mutation|subscription|fragment|on)\b)",
        r"(?P<attrib_name>\$\w+)",
        r"(?P<str>\"[^\"]*\")",
        r"(?P<comment>#.*)",
    ]


_HIGHLIGHTERS: dict[str, Highlighter] = {"json": JSONHighlighter(),
                                         "graphql": GraphQLHighlighter()}
_NARROWEST = 16  # a wrapped column never gets fewer cells than this
_WIDEST_CELL = 32  # columns before the last never get more than this
_GAP = "  "


def section_lines(sections: Sequence[Section], width: int, console: Console) -> list[Text]:
    """Every section, one after the other, separated by a blank line."""
    lines: list[Text] = []
    for section in sections:
        if lines:
            lines.append(Text())
        if isinstance(section, Table):
            lines.extend(table_lines(section, width, console))
        else:
            lines.extend(block_lines(section, width, console))
    return lines


def block_lines(block: Block, width: int, console: Console) -> list[Text]:
    lines = [Text(printable(block.title), style="bold", end="")]
    highlighter = _HIGHLIGHTERS.get(block.syntax)
    for line in block.text.split("\n"):
        text = Text(printable(line.expandtabs(4)), end="")
        if highlighter is not None:
            highlighter.highlight(text)
        lines.extend(_wrapped(text, width, console))
    return lines


def table_lines(table: Table, width: int, console: Console) -> list[Text]:
    """The title, a header row, then each row (as many lines as its tallest cell)."""
    columns = len(table.columns)
    rows = [_cells(row, columns) for row in table.rows]
    widths = _widths(table.columns, rows, width)
    lines = [Text(printable(table.title), style="bold", end="")]
    lines.append(_join([Text(fit(printable(c), w), style="bold underline")
                        for c, w in zip(table.columns, widths, strict=True)]))
    for cells in rows:
        lines.extend(_row_lines(cells, widths, console))
    if not rows:
        lines.append(Text("(none)", style="dim", end=""))
    if table.note:
        lines.append(Text(printable(table.note), style="italic", end=""))
    return lines


def _cells(row: tuple[str, ...], columns: int) -> list[list[str]]:
    """Each cell as its printable lines; a short row is padded, a long one cut."""
    padded = (tuple(row) + ("",) * columns)[:columns]
    return [[printable(line.expandtabs(4)) for line in cell.split("\n")] for cell in padded]


def _widths(titles: tuple[str, ...], rows: list[list[list[str]]], width: int) -> list[int]:
    """Columns before the last fit their widest line (up to a bound); the last takes the
    rest, but never less than :data:`_NARROWEST` (the line then scrolls sideways)."""
    widths = [max([cell_len(printable(title))] + [cell_len(line) for row in rows
                                                  for line in row[i]])
              for i, title in enumerate(titles)]
    fixed = [min(w, _WIDEST_CELL) for w in widths[:-1]]
    used = sum(fixed) + len(_GAP) * len(fixed)
    return [*fixed, max(width - used, _NARROWEST)] if widths else []


def _row_lines(cells: list[list[str]], widths: list[int], console: Console) -> list[Text]:
    last = cells[-1]
    highlighter = _HIGHLIGHTERS["json"] if last and last[0][:1] in ("{", "[") else None
    wrapped: list[Text] = []
    for line in last:
        text = Text(line, end="")
        if highlighter is not None:
            highlighter.highlight(text)
        wrapped.extend(_wrapped(text, widths[-1], console))
    height = max([len(wrapped)] + [len(cell) for cell in cells[:-1]])
    lines = []
    for y in range(height):
        parts = [Text(fit(cell[y], w) if y < len(cell) else "", end="")
                 for cell, w in zip(cells[:-1], widths, strict=False)]
        parts = [_padded(part, w) for part, w in zip(parts, widths, strict=False)]
        lines.append(_join([*parts, wrapped[y] if y < len(wrapped) else Text(end="")]))
    return lines


def _padded(text: Text, width: int) -> Text:
    text.pad_right(max(width - text.cell_len, 0))
    return text


def _join(parts: list[Text]) -> Text:
    return Text(_GAP, end="").join(parts)


def _wrapped(text: Text, width: int, console: Console) -> list[Text]:
    """``text`` folded into lines of at most ``width`` cells (words kept whole when they fit)."""
    if text.cell_len <= width:
        return [text]
    lines = list(text.wrap(console, max(width, 1), overflow="fold", no_wrap=False))
    for line in lines:
        line.end = ""
    return lines
