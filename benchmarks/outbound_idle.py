"""What the outbound-call hooks cost a call that no exchange records (the idle path).

In a recording process (``asgi-inspect run``, ``Inspector(capture_calls=True)``) the hooks of
httpx, urllib3 and aiohttp stay installed for the whole process; a call made outside any
exchange (a startup task, a background thread, a test client) goes through them and must
pay next to nothing. This measures that path as it runs: the hook's wrapper around a function
that returns at once, against that function alone (so the difference is the hook's own
work), then a loopback ``httpx.Client.get`` to a hello-world uvicorn server in the same run,
and prints the hook's cost as a share of that call. aiohttp is hooked differently: every
session carries our ``TraceConfig``, and aiohttp runs its tracing machinery for each request
of a session that has any, so a loopback ``ClientSession.get`` is timed in a session without
it and in one with it. The server is a process of its own on core 0 (``harness.Server``);
this one runs on core 1 and reads its own CPU time per call. Runs alternate, and the medians
count.

    python benchmarks/outbound_idle.py [--rounds 7] [--calls 200000] [--loopback 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Any

import aiohttp
import httpx
from harness import LOAD_CORE, Server, environment

from asgi_inspect.record.inside import current, install
from asgi_inspect.record.inside.aiohttp_calls import _trace_config
from asgi_inspect.record.inside.httpx_calls import _sync

RESPONSE = httpx.Response(200)


def instant(transport: Any, request: httpx.Request) -> httpx.Response:
    return RESPONSE


def per_call_ns(function: Any, calls: int) -> float:
    request = httpx.Request("GET", "http://127.0.0.1/")
    started = time.perf_counter_ns()
    for _ in range(calls):
        function(None, request)
    return (time.perf_counter_ns() - started) / calls


def loopback_us(url: str, calls: int) -> float:
    """CPU µs of this process per loopback httpx GET."""
    with httpx.Client() as client:
        client.get(url)
        started = time.process_time_ns()
        for _ in range(calls):
            client.get(url)
    return (time.process_time_ns() - started) / calls / 1000


def aiohttp_us(url: str, calls: int, traced: bool) -> float:
    """CPU µs of this process per loopback aiohttp GET, in a session with our trace config
    or without."""
    async def run() -> float:
        configs = [_trace_config()] if traced else []
        async with aiohttp.ClientSession(trace_configs=configs) as session:
            async with session.get(url) as response:
                await response.read()
            started = time.process_time_ns()
            for _ in range(calls):
                async with session.get(url) as response:
                    await response.read()
            return (time.process_time_ns() - started) / calls / 1000

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--loopback", type=int, default=300)
    args = parser.parse_args()
    install()  # the hooks, as a recording process has them; no exchange is being handled
    assert current() is None
    hooked = _sync(instant)
    os.sched_setaffinity(0, {int(LOAD_CORE)})
    print(environment())
    server = Server("bare")
    url = server.url
    bare, idle, calls, untraced, traced = [], [], [], [], []
    for round_ in range(1, args.rounds + 1):
        bare.append(per_call_ns(instant, args.calls))
        idle.append(per_call_ns(hooked, args.calls))
        calls.append(loopback_us(url, args.loopback))
        untraced.append(aiohttp_us(url, args.loopback, traced=False))
        traced.append(aiohttp_us(url, args.loopback, traced=True))
        print(f"r{round_}  function {bare[-1]:6.1f} ns  hooked {idle[-1]:6.1f} ns  "
              f"loopback httpx call {calls[-1]:8.1f} µs  aiohttp call {untraced[-1]:7.1f} µs, "
              f"with our trace config {traced[-1]:7.1f} µs")
    server.stop()
    added = statistics.median(i - b for i, b in zip(idle, bare, strict=True))
    call = statistics.median(calls)
    print(f"\nmedians (CPU of the calling process): the idle hook adds {added:.1f} ns per "
          f"call; a loopback httpx call takes {call:.1f} µs: {added / (call * 1000):.4%} of it")
    ratio = statistics.median(t / u for t, u in zip(traced, untraced, strict=True))
    print(f"aiohttp: a session with our trace config takes {ratio - 1:+.1%} per loopback call "
          f"(median {statistics.median(untraced):.1f} µs without it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
