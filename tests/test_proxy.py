"""The reverse proxy against real upstreams on 127.0.0.1.

Upstreams: a uvicorn app, Python's ``http.server`` (not ASGI), raw sockets that misbehave, and a
``websockets`` server. The proxy runs under uvicorn in a thread, wrapped in the recorder, and the
tests check both what the client got and what the recording shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import http.client
import json
import socket
import ssl
import struct
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import trustme
import websockets
from websockets.asyncio.server import ServerConnection, serve
from websockets.sync.client import connect as ws_connect

from asgi_inspect import Exchange, Inspector, MemorySink
from asgi_inspect.proxy import (
    ENV_FORWARDED,
    ENV_REWRITE_HOST,
    ENV_TIMEOUT,
    ENV_UPSTREAM,
    Proxy,
    make_proxy,
    parse_upstream,
    proxy_from_env,
)
from asgi_inspect.types import Receive, Scope, Send
from tests.servers import free_port, uvicorn_server

MiB = 1024 * 1024
BIG = 200 * MiB
GATE_TIMEOUT = 60.0  # only stops a hung test (on a busy machine too); reaching it fails the test
PROXY_CONFIG = {  # the upstream's Server and Date pass through; the peer is the client
    "server_header": False, "date_header": False, "proxy_headers": False}


# ------------------------------------------------------------------------------------------
# upstreams


@dataclass
class UpstreamApp:
    """A uvicorn app with one route per behaviour; threading events let tests steer it."""

    sse_gate: threading.Event = field(default_factory=threading.Event)
    sse_released: list[bool] = field(default_factory=list)
    first_chunk: threading.Event = field(default_factory=threading.Event)
    disconnected: threading.Event = field(default_factory=threading.Event)
    gzipped: bytes = gzip.compress(b"squeeze me " * 1000)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        route = getattr(self, "route_" + scope["path"].strip("/").split("/")[0], self.route_echo)
        await route(scope, receive, send)

    async def route_echo(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = []
        while True:
            message = await receive()
            if message.get("body"):
                chunks.append(message["body"].decode())
                self.first_chunk.set()
            if not message.get("more_body"):
                break
        query = scope["query_string"]
        target = scope["raw_path"] + (b"?" + query if query else b"")
        headers = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
        echo = {"method": scope["method"], "target": target.decode("latin-1"), "chunks": chunks,
                "headers": headers}
        await _respond(send, 200, json.dumps(echo).encode(),
                       [(b"set-cookie", b"a=1"), (b"x-multi", b"one"), (b"set-cookie", b"b=2")])

    async def route_sse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": b"data: one\n\n", "more_body": True})
        self.sse_released.append(await asyncio.to_thread(self.sse_gate.wait, GATE_TIMEOUT))
        await send({"type": "http.response.body", "body": b"data: two\n\n"})

    async def route_big(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunk = b"\x00" * MiB
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(BIG).encode())]})
        for _ in range(BIG // MiB):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def route_forever(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        await send({"type": "http.response.start", "status": 200, "headers": []})
        gone = asyncio.ensure_future(disconnect())
        while not gone.done():
            await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
            await asyncio.sleep(0.005)
        self.disconnected.set()

    async def route_gzip(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _respond(send, 200, self.gzipped, [(b"content-encoding", b"gzip")])


async def _respond(send: Send, status: int, body: bytes,
                   headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


class HopHandler(BaseHTTPRequestHandler):
    """A non-ASGI upstream that answers with hop-by-hop headers and a chunked body."""

    protocol_version = "HTTP/1.1"
    seen: list[list[tuple[str, str]]] = []  # noqa: RUF012 (shared with the test, on purpose)

    def do_GET(self) -> None:
        HopHandler.seen.append(list(self.headers.items()))
        self.send_response(200)
        for name, value in [("Content-Type", "text/plain"), ("Connection", "X-Hop, keep-alive"),
                            ("X-Hop", "secret"), ("Keep-Alive", "timeout=5"),
                            ("Proxy-Authenticate", "Basic"), ("Set-Cookie", "a=1; Path=/"),
                            ("X-Mixed-Case", "Yes"), ("Set-Cookie", "b=2; Path=/"),
                            ("Transfer-Encoding", "chunked")]:
            self.send_header(name, value)
        self.end_headers()
        for part in (b"hello ", b"world", b""):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def http_server_upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), HopHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


CANNED = {  # raw answers of the socket upstream, by path
    b"/close-delimited": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
    b"/interim": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"/garbage": b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    # a 101 to a request that asked for no upgrade, with frames after it, or a response
    b"/switch": b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                b"Upgrade: websocket\r\n\r\n\x81\x02hi",
    b"/switch-bare": b"HTTP/1.1 101 Switching Protocols\r\n\r\n"
                     b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    # more than the response in one write: past its Content-Length, or a second response
    b"/overlong": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
    b"/two-responses": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                       b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
}


@dataclass
class RawUpstream:
    """An asyncio TCP server that answers by path with bytes crafted to misbehave.

    Canned answers keep the connection alive unless they say ``Connection: close``; ``/hang``
    answers nothing until the proxy gives up; ``/reset-body`` resets the connection after 1,000
    of 100,000 body bytes; any other path resets it at once. ``requests`` lists (connection
    number, path) in arrival order, so a test sees which connection carried what.
    """

    url: str = ""
    requests: list[tuple[int, bytes]] = field(default_factory=list)
    _connections: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        number = self._connections
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while await self.answer(number, await reader.readuntil(b"\r\n\r\n"), reader, writer):
                pass
        writer.close()

    async def answer(self, number: int, head: bytes, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> bool:
        """Answer one request; whether the connection stays open for the next."""
        path = head.split(b" ", 2)[1].split(b"?")[0]  # a query only tells requests apart
        self.requests.append((number, path))
        canned = CANNED.get(path)
        if canned is not None:
            writer.write(canned)
            await writer.drain()
            return b"Connection: close" not in canned
        if path == b"/hang":
            await reader.read()
            return False
        if path == b"/reset-body":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
            await writer.drain()
            await asyncio.sleep(0.05)  # let the partial body reach the proxy before the reset
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                   struct.pack("ii", 1, 0))
        writer.transport.abort()
        return False

    def carried_after(self, path: bytes) -> list[bytes]:
        """What the connections that answered ``path`` carried next (nothing, if not reused)."""
        later: list[bytes] = []
        for number in {n for n, p in self.requests if p == path}:
            paths = [p for n, p in self.requests if n == number]
            later += paths[paths.index(path) + 1:]
        return later


@contextlib.contextmanager
def raw_upstream() -> Iterator[RawUpstream]:
    upstream = RawUpstream()
    with serve_in_thread(lambda: asyncio.start_server(upstream.serve, "127.0.0.1", 0)) as port:
        upstream.url = f"http://127.0.0.1:{port}"
        yield upstream


@contextlib.contextmanager
def serve_in_thread(open_server: Callable[[], Awaitable[Any]]) -> Iterator[int]:
    """Run a server in an event loop of its own, in a thread; yields its port.

    ``open_server`` (``asyncio.start_server``, websockets' ``serve``) is awaited in that loop.
    Leaving closes the server; ``asyncio.run`` then cancels any handler still running.
    """
    ready: list[tuple[asyncio.AbstractEventLoop, asyncio.Event, int]] = []
    started = threading.Event()

    async def main() -> None:
        stop = asyncio.Event()
        server = await open_server()
        port = next(iter(server.sockets)).getsockname()[1]
        ready.append((asyncio.get_running_loop(), stop, port))
        started.set()
        await stop.wait()
        server.close()
        await server.wait_closed()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10), "the server did not start"
    loop, stop, port = ready[0]
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)


@dataclass
class WsUpstream:
    """A ``websockets`` server: echoes, closes with 4001 or drops on request, refuses a path."""

    closes: list[tuple[int | None, str | None]] = field(default_factory=list)
    headers: list[websockets.datastructures.Headers] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.headers.append(ws.request.headers)
        self.paths.append(ws.request.path)
        with contextlib.suppress(websockets.ConnectionClosed):  # 4001/4002 are not "OK" codes
            async for message in ws:
                if message == "close please":
                    await ws.close(4001, "bye")
                elif message == "drop":
                    ws.transport.abort()
                else:
                    await ws.send(message)
        self.closes.append((ws.close_code, ws.close_reason))
        self.closed.set()

    def refuse(self, connection: ServerConnection, request: Any) -> Any:
        if request.path == "/ws/forbidden":
            return connection.respond(403, "go away\n")
        return None


@contextlib.contextmanager
def ws_upstream(upstream: WsUpstream, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    def open_server() -> Awaitable[Any]:
        return serve(upstream.handler, "127.0.0.1", 0, subprotocols=["chat.v2"],
                     process_request=upstream.refuse, ssl=tls)

    with serve_in_thread(open_server) as port:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"


# ------------------------------------------------------------------------------------------
# the proxy under test, and reading its recording


@dataclass
class Proxied:
    url: str
    sink: MemorySink

    def exchange(self, path: str, kind: str = "http") -> Exchange:
        """The recorded exchange for ``path`` once the app has returned (the latest one)."""
        return self.exchanges(path, 1, kind)[-1]

    def exchanges(self, path: str, count: int, kind: str = "http") -> list[Exchange]:
        """The recorded exchanges for ``path`` once ``count`` of them have ended."""
        found: list[Exchange] = []

        def settled() -> bool:
            found[:] = [x for x in self.sink.exchanges if x.type == kind and x.path == path]
            return len(found) >= count and all(x.ended_ns is not None for x in found)

        wait_until(settled)
        return found


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until ``condition`` holds; the timeout only stops a hung test."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the recording")
        time.sleep(0.005)


@contextlib.contextmanager
def proxy_to(upstream: str, **options: Any) -> Iterator[Proxied]:
    sink = MemorySink()
    inspector = Inspector(make_proxy(upstream, **options), sink=sink)
    try:
        with uvicorn_server(inspector, **PROXY_CONFIG) as url:
            yield Proxied(url, sink)
    finally:
        inspector.close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[UpstreamApp, str]]:
    app = UpstreamApp()
    with uvicorn_server(app) as url:
        yield app, url


@pytest.fixture(scope="module")
def proxied(upstream: tuple[UpstreamApp, str]) -> Iterator[Proxied]:
    with proxy_to(upstream[1]) as proxy:
        yield proxy


def _header(headers: list[list[str]], name: str) -> list[str]:
    return [v for n, v in headers if n.lower() == name]


def raw_request(proxy: Proxied, request: bytes) -> tuple[http.client.HTTPResponse, bytes]:
    """Send a request no HTTP client would send; the proxy's answer and its body."""
    with socket.create_connection(("127.0.0.1", int(proxy.url.rsplit(":", 1)[1])),
                                  timeout=GATE_TIMEOUT) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response, response.read()


# ------------------------------------------------------------------------------------------
# HTTP pass-through


def test_status_headers_body_and_duplicate_cookies_pass_through(proxied: Proxied) -> None:
    response = httpx.post(f"{proxied.url}/echo", content=b"hello", headers={"X-Custom": "1"})
    echo = response.json()
    assert response.status_code == 200
    assert echo["method"] == "POST" and echo["chunks"] == ["hello"]
    assert _header(echo["headers"], "x-custom") == ["1"]
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    order = [n for n, _ in response.headers.multi_items() if n in ("set-cookie", "x-multi")]
    assert order == ["set-cookie", "x-multi", "set-cookie"]
    exchange = proxied.exchange("/echo")
    assert exchange.outcome == "complete" and exchange.status == 200
    assert all(e.status == "ok" for e in exchange.events)  # the client watch ended, not cancelled
    assert exchange.body("receive") == b"hello"
    assert exchange.body("send") == response.content


def test_request_target_is_forwarded_byte_for_byte(proxied: Proxied) -> None:
    target = "/echo/a/../b/%2F//c;p?x=%20&&y=%zz&x=2"
    conn = http.client.HTTPConnection(proxied.url.removeprefix("http://"))
    conn.request("GET", target)
    echo = json.loads(conn.getresponse().read())
    conn.close()
    assert echo["target"] == target


def test_forwarded_headers_are_added_and_host_is_kept(proxied: Proxied) -> None:
    echo = httpx.get(f"{proxied.url}/echo", headers={"X-Forwarded-For": "192.0.2.7"}).json()
    authority = proxied.url.removeprefix("http://")
    assert _header(echo["headers"], "host") == [authority]
    assert _header(echo["headers"], "x-forwarded-for") == ["192.0.2.7, 127.0.0.1"]
    assert _header(echo["headers"], "x-forwarded-proto") == ["http"]
    assert _header(echo["headers"], "x-forwarded-host") == [authority]
    assert _header(echo["headers"], "forwarded") == [f'for=127.0.0.1;host="{authority}";proto=http']


def test_host_rewrite_and_forwarding_off(upstream: tuple[UpstreamApp, str]) -> None:
    with proxy_to(upstream[1], rewrite_host=True, forwarded=False) as proxy:
        echo = httpx.get(f"{proxy.url}/echo").json()
    assert _header(echo["headers"], "host") == [upstream[1].removeprefix("http://")]
    assert not [n for n, _ in echo["headers"] if "forward" in n]


def test_hop_by_hop_headers_are_dropped_both_ways() -> None:
    HopHandler.seen.clear()
    with http_server_upstream() as upstream, proxy_to(upstream) as proxy:
        response = httpx.get(f"{proxy.url}/page", headers={
            "Connection": "X-Secret", "X-Secret": "1", "Keep-Alive": "timeout=1",
            "TE": "trailers", "Proxy-Authorization": "Basic Zm9vOmJhcg==", "X-Kept": "yes"})
        exchange = proxy.exchange("/page")
    (seen,) = HopHandler.seen
    names = {n.lower() for n, _ in seen}
    assert "x-kept" in names
    assert not names & {"x-secret", "keep-alive", "te", "proxy-authorization"}
    assert response.text == "hello world"
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.headers["x-mixed-case"] == "Yes"
    assert response.headers.get_list("server") == [HopHandler.server_version + " " +
                                                   HopHandler.sys_version]
    sent = {n for n, _ in exchange.response_headers}
    assert not sent & {b"x-hop", b"keep-alive", b"proxy-authenticate", b"transfer-encoding",
                       b"connection"}
    assert all(n == n.lower() for n in sent)


def test_connection_cannot_make_host_or_content_length_hop_by_hop(proxied: Proxied) -> None:
    listed = "Host, Content-Length, X-Forwarded-Proto, X-Forwarded-For, X-Drop"
    response = httpx.post(f"{proxied.url}/echo/connection", content=b"hello", headers={
        "Connection": listed, "X-Drop": "1", "X-Forwarded-Proto": "gopher",
        "X-Forwarded-For": "192.0.2.7"})
    echo = response.json()
    authority = proxied.url.removeprefix("http://")
    assert _header(echo["headers"], "host") == [authority]
    assert _header(echo["headers"], "content-length") == ["5"]
    assert echo["chunks"] == ["hello"]  # framed: not smuggled upstream as a request of its own
    assert not _header(echo["headers"], "x-drop")
    # headers the client made hop-by-hop do not feed this hop's forwarding headers either
    assert _header(echo["headers"], "x-forwarded-proto") == ["http"]
    assert _header(echo["headers"], "x-forwarded-for") == ["127.0.0.1"]
    assert _header(echo["headers"], "x-forwarded-host") == [authority]
    exchange = proxied.exchange("/echo/connection")
    assert exchange.status == 200 and exchange.body("receive") == b"hello"


@pytest.mark.parametrize("hosts", [[b"x/ws-forever?"], [b"user:pw@x"], [b"x#frag"], [b"a b"],
                                   [b"[::1"], [b"[::zz]"], [b"x:99999"], [b"caf\xe9"],
                                   [b"a", b"b"]])
def test_a_host_that_is_not_host_and_port_is_refused_with_400(proxied: Proxied,
                                                               hosts: list[bytes]) -> None:
    path = "/echo/bad-host/" + b"".join(hosts).hex()
    lines = b"".join(b"Host: %s\r\n" % host for host in hosts)
    response, body = raw_request(proxied, b"GET %s HTTP/1.1\r\n%sConnection: close\r\n\r\n"
                                 % (path.encode(), lines))
    assert response.status == 400
    assert body.startswith(b"400 Bad Request: asgi-inspect proxy") and b"BadRequest" in body
    assert response.headers["x-asgi-inspect-error"].startswith("BadRequest: ")
    exchange = proxied.exchange(path)
    assert exchange.status == 400 and _error_header(exchange).startswith("BadRequest: ")


def test_an_ipv6_host_with_a_port_passes(proxied: Proxied) -> None:
    response, body = raw_request(proxied, b"GET /echo HTTP/1.1\r\nHost: [::1]:8080\r\n"
                                          b"Connection: close\r\n\r\n")
    assert response.status == 200
    assert _header(json.loads(body)["headers"], "host") == ["[::1]:8080"]


def test_content_encoding_passes_undecoded(upstream: tuple[UpstreamApp, str],
                                           proxied: Proxied) -> None:
    with httpx.stream("GET", f"{proxied.url}/gzip") as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert raw == upstream[0].gzipped


# ------------------------------------------------------------------------------------------
# streaming


def test_chunked_upload_streams_to_the_upstream(upstream: tuple[UpstreamApp, str],
                                                proxied: Proxied) -> None:
    app = upstream[0]
    app.first_chunk.clear()
    arrived: list[bool] = []

    def parts() -> Iterator[bytes]:
        yield b"first"
        arrived.append(app.first_chunk.wait(GATE_TIMEOUT))  # upstream has it; we hold the rest
        yield b"second"

    echo = httpx.post(f"{proxied.url}/echo/upload", content=parts()).json()
    assert arrived == [True]
    assert "".join(echo["chunks"]) == "firstsecond" and len(echo["chunks"]) >= 2
    assert _header(echo["headers"], "transfer-encoding") == ["chunked"]
    requests = [e for e in proxied.exchange("/echo/upload").events if e.type == "http.request"]
    assert len(requests) >= 2


def test_sse_events_arrive_one_by_one(upstream: tuple[UpstreamApp, str], proxied: Proxied) -> None:
    app = upstream[0]
    app.sse_gate.clear()
    with httpx.stream("GET", f"{proxied.url}/sse") as response:
        chunks = response.iter_raw()
        first = next(chunks)  # the upstream is holding the second event until the gate opens
        app.sse_gate.set()
        rest = b"".join(chunks)
    assert first == b"data: one\n\n"
    assert rest == b"data: two\n\n"
    assert app.sse_released == [True]  # released by us, not by the gate's timeout


def test_large_download_keeps_memory_flat(proxied: Proxied) -> None:
    received = 0
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        with httpx.stream("GET", f"{proxied.url}/big") as response:
            for chunk in response.iter_raw():
                received += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert received == BIG
    assert peak - baseline < 30 * MiB
    exchange = proxied.exchange("/big")
    assert exchange.outcome == "complete"
    assert exchange.response.bytes == BIG and exchange.response.kept_bytes <= 64 * 1024


def test_client_disconnect_closes_the_upstream_response(upstream: tuple[UpstreamApp, str],
                                                        proxied: Proxied) -> None:
    app = upstream[0]
    app.disconnected.clear()
    with httpx.stream("GET", f"{proxied.url}/forever") as response:
        assert next(response.iter_raw()).startswith(b"tick\n")
    assert app.disconnected.wait(GATE_TIMEOUT)
    exchange = proxied.exchange("/forever")
    assert exchange.outcome == "client_disconnected"
    assert exchange.events[-1].type == "http.disconnect"


# ------------------------------------------------------------------------------------------
# upstream failures


@pytest.fixture(scope="module")
def raw() -> Iterator[RawUpstream]:
    with raw_upstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def broken(raw: RawUpstream) -> Iterator[Proxied]:
    """A proxy in front of the raw upstream, with its default timeout: the upstream answers at
    once, but on a busy machine a short bound on each wait could expire before it does."""
    with proxy_to(raw.url) as proxy:
        yield proxy


def _error_header(exchange: Exchange) -> str:
    return dict(exchange.response_headers)[b"x-asgi-inspect-error"].decode()


def test_refused_upstream_answers_502_with_the_cause() -> None:
    with proxy_to(f"http://127.0.0.1:{free_port()}") as proxy:
        response = httpx.get(f"{proxy.url}/anything")
        exchange = proxy.exchange("/anything")
    assert response.status_code == 502
    assert response.text.startswith("502 Bad Gateway") and "ConnectionRefused" in response.text
    assert response.headers["x-asgi-inspect-error"].startswith("ConnectionRefusedError")
    assert exchange.status == 502 and _error_header(exchange).startswith("ConnectionRefused")
    assert b"ConnectionRefusedError" in exchange.body("send")


def test_upstream_timeout_answers_504(raw: RawUpstream) -> None:
    with proxy_to(raw.url, timeout=1.0) as proxy:  # /hang never answers
        response = httpx.get(f"{proxy.url}/hang")
        exchange = proxy.exchange("/hang")
    assert response.status_code == 504
    assert response.text.startswith("504 Gateway Timeout")
    assert _error_header(exchange) == "TimeoutError: the upstream sent no response for 1 s"


def test_reset_before_the_response_answers_502(broken: Proxied) -> None:
    response = httpx.get(f"{broken.url}/reset-head")
    assert response.status_code == 502
    assert "x-asgi-inspect-error" in response.headers
    assert broken.exchange("/reset-head").status == 502


def test_reset_during_the_body_aborts_the_client(broken: Proxied) -> None:
    with httpx.stream("GET", f"{broken.url}/reset-body") as response:
        assert response.status_code == 200
        with pytest.raises(httpx.TransportError):
            response.read()
    exchange = broken.exchange("/reset-body")
    assert exchange.outcome == "exception"
    assert exchange.exception is not None
    assert exchange.exception.type.endswith("UpstreamError")
    assert "failed after 1000 body bytes: ConnectionResetError" in exchange.exception.message


def test_responses_without_length_and_interim_responses(broken: Proxied) -> None:
    delimited = httpx.get(f"{broken.url}/close-delimited")
    assert (delimited.status_code, delimited.text) == (200, "until the end")
    assert broken.exchange("/close-delimited").outcome == "complete"
    interim = httpx.get(f"{broken.url}/interim")
    assert (interim.status_code, interim.text) == (200, "ok")
    garbage = httpx.get(f"{broken.url}/garbage")
    assert garbage.status_code == 502
    assert garbage.headers["x-asgi-inspect-error"].startswith("InvalidResponse: invalid response")


@pytest.mark.parametrize("path", ["/switch", "/switch-bare"])
def test_an_unasked_101_answers_502(raw: RawUpstream, broken: Proxied, path: str) -> None:
    response = httpx.get(f"{broken.url}{path}")
    assert response.status_code == 502
    cause = "InvalidResponse: the upstream switched protocols (101) though the request asked for "
    assert response.text.startswith("502 Bad Gateway") and cause in response.text
    assert response.headers["x-asgi-inspect-error"].startswith(cause)
    exchange = broken.exchange(path)
    assert exchange.status == 502 and _error_header(exchange).startswith(cause)
    assert exchange.outcome == "complete"
    assert not raw.carried_after(path.encode())


@pytest.mark.parametrize(("method", "path"), [("GET", "/overlong"), ("GET", "/two-responses"),
                                              ("HEAD", "/overlong")])
def test_bytes_after_the_response_are_dropped_and_close_the_connection(
        raw: RawUpstream, broken: Proxied, method: str, path: str) -> None:
    target = f"{path}?{method}"
    with httpx.Client() as client:  # one client connection: the proxy would reuse its upstream's
        responses = [client.request(method, f"{broken.url}{target}") for _ in range(2)]
    body = b"" if method == "HEAD" else b"ok"
    cause = "InvalidResponse: the upstream sent more bytes than its response"
    for response in responses:
        assert (response.status_code, response.content) == (200, body)
        assert response.headers["content-length"] == "2"
        assert response.headers["x-asgi-inspect-error"].startswith(cause)
    assert not raw.carried_after(path.encode())  # each connection closed after its answer
    for exchange in broken.exchanges(target, 2):
        assert exchange.outcome == "complete" and exchange.body("send") == body
        assert _error_header(exchange).startswith(cause)


def test_head_then_get_on_one_upstream_connection(proxied: Proxied) -> None:
    with httpx.Client() as client:
        head = client.head(f"{proxied.url}/gzip")
        get = client.get(f"{proxied.url}/gzip")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert get.status_code == 200 and get.text == "squeeze me " * 1000


# ------------------------------------------------------------------------------------------
# WebSocket


@pytest.fixture(scope="module")
def ws_proxied() -> Iterator[tuple[WsUpstream, Proxied]]:
    app = WsUpstream()
    with ws_upstream(app) as url, proxy_to(url) as proxy:
        yield app, proxy


def _ws_url(proxy: Proxied, path: str) -> str:
    return proxy.url.replace("http://", "ws://") + path


def test_websocket_echo_subprotocol_and_upstream_close(
        ws_proxied: tuple[WsUpstream, Proxied]) -> None:
    app, proxy = ws_proxied
    with ws_connect(_ws_url(proxy, "/ws/echo?room=1"), subprotocols=["chat.v1", "chat.v2"],
                    additional_headers={"X-Test": "yes"}) as ws:
        assert ws.subprotocol == "chat.v2"
        ws.send("hello")
        assert ws.recv(GATE_TIMEOUT) == "hello"
        ws.send(b"\x00\xffbinary")
        assert ws.recv(GATE_TIMEOUT) == b"\x00\xffbinary"
        ws.send("close please")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            ws.recv(GATE_TIMEOUT)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "bye")
    assert app.headers[-1]["X-Test"] == "yes"
    assert app.headers[-1]["X-Forwarded-For"] == "127.0.0.1"
    exchange = proxy.exchange("/ws/echo?room=1", "websocket")
    assert exchange.status == 101 and exchange.outcome == "complete"
    sends = [e.message for e in exchange.events if e.type == "websocket.send"]
    assert sends == [{"type": "websocket.send", "text": "hello"},
                     {"type": "websocket.send", "bytes": b"\x00\xffbinary"}]
    close = exchange.first("websocket.close")
    assert close is not None and close.message["code"] == 4001


