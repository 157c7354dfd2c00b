"""What recording outbound calls and queries costs: the added CPU per call and per query.

Two worker processes run the same code: ``bare`` never imports asgi-inspect (nothing hooked);
``recorded`` wraps the same ASGI app in ``Inspector(app, capture_calls=True)`` recording over
the live channel to a collector process, as the server under ``asgi-inspect run`` does. Each
run is one exchange whose handler makes COUNT operations of one kind, and the worker's CPU
time (every thread of it) is read around them:

    httpx       a loopback ``AsyncClient.get`` to a hello-world uvicorn upstream (on core 0)
    sqlite3     ``SELECT ... WHERE id = ?`` on a 1,000-row table in a local sqlite file
    sqlalchemy  the same query through a SQLAlchemy 2 ``Connection`` (sqlite driver)

The recorded worker also runs the operations outside any exchange (``idle``: the hooks are
installed, ``current()`` is None), the cost a call pays in a recording process when no
exchange records it. Runs are interleaved: per round, each kind runs bare, recorded and idle,
and a closing bare run ends the series, so each run is compared with the mean of the bare
runs just before and after it. Workers and the collector run on core 1.

    python benchmarks/inside_cost.py [--rounds 7] [--calls 300] [--queries 20000]
                                     [--kinds httpx,sqlite3,sqlalchemy] [--sink channel|null]

The recorder's own overhead with no call or query (hooks installed, every request tagged):
``python benchmarks/recorder_overhead.py --variants recorded,recorded-hooked``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    LOAD_CORE,
    BenchError,
    CollectorProcess,
    Server,
    bracketed,
    end_of_input,
    environment,
    main_guard,
    median,
    require,
)

KINDS = ("httpx", "sqlite3", "sqlalchemy")
MODES = ("bare", "recorded", "idle")  # idle: hooks installed, outside any exchange
SINKS = ("channel", "null")
TARGET = 0.10  # added CPU per call or query, as a share of the bare cost
QUERY = "SELECT id, name, price FROM items WHERE id = ?"
ROWS = 1_000


# --- the workers ---------------------------------------------------------------------------

class Workload:
    """The operations a worker runs, set up once (connections open, statements warm)."""

    def __init__(self, upstream: str, database: str) -> None:
        import httpx
        import sqlalchemy

        self.upstream = upstream
        self.client = httpx.AsyncClient()
        self.db = sqlite3.connect(database, check_same_thread=False)
        self.engine = sqlalchemy.create_engine(f"sqlite:///{database}")
        self.sa = self.engine.connect()
        self.sa_query = sqlalchemy.text(QUERY.replace("?", ":id"))

    async def run(self, kind: str, count: int) -> None:
        """``count`` operations of ``kind``; each reads its whole answer, as an app would."""
        if kind == "httpx":
            for _ in range(count):
                (await self.client.get(self.upstream)).raise_for_status()
        elif kind == "sqlite3":
            for n in range(count):
                self.db.execute(QUERY, (n % ROWS + 1,)).fetchall()
        else:
            for n in range(count):
                self.sa.execute(self.sa_query, {"id": n % ROWS + 1}).fetchall()


Measured = dict[str, int]  # cpu_ns, and recorded: how many items the exchange kept


def measuring_app(work: Workload, counts: Callable[[], int]) -> Callable[..., Awaitable[None]]:
    """An ASGI app whose one request runs the operation named by its path, timed inside."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind, count = scope["path"].strip("/").split("/")
        started = time.process_time_ns()
        await work.run(kind, int(count))
        scope["measured"].update(cpu_ns=time.process_time_ns() - started, recorded=counts())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


async def exchange(app: Callable[..., Awaitable[None]], kind: str, count: int) -> Measured:
    """Drive one request through ``app`` in-process, as a server would."""
    measured: Measured = {}
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": f"/{kind}/{count}", "raw_path": b"",
             "query_string": b"", "root_path": "", "headers": [], "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80), "measured": measured}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        pass

    await app(scope, receive, send)
    return measured


