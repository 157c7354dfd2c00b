"""The compatibility matrix: seven frameworks under uvicorn, hypercorn and daphne.

Each framework × server pair is served once, in a subprocess (``tests/compat/servers.py``), and
driven with a GET with a query, a JSON POST and a WebSocket echo; then the server is shut down
gracefully and the JSONL trace its ``Inspector`` wrote is read back. Every check compares what
the recorder kept with what the client actually sent and received.

Where a framework cannot serve something under a server, the matrix says why (``REFUSED_*``)
and checks that the recorder kept the refusal as it happened instead.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from asgi_inspect import TraceError, read
from asgi_inspect.model import Exchange, Trace
from tests.compat import echo, greeting
from tests.compat.servers import SERVERS, Served, serving

pytestmark = pytest.mark.slow

FRAMEWORKS = ("starlette", "fastapi", "quart", "sanic", "litestar", "django", "willpyre")
PAIRS = [(framework, server) for framework in FRAMEWORKS for server in SERVERS]

NAME = "ada lovelace"
QUERY = b"name=ada%20lovelace&lang=en"
PAYLOAD = {"name": "Ada", "tags": ["math", "engines"], "year": 1843, "note": "ünï ✓"}
WS_TEXT = "hi ada"


class Refusal(NamedTuple):
    """How the recorder must show a call the framework cannot serve under that server."""

    outcome: str
    exception: str | None
    reason: str


DJANGO_HTTP_ONLY = "Django's ASGI handler serves only http scopes (WebSockets need Channels)"
SANIC_NEEDS_LIFESPAN = ("Sanic's ASGI mode starts up (router, signals, loop) only through the "
                        "lifespan protocol, which daphne does not implement")
# Keyed by (framework, server); a server of None means under every server.
REFUSED_HTTP = {
    ("sanic", "daphne"): Refusal("exception", "sanic.exceptions.SanicException",
                                 SANIC_NEEDS_LIFESPAN),
}
REFUSED_WS = {
    ("django", None): Refusal("exception", "ValueError", DJANGO_HTTP_ONLY),
    ("willpyre", None): Refusal("no_response", None, "willpyre 0.0.18 has no WebSocket "
                                "support: its app returns without answering the handshake"),
    ("quart", "daphne"): Refusal("exception", "KeyError", "Quart 0.22 reads scope['scheme'], "
                                 "which daphne leaves out of websocket scopes (it is optional)"),
    ("sanic", "daphne"): Refusal("exception", "sanic.exceptions.SanicException",
                                 SANIC_NEEDS_LIFESPAN),
}
# An app that raises on the lifespan scope before startup does not support it: uvicorn and
# hypercorn go on without it, and the row says so (no exception, no failure).
REFUSED_LIFESPAN = {
    ("django", None): Refusal("complete", None, DJANGO_HTTP_ONLY),
}
SERVERS_WITHOUT_LIFESPAN = {"daphne"}


def refusal(table: dict[tuple[str, str | None], Refusal], framework: str,
            server: str) -> Refusal | None:
    return table.get((framework, server)) or table.get((framework, None))


@dataclass
class WsResult:
    """What the WebSocket client saw: the reply and close code, or why the handshake failed."""

    reply: str | None = None
    close_code: int | None = None
    error: str | None = None


@dataclass
class Run:
    """One pair's traffic as the client saw it, and the trace the server's recorder wrote."""

    framework: str
    server: str
    get: httpx.Response
    post: httpx.Response
    post_body: bytes
    ws: WsResult
    exit_code: int
    trace_path: Path
    trace: Trace
    log: str

    def exchanges(self, type_: str, path: str | None = None) -> list[Exchange]:
        return [x for x in self.trace.exchanges
                if x.type == type_ and (path is None or x.scope.get("path") == path)]

    def only(self, type_: str, path: str | None = None) -> Exchange:
        """The single exchange of that type (and path); fails with the server's log if not."""
        found = self.exchanges(type_, path)
        assert len(found) == 1, f"{len(found)} {type_} {path} exchanges; log:\n{self.log[-3000:]}"
        return found[0]


def http_traffic(url: str) -> tuple[httpx.Response, httpx.Response, bytes]:
    body = json.dumps(PAYLOAD).encode()
    with httpx.Client(base_url=url, timeout=15, trust_env=False) as client:  # no proxy
        get = client.get(f"/hello?{QUERY.decode()}", headers={"x-compat": "get"})
        post = client.post("/echo", content=body, headers={"content-type": "application/json"})
    return get, post, body


def ws_traffic(url: str) -> WsResult:
    """Send one text message, read the reply, close (or answer the server's close)."""
    try:
        with connect(f"{url}/ws", proxy=None, open_timeout=15, close_timeout=5) as ws:
            ws.send(WS_TEXT)
            reply = ws.recv(timeout=15)
        return WsResult(reply=str(reply), close_code=ws.close_code)
    except (InvalidHandshake, ConnectionClosed, TimeoutError, OSError) as exc:
        return WsResult(error=repr(exc))


def drive(served: Served, framework: str) -> Run:
    """All of the pair's traffic, then a graceful stop; failures come with the server's log."""
    try:
        get, post, post_body = http_traffic(served.url)
        ws = ws_traffic(served.ws_url)
        exit_code = served.stop()
        trace = read(served.trace_path)
    except (httpx.HTTPError, TraceError) as exc:
        raise served.fail(f"failed the traffic: {exc!r}") from exc
    return Run(framework, served.server, get, post, post_body, ws, exit_code, served.trace_path,
               trace, served.log())


