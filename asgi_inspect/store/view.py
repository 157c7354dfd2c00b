"""A view over a store: the filter, the order, the focus, and the selections views act on.

The TUI's list, the headless printer, the CLI and the Python API all ask a :class:`View` which
exchanges are shown, which are marked and which one is in focus, so "export the shown
exchanges" or "replay the marked ones" means the same everywhere (mitmproxy's
``addons/view.py`` plays this part there).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal, get_args

from asgi_inspect.filters import Filter, compile_filter
from asgi_inspect.inside import DEFAULT_N_PLUS_ONE
from asgi_inspect.model import Exchange
from asgi_inspect.store.store import Store

Which = Literal["focused", "marked", "shown", "all"]
WHICH: Final[tuple[Which, ...]] = get_args(Which)
Order = Literal["time", "duration", "size", "status", "method", "path"]
ORDERS: Final[tuple[Order, ...]] = get_args(Order)


def _size(exchange: Exchange) -> int:
    size = exchange.response.bytes
    return size + exchange.request.bytes if exchange.type == "websocket" else size


# Sort keys: exchanges without a value (no status yet, still running) sort first.
ORDER_KEYS: Final[dict[Order, Callable[[Exchange], Any]]] = {
    "duration": lambda e: -1 if e.duration_ns is None else e.duration_ns,
    "size": _size,
    "status": lambda e: -1 if e.status is None else e.status,
    "method": lambda e: e.method,
    "path": lambda e: e.label,
}


def by_start(exchanges: Iterable[Exchange]) -> list[Exchange]:
    """``exchanges`` in the order they started (a file lists them as they finished: a long
    request after the short ones it began before); ties, and times that are not a number,
    keep the given order, the latter at the end."""
    def started(exchange: Exchange) -> tuple[int, float]:
        at = exchange.started_at
        return (0, at) if isinstance(at, (int, float)) and math.isfinite(at) else (1, 0.0)

    return sorted(exchanges, key=started)


class View:
    """Which exchanges of ``store`` are shown (filter, marked only), in which order, and which
    one has the focus; ``n_plus_one`` is what ``~n1`` takes for an N+1 (the session's
    ``--n-plus-one``)."""

    def __init__(self, store: Store, *, filter_text: str = "",
                 n_plus_one: int = DEFAULT_N_PLUS_ONE) -> None:
        self.store = store
        self.filter: Filter | None = None
        self._n_plus_one = n_plus_one
        self.marked_only = False
        self.order: Order = "time"  # arrival; the others sort ascending, ties by arrival
        self.focus: str | None = None  # the id of the exchange the user is on
        self.set_filter(filter_text)

    # settings -----------------------------------------------------------------------------

    def set_filter(self, expression: str | Filter | None) -> None:
        """Show only what ``expression`` matches (empty or None: everything).

        Raises :class:`~asgi_inspect.filters.FilterError` for an expression that does not
        compile, leaving the view as it was.
        """
        if isinstance(expression, str):
            expression = (compile_filter(expression, n_plus_one=self._n_plus_one)
                          if expression.strip() else None)
        self.filter = expression

    @property
    def n_plus_one(self) -> int:
        return self._n_plus_one

    @n_plus_one.setter
    def n_plus_one(self, runs: int) -> None:
        """The filter in force is compiled again, so its ``~n1`` takes the new threshold."""
        self._n_plus_one = runs
        if self.filter is not None:
            self.set_filter(self.filter.text)

    def set_order(self, order: Order) -> None:
        if order not in ORDERS:
            raise ValueError(f"unknown order {order!r}; one of {', '.join(ORDERS)}")
        self.order = order

    def next_order(self) -> Order:
        """Move to the next order in :data:`ORDERS` (the TUI's ``s``); the new one."""
        self.order = ORDERS[(ORDERS.index(self.order) + 1) % len(ORDERS)]
        return self.order

    @property
    def filtered(self) -> bool:
        """Whether some exchanges may be hidden (a filter, or marked only)."""
        return self.filter is not None or self.marked_only

    # the selections -----------------------------------------------------------------------

    def matches(self, exchange: Exchange) -> bool:
        """Whether ``exchange`` is shown (the rule every view applies to new exchanges)."""
        if self.marked_only and not exchange.marked:
            return False
        return self.filter is None or self.filter(exchange)

    def shown(self) -> list[Exchange]:
        """The exchanges shown, in the view's order."""
        exchanges: list[Exchange] = list(self.store)
        if self.marked_only:
            exchanges = [e for e in exchanges if e.marked]
        if self.filter is not None:
            exchanges = self.filter.select(exchanges)
        return self.ordered(exchanges)

    def ordered(self, exchanges: list[Exchange]) -> list[Exchange]:
        """``exchanges`` (in arrival order) in the view's order; ties keep arrival order."""
        if self.order == "time":
            return exchanges
        return sorted(exchanges, key=ORDER_KEYS[self.order])

    def focused(self) -> Exchange | None:
        return self.store.get(self.focus)

    def select(self, which: Which) -> list[Exchange]:
        """The exchanges an operation acts on: the focused one, the marked ones (in the view's
        order, shown or not), the shown ones, or all of them."""
        if which == "focused":
            focused = self.focused()
            return [focused] if focused is not None else []
        if which == "marked":
            return self.ordered(self.store.marked())
        if which == "shown":
            return self.shown()
        if which == "all":
            return self.ordered(list(self.store))
        raise ValueError(f"unknown selection {which!r}; one of {', '.join(WHICH)}")

    def counts(self) -> dict[Which, int]:
        """How many exchanges each selection holds (for a dialog's choices)."""
        return {"focused": int(self.focused() is not None), "marked": len(self.store.marked()),
                "shown": len(self.shown()), "all": len(self.store)}
