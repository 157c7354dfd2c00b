"""The bundled demo app: a raw ASGI 3 app, standard library only (and httpx, a dependency of
asgi-inspect, for its one outbound call).

``asgi-inspect run`` with no app serves ``asgi_inspect.demo:app`` so a new user sees real traffic
at once: its home page fires JSON, Server-Sent Events and WebSocket traffic on load, and calls
the two routes that work inside (an outbound HTTP call and sqlite queries, and an N+1), and has
a button for every other route. Each route is a short handler registered in ``ROUTES`` by
``(method, path template)``; handlers take a ``Request`` and return a ``Response``, and bad input
raises ``HTTPError``, which becomes a JSON error (400 for a bad parameter). Routes:

    GET  /                          HTML page with a button per route
    GET  /api/items                 JSON list
    GET  /api/items/{id}            one item; 404 if unknown
    POST /api/items                 JSON body {"name", "price"}: 201 + Location; 422 if invalid
    POST /upload                    urlencoded or multipart form: field names and sizes
    GET  /download?size=1048576     that many bytes in 64 KiB chunks, with Content-Length
    GET  /events?count=5&interval=0.5   Server-Sent Events: ticks, then "done"; the stream ends
    GET  /chat?prompt=hi            an LLM-style stream: `data: {...}` chunks, then `data: [DONE]`
    GET  /api/catalog               a larger JSON list, gzip-compressed when the client accepts it
    GET  /api/dashboard             calls this app's own /api/items over loopback (httpx), then
                                    runs a few queries on the demo's sqlite database
    GET  /api/reviews               each product with its reviews: one query for the products,
                                    then one per product (an N+1 the inspector flags)
    POST /rpc                       JSON-RPC 2.0 (items.list, items.get, items.add; batches);
                                    with `Accept: text/event-stream` only, answered over SSE
                                    with a progress notification first, as MCP servers do
    WS   /ws/echo                   echoes text and binary frames; "bye" closes with 1000
    GET  /slow?seconds=1.5          answers after that delay (at most 10 s)
    GET  /error                     raises RuntimeError caused by a KeyError (server sends 500)
    GET  /redirect                  302 to /api/items
    GET  /status/{code}             answers with that status (200-599)

HEAD works on every GET route; unknown paths get a JSON 404, wrong methods a 405 with Allow.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import logging
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import HeaderParser
from email.policy import HTTP
from functools import cached_property
from http import HTTPStatus
from typing import Any, TypedDict, TypeVar
from urllib.parse import parse_qsl

import httpx

from asgi_inspect.types import RawHeaders, Receive, Scope, Send

Number = TypeVar("Number", int, float)

MIB = 1024 * 1024
CHUNK = 64 * 1024
MAX_REQUEST_BODY = 10 * MIB
# Download content: every byte value in turn, so a client can check what it got.
PATTERN = bytes(range(256)) * (CHUNK // 256)
NO_BODY_STATUSES = frozenset({204, 205, 304})
REASONS = {status.value: status.phrase for status in HTTPStatus}
SEED_ITEMS = (("Keyboard", 49.0), ("Mouse", 19.5), ("Monitor", 189.99))
OUTBOUND_TIMEOUT = 5.0  # seconds the dashboard waits for its own /api/items
SHOP_SCHEMA = """
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL);
CREATE TABLE reviews (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL REFERENCES products,
                      stars INTEGER NOT NULL, body TEXT NOT NULL);
