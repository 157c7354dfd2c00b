"""What decoded bodies cost the body filters, as ratios measured in one run.

Run: ``.venv/bin/python benchmarks/bench_decoded.py [--count N] [--rounds R]``

Three timings of ``Filter.select`` over bench_filters' synthetic exchanges, interleaved round
by round so that a busy machine slows them alike:

- ``~b needle`` on uncompressed traffic, as it is (``content.data_of``: a cached
  Content-Encoding lookup per body), and with ``data_of`` swapped for the kept bytes
  (``Exchange.body``, what the filters read before bodies were decoded): the ratio is the
  overhead on traffic that has nothing to decode;
- ``~bs needle`` on the same exchanges with gzip response bodies, the first pass (every body
  decoded) and a later pass (decoded bodies from the cache), as ratios to the uncompressed run.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from collections.abc import Callable

from bench_filters import build

from asgi_inspect import content, filters
from asgi_inspect.model import Exchange


def _gzipped(exchanges: list[Exchange]) -> list[Exchange]:
    """The HTTP exchanges with their response body sent gzip-compressed."""
    for exchange in exchanges:
        start, body = exchange.events[1], exchange.events[2]
        start.message["headers"].append([b"content-encoding", b"gzip"])
        body.message["body"] = gzip.compress(body.message["body"], mtime=0)
        exchange.id = "gz" + exchange.id
    return exchanges


def _time(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    plain = build(args.count)
    packed = _gzipped([e for e in build(args.count) if e.type == "http"])
    search = filters.compile_filter("~b needle").select
    search_response = filters.compile_filter("~bs needle").select
    decoded = filters.data_of

    def kept_bytes() -> object:
        filters.data_of = lambda exchange, direction: exchange.body(direction)  # type: ignore[assignment]
        try:
            return search(plain)
        finally:
            filters.data_of = decoded

    times: dict[str, list[float]] = {"as kept": [], "decoded": [], "gzip, cold": [],
                                     "gzip, cached": []}
    for _ in range(args.rounds):
        times["as kept"].append(_time(kept_bytes))
        times["decoded"].append(_time(lambda: search(plain)))
        content._cache.clear()
        content._cache_cost = 0
        times["gzip, cold"].append(_time(lambda: search_response(packed)))
        times["gzip, cached"].append(_time(lambda: search_response(packed)))
    base = statistics.median(times["as kept"])
    print(f"{args.count} exchanges ({len(packed)} gzip), {args.rounds} rounds; "
          f"ms median (best), ratio to ~b on the kept bytes")
    for name, runs in times.items():
        median = statistics.median(runs)
        print(f"{name:14} {median:8.1f} ({min(runs):7.1f})  x{median / base:5.2f}")


if __name__ == "__main__":
    main()
