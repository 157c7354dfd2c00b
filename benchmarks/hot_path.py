"""The recorder's own cost per request, in-process: no server, no socket, no load generator.

Drives a hello-world app directly with a uvicorn-like scope and trivial ``receive``/``send``,
bare, behind a do-nothing wrapper, and behind ``Inspector`` with a sink that only counts the
batches (``null``) or assembles them in-process (``memory``: adds the collector's work). Prints
the best-of-``--repeat`` CPU ns per request of each and the added cost over bare. ``--profile`` runs
the recorded variant under cProfile and prints where the time goes.

    python benchmarks/hot_path.py [--requests 50000] [--repeat 10] [--profile]

To try a changed recorder, put a modified copy of the package first on the path:
``PYTHONPATH=/tmp/exp python benchmarks/hot_path.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
from collections.abc import Callable
from time import thread_time_ns
from typing import Any

from apps import ASGIApp, Message, NullSink, hello, passthrough
from harness import main_guard

import asgi_inspect
from asgi_inspect import Inspector, MemorySink

# What uvicorn (httptools) hands the app for `wrk http://127.0.0.1:PORT/`.
SCOPE: dict[str, Any] = {
    "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
    "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "scheme": "http",
    "method": "GET", "root_path": "", "path": "/", "raw_path": b"/", "query_string": b"",
    "headers": [(b"host", b"127.0.0.1:8000")], "state": {},
}


async def drive(app: ASGIApp, requests: int) -> int:
    """Serve ``requests`` requests through ``app`` the way a server does; CPU ns per request.

    CPU time of this thread, not wall time: other processes on a shared core do not count.
    """
    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    start = thread_time_ns()
    for _ in range(requests):
        scope = dict(SCOPE)
        await app(scope, receive, send)
    return (thread_time_ns() - start) // requests


def variants() -> dict[str, Callable[[], ASGIApp]]:
    return {
        "bare": lambda: hello,
        "wrapper": lambda: passthrough(hello),
        "recorded/null": lambda: Inspector(hello, sink=NullSink()),
        "recorded/memory": lambda: Inspector(hello, sink=MemorySink(max_exchanges=10_000)),
    }


def best(make: Callable[[], ASGIApp], requests: int, repeat: int) -> int:
    """Best of ``repeat`` runs, each on a fresh app and loop (the fairest on a noisy machine)."""
    times = []
    for _ in range(repeat):
        app = make()
        times.append(asyncio.run(drive(app, requests)))
        if isinstance(app, Inspector):
            app.close()
    return min(times)


def profile(requests: int) -> None:
    app = Inspector(hello, sink=NullSink())
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(drive(app, requests))
    profiler.disable()
    app.close()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000, help="requests per run")
    parser.add_argument("--repeat", type=int, default=10, help="runs per variant, best kept")
    parser.add_argument("--profile", action="store_true", help="cProfile the recorded variant")
    args = parser.parse_args()
    if args.requests < 1 or args.repeat < 1:
        parser.error("requests and repeat must be >= 1")
    print(f"asgi_inspect from {asgi_inspect.__file__}")
    if args.profile:
        profile(args.requests)
        return
    bare = None
    for name, make in variants().items():
        ns = best(make, args.requests, args.repeat)
        bare = bare or ns
        print(f"{name:<16} {ns / 1000:>6.2f} µs/req   added {(ns - bare) / 1000:+.2f} µs/req",
              flush=True)


if __name__ == "__main__":
    main_guard(main)
