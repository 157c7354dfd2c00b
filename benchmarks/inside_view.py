"""What the TUI's list pays to draw a row whose exchange ran many queries (its inside column:
the counts, and whether a statement ran as an N+1), as a ratio to a row with nothing inside,
timed in the same run.

Run: ``.venv/bin/python benchmarks/inside_view.py [--queries 1000] [--rounds 50]``

The list reads an exchange when its row is first drawn (and again when it changes): an N+1
check reads every statement's shape. The shapes of statements already seen are remembered
(``inside.shape``'s cache), so an exchange of one statement run 1,000 times costs one shape
and a pass over the queries; the run prints the same reading without that cache for scale.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from asgi_inspect import inside
from asgi_inspect.model import Exchange, Query
from asgi_inspect.tui.widgets.exchange_list import Row, read_drawn, summarize
from tests.tui.factory import http_exchange


def with_queries(count: int) -> Exchange:
    """An exchange that ran one parametrized statement ``count`` times (an N+1)."""
    exchange = http_exchange("1")
    exchange.inside = [Query(library="sqlite3", statement="SELECT * FROM item WHERE id = ?",
                             parameters=[i], t_start=i * 1000, t_end=i * 1000 + 500)
                       for i in range(count)]
    return exchange


def per_reading(exchange: Exchange, row: Row, rounds: int) -> float:
    """Seconds per reading of ``exchange`` for its row, its cached totals dropped each time
    (as when it has just grown)."""
    start = time.perf_counter()
    for _ in range(rounds):
        exchange.__dict__.pop("_inside_totals", None)
        read_drawn(row, exchange)
    return (time.perf_counter() - start) / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    busy, plain = with_queries(args.queries), http_exchange("2")
    baseline = per_reading(plain, summarize(plain), args.rounds * 20)
    cached = per_reading(busy, summarize(busy), args.rounds)
    shape: Callable[[str], str] = inside.shape
    inside.shape = inside.shape.__wrapped__  # type: ignore[attr-defined]
    try:
        uncached = per_reading(busy, summarize(busy), args.rounds)
    finally:
        inside.shape = shape  # type: ignore[assignment]
    print(f"a row with nothing inside: {baseline * 1e6:.1f} µs")
    print(f"a row of {args.queries:,} queries: {cached * 1e3:.2f} ms "
          f"({cached / baseline:,.0f}x), without the shapes' cache {uncached * 1e3:.2f} ms "
          f"({uncached / cached:.1f}x the cached reading)")


if __name__ == "__main__":
    main()
