"""What the SSE and JSON-RPC lenses cost a list: ``read`` over many exchanges, as ratios to a
plain list comprehension timed in the same run.

Run: ``.venv/bin/python benchmarks/lens_read.py [--count N] [--rounds R]``

``read`` runs for every row a list shows (and again per poll while an exchange streams), so
it must decide from cheap facts. Three traces: ``count`` ordinary exchanges (bench_filters'
mix: JSON APIs, WebSockets; no lens recognises them), ``count // 10`` MCP calls answered over
SSE (request parsed, the answer's stream parsed for errors), and ``count // 10`` SSE streams
of 50 events. Each lens's ``read`` is timed ``rounds`` times over each trace; the table gives
the median in ms, per exchange in µs, and the ratio to the baseline
``[e for e in xs if e.scope.get("method") == "POST"]`` over the same trace.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from bench_filters import build

from asgi_inspect.lenses.base import Lens
from asgi_inspect.lenses.jsonrpc import JsonRpcLens
from asgi_inspect.lenses.sse import SseLens
from asgi_inspect.model import Counters, Event, Exchange

MS = 1_000_000


def exchange(number: int, method: str, request: bytes, chunks: list[bytes]) -> Exchange:
    """A recorded-looking exchange whose response is an event stream sent in ``chunks``."""
    events = [Event(direction="receive", type="http.request", t_call=1, t_return=2,
                    message={"type": "http.request", "body": request}),
              Event(direction="send", type="http.response.start", t_call=MS, t_return=MS,
                    message={"type": "http.response.start", "status": 200,
                             "headers": [[b"content-type", b"text/event-stream"]]})]
    events += [Event(direction="send", type="http.response.body", t_call=(n + 2) * MS,
                     t_return=(n + 2) * MS, message={"type": "http.response.body", "body": c,
                                                     "more_body": True})
               for n, c in enumerate(chunks)]
    size = sum(map(len, chunks))
    return Exchange(id=str(number), type="http", started_at=0.0, outcome="complete",
                    ended_ns=99 * MS, events=events,
                    scope={"type": "http", "method": method, "path": "/mcp",
                           "headers": [[b"content-type", b"application/json"]]},
                    request=Counters(bytes=len(request), kept_bytes=len(request)),
                    response=Counters(bytes=size, kept_bytes=size, chunks=len(chunks)))


def mcp_calls(count: int) -> list[Exchange]:
    """MCP ``tools/call`` requests answered by two progress notifications and a result."""
    def data(message: dict[str, object]) -> bytes:
        return b"event: message\r\ndata: " + json.dumps(message).encode() + b"\r\n\r\n"

    found = []
    for n in range(count):
        request = json.dumps({"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {
            "name": "search", "arguments": {"q": "x" * 40}, "_meta": {"progressToken": n}}})
        chunks = [data({"jsonrpc": "2.0", "method": "notifications/progress",
                        "params": {"progressToken": n, "progress": p, "total": 2}})
                  for p in (1, 2)]
        chunks.append(data({"jsonrpc": "2.0", "id": n, "result": {
            "content": [{"type": "text", "text": "y" * 200}], "isError": False}}))
        found.append(exchange(n, "POST", request.encode(), chunks))
    return found


def streams(count: int) -> list[Exchange]:
    """GET streams of 50 JSON events each."""
    chunk = [f'id: {i}\ndata: {{"n": {i}, "text": "{"z" * 60}"}}\n\n'.encode()
             for i in range(50)]
    return [exchange(n, "GET", b"", chunk) for n in range(count)]


def median_ms(work: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    traces = {"ordinary": build(args.count), "mcp over sse": mcp_calls(args.count // 10),
              "sse streams": streams(args.count // 10)}
    lenses: list[Lens] = [JsonRpcLens(), SseLens()]
    print(f"{'trace':<14}{'exchanges':>10}  {'lens':<9}{'median ms':>10}{'µs each':>9}"
          f"{'x baseline':>11}")
    for name, xs in traces.items():
        baseline = median_ms(lambda xs=xs: [e for e in xs if e.scope.get("method") == "POST"],
                             args.rounds)
        for lens in lenses:
            took = median_ms(lambda xs=xs, lens=lens: [lens.read(e) for e in xs], args.rounds)
            print(f"{name:<14}{len(xs):>10}  {lens.name:<9}{took:>10.1f}"
                  f"{took * 1000 / len(xs):>9.2f}{took / baseline:>11.1f}")


if __name__ == "__main__":
    main()
