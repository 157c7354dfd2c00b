"""The live list of exchanges: a line-API virtual list that stays fluid at 100k+ rows.

Per exchange it keeps one compact summary tuple of atoms (the GC does not track those), the
filter is a sorted list of row numbers, column widths are computed from the width alone, and
rendered rows are cached by their summary. New exchanges arrive in one batch per poll
(:meth:`ExchangeList.sync`); nothing here is per-exchange work on the UI thread beyond one tuple.
What the protocol lenses read of an exchange (its operation, a failure its protocol reports),
and what it did inside (``3q 1c``, an N+1), are added to its row when the row is first drawn:
reading every arriving exchange took a tenth of the inspector's CPU in a flood, for rows
nobody saw. The inside column shows once an exchange with something inside has arrived.
"""

from __future__ import annotations

import textwrap
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Final

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.reactive import var
from textual.strip import Strip

from asgi_inspect import inside, lenses
from asgi_inspect.model import Exchange, running_ns
from asgi_inspect.store.view import ORDER_KEYS, View
from asgi_inspect.text import printable
from asgi_inspect.tui.formatting import clock
from asgi_inspect.tui.widgets.lines import Column, ColumnHeader, LineTable, cells, fit, fit_columns
from asgi_inspect.units import format_duration, format_size

# A row: (id, started_at, method, path, status, duration_ns, size, kind, flags, comment,
# operation, inside): the operation is what a protocol lens named (``query GetItems``), inside
# the counts of what the app did inside (``3q 1c``).
Row = tuple[str, float, str, str, int | None, int | None, int, str, int, str, str, str]
# Its fields' indices: Final, so the type checker knows each field's type at row[INDEX].
ID: Final = 0
STARTED: Final = 1
METHOD: Final = 2
PATH: Final = 3
STATUS: Final = 4
DURATION: Final = 5
SIZE: Final = 6
KIND: Final = 7
FLAGS: Final = 8
COMMENT: Final = 9
OPERATION: Final = 10
INSIDE: Final = 11
# The bits of row[FLAGS].
LIVE: Final = 1
REPLAY: Final = 2
MARKED: Final = 4
FAILED: Final = 8
NO_RESPONSE: Final = 16  # the app returned without starting a response
READ: Final = 32  # what is read when drawn (OPERATION, INSIDE and their flags) is filled in
N_PLUS_ONE: Final = 64  # a statement ran the list's threshold times or more
INSIDE_FAILED: Final = 128  # a call, query or span inside failed

CLOCK_INTERVAL: Final = 1.0  # seconds between two ticks of the open rows' running clocks
_KINDS = {"http": "http", "websocket": "ws", "lifespan": "lifespan"}
_FAILED_OUTCOMES = frozenset({"exception", "no_response", "incomplete", "cancelled"})


def summarize(exchange: Exchange) -> Row:
    """The row of ``exchange``: everything the list shows, as atoms, but for what is read when
    the row is drawn (:func:`read_drawn` adds it)."""
    outcome = exchange.outcome
    flags = ((LIVE if outcome == "streaming" else 0) | (REPLAY if exchange.replay_of else 0)
             | (MARKED if exchange.marked else 0)
             | (FAILED if outcome in _FAILED_OUTCOMES else 0)
             | (NO_RESPONSE if outcome == "no_response" else 0))
    size = exchange.response.bytes
    if exchange.type == "websocket":
        size += exchange.request.bytes
    return (exchange.id, exchange.started_at, printable(exchange.method), printable(exchange.label),
            exchange.status, exchange.duration_ns, size,
            _KINDS.get(exchange.type, printable(exchange.type)), flags,
            printable(exchange.comment), "", "")


def read_drawn(row: Row, exchange: Exchange | None,
               n_plus_one: int = inside.DEFAULT_N_PLUS_ONE) -> Row:
    """``row`` with what is read of ``exchange`` when it is drawn (None: it is gone from the
    store, nothing to read): the operation the protocol lenses name, FAILED when its protocol
    reports an error, and the counts of what it did inside, flagged when a statement ran
    ``n_plus_one`` times or more, or something inside failed."""
    ident, started, method, path, status, duration, size, kind, flags, comment, _, _ = row
    operation = counts = ""
    if exchange is not None:
        operation = printable(lenses.operation(exchange))
        flags |= FAILED if lenses.error(exchange) else 0
        if exchange.inside:
            found = inside.totals(exchange)
            counts = inside.counts(found)
            flags |= ((N_PLUS_ONE if inside.repeated(exchange, n_plus_one) else 0)
                      | (INSIDE_FAILED if found.errors else 0))
    return (ident, started, method, path, status, duration, size, kind, flags | READ, comment,
            operation, counts)