async def worker(sink: str, upstream: str, database: str, max_count: int) -> None:
    """Answer each command line (``kind count mode``) with one JSON line of measurements;
    ``sink`` is ``bare`` (nothing of asgi-inspect), or where the recorded worker's batches go."""
    recorded = sink != "bare"
    if recorded:  # hooks first: the libraries are imported after, as under asgi-inspect run
        from apps import NullSink

        from asgi_inspect import Inspector
        from asgi_inspect.record import inside
        from asgi_inspect.record.context import CURRENT

        def counts() -> int:
            tag = CURRENT.get()
            return 0 if tag is None else tag.batch.max_events - tag.inside_left

        inside.install()  # what Inspector(capture_calls=True) does, before any connection
        work = Workload(upstream, database)
        inner = measuring_app(work, counts)
        app: Callable[..., Awaitable[None]] = Inspector(
            inner, NullSink() if sink == "null" else None, capture_calls=True,
            max_events=max_count + 10)
    else:
        work = Workload(upstream, database)
        app = inner = measuring_app(work, lambda: 0)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        kind, count, mode = line.split()
        target = inner if mode == "idle" else app
        print(json.dumps(await exchange(target, kind, int(count))), flush=True)
    if recorded:
        app.close()  # type: ignore[attr-defined]


class Worker:
    """A worker process on the load core, driven over its stdin and stdout."""

    def __init__(self, sink: str, upstream: str, database: str, max_count: int,
                 env: dict[str, str]) -> None:
        command = ["taskset", "-c", LOAD_CORE, sys.executable, __file__, "--worker", sink,
                   "--upstream", upstream,
                   "--database", database, "--max-count", str(max_count)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env={**os.environ, **env})

    def run(self, kind: str, count: int, mode: str) -> Measured:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{kind} {count} {mode}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise BenchError(f"the {mode} worker exited (code {self.process.wait()})")
        return json.loads(line)  # type: ignore[no-any-return]

    def stop(self) -> None:
        end_of_input(self.process, 30)


# --- the parent: interleaved rounds and the summary ----------------------------------------

@dataclass
class Series:
    """One kind's µs per operation, per run, for each mode."""

    us: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    operations: int = 0  # in the recorded runs
    items: int = 0  # calls and queries those runs recorded: one per operation

    def added(self, mode: str) -> list[float]:
        """The added share per round: the run against the bare runs before and after it."""
        return [self.us[mode][i] / bracketed(self.us["bare"], i) - 1
                for i in range(len(self.us[mode]))]


def make_database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        db.executemany("INSERT INTO items VALUES (?, ?, ?)",
                       [(n, f"item {n}", n * 1.5) for n in range(1, ROWS + 1)])


def measure(workers: dict[str, Worker], series: Series, kind: str, count: int,
            mode: str) -> None:
    result = workers[mode].run(kind, count, mode)
    series.us[mode].append(result["cpu_ns"] / count / 1000)
    if mode == "recorded":
        series.operations += count
        series.items += result["recorded"]


def summarise(results: dict[str, Series], counts: dict[str, int]) -> None:
    print("\nper round, added CPU against the bare runs before and after (recorded / idle):")
    for i in range(len(next(iter(results.values())).us["recorded"])):
        cells = "   ".join(f"{kind} {s.added('recorded')[i]:+.1%} / {s.added('idle')[i]:+.1%}"
                           for kind, s in results.items())
        print(f"  r{i + 1}  {cells}")
    print("\nmedians (µs of CPU per operation; added: against the same code un-instrumented):")
    for kind, s in results.items():
        bare, recorded = median(s.us["bare"]), median(s.us["recorded"])
        share = median(s.added("recorded"))
        verdict = "met" if share < TARGET else "MISSED"
        print(f"  {kind:<11} bare {bare:8.2f}   recorded {recorded:8.2f}   "
              f"added {recorded - bare:+7.2f} µs = {share:+.1%} (target < {TARGET:.0%}: "
              f"{verdict})   idle hooks {median(s.added('idle')):+.1%}")
        if s.items != s.operations:
            print(f"    WARNING: the recorded runs made {s.operations} {kind} operations and "
                  f"recorded {s.items} items, not one each: the ratio is not the cost of "
                  f"recording one (see its hook in record/inside/)")
    print("best runs (the least CPU each mode took: other load on the machine only adds):")
    for kind, s in results.items():
        bare, recorded, idle = (min(s.us[mode]) for mode in MODES)
        print(f"  {kind:<11} bare {bare:8.2f}   recorded {recorded:8.2f}   "
              f"added {recorded - bare:+7.2f} µs = {recorded / bare - 1:+.1%}   "
              f"idle hooks {idle / bare - 1:+.1%}")
    print(f"  ({', '.join(f'{k} x{c}' for k, c in counts.items())} per run)")


