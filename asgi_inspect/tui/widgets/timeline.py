"""The Messages tab (every receive/send with timings and a waterfall) and the WebSocket frames.

Both are a line-API table of the selected exchange's events over a panel that shows the
cursor row in full; both re-render only what is on screen when the exchange grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget

from asgi_inspect import lenses
from asgi_inspect.model import Event, Exchange
from asgi_inspect.text import decode, printable
from asgi_inspect.tui.bodies import hex_dump, render_body
from asgi_inspect.tui.formatting import field_text
from asgi_inspect.tui.widgets.lines import Column, ColumnHeader, LineTable, TextLines, fit
from asgi_inspect.units import format_duration, format_size, plural
from asgi_inspect.values import value_text

PREVIEW_BYTES = 4096  # of a payload shown in the message panel
HEX_PREVIEW_BYTES = 16  # of a binary frame shown in its row


def payload(event: Event) -> bytes | str | None:
    """The body, bytes or text an event carries, if any."""
    message = event.message if isinstance(event.message, dict) else {}
    for key in ("body", "bytes", "text"):
        value = message.get(key)
        if isinstance(value, (bytes, str)):
            return value
    return None


def payload_size(event: Event) -> int | None:
    """The payload's original size (before the recorder's cap)."""
    data = payload(event)
    if data is None:
        return None
    return event.size if event.size is not None else len(data)


def message_lines(event: Event) -> list[str]:
    """An event's message snapshot as readable, printable lines."""
    lines = [f"{event.direction} {printable(event.type)}  status={event.status}"
             + ("  (after the app returned)" if event.late else "")]
    if event.error:
        lines.append(f"error: {printable(event.error)}")
    message = event.message
    if not isinstance(message, dict):
        return [*lines, printable(value_text(message))]
    for key, value in message.items():
        if key != "type":
            lines.extend(_field_lines(printable(field_text(key)), value, event))
    return lines


def _field_lines(key: str, value: Any, event: Event) -> list[str]:
    if key == "headers" and isinstance(value, list):
        return [f"{key}:"] + [f"  {_header_line(pair)}" for pair in value]
    if isinstance(value, str) and len(value) <= 200 and "\n" not in value:
        return [f"{key}: {printable(value_text(value))}"]
    if isinstance(value, (bytes, str)):
        size = event.size if event.size is not None else len(value)
        note = f"{size:,} {'bytes' if isinstance(value, bytes) else 'chars'}"
        if event.size is not None:
            note += f", kept {len(value):,}"
        head = value[:PREVIEW_BYTES]
        preview = decode(head) if isinstance(head, bytes) else head
        body = [f"  {printable(line)}" for line in preview.splitlines()]
        more = ["  …"] if len(value) > PREVIEW_BYTES else []
        return [f"{key}: ({note})", *body, *more]
    return [f"{key}: {printable(value_text(value))}"]


def _header_line(pair: Any) -> str:
    if isinstance(pair, (list, tuple)) and len(pair) == 2:
        return f"{printable(field_text(pair[0]))}: {printable(field_text(pair[1]))}"
    return printable(value_text(pair))


class DetailTable(LineTable):
    """Rows about one exchange whose cursor row :class:`RowsWithDetail` shows in full below."""

    def show(self, exchange: Exchange | None) -> None:
        raise NotImplementedError

    @property
    def current(self) -> Any:
        """What the cursor row is about (None when there are no rows)."""
        raise NotImplementedError

    def detail_lines(self, item: Any) -> Sequence[str | Text]:
        """The cursor row in full, for the panel below the table (already printable)."""
        raise NotImplementedError


