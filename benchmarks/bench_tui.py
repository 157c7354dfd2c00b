"""The TUI with 100k exchanges: filter latency, and event-loop stalls while 1,000/s stream in.

Run from the repository root: ``.venv/bin/python -m benchmarks.bench_tui [--count N]``

The app runs headless (``run_test``, 160×50, the compositor renders every frame as in a
terminal) over ``--count`` seeded exchanges (tests/tui/factory.py). It measures:

- load: the first poll, which turns every exchange into a list row;
- filter: ``FilterBar`` → ``ExchangeList.set_filter`` for several expressions, median of
  ``--rounds`` runs, next to the filter engine alone (``Filter.select`` over the same
  exchanges) so the ratio shows what the list adds on top of the engine;
- stalls: an asyncio probe sleeps 5 ms in a loop on the app's event loop and records how
  late it wakes (how long a keystroke would wait), first idle, then while a producer on the
  same loop adds ``--rate`` exchanges/s in 10 ms batches with follow on and a key pressed
  every 100 ms. p99 is the target (≤ 50 ms); the idle run is the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgi_inspect.filters import Filter, compile_filter
from asgi_inspect.model import Exchange
from asgi_inspect.runtime.session import Session
from asgi_inspect.store.view import View
from asgi_inspect.tui.app import InspectorApp
from asgi_inspect.tui.widgets.exchange_list import ExchangeList
from tests.tui.factory import sample_exchanges

EXPRESSIONS = ["~m POST", "~c 5xx", "~u /api/items", "~m GET & !~c 404", "~dur >100ms",
               "~b widget"]
PROBE_S = 0.005


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def median_time(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def probe(duration: float, during: Callable[[], Awaitable[None]] | None = None
                ) -> list[float]:
    """How late a 5 ms sleep wakes up, for ``duration`` seconds (while ``during`` runs)."""
    loop = asyncio.get_running_loop()
    lateness: list[float] = []
    task = asyncio.ensure_future(during()) if during else None
    end = loop.time() + duration
    while loop.time() < end:
        start = loop.time()
        await asyncio.sleep(PROBE_S)
        lateness.append(loop.time() - start - PROBE_S)
    if task:
        task.cancel()
    return lateness


def stall_line(name: str, lateness: list[float]) -> str:
    q = statistics.quantiles(lateness, n=100)
    return f"{name:<34} p50 {ms(q[49])}   p99 {ms(q[98])}   max {ms(max(lateness))}"


async def stream(app: InspectorApp, rate: int, incoming: list[Exchange]) -> None:
    """Add ``rate`` exchanges per second in 10 ms batches; press a key every 100 ms."""
    loop = asyncio.get_running_loop()
    batch = max(rate // 100, 1)
    tick, t0 = 0, loop.time()
    while incoming:
        for exchange in incoming[-batch:]:
            app.store.add(exchange)
        del incoming[-batch:]
        if tick % 10 == 0:
            await app.run_action("toggle_follow")  # a keystroke's worth of work...
            await app.run_action("toggle_follow")  # ...and back to follow
        tick += 1
        await asyncio.sleep(max(t0 + tick * 0.01 - loop.time(), 0))


def refilter(app: InspectorApp, expression: Filter | None) -> None:
    """What the filter bar does: the view takes the filter, the list shows what it selects."""
    app.view.set_filter(expression)
    app.exchange_list.refilter()


async def run(count: int, rate: int, rounds: int, seconds: float) -> dict[str, Any]:
    t = time.perf_counter()
    exchanges = sample_exchanges(count)
    session = Session.offline(exchanges, title="bench")
    print(f"built {count:,} exchanges in {ms(time.perf_counter() - t)} (not UI work)")
    app = InspectorApp(session)
    app.animation_level = "none"
    results: dict[str, Any] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        listing = app.exchange_list
        fresh = ExchangeList(View(app.store))  # the first poll's work, timed on its own
        t = time.perf_counter()
        fresh.sync(set(app.store.exchanges))
        results["load"] = time.perf_counter() - t
        print(f"load {count:,} rows (first poll)       {ms(results['load'])}")
        values = list(app.store.exchanges.values())
        print(f"\nfilter over {count:,} exchanges       list      engine   list/engine")
        for expression in EXPRESSIONS:
            compiled = compile_filter(expression)
            engine = median_time(lambda c=compiled: c.select(values), rounds)
            ui = median_time(lambda c=compiled: refilter(app, c), rounds)
            shown = listing.row_count
            results[expression] = ui
            print(f"  {expression:<22} {ms(ui)}  {ms(engine)}   {ui / engine:5.2f}  "
                  f"({shown:,} shown)")
        clear = median_time(lambda: refilter(app, None), rounds)
        print(f"  {'(clear)':<22} {ms(clear)}")
        incoming = sample_exchanges(int(rate * seconds * 1.1), start=count + 1, seed=11)
        incoming.reverse()
        await pilot.pause()
        idle = await probe(seconds)
        busy = await probe(seconds, lambda: stream(app, rate, incoming))
        await pilot.pause(0.1)
        added = len(app.store.exchanges) - count
        print(f"\nstalls (probe sleeps {PROBE_S * 1000:.0f} ms; {seconds:.0f} s each)")
        print(stall_line("idle, 100k loaded (baseline)", idle))
        print(stall_line(f"{rate:,}/s streaming, follow on", busy))
        results["p99"] = p99 = statistics.quantiles(busy, n=100)[98]
        print(f"  delivered {added / seconds:,.0f}/s; list has {listing.row_count:,} rows; "
              f"p99 ratio busy/idle {p99 / statistics.quantiles(idle, n=100)[98]:.1f}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    results = asyncio.run(run(args.count, args.rate, args.rounds, args.seconds))
    worst_filter = max(v for k, v in results.items() if k not in ("load", "p99"))
    print(f"\ntargets: filter ≤ 50 ms (worst {ms(worst_filter).strip()}), "
          f"stall p99 ≤ 50 ms ({ms(results['p99']).strip()})")


if __name__ == "__main__":
    main()
