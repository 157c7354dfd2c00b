"""The Inside tab: what the app did while it handled the exchange (outbound HTTP calls,
database queries, OpenTelemetry spans), in the order each began.

Each row has its bar on the Messages tab's time axis (same origin, the exchange's start; same
scale, :func:`~asgi_inspect.tui.widgets.timeline.time_axis`; the same cells at the same
width), so a slow query lines up with the response it delayed. The statements run N times
or more (an N+1) are named above the table, and their rows are flagged. The cursor row is
shown in full below: headers and bodies (Content-Encoding undone), the statement laid out,
parameters, rows, where the app made it, the error. Everything captured goes through
:mod:`asgi_inspect.text` (``data_text``), never markup.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from asgi_inspect import inside
from asgi_inspect.content import decoded_body
from asgi_inspect.model import Exchange, Inside, OutboundCall, Query, Span, header, header_pairs
from asgi_inspect.text import printable
from asgi_inspect.tui.bodies import render_body
from asgi_inspect.tui.formatting import data_text, field_text
from asgi_inspect.tui.widgets.lines import Column, cells, fit, fit_columns
from asgi_inspect.tui.widgets.timeline import (
    DetailTable,
    EventTimeline,
    RowsWithDetail,
    bar_segments,
    time_axis,
)
from asgi_inspect.units import format_duration, format_size, plural
from asgi_inspect.values import value_text

SUMMARY_WIDTH = 160  # cells of a one-line summary that no column bounds
KINDS = {OutboundCall: "call", Query: "sql", Span: "span"}


def took(item: Inside) -> str:
    """How long it took, or ``…`` while it runs."""
    duration = inside.duration_ns(item)
    return "…" if duration is None else format_duration(duration)


def summary(item: Inside, width: int = SUMMARY_WIDTH) -> str:
    """One line about a call, query or span in ``width`` cells: ``GET https://api/x → 200
    12.0ms httpx``, ``SELECT … 3 rows 0.4ms sqlalchemy``; a failure as ``✗ error``. The URL,
    statement or name is what gets cut, so the outcome and the time stay in sight."""
    if isinstance(item, OutboundCall):
        head = f"{item.method} {item.url}"
        facts = [f"→ {item.status}" if item.status is not None else "",
                 "(mocked)" if item.mocked else ""]
    elif isinstance(item, Query):
        head = " ".join(item.statement.split())
        facts = [f"×{item.many:,}" if item.many else "",
                 plural(item.rows, "row") if item.rows is not None else ""]
    else:
        head = item.name
        facts = [item.span_kind if item.span_kind != "internal" else ""]
    if item.error:
        facts.append(f"✗ {item.error}")
    tail = printable(" ".join(fact for fact in [*facts, took(item), item.library] if fact))
    room = max(width - cell_len(tail) - 1, width // 3)  # a long error: some of each
    return fit(f"{fit(printable(head), room)} {tail}", width)


def failed(item: Inside) -> bool:
    """An error, a server error's status, or a span whose status says so."""
    if isinstance(item, OutboundCall) and item.status is not None and item.status >= 500:
        return True
    return item.error is not None or (isinstance(item, Span) and item.status == "error")


def repeat_text(repeat: inside.Repeat) -> str:
    """``select * from item where id = ? ran 12 times, 4.1ms, first at app.py:33``."""
    where = f", first at {repeat.location}" if repeat.location else ""
    return printable(f"{repeat.shape} ran {repeat.count:,} times, "
                     f"{format_duration(repeat.total_ns)}{where}")


def banner_lines(repeats: list[inside.Repeat]) -> list[Text]:
    """The N+1 groups, one line each, for the top of the tab."""
    lines = []
    for repeat in repeats:
        line = Text("N+1: ", style="bold yellow", no_wrap=True, end="")
        line.append_text(data_text(repeat_text(repeat), "yellow"))
        lines.append(line)
    return lines