def inside_text(row: Row) -> str:
    """The inside column: ``3q 1c``, ``!12q 1c`` when a statement ran as an N+1."""
    return ("!" if row[FLAGS] & N_PLUS_ONE else "") + row[INSIDE]


def status_text(row: Row) -> str:
    """The status the client got (``Exchange.status``: a server's 500 for an app that raised
    included), then a mark: ``✗`` the exchange failed, ``∅`` the app sent no response."""
    status, flags = row[STATUS], row[FLAGS]
    text = str(status) if status is not None else "…" if flags & LIVE else "—"
    mark = "∅" if flags & NO_RESPONSE else "✗" if flags & FAILED else " "
    return f"{text:>3}{mark}"


def running(row: Row) -> bool:
    """Whether the row's response is still open: its duration is a running clock."""
    return row[DURATION] is None and bool(row[FLAGS] & LIVE)


def status_class(row: Row) -> str:
    status = row[STATUS]
    if status is None:
        return "err" if row[FLAGS] & FAILED else "dim"
    return f"s{min(max(status // 100, 1), 5)}"


_METHOD_CLASSES = {"GET": "get", "HEAD": "get", "POST": "post", "PUT": "put", "PATCH": "put",
                   "DELETE": "delete", "WS": "ws"}


class ExchangeList(LineTable):
    """The exchanges a :class:`View` shows, in its order, with follow mode (cursor on the
    newest)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "exchange-list--dim", "exchange-list--err", "exchange-list--s1", "exchange-list--s2",
        "exchange-list--s3", "exchange-list--s4", "exchange-list--s5", "exchange-list--get",
        "exchange-list--post", "exchange-list--put", "exchange-list--delete",
        "exchange-list--ws", "exchange-list--live", "exchange-list--replay",
        "exchange-list--marked", "exchange-list--op", "exchange-list--n-plus-one",
    }
    DEFAULT_CSS = """
    ExchangeList {
        & > .exchange-list--dim { color: $text-muted; }
        & > .exchange-list--err { color: $text-error; text-style: bold; }
        & > .exchange-list--s1 { color: $text-accent; }
        & > .exchange-list--s2 { color: $text-success; }
        & > .exchange-list--s3 { color: $text-secondary; }
        & > .exchange-list--s4 { color: $text-warning; }
        & > .exchange-list--s5 { color: $text-error; text-style: bold; }
        & > .exchange-list--get { color: $text-primary; }
        & > .exchange-list--post { color: $text-success; }
        & > .exchange-list--put { color: $text-warning; }
        & > .exchange-list--delete { color: $text-error; }
        & > .exchange-list--ws { color: $text-accent; }
        & > .exchange-list--live { color: $text-accent; }
        & > .exchange-list--replay { color: $text-secondary; }
        & > .exchange-list--marked { color: $text-warning; text-style: bold; }
        & > .exchange-list--op { color: $text-accent; text-style: italic; }
        & > .exchange-list--n-plus-one { color: $text-warning; text-style: bold; }
    }
    """

    COLUMNS: ClassVar[tuple[Column, ...]] = (
        ("flags", "", 3, False), ("time", "time", 12, False), ("method", "method", 7, False),
        ("status", "st", 4, True), ("path", "path", 0, False),
        ("duration", "duration", 8, True), ("inside", "inside", 10, False),
        ("size", "size", 8, True), ("kind", "type", 8, False))
    # Without calls or queries recorded (listen, a trace of version 1) the column is not shown.
    PLAIN_COLUMNS: ClassVar[tuple[Column, ...]] = tuple(c for c in COLUMNS if c[0] != "inside")
    DROP_ORDER: ClassVar[tuple[str, ...]] = ("inside", "kind", "time", "size")
    MIN_FLEX: ClassVar[int] = 26  # the path: at 80 columns the type column gives way to it

    follow: var[bool] = var(True)
    """Keep the cursor on the newest exchange; off as soon as the user moves or scrolls up."""

    def __init__(self, view: View, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = view
        self.store = view.store
        self._rows: list[Row] = []
        self._base = 0  # row number of _rows[0]; rows are numbered in arrival order
        self.empty_hint = ""  # shown while nothing has arrived (listen: how to connect)
        self._number: dict[str, int] = {}
        # Row numbers of the shown exchanges, in the view's order: ascending (arrival order),
        # or ascending by _keys[number] when the view is ordered by something else.
        self._shown: list[int] = []
        self._keys: dict[int, tuple[Any, int]] = {}
        self.new_below = 0  # exchanges shown since follow went off
        # The clock open rows' durations run on (unix seconds); None for a trace that no
        # longer grows (a file), whose open rows show "…".
        self.now: Callable[[], float] | None = None
        self.n_plus_one = inside.DEFAULT_N_PLUS_ONE  # a statement run this often: an N+1
        self.has_inside = False  # an exchange with calls, queries or spans has arrived

    def on_mount(self) -> None:
        self.set_interval(CLOCK_INTERVAL, self.tick_clocks)

    def tick_clocks(self) -> None:
        """Redraw the open rows on screen, so that their running clocks move (only those:
        idle, this costs nothing)."""
        if self.now is None:
            return
        top = self.scroll_offset.y
        for index in range(top, min(top + self.size.height, len(self._shown))):
            if running(self.row(index)):
                self.refresh_row(index)

    def render_line(self, y: int) -> Strip:
        """The rows; while there are none yet, ``empty_hint`` (dim, wrapped, from line 2)."""
        if self._rows or not self.empty_hint:
            return super().render_line(y)
        width = self.scrollable_content_region.width
        lines = textwrap.wrap(printable(self.empty_hint), max(width - 2, 10))
        text = lines[y - 1] if 0 < y <= len(lines) else ""
        style = self.rich_style + self.get_component_rich_style("exchange-list--dim")
        return Strip([Segment(f" {text}", style)]).adjust_cell_length(width, self.rich_style)

    # data ----------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._shown)

    @property
    def total(self) -> int:
        return len(self._rows)

    def row(self, index: int) -> Row:
        """The row shown at ``index``; the lenses read its exchange the first time it is asked
        for (drawn, mostly), not as it arrives."""
        at = self._shown[index] - self._base
        row = self._rows[at]
        if not row[FLAGS] & READ:
            row = self._rows[at] = read_drawn(row, self.store.get(row[ID]), self.n_plus_one)
        return row

    def fitted_columns(self, width: int) -> tuple[Column, ...]:
        columns = self.COLUMNS if self.has_inside else self.PLAIN_COLUMNS
        return fit_columns(columns, self.DROP_ORDER, width, self.MIN_FLEX)

    def _saw_inside(self, exchange: Exchange) -> None:
        """Show the inside column (and its title) from the first exchange that has any."""
        if self.has_inside or not exchange.inside:
            return
        self.has_inside = True
        self._strips.clear()
        if self.parent is not None:
            for header in self.parent.query(ColumnHeader):
                header.refresh()

    def row_key(self, index: int) -> Row | None:
        """Rows are cached by their summary, but a running clock changes without one."""
        row = self.row(index)
        return None if self.now is not None and running(row) else row

    @property
    def selected_id(self) -> str | None:
        return self.row(self.cursor)[ID] if 0 <= self.cursor < len(self._shown) else None

    @property
    def selected(self) -> Exchange | None:
        return self.store.get(self.selected_id)

    @property
    def _ordered(self) -> bool:
        return self.view.order != "time"

    def _sort_key(self, exchange: Exchange, number: int) -> tuple[Any, int]:
        return ORDER_KEYS[self.view.order](exchange), number

    def _position(self, number: int) -> tuple[int, bool]:
        """Where row ``number`` is (or would go) in the shown rows, and whether it is there."""
        shown = self._shown
        if self._ordered:
            key = self._keys.get(number)
            if key is None:
                return len(shown), False
            at = bisect_left(shown, key, key=self._keys.__getitem__)
        else:
            at = bisect_left(shown, number)
        return at, at < len(shown) and shown[at] == number

    # live updates --------------------------------------------------------------------------

    def sync(self, changes: Iterable[str]) -> None:
        """Apply the store's changed ids: new rows, updated and removed ones.

        The cursor may move (follow mode, a removed row) without a ``Highlighted`` message:
        the caller looks at :attr:`selected_id` after the call.
        """
        exchanges = self.store.exchanges
        numbers = self._number
        gone = {i for i in changes if i in numbers and i not in exchanges}
        fresh = [i for i in changes if i not in numbers and i in exchanges]
        updated = [i for i in changes if i in numbers and i not in gone]
        if not (gone or fresh or updated):
            return
        selected = self.selected_id
        shown_before = len(self._shown)
        if gone:
            self._remove(gone)
        moved = [self._update(exchanges[i]) for i in updated].count(True) > 0
        added = self._append(self._arrival_order(fresh)) if fresh else 0
        self.update_size()
        if gone or moved or len(self._shown) != shown_before:
            self._reselect(selected)
        if added and not self.follow:
            self.new_below += added
        if self.follow:
            self.move_cursor(len(self._shown) - 1, announce=False)
        self.refresh_rows()

    def _arrival_order(self, fresh: list[str]) -> list[str]:
        """New ids in the store's order: they are its last entries, so look from the end."""
        if len(fresh) == 1:
            return fresh
        wanted, found = set(fresh), []
        for key in reversed(self.store.exchanges):
            if key in wanted:
                found.append(key)
                if len(found) == len(wanted):
                    break
        found.reverse()
        return found

    def _append(self, ids: list[str]) -> int:
        exchanges, rows, shown = self.store.exchanges, self._rows, self._shown
        matches, ordered = self.view.matches, self._ordered
        before = len(shown)
        for exchange_id in ids:
            exchange = exchanges[exchange_id]
            number = self._base + len(rows)
            rows.append(summarize(exchange))
            self._saw_inside(exchange)
            self._number[exchange_id] = number
            if matches(exchange):
                if ordered:
                    self._keys[number] = self._sort_key(exchange, number)
                    shown.insert(self._position(number)[0], number)
                else:
                    shown.append(number)
        return len(shown) - before

    def _update(self, exchange: Exchange) -> bool:
        """Refresh one row; True when it entered, left or moved within the shown rows."""
        number = self._number[exchange.id]
        self._rows[number - self._base] = summarize(exchange)
        self._saw_inside(exchange)
        ordered = self._ordered
        if not self.view.filtered and not ordered:
            return False
        at, present = self._position(number)
        wanted = self.view.matches(exchange)
        if ordered:
            key = self._sort_key(exchange, number)
            if present == wanted and (not present or key == self._keys[number]):
                return False
            if present:
                del self._shown[at]
            self._keys.pop(number, None)
            if wanted:
                self._keys[number] = key
                self._shown.insert(self._position(number)[0], number)
            return True
        if wanted == present:
            return False
        if present:
            del self._shown[at]
        else:
            self._shown.insert(at, number)
        return True

    def _remove(self, gone: set[str]) -> None:
        numbers = sorted(self._number.pop(i) for i in gone)
        base = self._base
        for number in numbers:
            self._keys.pop(number, None)
        if numbers[-1] - base == len(numbers) - 1 and not self._ordered:
            # the oldest ones (eviction): cheap
            del self._rows[: len(numbers)]
            self._base = base + len(numbers)
            del self._shown[: bisect_left(self._shown, self._base)]
            return
        old_rows = self._rows
        self._rows = [r for r in old_rows if r[ID] not in gone]
        self._number = {r[ID]: base + i for i, r in enumerate(self._rows)}
        ids = [old_rows[n - base][ID] for n in self._shown]
        self._shown = [self._number[i] for i in ids if i not in gone]
        if self._ordered:  # the row numbers changed: so did the keys' tie-breakers
            self._keys = {n: (self._keys_of(n)) for n in self._shown}

    def _keys_of(self, number: int) -> tuple[Any, int]:
        return self._sort_key(self.store.exchanges[self._rows[number - self._base][ID]], number)

    def _reselect(self, selected: str | None) -> None:
        """Keep the cursor on the same exchange, or where it was if that one is gone."""
        number = self._number.get(selected) if selected is not None else None
        if number is None:
            self.cursor = max(0, min(self.cursor, len(self._shown) - 1))
        else:
            at = self._position(number)[0]
            self.cursor = max(0, min(at, len(self._shown) - 1))
        self.scroll_to_row(self.cursor)

    # filtering and order -------------------------------------------------------------------

    def refilter(self) -> None:
        """Show what the view now selects (after its filter, marked-only or order changed).

        Like :meth:`sync`, it may move the cursor without a ``Highlighted`` message.
        """
        selected = self.selected_id
        self._keys = {}
        if not self.view.filtered and not self._ordered:
            self._shown = list(range(self._base, self._base + len(self._rows)))
        else:
            self._shown = self._select()
        self.update_size()
        self._reselect(selected)
        if self.follow:
            self.move_cursor(len(self._shown) - 1, announce=False)
        self.refresh_rows()

    def _select(self) -> list[int]:
        """Row numbers of the exchanges the view shows, in its order.

        The store's dict is in arrival order like the rows, so the filter engine runs over it
        in one pass; exchanges it holds that the list has not taken in yet are skipped (the
        next :meth:`sync` takes them in).
        """
        view, number = self.view, self._number
        exchanges: Iterable[Exchange] = self.store
        if view.marked_only:
            exchanges = [e for e in exchanges if e.marked]
        matched = exchanges if view.filter is None else view.filter.select(exchanges)
        if not self._ordered:
            return sorted([number[e.id] for e in matched if e.id in number])  # sorted: O(n)
        keys = self._keys = {number[e.id]: self._sort_key(e, number[e.id])
                             for e in matched if e.id in number}
        return sorted(keys, key=keys.__getitem__)

    # follow --------------------------------------------------------------------------------

    def move_cursor(self, index: int, *, announce: bool = True) -> None:
        super().move_cursor(index, announce=announce)
        self.follow = self.cursor >= len(self._shown) - 1

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self.new_below = 0
            if self._shown and self.cursor != len(self._shown) - 1:
                self.move_cursor(len(self._shown) - 1)

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.follow = False

    # rendering -----------------------------------------------------------------------------

    def render_cell(self, index: int, name: str, width: int, right: bool, base: Style,
                    selected: bool) -> list[Segment]:
        if name == "flags":
            return self._flags(self.row(index), base, selected)
        if name == "path":
            return self._path(self.row(index), width, base, selected)
        return super().render_cell(index, name, width, right, base, selected)

    def cell(self, index: int, name: str) -> tuple[str, Style]:
        row = self.row(index)
        style = self.component_style
        if name == "time":
            return clock(row[STARTED]), style("exchange-list--dim")
        if name == "method":
            method = row[METHOD]
            return method, style(f"exchange-list--{_METHOD_CLASSES.get(method, 'dim')}")
        if name == "status":
            return status_text(row), style(f"exchange-list--{status_class(row)}")
        if name == "duration":
            return self._duration(row), Style()
        if name == "size":
            return format_size(row[SIZE]), Style()
        if name == "inside":
            return inside_text(row), self._inside_style(row)
        return row[KIND], style("exchange-list--dim")

    def _inside_style(self, row: Row) -> Style:
        if row[FLAGS] & INSIDE_FAILED:
            return self.component_style("exchange-list--err")
        if row[FLAGS] & N_PLUS_ONE:
            return self.component_style("exchange-list--n-plus-one")
        return self.component_style("exchange-list--dim")

    def _duration(self, row: Row) -> str:
        """The response time; while the response is open, how long it has run so far."""
        if not running(row):
            return format_duration(row[DURATION])
        return "…" if self.now is None else format_duration(running_ns(row[STARTED],
                                                                        self.now()))

    def _flags(self, row: Row, base: Style, selected: bool) -> list[Segment]:
        flags = row[FLAGS]
        marks = (("●", LIVE, "live"), ("↺", REPLAY, "replay"), ("★", MARKED, "marked"))
        return [Segment(char if flags & bit else " ",
                        base if selected else base + self.component_style(f"exchange-list--{c}"))
                for char, bit, c in marks]

    def _path(self, row: Row, width: int, base: Style, selected: bool) -> list[Segment]:
        """The path, then the operation a lens named, then the user's comment."""
        path = fit(row[PATH], width)
        segments = [Segment(path, base)]
        room = width - cell_len(path)
        if row[OPERATION] and room > 4:
            style = base if selected else base + self.component_style("exchange-list--op")
            operation = fit(f"  {row[OPERATION]}", room)
            segments.append(Segment(operation, style))
            room -= cell_len(operation)
        if row[COMMENT] and room > 4:
            style = base if selected else base + self.component_style("exchange-list--dim")
            segments.append(cells(f"  ✎ {row[COMMENT]}", room, style))
        elif room > 0:
            segments.append(Segment(" " * room, base))
        return segments

