"""Realistic exchanges with fixed timestamps, for the TUI's tests, screenshots and benchmark.

They are built the way the collector assembles them (same scope keys, same event types, same
counters), so views see exactly what they would see live; every time is fixed, so snapshots
and screenshots are byte-for-byte repeatable.
"""

from __future__ import annotations

import gzip
import json
import random
from typing import Any

from asgi_inspect.model import (
    Counters,
    Event,
    ExceptionInfo,
    Exchange,
    Opaque,
    OutboundCall,
    Outcome,
    OutputLine,
    Query,
    Span,
)

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
MS = 1_000_000


def _scope(kind: str, method: str, path: str, query: bytes, headers: list[list[bytes]],
           port: int) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": kind, "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
        "scheme": "ws" if kind == "websocket" else "http", "path": path,
        "raw_path": path.encode(), "query_string": query, "root_path": "",
        "headers": [[b"host", b"127.0.0.1:8000"], [b"user-agent", b"curl/8.5.0"],
                    [b"accept", b"*/*"], *headers],
        "client": ["127.0.0.1", port], "server": ["127.0.0.1", 8000],
    }
    if kind == "http":
        scope["method"] = method
    return scope


def http_exchange(exchange_id: str, *, method: str = "GET", path: str = "/",
                  query: bytes = b"", status: int | None = 200,
                  request_body: bytes = b"", response_body: bytes = b"",
                  content_type: str = "application/json", request_type: str = "",
                  extra_headers: list[list[bytes]] | None = None,
                  started_at: float = T0, duration_ms: float = 12.0,
                  outcome: Outcome = "complete", exception: ExceptionInfo | None = None,
                  response_chunks: int = 1) -> Exchange:
    """An HTTP exchange; ``outcome="streaming"`` leaves it open (no end, last send pending)."""
    headers = list(extra_headers or [])
    if request_body:
        headers.append([b"content-type", (request_type or content_type).encode()])
        headers.append([b"content-length", str(len(request_body)).encode()])
    duration = int(duration_ms * MS)
    events = [Event(direction="receive", type="http.request", t_call=20_000,
                    t_return=60_000, message={"type": "http.request", "body": request_body,
                                              "more_body": False})]
    if status is not None:
        events.append(_response_start(status, content_type, response_body, duration))
        events.extend(_body_chunks(response_body, response_chunks, duration, outcome))
    exchange = Exchange(
        id=exchange_id, type="http", started_at=started_at,
        scope=_scope("http", method, path, query, headers, 50_000 + int(exchange_id)),
        events=events, outcome=outcome, exception=exception,
        ended_ns=None if outcome == "streaming" else duration,
        request=Counters(bytes=len(request_body), chunks=1, kept_bytes=len(request_body)),
        response=Counters(bytes=len(response_body), chunks=response_chunks if status else 0,
                          kept_bytes=len(response_body)))
    return exchange


def _response_start(status: int, content_type: str, body: bytes, duration: int) -> Event:
    return Event(direction="send", type="http.response.start", t_call=duration // 3,
                 t_return=duration // 3 + 15_000,
                 message={"type": "http.response.start", "status": status,
                          "headers": [[b"content-type", content_type.encode()],
                                      [b"content-length", str(len(body)).encode()],
                                      [b"server", b"uvicorn"]]})