class EventTable(DetailTable):
    """A table over some of the events of one exchange."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "event-table--receive", "event-table--send", "event-table--bad",
        "event-table--dim",
    }
    DEFAULT_CSS = """
    EventTable {
        & > .event-table--receive { color: $text-accent; }
        & > .event-table--send { color: $text-success; }
        & > .event-table--bad { color: $text-error; text-style: bold; }
        & > .event-table--dim { color: $text-muted; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.exchange: Exchange | None = None
        self.events: list[tuple[int, Event]] = []  # (index in exchange.events, event)

    def select_events(self, exchange: Exchange) -> list[tuple[int, Event]]:
        return list(enumerate(exchange.events))

    def show(self, exchange: Exchange | None) -> None:
        """Show ``exchange``'s events; the cursor stays put when it is the same exchange."""
        same = exchange is not None and exchange is self.exchange
        self.exchange = exchange
        self.events = self.select_events(exchange) if exchange is not None else []
        self.update_size()
        if not same:
            self.cursor = 0
            self.scroll_to(0, 0, animate=False)
        self.refresh_rows()

    @property
    def row_count(self) -> int:
        return len(self.events)

    @property
    def current(self) -> Event | None:
        return self.events[self.cursor][1] if 0 <= self.cursor < len(self.events) else None

    def detail_lines(self, event: Event) -> list[str]:
        return message_lines(event)

    def cell(self, index: int, name: str) -> tuple[str, Style]:
        """The columns both tables have; the others come from :meth:`own_cell`."""
        number, event = self.events[index]
        if name == "n":
            return str(number), self.component_style("event-table--dim")
        if name == "dir":
            return self.direction_cell(event)
        if name == "t":
            return format_duration(self.time_of(event)), Style()
        if name == "size":
            return format_size(payload_size(event)), Style()
        return self.own_cell(event, name)

    def own_cell(self, event: Event, name: str) -> tuple[str, Style]:
        raise NotImplementedError

    def time_of(self, event: Event) -> int:
        """The ``at`` column: when the app called ``receive()`` or ``send()``."""
        return event.t_call

    def direction_cell(self, event: Event) -> tuple[str, Style]:
        if event.direction == "receive":
            return "→", self.component_style("event-table--receive")
        return "←", self.component_style("event-table--send")

    def status_style(self, event: Event) -> Style:
        if event.status in ("raised", "cancelled"):
            return self.component_style("event-table--bad")
        return Style()


class EventTimeline(EventTable):
    """Every receive() and send(): offset, await time, status, size and a waterfall bar."""

    COLUMNS: ClassVar[tuple[Column, ...]] = (
        ("n", "#", 4, True), ("dir", "", 1, False), ("type", "type", 26, False),
        ("t", "at", 8, True), ("wait", "await", 8, True), ("status", "status", 9, False),
        ("size", "size", 8, True), ("bar", "waterfall", 0, False))
    DROP_ORDER: ClassVar[tuple[str, ...]] = ("size", "wait", "status")

    def own_cell(self, event: Event, name: str) -> tuple[str, Style]:
        if name == "type":
            return printable(event.type), self.status_style(event)
        if name == "wait":
            wait = event.wait_ns
            return ("…" if wait is None else format_duration(wait)), Style()
        return event.status + (" late" if event.late else ""), self.status_style(event)

    def render_cell(self, index: int, name: str, width: int, right: bool, base: Style,
                    selected: bool) -> list[Segment]:
        if name != "bar":
            return super().render_cell(index, name, width, right, base, selected)
        event = self.events[index][1]
        style = base + (self.status_style(event) if event.status != "ok"
                        else self.direction_cell(event)[1])
        return bar_segments(event.t_call, event.t_return, self.span_ns(), width, base, style)

    def span_ns(self) -> int:
        return time_axis(self.exchange) if self.exchange is not None else 1


def time_axis(exchange: Exchange) -> int:
    """The time the waterfall bars are scaled to, from the exchange's start (the Messages and
    the Inside tabs share it): until the app returned, or the last thing recorded so far (work
    after the response, a call still running when the app returned)."""
    inside = max((item.t_end or item.t_start for item in exchange.inside), default=0)
    return max(exchange.ended_ns or 0, exchange.last_event_ns, inside, 1)


def bar_segments(t_start: int, t_end: int | None, span_ns: int, width: int, base: Style,
                 style: Style) -> list[Segment]:
    """A waterfall cell ``width`` wide: the bar from ``t_start`` to ``t_end`` in ``style``."""
    start, length = bar_span(t_start, t_end, span_ns, width)
    return [Segment(" " * start, base), Segment("█" * length, style),
            Segment(" " * (width - start - length), base)]


def bar_span(t_start: int, t_end: int | None, span_ns: int, width: int) -> tuple[int, int]:
    """Where a bar from ``t_start`` to ``t_end`` (None: still running) starts and how long it
    is, in cells (at least one)."""
    end = t_end if t_end is not None else span_ns
    # within the span: a crafted trace's times may lie outside it, or past what a float holds
    t_call, end = (min(max(t, 0), span_ns) for t in (t_start, end))
    start = min(int(t_call * width / span_ns), width - 1)
    stop = min(max(int(end * width / span_ns + 0.999), start + 1), width)
    return start, stop - start


_FRAME_TYPES = frozenset({
    "websocket.accept", "websocket.receive", "websocket.send", "websocket.close",
    "websocket.disconnect", "websocket.http.response.start", "websocket.http.response.body",
})


_LENS_STYLE = Style(bold=True)


class FrameTable(EventTable):
    """WebSocket frames: direction, text/binary, size, a preview; close codes and reasons.

    In the order they went through (``frame_time``), not the order the app asked for them: a
    ``receive()`` may wait long for the frame it returns.
    """

    COLUMNS: ClassVar[tuple[Column, ...]] = (
        ("n", "#", 4, True), ("dir", "", 1, False), ("kind", "frame", 10, False),
        ("size", "size", 8, True), ("t", "at", 8, True), ("preview", "content", 0, False))
    DROP_ORDER: ClassVar[tuple[str, ...]] = ("t",)

    def select_events(self, exchange: Exchange) -> list[tuple[int, Event]]:
        frames = [(i, e) for i, e in enumerate(exchange.events) if e.type in _FRAME_TYPES]
        return sorted(frames, key=lambda frame: frame_time(frame[1]))

    def time_of(self, event: Event) -> int:
        return frame_time(event)

    def detail_lines(self, event: Event) -> list[str]:
        data = payload(event)
        if data is None:
            return message_lines(event)
        return render_body(data.encode() if isinstance(data, str) else data, "").lines

    def own_cell(self, event: Event, name: str) -> tuple[str, Style]:
        if name == "kind":
            return frame_kind(event), self.status_style(event)
        label = lenses.frame_label(self.exchange, event) if self.exchange is not None else None
        if label:  # the subprotocol's reading first (``42 event "chat"``), then the raw frame
            return fit(f"{printable(label)}  ·  {frame_preview(event)}", 400), _LENS_STYLE
        return fit(frame_preview(event), 400), Style()


def frame_time(event: Event) -> int:
    """When a frame went through: a received one when ``receive()`` returned it to the app
    (it had arrived), a sent one when ``send()`` returned (the server had taken it)."""
    return event.t_return if event.t_return is not None else event.t_call


def frame_kind(event: Event) -> str:
    data = payload(event)
    if isinstance(data, str):
        return "text"
    if isinstance(data, bytes):
        return "binary"
    return printable(event.type.removeprefix("websocket.").removeprefix("http.response."))


def frame_preview(event: Event) -> str:
    """One line about the frame: its content, or the close code and reason."""
    message = event.message if isinstance(event.message, dict) else {}
    data = payload(event)
    if isinstance(data, str):
        return printable(data[:PREVIEW_BYTES])
    if isinstance(data, bytes):
        return binary_preview(data)
    if event.type in ("websocket.close", "websocket.disconnect"):
        code, reason = message.get("code", 1000), message.get("reason") or ""
        return printable(f"code {field_text(code)}"
                         + (f"  {field_text(reason)}" if reason else ""))
    if event.type == "websocket.accept" and message.get("subprotocol"):
        return printable(f"subprotocol {field_text(message['subprotocol'])}")
    return ""


def binary_preview(data: bytes) -> str:
    """A binary frame's first bytes as ``hexdump -C`` shows them (hex, then ``|ascii|``), never
    as text: ``00 01 02 ff`` is not ``\\x00\\x01\\x02ÿ``."""
    head = hex_dump(data[:HEX_PREVIEW_BYTES], width=HEX_PREVIEW_BYTES)
    if not head:
        return "(empty)"
    line = head[0].split("  ", 1)[1]  # without the offset column
    return line + (f"  +{plural(len(data) - HEX_PREVIEW_BYTES, 'byte')}"
                   if len(data) > HEX_PREVIEW_BYTES else "")


class RowsWithDetail(Vertical):
    """A table over a panel showing the cursor row in full (under a ``banner``, if any)."""

    DEFAULT_CSS = """
    RowsWithDetail {
        & > DetailTable { height: 2fr; scrollbar-gutter: stable; }
        & > TextLines { height: 1fr; border-top: solid $border-blurred; }
    }
    """

    def __init__(self, table: DetailTable, *, banner: Widget | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.table = table
        self.banner = banner
        self.panel = TextLines()
        self._shown: object | None = None  # the row the panel shows

    def compose(self) -> ComposeResult:
        if self.banner is not None:
            yield self.banner
        yield ColumnHeader(self.table)
        yield self.table
        yield self.panel

    def show(self, exchange: Exchange | None) -> None:
        self.table.show(exchange)
        self.show_current()

    def on_line_table_highlighted(self, message: LineTable.Highlighted) -> None:
        message.stop()
        self.show_current()

    def show_current(self) -> None:
        item = self.table.current
        same = item is not None and item is self._shown
        self._shown = item
        self.panel.set_lines(self.table.detail_lines(item) if item is not None else [],
                             keep_scroll=same)
