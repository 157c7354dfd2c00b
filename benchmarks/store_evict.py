"""What taking in one exchange costs the store once it is full: ``Store.keep`` at the cap
(each new exchange evicts the oldest) as a ratio to ``keep`` into a store with room, timed in
the same run.

Run: ``.venv/bin/python benchmarks/store_evict.py [--cap 100000] [--count 100000] [--rounds 3]``

Under full load the TUI's store sits at its cap (100,000 by default), so every exchange that
arrives evicts one: that must cost about what keeping one costs, whatever the cap. (With a
plain dict, finding the oldest walked the holes that earlier evictions left at its front:
57 µs per exchange at 100k, against 2 µs.)
"""

from __future__ import annotations

import argparse
import statistics
import time

from asgi_inspect.model import Exchange
from asgi_inspect.store.store import Store


def exchanges(first: int, count: int) -> list[Exchange]:
    """``count`` small exchanges with ids from ``first`` (made before the clock starts)."""
    return [Exchange(id=str(n), type="http", started_at=0.0, scope={"type": "http"})
            for n in range(first, first + count)]


def keep_all(store: Store, batch: list[Exchange]) -> float:
    """Seconds to keep every exchange of ``batch``."""
    start = time.perf_counter()
    for exchange in batch:
        store.keep(exchange)
    return time.perf_counter() - start


def one_round(cap: int, count: int) -> tuple[float, float]:
    """µs per keep: into a store with room, and into one at its cap."""
    roomy = Store(cap + count)
    keep_all(roomy, exchanges(0, cap))
    with_room = keep_all(roomy, exchanges(cap, count))
    full = Store(cap)
    keep_all(full, exchanges(0, cap))
    at_cap = keep_all(full, exchanges(cap, count))
    assert len(full) == cap and full.evicted == count
    return with_room / count * 1e6, at_cap / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cap", type=int, default=100_000)
    parser.add_argument("--count", type=int, default=100_000, help="exchanges kept per timing")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = [one_round(args.cap, args.count) for _ in range(args.rounds)]
    with_room = statistics.median(r[0] for r in rounds)
    at_cap = statistics.median(r[1] for r in rounds)
    print(f"keep, {args.count:,} exchanges, cap {args.cap:,}, median of {args.rounds} rounds: "
          f"with room {with_room:.2f} µs, at the cap (evicting) {at_cap:.2f} µs, "
          f"ratio {at_cap / with_room:.2f}")


if __name__ == "__main__":
    main()
