"""What the outbound-call hooks cost a call that no exchange records (the idle path).

In a recording process (``asgi-inspect run``, ``Inspector(capture_calls=True)``) the hooks of
httpx, urllib3 and aiohttp stay installed for the whole process; a call made outside any
exchange (a startup task, a background thread, a test client) goes through them and must
pay next to nothing. This measures that path as it runs: the hook's wrapper around a function
that returns at once, against that function alone (so the difference is the hook's own
work), then a loopback ``httpx.Client.get`` to a hello-world uvicorn server in the same run,
and prints the hook's cost as a share of that call. Runs alternate, and the medians count.

    python benchmarks/outbound_idle.py [--rounds 7] [--calls 200000] [--loopback 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from typing import Any

import httpx
import uvicorn

from asgi_inspect.record.inside import current, install
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


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})


def loopback_us(url: str, calls: int) -> float:
    with httpx.Client() as client:
        client.get(url)
        started = time.perf_counter_ns()
        for _ in range(calls):
            client.get(url)
    return (time.perf_counter_ns() - started) / calls / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--loopback", type=int, default=300)
    args = parser.parse_args()
    install()  # the hooks, as a recording process has them; no exchange is being handled
    assert current() is None
    hooked = _sync(instant)
    server = uvicorn.Server(uvicorn.Config(hello, host="127.0.0.1", port=0, log_level="error",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    bare, idle, calls = [], [], []
    for round_ in range(1, args.rounds + 1):
        bare.append(per_call_ns(instant, args.calls))
        idle.append(per_call_ns(hooked, args.calls))
        calls.append(loopback_us(url, args.loopback))
        print(f"r{round_}  function {bare[-1]:6.1f} ns  hooked {idle[-1]:6.1f} ns  "
              f"loopback httpx call {calls[-1]:8.1f} µs")
    server.should_exit = True
    thread.join(timeout=10)
    added = statistics.median(i - b for i, b in zip(idle, bare, strict=True))
    call = statistics.median(calls)
    print(f"\nmedians: the idle hook adds {added:.1f} ns per call; a loopback httpx call "
          f"takes {call:.1f} µs: {added / (call * 1000):.4%} of it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