"""
SHOP_PRODUCTS = (("Keyboard", 49.0), ("Mouse", 19.5), ("Monitor", 189.99), ("Desk lamp", 24.5),
                 ("Webcam", 59.0), ("Headset", 79.9))
SHOP_REVIEWS = ((1, 5, "Clicky and solid"), (1, 4, "Loud at night"), (2, 3, "Fine"),
                (3, 5, "Sharp and bright"), (4, 4, "Warm light"), (5, 2, "Grainy in dim rooms"),
                (5, 3, "Does the job"), (6, 5, "Comfortable all day"))


class HTTPError(Exception):
    """Bad input or an unknown route: answered as a JSON error, never as a traceback."""

    def __init__(self, status: int, message: str, headers: RawHeaders = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)


class Item(TypedDict):
    """One item of the JSON API, as it is served."""

    id: int
    name: str
    price: float


class ItemStore:
    """The items the JSON API serves, kept in memory per app instance."""

    def __init__(self) -> None:
        self._items: dict[int, Item] = {}
        self._ids = itertools.count(1)
        for name, price in SEED_ITEMS:
            self.add(name, price)

    def all(self) -> list[Item]:
        return list(self._items.values())

    def get(self, item_id: int) -> Item | None:
        return self._items.get(item_id)

    def add(self, name: str, price: float) -> Item:
        item: Item = {"id": next(self._ids), "name": name, "price": price}
        self._items[item["id"]] = item
        return item


class Shop:
    """The demo's sqlite database (in memory): products and their reviews.

    Made when first needed, at lifespan startup or else by the first request that asks (a
    server without lifespan, httpx's ASGITransport), never at import: a recorder that hooks
    sqlite3 as the app starts (``asgi-inspect run``, ``Inspector(capture_calls=True)``) sees
    the connection made after it, so it sees every query."""

    def __init__(self) -> None:
        self._db: sqlite3.Connection | None = None

    def database(self) -> sqlite3.Connection:
        """The connection, and the tables filled, the first time."""
        if self._db is None:
            # One connection on the event loop's thread; sync handlers may run elsewhere.
            db = sqlite3.connect(":memory:", check_same_thread=False)
            db.executescript(SHOP_SCHEMA)
            db.executemany("INSERT INTO products (name, price) VALUES (?, ?)", SHOP_PRODUCTS)
            db.executemany("INSERT INTO reviews (product_id, stars, body) VALUES (?, ?, ?)",
                           SHOP_REVIEWS)
            self._db = db
        return self._db


@dataclass
class Request:
    """What a handler sees: the scope, the body on demand, query and path parameters."""

    scope: Scope
    receive: Receive
    items: ItemStore
    shop: Shop
    params: dict[str, str] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    @cached_property
    def query(self) -> dict[str, str]:
        """Query parameters; a repeated name keeps its last value."""
        return dict(parse_qsl(self.scope.get("query_string", b"").decode("latin-1"),
                              keep_blank_values=True))

    def header(self, name: bytes) -> bytes:
        """The last value of a request header, or b"" when it is absent."""
        values = [value for key, value in self.scope["headers"] if key.lower() == name]
        return values[-1] if values else b""

    def query_number(self, name: str, default: Number, low: Number, high: Number) -> Number:
        """A numeric query parameter of the default's type, checked against [low, high]."""
        raw = self.query.get(name)
        value = default if raw is None else parse_number(name, raw, type(default))
        if not low <= value <= high:
            raise HTTPError(400, f"{name} must be from {low} to {high}, not {value}")
        return value

    async def body(self) -> bytes:
        """The whole request body; 413 past MAX_REQUEST_BODY so an upload cannot fill memory."""
        body = bytearray()
        more = True
        while more:
            message = await self.receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_REQUEST_BODY:
                raise HTTPError(413, f"request body is larger than {MAX_REQUEST_BODY} bytes")
        return bytes(body)


@dataclass
class Response:
    """Status, headers, and a body that is either complete or streamed chunk by chunk."""

    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes | AsyncIterator[bytes] = b""


Handler = Callable[[Request], Awaitable[Response]]
ROUTES: dict[tuple[str, str], Handler] = {}
log = logging.getLogger("asgi_demo")


def route(method: str, path: str) -> Callable[[Handler], Handler]:
    """Register a handler for ``method`` and a path template such as ``/api/items/{id}``."""

    def register(handler: Handler) -> Handler:
        ROUTES[method, path] = handler
        return handler

    return register


def parse_number(name: str, raw: str, kind: type[Number]) -> Number:
    """Parse a parameter, turning a bad value into a 400 that names it."""
    try:
        return kind(raw)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise HTTPError(400, f"{name} must be {expected}, not {raw!r}") from None


def body_response(body: bytes, content_type: str, status: int = 200,
                  headers: RawHeaders = ()) -> Response:
    """A complete response; Content-Length lets HEAD and clients know the size up front."""
    return Response(status, [(b"content-type", content_type.encode()),
                             (b"content-length", str(len(body)).encode()), *headers], body)


def json_response(data: Any, status: int = 200, headers: RawHeaders = ()) -> Response:
    """JSON for the API routes and for every error."""
    return body_response(json.dumps(data).encode(), "application/json", status, headers)


def html_response(html: str) -> Response:
    """An HTML page, declared UTF-8 so browsers need not guess."""
    return body_response(html.encode(), "text/html; charset=utf-8")


def text_response(text: str, status: int = 200, headers: RawHeaders = ()) -> Response:
    """Plain UTF-8 text, for the routes whose answer is a sentence."""
    return body_response(text.encode(), "text/plain; charset=utf-8", status, headers)


def parse_mime_headers(block: bytes) -> EmailMessage:
    """Parse MIME headers with the stdlib; browsers send raw UTF-8 in them, so decode that."""
    return HeaderParser(policy=HTTP).parsestr(block.decode("utf-8", "replace"))


@route("GET", "/")
async def home(request: Request) -> Response:
    """A page that calls every route and starts JSON, SSE and WebSocket traffic on load."""
    return html_response(HOME_PAGE)


@route("GET", "/api/items")
async def list_items(request: Request) -> Response:
    """All items as a JSON list."""
    return json_response(request.items.all())


@route("GET", "/api/items/{id}")
async def get_item(request: Request) -> Response:
    """One item; 404 when the id is unknown."""
    item_id = parse_number("id", request.params["id"], int)
    item = request.items.get(item_id)
    if item is None:
        raise HTTPError(404, f"no item with id {item_id}")
    return json_response(item)


@route("POST", "/api/items")
async def create_item(request: Request) -> Response:
    """Create an item from ``{"name": str, "price": number}``: 201 with its Location."""
    name, price = parse_item(await request.body())
    item = request.items.add(name, price)
    print(f"created item {item['id']}: {name} at {price}")  # the Output tab shows it
    return json_response(item, 201, [(b"location", f"/api/items/{item['id']}".encode())])


def parse_item(body: bytes) -> tuple[str, float]:
    """Validate a new item; anything wrong is a 422 that says what."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise HTTPError(422, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise HTTPError(422, "body must be a JSON object")
    name, price = data.get("name"), data.get("price")
    if not isinstance(name, str) or not name.strip():
        raise HTTPError(422, "name must be a non-empty string")
    if (not isinstance(price, int | float) or isinstance(price, bool)
            or not (math.isfinite(price) and price >= 0)):
        raise HTTPError(422, "price must be a number >= 0")
    return name, price


@route("POST", "/upload")
async def upload(request: Request) -> Response:
    """Report the fields of a form upload (names and sizes, not contents)."""
    content_type = parse_mime_headers(b"content-type: " + request.header(b"content-type"))
    kind = content_type.get_content_type()
    body = await request.body()
    if kind == "application/x-www-form-urlencoded":
        fields = urlencoded_fields(body)
    elif kind == "multipart/form-data":
        fields = multipart_fields(body, content_type["content-type"].params.get("boundary", ""))
    else:
        raise HTTPError(415, "send application/x-www-form-urlencoded or multipart/form-data")
    return json_response({"content_type": kind, "bytes": len(body), "fields": fields})


def urlencoded_fields(body: bytes) -> list[dict[str, Any]]:
    """Name and decoded size of each field of a urlencoded form."""
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return [{"name": name, "size": len(value.encode())} for name, value in pairs]


def multipart_fields(body: bytes, boundary: str) -> list[dict[str, Any]]:
    """Split a multipart/form-data body on its delimiter lines (RFC 2046 §5.1.1).

    A delimiter is CRLF + "--" + boundary; the first one has no CRLF before it, hence the
    prefix. The piece before it is the preamble; the closing delimiter adds "--".
    """
    if not boundary:
        raise HTTPError(400, "multipart/form-data without a boundary")
    pieces = (b"\r\n" + body).split(b"\r\n--" + boundary.encode())
    if len(pieces) < 2 or not pieces[-1].startswith(b"--"):
        raise HTTPError(400, "multipart body does not end with its closing boundary")
    return [multipart_field(piece) for piece in pieces[1:-1]]


def multipart_field(piece: bytes) -> dict[str, Any]:
    """Name, size, and file name and type when present, of one multipart part."""
    _padding, _, part = piece.partition(b"\r\n")  # the rest of the delimiter line
    head, _, content = part.partition(b"\r\n\r\n")
    headers = parse_mime_headers(head)
    disposition = headers["content-disposition"]
    if disposition is None or "name" not in disposition.params:
        raise HTTPError(400, "multipart part without a Content-Disposition name")
    field_info = {"name": disposition.params["name"], "size": len(content)}
    if "filename" in disposition.params:
        field_info["filename"] = disposition.params["filename"]
        field_info["content_type"] = headers.get_content_type()
    return field_info


@route("GET", "/download")
async def download(request: Request) -> Response:
    """``size`` bytes (default 1 MiB, at most 100 MiB) streamed in 64 KiB chunks."""
    size = request.query_number("size", MIB, 0, 100 * MIB)
    headers = [(b"content-type", b"application/octet-stream"),
               (b"content-length", str(size).encode()),
               (b"content-disposition", b'attachment; filename="demo.bin"')]
    return Response(200, headers, pattern_chunks(size))


async def pattern_chunks(size: int) -> AsyncIterator[bytes]:
    """``size`` bytes of PATTERN, one chunk per send; every chunk starts at a 256-byte cycle."""
    for start in range(0, size, CHUNK):
        yield PATTERN[: min(CHUNK, size - start)]


@route("GET", "/events")
async def events(request: Request) -> Response:
    """Server-Sent Events: ``count`` "tick" events ``interval`` seconds apart, then "done"."""
    count = request.query_number("count", 5, 1, 100)
    interval = request.query_number("interval", 0.5, 0.0, 5.0)
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    return Response(200, headers, tick_events(count, interval))


async def tick_events(count: int, interval: float) -> AsyncIterator[bytes]:
    """The event stream; the final "done" event tells EventSource not to reconnect."""
    for n in range(1, count + 1):
        if n > 1:
            await asyncio.sleep(interval)
        yield sse_frame(n, "tick", {"n": n, "of": count, "time": time.time()})
    yield sse_frame(count + 1, "done", {"ticks": count})


def sse_frame(event_id: int, event: str, data: Any) -> bytes:
    """One event in text/event-stream framing; the blank line ends it."""
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data)}\n\n".encode()


CHAT_REPLY = ("Each chunk of this answer is one Server-Sent Event, as LLM APIs stream them; "
              "asgi-inspect assembles the text.")


@route("GET", "/chat")
async def chat(request: Request) -> Response:
    """An LLM-style completion stream (OpenAI's chunk shape) that ends with ``[DONE]``."""
    prompt = request.query.get("prompt", "hi")[:200]
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    return Response(200, headers, chat_chunks(prompt))


async def chat_chunks(prompt: str) -> AsyncIterator[bytes]:
    words = [f"You said {prompt!r}. ", *(f"{word} " for word in CHAT_REPLY.split())]
    for n, word in enumerate(words):
        await asyncio.sleep(0.02)
        chunk = {"id": "chat-1", "object": "chat.completion.chunk", "created": n,
                 "choices": [{"index": 0, "delta": {"content": word}}]}
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    yield b"data: [DONE]\n\n"


@route("GET", "/api/catalog")
async def catalog(request: Request) -> Response:
    """200 generated items as JSON; gzip-compressed when the client accepts gzip."""
    items = [{"id": n, "name": f"Item {n}", "price": round(1.5 * n, 2), "tags": ["demo"]}
             for n in range(1, 201)]
    body = json.dumps({"items": items}).encode()
    if b"gzip" not in request.header(b"accept-encoding").lower():
        return body_response(body, "application/json")
    return body_response(gzip.compress(body, mtime=0), "application/json",
                         headers=[(b"content-encoding", b"gzip"), (b"vary", b"accept-encoding")])


@route("GET", "/api/dashboard")
async def dashboard(request: Request) -> Response:
    """What a backend-for-frontend does: fetch a list from an API (this app's own
    /api/items, over loopback, so it works offline) and add figures from the database."""
    items = await fetch_own(request.scope, "/api/items")
    db = request.shop.database()
    products, average_price = db.execute("SELECT count(*), avg(price) FROM products").fetchone()
    (average_stars,) = db.execute("SELECT avg(stars) FROM reviews").fetchone()
    top = db.execute("SELECT p.name, avg(r.stars) AS stars FROM products p "
                     "JOIN reviews r ON r.product_id = p.id "
                     "GROUP BY p.id ORDER BY stars DESC, p.name LIMIT 3").fetchall()
    return json_response({"items": len(items), "products": products,
                          "average_price": round(average_price, 2),
                          "average_stars": round(average_stars, 2),
                          "top_rated": [name for name, _stars in top]})


async def fetch_own(scope: Scope, path: str) -> Any:
    """GET one of this app's own JSON routes over HTTP; 502 when that fails."""
    url = own_url(scope, path)
    # verify=False: a TLS certificate names the app's host, not the loopback address.
    async with httpx.AsyncClient(timeout=OUTBOUND_TIMEOUT, verify=False) as client:
        try:
            response = await client.get(url)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise HTTPError(502, f"GET {url} failed: {type(exc).__name__}: {exc}") from None


def own_url(scope: Scope, path: str) -> str:
    """The URL of ``path`` on this app, from the address the server says it listens on (a
    wildcard address is reached over loopback); 503 when it listens on a Unix socket."""
    server = scope.get("server")
    if not server or server[1] is None:
        raise HTTPError(503, "the server listens on no TCP port: the demo cannot call itself")
    host, port = str(server[0]), int(server[1])
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if scope.get("scheme") == "https" else "http"
    return f"{scheme}://{host}:{port}{scope.get('root_path', '')}{path}"


@route("GET", "/api/reviews")
async def reviews(request: Request) -> Response:
    """Each product with its reviews, fetched the naive way: one query for the products, then
    one more per product. The same statement run once per row is an N+1, which the inspector
    flags (one JOIN would do)."""
    db = request.shop.database()
    products = db.execute("SELECT id, name FROM products ORDER BY id").fetchall()
    result = []
    for product_id, name in products:
        rows = db.execute("SELECT stars, body FROM reviews WHERE product_id = ? ORDER BY id",
                          (product_id,)).fetchall()
        result.append({"id": product_id, "name": name,
                       "reviews": [{"stars": stars, "body": body} for stars, body in rows]})
    return json_response(result)


RPC_ERRORS = {-32700: "Parse error", -32600: "Invalid Request", -32601: "Method not found",
              -32602: "Invalid params"}


class RPCError(Exception):
    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(detail or RPC_ERRORS[code])
        self.code = code
        self.detail = detail


@route("POST", "/rpc")
async def rpc(request: Request) -> Response:
    """JSON-RPC 2.0 over HTTP: one call or a batch; notifications get no answer.

    A client that accepts only ``text/event-stream`` gets the answers as SSE events, after a
    progress notification, the way MCP's streamable HTTP transport answers."""
    try:
        payload = json.loads(await request.body())
    except ValueError:
        return json_response(rpc_error(None, RPCError(-32700)))
    calls = payload if isinstance(payload, list) and payload else [payload]
    answers = [a for a in (rpc_answer(request.items, call) for call in calls) if a is not None]
    if not answers:
        return Response(202)
    if request.header(b"accept").strip() == b"text/event-stream":
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        return Response(200, headers, rpc_stream(answers))
    return json_response(answers if isinstance(payload, list) else answers[0])


def rpc_answer(items: ItemStore, call: Any) -> dict[str, Any] | None:
    """The response object for one call (None for a notification)."""
    if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" or \
            not isinstance(call.get("method"), str):
        return rpc_error(None, RPCError(-32600))
    try:
        result = rpc_call(items, call["method"], call.get("params") or {})
    except RPCError as exc:
        return rpc_error(call.get("id"), exc) if "id" in call else None
    return {"jsonrpc": "2.0", "id": call["id"], "result": result} if "id" in call else None


def rpc_call(items: ItemStore, method: str, params: Any) -> Any:
    if not isinstance(params, dict):
        raise RPCError(-32602, "params must be an object")
    if method == "items.list":
        return items.all()
    if method == "items.get":
        item_id = params.get("id")
        item = items.get(item_id) if isinstance(item_id, int) else None
        if item is None:
            raise RPCError(-32602, f"no item {item_id!r}")
        return item
    if method == "items.add":
        try:
            name, price = parse_item(json.dumps(params).encode())
        except HTTPError as exc:
            raise RPCError(-32602, exc.message) from None
        return items.add(name, price)
    raise RPCError(-32601, f"no method {method!r}")


def rpc_error(call_id: Any, exc: RPCError) -> dict[str, Any]:
    error = {"code": exc.code, "message": RPC_ERRORS[exc.code]}
    if exc.detail:
        error["data"] = exc.detail
    return {"jsonrpc": "2.0", "id": call_id, "error": error}


async def rpc_stream(answers: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    progress = {"jsonrpc": "2.0", "method": "notifications/progress",
                "params": {"progressToken": 1, "progress": 1, "total": 2}}
    for n, message in enumerate([progress, *answers], start=1):
        await asyncio.sleep(0.01)
        yield f"id: {n}\nevent: message\ndata: {json.dumps(message)}\n\n".encode()


@route("GET", "/slow")
async def slow(request: Request) -> Response:
    """Answer after ``seconds`` (default 1.5, at most 10): something to watch as pending."""
    seconds = request.query_number("seconds", 1.5, 0.0, 10.0)
    await asyncio.sleep(seconds)
    return json_response({"slept": seconds})


@route("GET", "/error")
async def error(request: Request) -> Response:
    """Fail with a chained exception, so the inspector's exception view has a cause to show."""
    try:
        stock = warehouse_stock("demo-sku")
    except KeyError as exc:
        log.warning("stock lookup for %s failed", "demo-sku")  # so does this
        raise RuntimeError("could not price the basket: stock lookup failed") from exc
    return json_response(stock)


def warehouse_stock(sku: str) -> dict[str, int]:
    """A lookup that always misses: the cause of the /error failure."""
    levels: dict[str, dict[str, int]] = {}
    return levels[sku]


@route("GET", "/redirect")
async def redirect(request: Request) -> Response:
    """302 to the item list."""
    return text_response("see /api/items\n", 302, [(b"location", b"/api/items")])


@route("GET", "/status/{code}")
async def status(request: Request) -> Response:
    """Answer with any final status from 200 to 599, with no body where HTTP forbids one."""
    code = parse_number("code", request.params["code"], int)
    if not 200 <= code <= 599:
        raise HTTPError(400, f"code must be from 200 to 599, not {code}")
    if code in NO_BODY_STATUSES:
        return Response(code)
    return text_response(f"{code} {REASONS.get(code, 'Unknown')}\n", code)


def match(template: str, path: str) -> dict[str, str] | None:
    """The parameters of ``path`` if it fits ``template`` ({name} takes one segment)."""
    wanted, given = template.split("/"), path.split("/")
    if len(wanted) != len(given):
        return None
    params = {}
    for want, got in zip(wanted, given, strict=True):
        if want.startswith("{") and want.endswith("}") and got:
            params[want[1:-1]] = got
        elif want != got:
            return None
    return params


def resolve(method: str, path: str) -> tuple[Handler, dict[str, str]]:
    """Find the handler; HEAD runs the GET handler. 404 or 405 (with Allow) otherwise."""
    allowed: set[str] = set()
    for (route_method, template), handler in ROUTES.items():
        params = match(template, path)
        if params is None:
            continue
        if method == route_method or (method == "HEAD" and route_method == "GET"):
            return handler, params
        allowed.add(route_method)
    if not allowed:
        raise HTTPError(404, f"no route for {path}")
    if "GET" in allowed:
        allowed.add("HEAD")
    allow = ", ".join(sorted(allowed)).encode()
    raise HTTPError(405, f"{method} is not allowed on {path}", [(b"allow", allow)])


async def send_response(send: Send, receive: Receive, response: Response, head: bool) -> None:
    """Send a response; for HEAD only its headers (the server would drop the body anyway)."""
    await send({"type": "http.response.start", "status": response.status,
                "headers": response.headers})
    if head:
        await send({"type": "http.response.body", "body": b""})
    elif isinstance(response.body, bytes):
        await send({"type": "http.response.body", "body": response.body})
    else:
        await stream_body(send, receive, response.body)


async def stream_body(send: Send, receive: Receive, chunks: AsyncIterator[bytes]) -> None:
    """Send chunks while watching receive(): a client that leaves stops the stream at once.

    Servers need not raise when sending to a closed connection (uvicorn's h11 side does not),
    so without the watcher a long SSE stream would tick on, unseen, to its end.
    """
    pump = asyncio.ensure_future(send_chunks(send, chunks))
    watch = asyncio.ensure_future(wait_for_disconnect(receive))
    try:
        await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:
        pump.cancel()
        watch.cancel()
        await asyncio.gather(pump, watch, return_exceptions=True)
    for task in (pump, watch):
        if not task.cancelled():
            task.result()


async def send_chunks(send: Send, chunks: AsyncIterator[bytes]) -> None:
    """Each chunk as its own body message, then the empty final one that ends the response."""
    async for chunk in chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def wait_for_disconnect(receive: Receive) -> None:
    """Return once the client is gone (skipping the request body messages)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def websocket_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Echo every text and binary frame; "bye" closes the socket with code 1000."""
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text == "bye":
            await send({"type": "websocket.close", "code": 1000, "reason": "bye"})
            return
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


WEBSOCKET_ROUTES = {"/ws/echo": websocket_echo}


class DemoApp:
    """The demo as an ASGI 3 callable; each instance has its own item store."""

    def __init__(self) -> None:
        self.items = ItemStore()
        self.shop = Shop()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch on the scope type; unknown types raise, as the ASGI spec asks."""
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self.websocket(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(scope, receive, send)
        else:
            raise ValueError(f"the demo does not handle {scope['type']!r} scopes")

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route, run the handler, and turn HTTPError into its JSON answer."""
        request = Request(scope, receive, self.items, self.shop)
        try:
            handler, params = resolve(request.method, request.path)
            request.params = params
            response = await handler(request)
        except HTTPError as exc:
            response = json_response({"error": exc.message}, exc.status, exc.headers)
        await send_response(send, receive, response, head=request.method == "HEAD")

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the route's handler after the connect message; unknown paths are refused (403)."""
        if (await receive())["type"] != "websocket.connect":
            return
        handler = WEBSOCKET_ROUTES.get(scope["path"])
        if handler is None:
            await send({"type": "websocket.close", "code": 1008})
            return
        await handler(scope, receive, send)

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Complete startup and shutdown; publish the store and start time as lifespan state,
        and make the database at startup.

        Handlers use ``self.items`` so the app also works where there is no lifespan (httpx's
        ASGITransport); the state is there for the inspector to show.
        """
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.shop.database()  # made now, not by the first request
                if "state" in scope:
                    scope["state"].update(items=self.items, started_at=time.time())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


HOME_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>asgi-inspect demo</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
         padding: 0 1rem; }
  button { margin: 0.15rem; }
  #log { background: #16181d; color: #d8dee9; padding: 0.8rem; min-height: 14rem;
         font: 13px/1.4 ui-monospace, monospace; white-space: pre-wrap; }
</style>
</head>
<body>
<h1>asgi-inspect demo</h1>
<p>Each button sends a request to this app: watch it arrive in asgi-inspect.
   JSON calls (one gzip-compressed), JSON-RPC calls (one answered over SSE), a form upload, two
   event streams and a WebSocket session start as soon as the page loads, and so do two calls
   that show what an endpoint did inside: an outbound HTTP call and sqlite queries, and an
   N+1 query pattern.</p>
<h2>HTTP</h2>
<button onclick="call('GET', 'api/items')">GET /api/items</button>
<button onclick="call('GET', 'api/items/1')">GET /api/items/1</button>
<button onclick="call('GET', 'api/dashboard')">GET /api/dashboard (calls + queries)</button>
<button onclick="call('GET', 'api/reviews')">GET /api/reviews (N+1)</button>
<button onclick="call('POST', 'api/items', JSON.stringify({name: 'Lamp', price: 24.5}),
                      'application/json')">POST /api/items</button>
<button onclick="call('POST', 'api/items', '{oops', 'application/json')">
  POST bad JSON (422)</button>
<button onclick="call('POST', 'upload', new URLSearchParams({name: 'Ada', note: 'hello'}))">
  POST /upload (urlencoded)</button>
<button onclick="uploadFile()">POST /upload (multipart)</button>
<button onclick="call('GET', 'download?size=1048576')">GET /download (1 MiB)</button>
<button onclick="call('GET', 'slow?seconds=1.5')">GET /slow</button>
<button onclick="call('GET', 'error')">GET /error (500)</button>
<button onclick="call('GET', 'redirect')">GET /redirect</button>
<button onclick="call('GET', 'status/418')">GET /status/418</button>
<button onclick="call('HEAD', 'api/items')">HEAD /api/items</button>
<button onclick="call('DELETE', 'api/items')">DELETE /api/items (405)</button>
<button onclick="call('GET', 'nowhere')">GET /nowhere (404)</button>
<h2>Streams</h2>
<button onclick="events()">SSE /events</button>
<button onclick="chat()">SSE /chat (LLM-style)</button>
<button onclick="rpc('items.list', {})">JSON-RPC items.list</button>
<button onclick="rpc('items.get', {id: 99})">JSON-RPC error</button>
<button onclick="rpc('items.add', {name: 'Pen', price: 2.5}, true)">JSON-RPC over SSE</button>
<button onclick="call('GET', 'api/catalog')">GET /api/catalog (gzip)</button>
<button onclick="echo()">WebSocket /ws/echo</button>
<pre id="log"></pre>
<script>
function log(label, text) {
  const line = document.createElement("div");
  line.textContent = `${new Date().toLocaleTimeString()}  ${label}  ${text}`;
  document.getElementById("log").prepend(line);
}

async function call(method, url, body, type) {
  const response = await fetch(url, {method, body, headers: type ? {"content-type": type} : {}});
  const data = await response.arrayBuffer();
  const kind = response.headers.get("content-type") || "";
  const preview = /json|text/.test(kind) ? new TextDecoder().decode(data.slice(0, 160)) : "";
  log(`${method} /${url}`, `${response.status}, ${data.byteLength} bytes  ${preview}`);
}

function uploadFile() {
  const form = new FormData();
  form.append("title", "demo upload");
  form.append("file", new Blob([new Uint8Array(4096)], {type: "application/octet-stream"}),
              "zeros.bin");
  call("POST", "upload", form);
}

function events() {
  const source = new EventSource("events?count=5");
  source.addEventListener("tick", (event) => log("SSE tick", event.data));
  source.addEventListener("done", () => { log("SSE", "done"); source.close(); });
}

function echo() {
  const url = new URL("ws/echo", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => {
    socket.send("hello");
    socket.send(new Uint8Array([0, 1, 2, 255]));
    socket.send("bye");
  };
  socket.onmessage = (event) => log("WS echo",
    typeof event.data === "string" ? event.data : `${event.data.byteLength} bytes`);
  socket.onclose = (event) => log("WS", `closed with ${event.code}`);
}

async function rpc(method, params, overSse) {
  const response = await fetch("rpc", {method: "POST",
    headers: {"content-type": "application/json",
              "accept": overSse ? "text/event-stream" : "application/json"},
    body: JSON.stringify({jsonrpc: "2.0", id: Date.now() % 1000, method, params})});
  log(`JSON-RPC ${method}`, (await response.text()).slice(0, 160));
}

function chat() {
  const source = new EventSource("chat?prompt=hello");
  let text = "";
  source.onmessage = (event) => {
    if (event.data === "[DONE]") { log("chat", text); source.close(); return; }
    text += JSON.parse(event.data).choices[0].delta.content;
  };
}

call("GET", "api/items");
call("GET", "api/catalog");
call("GET", "api/dashboard");
call("GET", "api/reviews");
rpc("items.list", {});
rpc("items.get", {id: 99});
rpc("items.add", {name: "Pen", price: 2.5}, true);
uploadFile();
events();
chat();
echo();
</script>
</body>
</html>
"""

app = DemoApp()