def test_websocket_client_close_code_reaches_the_upstream(
        ws_proxied: tuple[WsUpstream, Proxied]) -> None:
    app, proxy = ws_proxied
    app.closed.clear()
    with ws_connect(_ws_url(proxy, "/ws/echo"), subprotocols=["chat.v2"]) as ws:
        ws.send("ping")
        assert ws.recv(GATE_TIMEOUT) == "ping"
        ws.close(4002, "done")
    assert app.closed.wait(GATE_TIMEOUT)
    assert app.closes[-1] == (4002, "done")


def test_websocket_upstream_dropping_closes_the_client_with_1014(
        ws_proxied: tuple[WsUpstream, Proxied]) -> None:
    _, proxy = ws_proxied
    with ws_connect(_ws_url(proxy, "/ws/drop"), subprotocols=["chat.v2"]) as ws:
        ws.send("drop")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            ws.recv(GATE_TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1014
    assert closed.value.rcvd.reason.startswith("upstream connection lost")


def test_websocket_refused_by_the_upstream_is_denied_with_its_status(
        ws_proxied: tuple[WsUpstream, Proxied]) -> None:
    _, proxy = ws_proxied
    with pytest.raises(websockets.InvalidStatus) as denied:
        ws_connect(_ws_url(proxy, "/ws/forbidden"))
    assert denied.value.response.status_code == 403
    assert denied.value.response.body == b"go away\n"
    assert proxy.exchange("/ws/forbidden", "websocket").status == 403


def test_websocket_upstream_down_is_denied_with_502() -> None:
    with proxy_to(f"http://127.0.0.1:{free_port()}") as proxy:
        with pytest.raises(websockets.InvalidStatus) as denied:
            ws_connect(_ws_url(proxy, "/ws"))
        exchange = proxy.exchange("/ws", "websocket")
    assert denied.value.response.status_code == 502
    assert b"502 Bad Gateway" in (denied.value.response.body or b"")
    assert exchange.status == 502 and b"x-asgi-inspect-error" in dict(exchange.response_headers)


def test_websocket_host_cannot_move_the_target_under_the_prefix() -> None:
    app = WsUpstream()
    with ws_upstream(app) as url, proxy_to(url + "/api") as proxy:
        with ws_connect(_ws_url(proxy, "/chat"), subprotocols=["chat.v2"]) as ws:
            ws.send("hi")
            assert ws.recv(GATE_TIMEOUT) == "hi"
        response, body = raw_request(proxy, b"GET /chat HTTP/1.1\r\nHost: x/ws-forever?\r\n"
                                            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                            b"Sec-WebSocket-Version: 13\r\n\r\n")
        accepted, refused = proxy.exchanges("/chat", 2, "websocket")
    assert app.paths == ["/api/chat"]  # the accepted one under the prefix; the refused never came
    assert accepted.status == 101 and accepted.outcome == "complete"
    assert response.status == 400
    assert b"Host 'x/ws-forever?' is not host[:port]" in body
    assert refused.status == 400 and _error_header(refused).startswith("BadRequest: Host")


def test_https_and_wss_upstreams(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # what the proxy trusts
    cert.private_key_pem.write_to_path(tmp_path / "key.pem")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(tls)
    ws_app = WsUpstream()
    with uvicorn_server(UpstreamApp(), ssl_certfile=str(tmp_path / "cert.pem"),
                        ssl_keyfile=str(tmp_path / "key.pem")) as url, \
            ws_upstream(ws_app, tls) as wss_url, \
            proxy_to(url.replace("http:", "https:")) as https_proxy, \
            proxy_to(wss_url) as wss_proxy:
        echo = httpx.get(f"{https_proxy.url}/echo?over=tls").json()
        with ws_connect(_ws_url(wss_proxy, "/ws/tls"), subprotocols=["chat.v2"]) as ws:
            ws.send("secure")
            reply = ws.recv(GATE_TIMEOUT)
    assert echo["target"] == "/echo?over=tls"
    assert reply == "secure"


# ------------------------------------------------------------------------------------------
# configuration and lifecycle


def test_upstream_connections_are_kept_alive_and_closed_at_shutdown(
        upstream: tuple[UpstreamApp, str]) -> None:
    proxy = make_proxy(upstream[1])
    assert isinstance(proxy, Proxy)
    with uvicorn_server(proxy, **PROXY_CONFIG) as url, httpx.Client() as client:
        statuses = [client.get(f"{url}/echo").status_code for _ in range(3)]
        idle = list(proxy.route.pool.idle)
    assert statuses == [200, 200, 200]
    assert len(idle) == 1  # one upstream connection served the three requests
    assert not idle[0].open and not proxy.route.pool.idle  # lifespan shutdown closed it


@pytest.mark.parametrize("url", ["ftp://host/", "http://", "not a url", "http://h:1/?q=1",
                                 "http://h:99999", "http://user:pw@h/"])
def test_bad_upstream_urls_are_one_line_errors(url: str) -> None:
    with pytest.raises(ValueError, match="upstream") as error:
        parse_upstream(url)
    assert "\n" not in str(error.value)


def test_proxy_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_UPSTREAM, "http://127.0.0.1:3000/api/")
    monkeypatch.setenv(ENV_REWRITE_HOST, "yes")
    monkeypatch.setenv(ENV_FORWARDED, "0")
    monkeypatch.setenv(ENV_TIMEOUT, "2.5")
    app = proxy_from_env()
    assert isinstance(app, Proxy)
    assert (app.route.rewrite_host, app.route.forwarded, app.route.timeout) == (True, False, 2.5)
    target = app.route.target({"raw_path": b"/x", "path": "/x", "query_string": b"a=1"})
    assert target == b"/api/x?a=1"
    monkeypatch.setenv(ENV_FORWARDED, "maybe")
    with pytest.raises(ValueError, match=ENV_FORWARDED):
        proxy_from_env()
    monkeypatch.delenv(ENV_UPSTREAM)
    with pytest.raises(ValueError, match=ENV_UPSTREAM):
        proxy_from_env()