@pytest.fixture(scope="module", params=PAIRS, ids=[f"{f}-{s}" for f, s in PAIRS])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One server start per pair; every check of the pair reads the same run."""
    framework, server = request.param
    with serving(server, framework, tmp_path_factory.mktemp(f"{framework}-{server}")) as served:
        return drive(served, framework)


# checks ----------------------------------------------------------------------------------

def ends_with_stats(path: Path) -> bool:
    """Whether the JSONL sink was closed: its last line, the drop counts, is only written then."""
    return path.read_bytes().splitlines()[-1].startswith(b'{"stats"')


def assert_refused(exchange: Exchange, expected: Refusal) -> None:
    assert exchange.outcome == expected.outcome, expected.reason
    recorded = exchange.exception.type if exchange.exception else None
    assert recorded == expected.exception, expected.reason


def assert_http_recorded(exchange: Exchange, response: httpx.Response, sent: bytes) -> None:
    """The recorded request and response bodies are byte for byte what went over the wire."""
    assert exchange.outcome == "complete"
    assert exchange.exception is None
    assert exchange.body("receive") == sent
    assert exchange.request.bytes == len(sent)
    assert exchange.status == response.status_code
    assert exchange.body("send") == response.content
    assert exchange.response.bytes == len(response.content)


def test_get_with_query_is_recorded(run: Run) -> None:
    exchange = run.only("http", "/hello")
    if expected := refusal(REFUSED_HTTP, run.framework, run.server):
        assert_refused(exchange, expected)
        return
    assert (run.get.status_code, run.get.text) == (200, greeting(NAME))
    assert exchange.method == "GET"
    assert exchange.scope["query_string"] == QUERY
    assert exchange.path == f"/hello?{QUERY.decode()}"
    assert (b"x-compat", b"get") in exchange.request_headers
    assert_http_recorded(exchange, run.get, b"")


def test_json_post_is_recorded(run: Run) -> None:
    exchange = run.only("http", "/echo")
    if expected := refusal(REFUSED_HTTP, run.framework, run.server):
        assert_refused(exchange, expected)
        return
    assert run.post.status_code == 200
    assert run.post.json() == PAYLOAD
    assert exchange.method == "POST"
    assert exchange.path == "/echo"
    assert (b"content-type", b"application/json") in exchange.request_headers
    assert_http_recorded(exchange, run.post, run.post_body)


def test_response_headers_are_recorded(run: Run) -> None:
    """Every header the app sent is recorded as sent, and reached the client unchanged."""
    pairs = [(run.only("http", "/hello"), run.get), (run.only("http", "/echo"), run.post)]
    if refusal(REFUSED_HTTP, run.framework, run.server):
        assert [x.response_start for x, _ in pairs] == [None, None]
        return
    for exchange, response in pairs:
        assert exchange.content_type == response.headers["content-type"]
        received = {(name.lower(), value) for name, value in response.headers.raw}
        for name, value in exchange.response_headers:
            assert (name.lower(), value) in received, f"{name!r}: {value!r} not received"


def test_websocket_echo_is_recorded(run: Run) -> None:
    exchange = run.only("websocket", "/ws")
    if expected := refusal(REFUSED_WS, run.framework, run.server):
        assert run.ws.error is not None, f"the handshake should fail: {expected.reason}"
        assert_refused(exchange, expected)
        return
    assert run.ws == WsResult(reply=echo(WS_TEXT), close_code=1000)
    assert exchange.outcome == "complete"
    assert exchange.status == 101
    kinds = [(e.direction, e.type) for e in exchange.events]
    assert kinds[:4] == [("receive", "websocket.connect"), ("send", "websocket.accept"),
                         ("receive", "websocket.receive"), ("send", "websocket.send")]
    assert exchange.events[2].message["text"] == WS_TEXT
    assert exchange.events[3].message["text"] == echo(WS_TEXT)
    ends = [e for e in exchange.events[4:]
            if e.type in ("websocket.close", "websocket.disconnect") and e.status == "ok"]
    assert ends, f"the session's end is not recorded: {kinds}"
    closes = [e.message.get("code", 1000) for e in ends if e.type == "websocket.close"]
    assert set(closes) <= {1000}  # the disconnect code is the server's (hypercorn: 1000 or 1006)


def test_lifespan_is_recorded(run: Run) -> None:
    if run.server in SERVERS_WITHOUT_LIFESPAN:
        assert run.exchanges("lifespan") == []
        return
    exchange = run.only("lifespan")
    if expected := refusal(REFUSED_LIFESPAN, run.framework, run.server):
        assert_refused(exchange, expected)
        assert exchange.label == "lifespan unsupported"
        return
    assert exchange.outcome == "complete"
    assert [(e.direction, e.type, e.status) for e in exchange.events] == [
        ("receive", "lifespan.startup", "ok"), ("send", "lifespan.startup.complete", "ok"),
        ("receive", "lifespan.shutdown", "ok"), ("send", "lifespan.shutdown.complete", "ok")]


def test_graceful_shutdown_finishes_the_trace(run: Run) -> None:
    """The server exits cleanly and ``Inspector.close()`` ran: nothing open, lost or dropped."""
    assert run.exit_code == 0, run.log[-3000:]
    assert ends_with_stats(run.trace_path)
    assert (run.trace.dropped, run.trace.recorder_errors) == (0, 0)
    assert [x.id for x in run.trace.exchanges if x.outcome == "streaming" or x.lost_records] == []
    assert len({x.source for x in run.trace.exchanges}) == 1


def test_uvicorn_sigterm_finishes_the_trace(tmp_path: Path) -> None:
    with serving("uvicorn", "starlette", tmp_path) as served:
        http_traffic(served.url)
        served.stop(signal.SIGTERM)
    trace = read(served.trace_path)
    assert [x.type for x in trace.exchanges].count("lifespan") == 1
    assert ends_with_stats(served.trace_path)