def run(args: argparse.Namespace) -> None:
    counts = {kind: args.calls if kind == "httpx" else args.queries for kind in args.kinds}
    print(environment())
    print(f"{args.rounds} rounds; per run one exchange of "
          f"{', '.join(f'{c} {k}' for k, c in counts.items())}; workers on core {LOAD_CORE}; "
          f"recorded into {'the live channel' if args.sink == 'channel' else 'a null sink'}\n")
    upstream = Server("bare")
    collector = CollectorProcess() if args.sink == "channel" else None
    workers: dict[str, Worker] = {}
    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "items.db"
        make_database(database)
        try:
            recorded = Worker(args.sink, upstream.url, str(database), max(counts.values()),
                              {} if collector is None else collector.env)
            bare = Worker("bare", upstream.url, str(database), max(counts.values()), {})
            workers = {"bare": bare, "recorded": recorded, "idle": recorded}
            for kind, count in counts.items():  # imports, connections, statement caches
                for mode in MODES:
                    workers[mode].run(kind, max(count // 10, 1), mode)
            results = {kind: Series() for kind in counts}
            for round_no in range(1, args.rounds + 1):
                for kind, count in counts.items():
                    for mode in MODES:
                        measure(workers, results[kind], kind, count, mode)
                    us = results[kind].us
                    print(f"r{round_no} {kind:<11} " + "  ".join(
                        f"{mode} {us[mode][-1]:7.2f}" for mode in MODES) + "  µs/op",
                        flush=True)
            for kind, count in counts.items():
                measure(workers, results[kind], kind, count, "bare")
            summarise(results, counts)
            if collector is not None:
                stats = collector.settled_stats()
                print(f"\ncollector: {stats['closed']} exchanges, {stats['records']} records "
                      f"in {stats['frames']} batches, dropped {stats['dropped']}, recorder "
                      f"errors {stats['recorder_errors']}")
        finally:
            for worker_process in {id(w): w for w in workers.values()}.values():
                worker_process.stop()
            if collector is not None:
                collector.stop()
            upstream.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    parser.add_argument("--calls", type=int, default=300,
                        help="httpx calls per run (default 300)")
    parser.add_argument("--queries", type=int, default=20_000,
                        help="queries per run (default 20,000)")
    parser.add_argument("--kinds", type=_kinds, default=list(KINDS),
                        help=f"comma-separated, from {', '.join(KINDS)} (default all)")
    parser.add_argument("--sink", choices=SINKS, default="channel",
                        help="where the recorded worker's batches go: the live channel to a "
                             "collector process, as under run (default), or a sink that "
                             "discards them (the hooks' own cost)")
    parser.add_argument("--worker", choices=("bare", *SINKS), help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--max-count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if min(args.rounds, args.calls, args.queries) < 1:
        parser.error("rounds, calls and queries must be >= 1")
    return args


def _kinds(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in KINDS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown kind(s) {', '.join(unknown) or '(none)'}; "
                                         f"choose from {', '.join(KINDS)}")
    return names


def main() -> None:
    args = parse_args()
    if args.worker:
        asyncio.run(worker(args.worker, args.upstream, args.database, args.max_count))
        return
    require([])
    run(args)


if __name__ == "__main__":
    main_guard(main)
