"""Filter speed over 100k synthetic exchanges, as ratios to a plain list comprehension.

Run: ``.venv/bin/python benchmarks/bench_filters.py [--count N] [--rounds R]``

The exchanges look like recorded ones: an HTTP scope with five headers and three events
(request body, response start, response body), with a sprinkle of WebSocket sessions carrying
frames, failures and marked exchanges; one HTTP exchange in ten made a few database queries
and an outbound call, one in a hundred an N+1 (the "inside" group). Each expression is
timed ``rounds`` times through ``Filter.select``; the table gives the median and the best
run in ms and the median as a ratio to the baseline
``[e for e in xs if e.scope.get("method") == "POST"]``, timed in between the expressions so
that a noisy machine shifts both alike. The target is 50 ms for simple expressions (method,
status, URL, duration) at 100k exchanges.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from asgi_inspect.filters import compile_filter
from asgi_inspect.model import Counters, Event, Exchange, Inside, OutboundCall, Query

SIMPLE = ["~m POST", "~c 500", "~c 5xx", "~c >=400", "~u /items/12", "users", "~dur >200ms",
          "~size >1KB", "~http", "~e"]
COMPOUND = ["~m POST ~c 2xx", "~m GET & ~u items & !~c 404", "~m DELETE | ~c 5xx | ~dur >900ms",
            "!(~m GET | ~m POST) ~c 2xx", "~o exception | ~o no_response", "~marked | ~replay"]
SLOW = ["~hq user-agent", "~h 'content-type: application/json'", "~t json", "~bq '\"id\": 4242'",
        "~b needle", "~ws ~b hello"]
INSIDE = ["~nq >5", "~nq 0", "~nc >=1", "~ie", "~n1", "~sql 'from orders'", "~call stock"]

_METHODS = ["GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH"]
_STATUSES = [200, 200, 200, 200, 201, 204, 301, 304, 400, 404, 404, 422, 500, 503]


def build(count: int, seed: int = 7) -> list[Exchange]:
    """``count`` exchanges: about 2% WebSocket sessions, the rest HTTP."""
    rnd = random.Random(seed)
    return [_websocket(i, rnd) if i % 50 == 49 else _http(i, rnd) for i in range(count)]


def _scope(kind: str, i: int, method: str, path: str, query: bytes) -> dict[str, object]:
    return {
        "type": kind, "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
        "method": method, "scheme": "http" if kind == "http" else "ws", "path": path,
        "raw_path": path.encode(), "query_string": query, "root_path": "",
        "headers": [[b"host", b"api.example.com"], [b"user-agent", b"python-httpx/0.27"],
                    [b"accept", b"*/*"], [b"content-type", b"application/json"],
                    [b"x-request-id", str(i).encode()]],
        "client": ["127.0.0.1", 50000 + i % 10000], "server": ["127.0.0.1", 8000], "state": {},
    }


def _http(i: int, rnd: random.Random) -> Exchange:
    method, status = rnd.choice(_METHODS), rnd.choice(_STATUSES)
    path = rnd.choice(["/api/items/", "/api/users/", "/static/app.js?v=", "/health?"]) + str(i)
    query = b"page=%d" % (i % 7) if i % 3 == 0 else b""
    request = b'{"id": %d, "name": "item %d"}' % (i, i) if method != "GET" else b""
    response = b'{"ok": true, "items": [%s]}' % b", ".join(b"%d" % n for n in range(i % 40))
    duration = int(rnd.lognormvariate(16, 1.5))  # median about 9 ms, a long tail past 1 s
    events = [
        Event(direction="receive", type="http.request", t_call=2_000, t_return=9_000,
              message={"type": "http.request", "body": request, "more_body": False}),
        Event(direction="send", type="http.response.start", t_call=duration // 2,
              t_return=duration // 2 + 4_000,
              message={"type": "http.response.start", "status": status,
                       "headers": [[b"content-type", b"application/json"],
                                   [b"content-length", str(len(response)).encode()]]}),
        Event(direction="send", type="http.response.body", t_call=duration - 9_000,
              t_return=duration - 1_000,
              message={"type": "http.response.body", "body": response, "more_body": False}),
    ]
    failed = i % 97 == 0
    return Exchange(
        id=str(i), type="http", started_at=1.7e9 + i / 1000,
        scope=_scope("http", i, method, path.partition("?")[0], query), events=events,
        outcome="exception" if failed else "complete", ended_ns=duration,
        request=Counters(bytes=len(request), chunks=1, kept_bytes=len(request)),
        response=Counters(bytes=len(response), chunks=1, kept_bytes=len(response)),
        marked=i % 1000 == 0, replay_of=str(i - 1) if i % 500 == 1 else None,
        inside=_inside(i) if i % 10 == 0 else [],
    )


def _inside(i: int) -> list[Inside]:
    """A list query, a lookup per item (six of them every hundredth: an N+1), a call."""
    lookups = 6 if i % 100 == 0 else 2
    items: list[Inside] = [Query(library="sqlite3", statement="SELECT id FROM orders LIMIT 20",
                                 t_start=10_000, t_end=60_000)]
    items += [Query(library="sqlite3", statement=f"SELECT * FROM items WHERE id = {n}",
                    t_start=70_000 + n * 50_000, t_end=110_000 + n * 50_000)
              for n in range(lookups)]
    items.append(OutboundCall(library="httpx", method="GET", url=f"http://stock/levels/{i}",
                              t_start=500_000, t_end=900_000, status=200 if i % 30 else 503))
    return items


def _websocket(i: int, rnd: random.Random) -> Exchange:
    frames = [Event(direction="receive", type="websocket.connect", t_call=1_000, t_return=2_000,
                    message={"type": "websocket.connect"}),
              Event(direction="send", type="websocket.accept", t_call=3_000, t_return=4_000,
                    message={"type": "websocket.accept", "subprotocol": None, "headers": []})]
    for n in range(rnd.randint(2, 20)):
        text = rnd.choice(["hello", "ping", '{"op": "sub", "topic": "prices"}', "bye"])
        direction = "receive" if n % 2 else "send"
        frames.append(Event(direction=direction, type=f"websocket.{direction}",
                            t_call=10_000 * n, t_return=10_000 * n + 500,
                            message={"type": f"websocket.{direction}", "text": text}))
    return Exchange(id=str(i), type="websocket", started_at=1.7e9 + i / 1000,
                    scope=_scope("websocket", i, "GET", "/ws/feed", b""), events=frames,
                    outcome="complete", ended_ns=rnd.randint(10**8, 10**10))


def _timings(run: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    exchanges = build(args.count)

    def baseline() -> list[Exchange]:
        return [e for e in exchanges if e.scope.get("method") == "POST"]

    base_times: list[float] = []
    print(f"{args.count} exchanges, {args.rounds} rounds; ms median (best), ratio to baseline")
    for group, expressions in (("simple", SIMPLE), ("compound", COMPOUND), ("slower", SLOW),
                               ("inside", INSIDE)):
        print(f"-- {group}")
        for text in expressions:
            select = compile_filter(text).select
            base_times += _timings(baseline, 2)
            times = _timings(lambda select=select: select(exchanges), args.rounds)
            median = statistics.median(times)
            ratio = median / statistics.median(base_times)
            hits = len(select(exchanges))
            print(f"{text:40} {median:8.1f} ({min(times):6.1f})  x{ratio:5.1f}  {hits:>6} hits")
    print(f"baseline {statistics.median(base_times):.1f} ms (best {min(base_times):.1f})")


if __name__ == "__main__":
    main()