@lru_cache(maxsize=64)
def inside_columns(width: int) -> tuple[Column, ...]:
    """``# kind at what waterfall``: the waterfall as wide as the Messages tab's at this width
    (and so in the same cells), the summary taking the rest."""
    messages = fit_columns(EventTimeline.COLUMNS, EventTimeline.DROP_ORDER, width,
                           EventTimeline.MIN_FLEX)
    bar = next(column[2] for column in messages if column[0] == "bar")
    fixed: tuple[Column, ...] = (("n", "#", 4, True), ("kind", "kind", 4, False),
                                 ("t", "at", 8, True))
    what = max(width - sum(column[2] + 1 for column in fixed) - bar - 1, 1)
    return (*fixed, ("what", "what", what, False), ("bar", "waterfall", bar, False))


class InsideTable(DetailTable):
    """The calls, queries and spans of one exchange, with their waterfall bars."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "inside-table--call", "inside-table--sql", "inside-table--span", "inside-table--bad",
        "inside-table--repeat", "inside-table--dim",
    }
    DEFAULT_CSS = """
    InsideTable {
        & > .inside-table--call { color: $text-accent; }
        & > .inside-table--sql { color: $text-success; }
        & > .inside-table--span { color: $text-secondary; }
        & > .inside-table--bad { color: $text-error; text-style: bold; }
        & > .inside-table--repeat { color: $text-warning; }
        & > .inside-table--dim { color: $text-muted; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.exchange: Exchange | None = None
        self.items: list[Inside] = []
        self.threshold = inside.DEFAULT_N_PLUS_ONE
        self.repeats: list[inside.Repeat] = []
        self._repeated: set[int] = set()  # indices of the queries of an N+1 group
        self._axis = 1

    def show(self, exchange: Exchange | None) -> None:
        """Show ``exchange``'s items; the cursor stays put when it is the same exchange."""
        same = exchange is not None and exchange is self.exchange
        grew = exchange is None or not same or len(self.items) != len(exchange.inside)
        self.exchange = exchange
        self.items = list(exchange.inside) if exchange is not None else []
        if grew:  # the statements' shapes, read again only when there are new ones
            self._find_repeats()
        self._axis = time_axis(exchange) if exchange is not None else 1
        self.update_size()
        if not same:
            self.cursor = 0
            self.scroll_to(0, 0, animate=False)
        self.refresh_rows()

    def _find_repeats(self) -> None:
        """The N+1 groups, and which rows belong to one."""
        exchange = self.exchange
        self.repeats = inside.repeated(exchange, self.threshold) if exchange else []
        shapes = {repeat.shape for repeat in self.repeats}
        self._repeated = {i for i, item in enumerate(self.items)
                          if shapes and isinstance(item, Query)
                          and inside.shape(item.statement) in shapes}

    @property
    def row_count(self) -> int:
        return len(self.items)

    @property
    def current(self) -> Inside | None:
        return self.items[self.cursor] if 0 <= self.cursor < len(self.items) else None

    def fitted_columns(self, width: int) -> tuple[Column, ...]:
        return inside_columns(width)

    def item_style(self, index: int) -> Style:
        item = self.items[index]
        if failed(item):
            return self.component_style("inside-table--bad")
        if index in self._repeated:
            return self.component_style("inside-table--repeat")
        return Style()

    def cell(self, index: int, name: str) -> tuple[str, Style]:
        item = self.items[index]
        if name == "n":
            return str(index), self.component_style("inside-table--dim")
        if name == "kind":
            kind = KINDS[type(item)]
            return kind, self.component_style(f"inside-table--{kind}")
        if name == "t":
            return format_duration(item.t_start), Style()
        raise ValueError(name)

    def render_cell(self, index: int, name: str, width: int, right: bool, base: Style,
                    selected: bool) -> list[Segment]:
        item = self.items[index]
        if name == "what":  # cut to the cell's width by summary(), where it matters least
            mark = "N+1 " if index in self._repeated else ""
            text = mark + summary(item, width - len(mark))
            return [cells(text, width, base if selected else base + self.item_style(index))]
        if name != "bar":
            return super().render_cell(index, name, width, right, base, selected)
        kind_style = self.component_style(f"inside-table--{KINDS[type(item)]}")
        return bar_segments(item.t_start, item.t_end, self._axis, width, base,
                            base + (self.item_style(index) or kind_style))

    def detail_lines(self, item: Inside) -> list[Text]:
        return detail_lines(item)


class InsideView(RowsWithDetail):
    """The Inside tab: the N+1 groups, then the table over the cursor row in full."""

    DEFAULT_CSS = """
    InsideView > #n-plus-one { height: auto; max-height: 6; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(InsideTable(), banner=Static(id="n-plus-one"), id=id)

    @property
    def inside_table(self) -> InsideTable:
        assert isinstance(self.table, InsideTable)
        return self.table

    def show(self, exchange: Exchange | None, threshold: int = inside.DEFAULT_N_PLUS_ONE
             ) -> None:
        """Show ``exchange`` with the statements run ``threshold`` times or more flagged."""
        self.inside_table.threshold = threshold
        super().show(exchange)
        lines = banner_lines(self.inside_table.repeats)
        assert isinstance(self.banner, Static)
        self.banner.update(Text("\n").join(lines))
        self.banner.display = bool(lines)


# the cursor row in full ----------------------------------------------------------------------

def detail_lines(item: Inside) -> list[Text]:
    """A call, query or span in full: what it was, when, where the app made it, then its
    headers and bodies, statement and parameters, or attributes."""
    if isinstance(item, OutboundCall):
        return _call_lines(item)
    if isinstance(item, Query):
        return _query_lines(item)
    return _span_lines(item)


def _label(label: str, value: str, style: str = "") -> Text:
    line = Text(f"{label:<10} ", style="bold", no_wrap=True, end="")
    line.append_text(data_text(value, style))
    return line


def _heading(text: str) -> Text:
    return Text(text, style="bold", no_wrap=True, end="")


def _times(item: Inside) -> str:
    """``+1.2ms → +13.2ms, 12.0ms``: from the exchange's start."""
    end = f"+{format_duration(item.t_end)}" if item.t_end is not None else "still running"
    return f"+{format_duration(item.t_start)} → {end}" + (
        f", {took(item)}" if item.t_end is not None else "")


def _common(item: Inside, library: str = "") -> list[Text]:
    """What every kind has: the library, when, where it was made, the error."""
    lines = [_label("library", library or item.library or "—"), _label("when", _times(item))]
    location = getattr(item, "location", "")
    if location:
        lines.append(_label("made at", location))
    if item.error:
        lines.append(_label("error", item.error, "bold red"))
    return lines


def _call_lines(call: OutboundCall) -> list[Text]:
    status = f" → {call.status}" if call.status is not None else ""
    version = f" ({call.http_version})" if call.http_version else ""
    lines = [data_text(f"{call.method} {call.url}{status}{version}",
                       "bold red" if failed(call) else "bold"), *_common(call)]
    if call.t_first_byte is not None:
        lines.append(_label("first byte", f"+{format_duration(call.t_first_byte)}"))
    if call.mocked:
        lines.append(_label("mocked", "answered from a recording, not the network", "yellow"))
    lines += _message_lines("request", call.request_headers, call.request_body,
                            call.request_size)
    lines += _message_lines("response", call.response_headers, call.response_body,
                            call.response_size)
    return lines


def _message_lines(what: str, headers: Any, body: Any, size: int | None) -> list[Text]:
    """One direction of a call: its headers, then its body decoded and laid out."""
    pairs = header_pairs(headers)
    lines = [Text(""), _heading(f"{what} headers" if pairs else f"{what} headers: none")]
    lines += [data_text(f"  {field_text(name)}: {field_text(value)}") for name, value in pairs]
    if not isinstance(body, bytes):
        if body is not None:  # redacted or crafted: what was kept, as a value
            lines += [_heading(f"{what} body"), data_text(f"  {value_text(body)}")]
        return lines
    decoded = decoded_body(body, pairs, size)
    kept = f", {format_size(len(body))} kept" if size is not None and size > len(body) else ""
    lines.append(_heading(f"{what} body ({format_size(max(size or 0, len(body)))}{kept})"
                          if body else f"{what} body: empty"))
    if decoded.note:
        lines.append(data_text(f"  {decoded.note}", "dim"))
    content_type = header(pairs, b"content-type") or b""
    rendered = render_body(decoded.data, content_type.decode("latin-1"))
    lines += [Text(f"  {line}", no_wrap=True, end="") for line in rendered.lines]
    return lines


def _query_lines(query: Query) -> list[Text]:
    database = f"{query.library or '—'} ({query.database})" if query.database else ""
    lines = [_heading("statement"),
             *(data_text(f"  {line}", "bold red" if query.error else "")
               for line in statement_lines(query.statement)),
             Text(""), *_common(query, database)]
    if query.rows is not None:
        lines.append(_label("rows", f"{query.rows:,}"))
    if query.many:
        lines.append(_label("many", f"run for {plural(query.many, 'parameter set')}"))
    lines += [Text(""), *_values("parameters", query.parameters)]
    return lines


def _span_lines(span: Span) -> list[Text]:
    lines = [data_text(span.name, "bold red" if failed(span) else "bold"), *_common(span),
             _label("kind", span.span_kind)]
    if span.status:
        lines.append(_label("status", span.status, "bold red" if span.status == "error" else ""))
    for label, value in (("trace", span.trace_id), ("span", span.span_id),
                         ("parent", span.parent_id)):
        if value:
            lines.append(_label(label, value, "dim"))
    return [*lines, Text(""), *_values("attributes", span.attributes)]


def _values(what: str, values: Any) -> list[Text]:
    """Parameters or attributes: one per line, by position or by name."""
    if values is None or values == [] or values == {}:
        return [_heading(f"{what}: none")]
    if isinstance(values, dict):
        entries = [(field_text(key), value) for key, value in values.items()]
    elif isinstance(values, (list, tuple)):
        entries = [(f"[{i}]", value) for i, value in enumerate(values)]
    else:
        return [_heading(what), data_text(f"  {value_text(values)}")]
    return [_heading(what),
            *(data_text(f"  {key}: {value_text(value)}") for key, value in entries)]


# A clause that starts a line of its own, matched outside quotes (a literal's text stays put).
_CLAUSE = re.compile(
    r"'(?:[^']|'')*'|\"[^\"]*\"|\b(?:(?:LEFT|RIGHT|FULL|INNER|CROSS)\s+(?:OUTER\s+)?JOIN|JOIN"
    r"|FROM|WHERE|GROUP\s+BY|ORDER\s+BY|HAVING|LIMIT|OFFSET|VALUES|SET|RETURNING"
    r"|UNION(?:\s+ALL)?|ON\s+CONFLICT)\b", re.IGNORECASE)


def statement_lines(statement: str) -> list[str]:
    """A statement laid out to read: as written when it has lines of its own, else one clause
    a line (``FROM``, ``WHERE``, ``JOIN``, ``ORDER BY``...)."""
    text = statement.strip()
    if "\n" in text:
        return text.expandtabs(4).splitlines()
    text = " ".join(text.split())
    lines, start = [], 0
    for match in _CLAUSE.finditer(text):
        if match.group()[:1] in ("'", '"') or match.start() == 0:
            continue
        lines.append(text[start:match.start()].rstrip())
        start = match.start()
    lines.append(text[start:])
    return [line for line in lines if line]