def _body_chunks(body: bytes, chunks: int, duration: int, outcome: str) -> list[Event]:
    size = max(len(body) // chunks, 1)
    parts = [body[i * size: (i + 1) * size if i < chunks - 1 else len(body)]
             for i in range(chunks)]
    events = []
    for i, part in enumerate(parts):
        last = i == chunks - 1
        t_call = duration // 2 + i * (duration // 2) // chunks
        events.append(Event(
            direction="send", type="http.response.body", t_call=t_call,
            t_return=t_call + 30_000, status="ok",
            message={"type": "http.response.body", "body": part,
                     "more_body": not last or outcome == "streaming"}))
    return events


def websocket_exchange(exchange_id: str, *, path: str = "/ws/echo", started_at: float = T0,
                       messages: int = 3, closed: bool = True) -> Exchange:
    """A WebSocket session: accept, text and binary frames both ways, close code and reason."""
    events = [Event(direction="receive", type="websocket.connect", t_call=10_000,
                    t_return=12_000, message={"type": "websocket.connect"}),
              Event(direction="send", type="websocket.accept", t_call=40_000, t_return=45_000,
                    message={"type": "websocket.accept", "subprotocol": "chat",
                             "headers": [[b"x-session", b"abc123"]]})]
    t = 50 * MS
    received = sent = 0
    for i in range(messages):
        text = json.dumps({"seq": i, "text": f"hello {i}"})
        events.append(Event(direction="receive", type="websocket.receive", t_call=t,
                            t_return=t + 2 * MS, message={"type": "websocket.receive",
                                                          "text": text}))
        reply = f"echo {i}".encode() + bytes([0, 1, 2, 255])
        events.append(Event(direction="send", type="websocket.send", t_call=t + 3 * MS,
                            t_return=t + 3 * MS + 40_000,
                            message={"type": "websocket.send", "bytes": reply}))
        received += len(text)
        sent += len(reply)
        t += 40 * MS
    if closed:
        events.append(Event(direction="send", type="websocket.close", t_call=t, t_return=t + MS,
                            message={"type": "websocket.close", "code": 1001,
                                     "reason": "going away"}))
    return Exchange(
        id=exchange_id, type="websocket", started_at=started_at,
        scope={**_scope("websocket", "GET", path, b"", [[b"upgrade", b"websocket"]],
                        50_000 + int(exchange_id)), "subprotocols": ["chat"]},
        events=events, outcome="complete" if closed else "streaming",
        ended_ns=t + 2 * MS if closed else None,
        request=Counters(bytes=received, chunks=messages, kept_bytes=received),
        response=Counters(bytes=sent, chunks=messages, kept_bytes=sent))


def lifespan_exchange(exchange_id: str, *, started_at: float = T0) -> Exchange:
    events = [Event(direction="receive", type="lifespan.startup", t_call=5_000, t_return=6_000,
                    message={"type": "lifespan.startup"}),
              Event(direction="send", type="lifespan.startup.complete", t_call=2 * MS,
                    t_return=2 * MS + 5_000, message={"type": "lifespan.startup.complete"})]
    return Exchange(id=exchange_id, type="lifespan", started_at=started_at,
                    scope={"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                           "state": {}},
                    events=events, outcome="streaming")


TRACEBACK = """Traceback (most recent call last):
  File "/srv/app/main.py", line 42, in create_order
    total = compute_total(order)
  File "/srv/app/pricing.py", line 17, in compute_total
    return sum(item["price"] * item["qty"] for item in order["items"])
KeyError: 'qty'
"""


def failing_exchange(exchange_id: str, *, started_at: float = T0) -> Exchange:
    """A POST whose app raised before responding (the server answered 500 on its own)."""
    exchange = http_exchange(
        exchange_id, method="POST", path="/orders", status=None, started_at=started_at,
        request_body=b'{"items": [{"sku": "A-1", "price": 9.5}]}', duration_ms=3.5,
        outcome="exception",
        exception=ExceptionInfo(type="KeyError", message="'qty'", traceback=TRACEBACK,
                                after_event=0))
    exchange.notes.append("the app raised before starting a response: the server answered on "
                          "its own (uvicorn sends 500 Internal Server Error)")
    exchange.output = [  # what its print() and logging said on the way
        OutputLine(t=90_000, stream="stdout", text="placing order for 1 item"),
        OutputLine(t=1_200_000, stream="log", text="INFO shop.orders: price total 9.5"),
        OutputLine(t=2_900_000, stream="log",
                   text="WARNING shop.orders: line 0 has no 'qty', trying the default"),
    ]
    return exchange


_PATHS = ("/", "/api/items", "/api/items/42", "/api/users", "/static/app.js", "/health",
          "/api/search", "/login", "/api/orders", "/metrics")
_METHODS = ("GET", "GET", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD")
_STATUSES = (200, 200, 200, 201, 204, 301, 304, 400, 404, 422, 500, 503)


def json_body(rng: random.Random, items: int) -> bytes:
    data = {"items": [{"id": rng.randrange(10_000), "name": f"item {i}",
                       "price": round(rng.uniform(1, 100), 2), "tags": ["a", "b"][: i % 3]}
                      for i in range(items)], "total": items}
    return json.dumps(data).encode()


def sample_exchanges(count: int, *, seed: int = 7, start: int = 1,
                     t0: float = T0) -> list[Exchange]:
    """``count`` varied HTTP exchanges (ids ``start``…), a fixed sequence for a given seed."""
    rng = random.Random(seed)
    out = []
    for n in range(start, start + count):
        method = rng.choice(_METHODS)
        status = rng.choice(_STATUSES)
        query = f"page={rng.randrange(1, 9)}".encode() if rng.random() < 0.3 else b""
        body = json_body(rng, rng.randrange(0, 4)) if status not in (204, 304) else b""
        request_body = json_body(rng, 1) if method in ("POST", "PUT", "PATCH") else b""
        out.append(http_exchange(
            str(n), method=method, path=rng.choice(_PATHS), query=query, status=status,
            response_body=body, request_body=request_body,
            started_at=t0 + n * 0.137, duration_ms=round(rng.uniform(0.3, 250), 1)))
    return out


def showcase(count: int = 40) -> list[Exchange]:
    """A screenful of everything: ordinary traffic, JSON, HTML, a WebSocket, an error, live."""
    exchanges = [lifespan_exchange("1", started_at=T0)]
    exchanges += sample_exchanges(count, start=2, t0=T0)
    n = count + 2
    created = http_exchange(
        str(n), method="POST", path="/api/items", status=201, started_at=T0 + n * 0.137,
        request_body=b'{"name": "widget", "price": 9.99, "tags": ["new", "sale"]}',
        response_body=b'{"id": 43, "name": "widget", "price": 9.99}', duration_ms=8.2)
    created.scope_added = {  # as FastAPI leaves them
        "app": Opaque(type="FastAPI", repr="<fastapi.applications.FastAPI object>"),
        "router": Opaque(type="APIRouter", repr="<fastapi.routing.APIRouter object>"),
        "endpoint": Opaque(type="function", repr="shop.api.create_item"),
        "path_params": {},
        "route": Opaque(type="APIRoute", repr="APIRoute(path='/api/items', "
                                               "name='create_item', methods=['POST'])"),
    }
    exchanges.append(created)
    exchanges.append(http_exchange(
        str(n + 1), path="/about", status=200, content_type="text/html; charset=utf-8",
        started_at=T0 + (n + 1) * 0.137,
        response_body=b"<!doctype html>\n<html lang=\"en\">\n<body>\n  <h1>About</h1>\n"
                      b"  <p class=\"lead\">Hello</p>\n</body>\n</html>\n"))
    exchanges.append(websocket_exchange(str(n + 2), started_at=T0 + (n + 2) * 0.137))
    exchanges.append(failing_exchange(str(n + 3), started_at=T0 + (n + 3) * 0.137))
    live = http_exchange(str(n + 4), path="/events", status=200,
                         content_type="text/event-stream", started_at=T0 + (n + 4) * 0.137,
                         response_body=b"data: tick 1\n\ndata: tick 2\n\n", response_chunks=2,
                         outcome="streaming", duration_ms=1500)
    exchanges.append(live)
    return exchanges


_ORDERS = ("SELECT orders.id, orders.customer_id, orders.total FROM orders "
           "WHERE orders.status = ? ORDER BY orders.created DESC LIMIT ? OFFSET ?")
_CUSTOMER = "SELECT customers.id, customers.name FROM customers WHERE customers.id = ?"
_QUOTES = json.dumps({"quotes": [{"id": i, "price": 9.5 + i} for i in range(1, 4)]}).encode()


def orders_exchange(exchange_id: str, *, started_at: float = T0, orders: int = 10) -> Exchange:
    """``GET /api/orders`` as an app with an N+1 makes it: one query for the orders, then one
    per order for its customer, an outbound call to a pricing service (its answer gzipped) and
    a Redis span, all before the response starts (at 16 ms of 48)."""
    exchange = http_exchange(exchange_id, path="/api/orders", started_at=started_at,
                             duration_ms=48.0, response_body=b'{"orders": []}')
    items: list[OutboundCall | Query | Span] = [
        Query(library="sqlalchemy", database="sqlite", statement=_ORDERS,
              parameters=["open", orders, 0], rows=orders, t_start=1_100_000,
              t_end=1_700_000, location="shop/api.py:41")]
    for i in range(orders):
        start = 2_000_000 + i * 600_000
        items.append(Query(library="sqlalchemy", database="sqlite", statement=_CUSTOMER,
                           parameters=[100 + i], rows=1, t_start=start, t_end=start + 400_000,
                           location="shop/api.py:44"))
    body = gzip.compress(_QUOTES, mtime=0)
    items.append(OutboundCall(
        library="httpx", method="GET", url="https://pricing.internal/v1/quotes?ids=1,2,3",
        t_start=8_500_000, t_first_byte=13_800_000, t_end=14_200_000, status=200,
        http_version="HTTP/1.1",
        request_headers=[[b"host", b"pricing.internal"], [b"accept", b"application/json"]],
        response_headers=[[b"content-type", b"application/json"],
                          [b"content-encoding", b"gzip"],
                          [b"content-length", str(len(body)).encode()]],
        request_body=b"", response_body=body, response_size=len(body),
        location="shop/pricing.py:18"))
    items.append(Span(name="GET", library="opentelemetry.instrumentation.redis",
                      span_kind="client", t_start=14_500_000, t_end=15_100_000,
                      trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7",
                      attributes={"db.system": "redis", "db.statement": "GET cart:7"}))
    exchange.inside = items
    return exchange


def checkout_exchange(exchange_id: str, *, started_at: float = T0) -> Exchange:
    """``POST /api/checkout`` whose payment call is refused: an insert, then the failed call."""
    exchange = http_exchange(exchange_id, method="POST", path="/api/checkout", status=502,
                             started_at=started_at, duration_ms=9.0,
                             request_body=b'{"cart": 7}', response_body=b'{"error": "payment"}')
    exchange.inside = [
        Query(library="sqlite3", database="sqlite",
              statement="INSERT INTO payments (cart, amount) VALUES (?, ?)",
              parameters=[7, 29.5], rows=1, t_start=400_000, t_end=600_000,
              location="shop/checkout.py:12"),
        OutboundCall(library="requests", method="POST", url="http://payments.local:9000/charge",
                     t_start=700_000, t_end=1_900_000,
                     request_headers=[[b"content-type", b"application/json"]],
                     request_body=b'{"amount": 29.5}', request_size=16,
                     error="ConnectError: [Errno 111] Connection refused",
                     location="shop/checkout.py:15")]
    return exchange


def inside_showcase(count: int = 12) -> list[Exchange]:
    """Ordinary traffic, then exchanges that made calls and queries (one with an N+1, one whose
    outbound call failed)."""
    exchanges = sample_exchanges(count, start=1, t0=T0)
    n = count + 1
    exchanges.append(checkout_exchange(str(n), started_at=T0 + n * 0.137))
    exchanges.append(orders_exchange(str(n + 1), started_at=T0 + (n + 1) * 0.137))
    return exchanges
