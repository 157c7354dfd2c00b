"""The bundled demo app: every route in process with httpx, streams under a real uvicorn."""

from __future__ import annotations

import asyncio
import json
import queue
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedOK, InvalidStatus

from asgi_inspect import inside
from asgi_inspect.demo import (
    CHUNK,
    MAX_REQUEST_BODY,
    PATTERN,
    ROUTES,
    SHOP_PRODUCTS,
    WEBSOCKET_ROUTES,
    DemoApp,
    HTTPError,
    own_url,
)
from asgi_inspect.model import OutboundCall
from asgi_inspect.record.middleware import Inspector
from asgi_inspect.record.sinks import MemorySink
from tests.servers import uvicorn_server

Message = dict[str, Any]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(DemoApp())
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
        yield http


async def call_asgi(app: DemoApp, scope: dict[str, Any], incoming: list[Message]) -> list[Message]:
    """Run one ASGI call with scripted receive() messages; returns what the app sent.

    Once the script is used up, receive() waits forever, like a client that stays connected.
    """
    sent: list[Message] = []

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def http_scope(method: str, path: str, query: bytes = b"") -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "path": path, "query_string": query, "headers": []}


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a complete text/event-stream body."""
    frames = [dict(line.split(": ", 1) for line in block.splitlines())
              for block in text.split("\n\n") if block]
    return [(frame["event"], json.loads(frame["data"])) for frame in frames]


# --- routes in process ---------------------------------------------------------------------

async def test_home_page_has_a_button_for_every_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    for path in [template for _method, template in ROUTES] + list(WEBSOCKET_ROUTES):
        relative_url = path.strip("/").split("{")[0]  # the page calls "api/items/1", "ws/echo"
        assert re.search(f"[\"']{re.escape(relative_url)}", page), path
    for started_on_load in ('call("GET", "api/items")', 'call("GET", "api/catalog")',
                            'call("GET", "api/dashboard")', 'call("GET", "api/reviews")',
                            'rpc("items.list", {});', "uploadFile();", "events();", "chat();",
                            "echo();"):
        assert started_on_load in page


async def test_items_list_and_one_item(client: httpx.AsyncClient) -> None:
    items = (await client.get("/api/items")).json()
    assert [item["id"] for item in items] == [1, 2, 3]
    response = await client.get("/api/items/2")
    assert response.json() == items[1]


@pytest.mark.parametrize(("item_id", "status", "error"), [
    ("99", 404, "no item with id 99"),
    ("two", 400, "id must be an integer, not 'two'"),
])
async def test_item_lookup_errors(client: httpx.AsyncClient, item_id: str, status: int,
                                  error: str) -> None:
    response = await client.get(f"/api/items/{item_id}")
    assert (response.status_code, response.json()) == (status, {"error": error})


async def test_create_item_answers_201_with_its_location(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/items", json={"name": "Lamp", "price": 24.5})
    assert response.status_code == 201
    assert response.json() == {"id": 4, "name": "Lamp", "price": 24.5}
    assert (await client.get(response.headers["location"])).json() == response.json()
    assert len((await client.get("/api/items")).json()) == 4


@pytest.mark.parametrize(("body", "error"), [
    (b"{oops", "body is not valid JSON"),
    (b"\xff\xfe", "body is not valid JSON"),
    (b"[" * 100_000, "body is not valid JSON"),
    (b"[1, 2]", "body must be a JSON object"),
    (b'{"price": 1}', "name must be a non-empty string"),
    (b'{"name": "  ", "price": 1}', "name must be a non-empty string"),
    (b'{"name": "x", "price": true}', "price must be a number >= 0"),
    (b'{"name": "x", "price": -1}', "price must be a number >= 0"),
    (b'{"name": "x", "price": NaN}', "price must be a number >= 0"),
    (b'{"name": "x", "price": "3"}', "price must be a number >= 0"),
])
async def test_create_item_rejects_bad_bodies_with_422(client: httpx.AsyncClient, body: bytes,
                                                       error: str) -> None:
    response = await client.post("/api/items", content=body)
    assert (response.status_code, response.json()) == (422, {"error": error})


async def test_upload_urlencoded_reports_names_and_decoded_sizes(
        client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", data={"name": "Ada", "note": "é", "empty": ""})
    assert response.json() == {
        "content_type": "application/x-www-form-urlencoded",
        "bytes": len(b"name=Ada&note=%C3%A9&empty="),
        "fields": [{"name": "name", "size": 3}, {"name": "note", "size": 2},
                   {"name": "empty", "size": 0}],
    }


async def test_upload_multipart_keeps_binary_content_exact(client: httpx.AsyncClient) -> None:
    # Line breaks and dashes inside a file must not be taken for delimiters.
    content = bytes(range(256)) * 4 + b"\r\n--\r\n\r\n"
    response = await client.post("/upload", data={"title": "ünïcode"},
                                 files={"file": ("café.bin", content, "application/x-demo")})
    assert response.status_code == 200
    assert response.json()["fields"] == [
        {"name": "title", "size": len("ünïcode".encode())},
        {"name": "file", "size": len(content), "filename": "café.bin",
         "content_type": "application/x-demo"},
    ]


async def test_upload_multipart_with_a_non_ascii_boundary(client: httpx.AsyncClient) -> None:
    body = '--é\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue\r\n--é--\r\n'.encode()
    response = await client.post("/upload", content=body, headers={
        "content-type": "multipart/form-data; boundary=é".encode()})
    assert response.json()["fields"] == [{"name": "a", "size": 5}]


@pytest.mark.parametrize(("content_type", "body", "status", "error"), [
    ("multipart/form-data", b"--x--\r\n", 400, "multipart/form-data without a boundary"),
    ("multipart/form-data; boundary=x",
     b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue', 400,
     "multipart body does not end with its closing boundary"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Type: text/plain\r\n\r\nvalue\r\n--x--",
     400, "multipart part without a Content-Disposition name"),
    ("text/plain", b"hello", 415, "send application/x-www-form-urlencoded or multipart/form-data"),
    ("", b"hello", 415, "send application/x-www-form-urlencoded or multipart/form-data"),
])
async def test_upload_rejects_malformed_forms(client: httpx.AsyncClient, content_type: str,
                                             body: bytes, status: int, error: str) -> None:
    response = await client.post("/upload", content=body, headers={"content-type": content_type})
    assert (response.status_code, response.json()) == (status, {"error": error})


async def test_upload_larger_than_the_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", content=b"x" * (MAX_REQUEST_BODY + 1),
                                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413


async def test_download_sends_the_pattern_with_its_length(client: httpx.AsyncClient) -> None:
    response = await client.get("/download", params={"size": 3000})
    assert response.headers["content-length"] == "3000"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == PATTERN[:3000]


async def test_download_streams_64k_chunks_then_ends() -> None:
    sent = await call_asgi(DemoApp(), http_scope("GET", "/download", b"size=150000"),
                           [{"type": "http.request", "body": b""}])
    chunks = [(len(message["body"]), message.get("more_body", False)) for message in sent[1:]]
    assert chunks == [(CHUNK, True), (CHUNK, True), (150000 - 2 * CHUNK, True), (0, False)]
    assert b"".join(message["body"] for message in sent[1:]) == (PATTERN * 3)[:150000]


@pytest.mark.parametrize(("query", "error"), [
    ("size=-1", "size must be from 0 to 104857600, not -1"),
    ("size=104857601", "size must be from 0 to 104857600, not 104857601"),
    ("size=1.5", "size must be an integer, not '1.5'"),
    ("size=", "size must be an integer, not ''"),
])
async def test_download_rejects_bad_sizes(client: httpx.AsyncClient, query: str,
                                          error: str) -> None:
    response = await client.get(f"/download?{query}")
    assert (response.status_code, response.json()) == (400, {"error": error})


async def test_events_send_ticks_then_done(client: httpx.AsyncClient) -> None:
    response = await client.get("/events", params={"count": 3, "interval": 0})
    assert response.headers["content-type"] == "text/event-stream"
    events = sse_events(response.text)
    assert [(event, data.get("n")) for event, data in events] == [
        ("tick", 1), ("tick", 2), ("tick", 3), ("done", None)]
    assert events[-1][1] == {"ticks": 3}


async def test_chat_streams_completion_chunks_then_done(client: httpx.AsyncClient) -> None:
    response = await client.get("/chat", params={"prompt": "hi"})
    assert response.headers["content-type"] == "text/event-stream"
    datas = [block.removeprefix("data: ") for block in response.text.split("\n\n") if block]
    assert datas[-1] == "[DONE]"
    text = "".join(json.loads(d)["choices"][0]["delta"]["content"] for d in datas[:-1])
    assert text.startswith("You said 'hi'. Each chunk of this answer")


async def test_catalog_is_gzip_when_accepted(client: httpx.AsyncClient) -> None:
    zipped = await client.get("/api/catalog", headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert len(zipped.json()["items"]) == 200  # httpx undid the gzip
    assert int(zipped.headers["content-length"]) < len(zipped.content) / 4
    plain = await client.get("/api/catalog", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.json() == zipped.json()


async def test_reviews_lists_every_product_with_its_reviews(client: httpx.AsyncClient) -> None:
    products = (await client.get("/api/reviews")).json()
    assert [p["name"] for p in products] == [name for name, _price in SHOP_PRODUCTS]
    assert products[0]["reviews"] == [{"stars": 5, "body": "Clicky and solid"},
                                      {"stars": 4, "body": "Loud at night"}]


@pytest.mark.parametrize(("server", "scheme", "root_path", "url"), [
    (("127.0.0.1", 8000), "http", "", "http://127.0.0.1:8000/api/items"),
    (("0.0.0.0", 8000), "http", "", "http://127.0.0.1:8000/api/items"),
    (("::", 8443), "https", "/shop", "https://[::1]:8443/shop/api/items"),
    (("fe80::1", 80), "http", "", "http://[fe80::1]:80/api/items"),
])
def test_the_dashboard_calls_the_address_the_server_listens_on(
        server: tuple[str, int], scheme: str, root_path: str, url: str) -> None:
    scope = {"server": server, "scheme": scheme, "root_path": root_path}
    assert own_url(scope, "/api/items") == url


@pytest.mark.parametrize("server", [None, ("/tmp/app.sock", None)])
def test_the_dashboard_cannot_call_itself_without_a_tcp_port(server: Any) -> None:
    with pytest.raises(HTTPError) as info:
        own_url({"server": server}, "/api/items")
    assert info.value.status == 503


def rpc_call(method: str, params: Any = None, call_id: Any = 1) -> dict[str, Any]:
    call = {"jsonrpc": "2.0", "method": method, "id": call_id}
    return call if params is None else {**call, "params": params}


async def test_rpc_answers_calls_batches_and_errors(client: httpx.AsyncClient) -> None:
    listed = (await client.post("/rpc", json=rpc_call("items.list"))).json()
    assert listed["id"] == 1 and [i["name"] for i in listed["result"]][:1] == ["Keyboard"]
    missing = (await client.post("/rpc", json=rpc_call("items.get", {"id": 99}, 2))).json()
    assert missing == {"jsonrpc": "2.0", "id": 2, "error": {
        "code": -32602, "message": "Invalid params", "data": "no item 99"}}
    batch = (await client.post("/rpc", json=[
        rpc_call("items.add", {"name": "Pen", "price": 2.5}, "a"),
        {"jsonrpc": "2.0", "method": "items.list"},  # a notification: no answer
        rpc_call("nope", {}, "b")])).json()
    assert [(a["id"], "result" in a) for a in batch] == [("a", True), ("b", False)]
    assert batch[1]["error"]["code"] == -32601
    assert (await client.post("/rpc", content=b"{oops")).json()["error"]["code"] == -32700
    only_note = await client.post("/rpc", json={"jsonrpc": "2.0", "method": "items.list"})
    assert only_note.status_code == 202 and only_note.content == b""


async def test_rpc_answers_over_sse_when_asked(client: httpx.AsyncClient) -> None:
    response = await client.post("/rpc", json=rpc_call("items.get", {"id": 1}, 7),
                                 headers={"accept": "text/event-stream"})
    assert response.headers["content-type"] == "text/event-stream"
    events = sse_events(response.text)
    assert [event for event, _ in events] == ["message", "message"]
    assert events[0][1]["method"] == "notifications/progress"
    assert events[1][1] == {"jsonrpc": "2.0", "id": 7, "result": {
        "id": 1, "name": "Keyboard", "price": 49.0}}


@pytest.mark.parametrize(("query", "error"), [
    ("count=0", "count must be from 1 to 100, not 0"),
    ("interval=9", "interval must be from 0.0 to 5.0, not 9.0"),
    ("interval=soon", "interval must be a number, not 'soon'"),
])
async def test_events_reject_bad_parameters(client: httpx.AsyncClient, query: str,
                                            error: str) -> None:
    response = await client.get(f"/events?{query}")
    assert (response.status_code, response.json()) == (400, {"error": error})


async def test_slow_answers_after_sleeping(client: httpx.AsyncClient) -> None:
    response = await client.get("/slow", params={"seconds": "0.01"})
    assert response.json() == {"slept": 0.01}


@pytest.mark.parametrize(("query", "error"), [
    ("seconds=11", "seconds must be from 0.0 to 10.0, not 11.0"),
    ("seconds=nan", "seconds must be from 0.0 to 10.0, not nan"),
    ("seconds=inf", "seconds must be from 0.0 to 10.0, not inf"),
    ("seconds=later", "seconds must be a number, not 'later'"),
])
async def test_slow_rejects_bad_durations(client: httpx.AsyncClient, query: str,
                                          error: str) -> None:
    response = await client.get(f"/slow?{query}")
    assert (response.status_code, response.json()) == (400, {"error": error})


async def test_error_raises_with_a_chained_cause(client: httpx.AsyncClient) -> None:
    with pytest.raises(RuntimeError, match="stock lookup failed") as info:
        await client.get("/error")
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.__cause__.__traceback__ is not None


async def test_redirect_points_to_the_items(client: httpx.AsyncClient) -> None:
    response = await client.get("/redirect")
    assert (response.status_code, response.headers["location"]) == (302, "/api/items")
    followed = await client.get("/redirect", follow_redirects=True)
    assert followed.url.path == "/api/items"


@pytest.mark.parametrize(("code", "text"), [
    (200, "200 OK\n"), (418, "418 I'm a Teapot\n"), (503, "503 Service Unavailable\n"),
    (299, "299 Unknown\n"),
])
async def test_status_answers_with_any_code(client: httpx.AsyncClient, code: int,
                                            text: str) -> None:
    response = await client.get(f"/status/{code}")
    assert (response.status_code, response.text) == (code, text)


@pytest.mark.parametrize("code", [204, 304])
async def test_status_without_body(client: httpx.AsyncClient, code: int) -> None:
    response = await client.get(f"/status/{code}")
    assert (response.status_code, response.content) == (code, b"")
    assert "content-length" not in response.headers


@pytest.mark.parametrize(("code", "error"), [
    ("99", "code must be from 200 to 599, not 99"),
    ("600", "code must be from 200 to 599, not 600"),
    ("teapot", "code must be an integer, not 'teapot'"),
])
async def test_status_rejects_bad_codes(client: httpx.AsyncClient, code: str, error: str) -> None:
    response = await client.get(f"/status/{code}")
    assert (response.status_code, response.json()) == (400, {"error": error})


@pytest.mark.parametrize("url", ["/", "/api/items", "/api/items/1", "/download?size=100",
                                 "/events?interval=0", "/status/418"])
async def test_head_has_the_get_headers_and_no_body(client: httpx.AsyncClient, url: str) -> None:
    get, head = await client.get(url), await client.head(url)
    assert (head.status_code, head.headers, head.content) == (get.status_code, get.headers, b"")


async def test_unknown_path_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere/at/all")
    assert (response.status_code, response.json()) == (404,
                                                       {"error": "no route for /nowhere/at/all"})


@pytest.mark.parametrize(("method", "url", "allow"), [
    ("DELETE", "/api/items", "GET, HEAD, POST"),
    ("GET", "/upload", "POST"),
    ("HEAD", "/upload", "POST"),
    ("PUT", "/api/items/1", "GET, HEAD"),
])
async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient, method: str, url: str,
                                              allow: str) -> None:
    response = await client.request(method, url)
    assert (response.status_code, response.headers["allow"]) == (405, allow)


async def test_lifespan_completes_and_publishes_state() -> None:
    app = DemoApp()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    sent = await call_asgi(app, scope, [{"type": "lifespan.startup"},
                                        {"type": "lifespan.shutdown"}])
    assert [message["type"] for message in sent] == ["lifespan.startup.complete",
                                                     "lifespan.shutdown.complete"]
    assert scope["state"]["items"] is app.items
    assert isinstance(scope["state"]["started_at"], float)


async def test_lifespan_without_state_support_still_completes() -> None:
    sent = await call_asgi(DemoApp(), {"type": "lifespan"}, [{"type": "lifespan.startup"},
                                                             {"type": "lifespan.shutdown"}])
    assert [message["type"] for message in sent] == ["lifespan.startup.complete",
                                                     "lifespan.shutdown.complete"]


async def test_unknown_scope_type_raises() -> None:
    with pytest.raises(ValueError, match="'webtransport'"):
        await call_asgi(DemoApp(), {"type": "webtransport"}, [])


# --- streams under a real server -----------------------------------------------------------

class Spy:
    """Wraps the demo to see each request's lifespan state and when each call returned."""

    def __init__(self) -> None:
        self.app = DemoApp()
        self.states: list[dict[str, Any]] = []
        self.finished: queue.Queue[str] = queue.Queue()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.states.append(dict(scope.get("state", {})))
        try:
            await self.app(scope, receive, send)
        finally:
            self.finished.put(f"{scope.get('path')}?{scope.get('query_string', b'').decode()}")

    def wait_finished(self, target: str, timeout: float = 5.0) -> None:
        """Block until the call for ``target`` (path?query) has returned."""
        while self.finished.get(timeout=timeout) != target:
            pass


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Spy]]:
    spy = Spy()
    with uvicorn_server(spy, lifespan="on") as base_url:
        yield base_url, spy


async def test_requests_see_the_lifespan_state(served: tuple[str, Spy]) -> None:
    base_url, spy = served
    async with httpx.AsyncClient(base_url=base_url) as http:
        assert (await http.get("/api/items")).status_code == 200
    assert spy.states[-1]["items"] is spy.app.items
    assert "started_at" in spy.states[-1]


async def test_download_streams_over_http(served: tuple[str, Spy]) -> None:
    base_url, _spy = served
    size = 3 * CHUNK + 5
    async with httpx.AsyncClient(base_url=base_url) as http, \
            http.stream("GET", "/download", params={"size": size}) as response:
        assert response.headers["content-length"] == str(size)
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    assert body == (PATTERN * 4)[:size]


async def test_events_arrive_as_a_stream(served: tuple[str, Spy]) -> None:
    base_url, _spy = served
    async with httpx.AsyncClient(base_url=base_url) as http, \
            http.stream("GET", "/events", params={"count": 3, "interval": 0.05}) as response:
        assert response.headers["content-type"] == "text/event-stream"
        text = "".join([line + "\n" async for line in response.aiter_lines()])
    assert [event for event, _data in sse_events(text)] == ["tick", "tick", "tick", "done"]


async def test_events_stop_when_the_client_leaves(served: tuple[str, Spy]) -> None:
    base_url, spy = served
    async with httpx.AsyncClient(base_url=base_url) as http, \
            http.stream("GET", "/events?count=100&interval=5") as response:
        first = await anext(response.aiter_lines())
    assert first == "id: 1"
    # 100 ticks 5 s apart would take minutes: the call must end as soon as the client is gone
    # (within a minute, a bound that holds on a busy machine and still tells the two apart).
    await asyncio.to_thread(spy.wait_finished, "/events?count=100&interval=5", 60)


async def test_websocket_echoes_text_and_binary_then_closes_on_bye(
        served: tuple[str, Spy]) -> None:
    base_url, _spy = served
    async with connect(base_url.replace("http", "ws") + "/ws/echo") as socket:
        await socket.send("hello")
        assert await socket.recv() == "hello"
        await socket.send(b"\x00\x01\xff")
        assert await socket.recv() == b"\x00\x01\xff"
        await socket.send("bye")
        with pytest.raises(ConnectionClosedOK):
            await socket.recv()
    assert (socket.close_code, socket.close_reason) == (1000, "bye")


async def test_websocket_to_an_unknown_path_is_refused(served: tuple[str, Spy]) -> None:
    base_url, _spy = served
    with pytest.raises(InvalidStatus) as info:
        async with connect(base_url.replace("http", "ws") + "/ws/nowhere"):
            pass
    assert info.value.response.status_code == 403


async def test_dashboard_calls_the_api_and_queries_the_database(
        served: tuple[str, Spy]) -> None:
    base_url, _spy = served
    async with httpx.AsyncClient(base_url=base_url) as http:
        items = (await http.get("/api/items")).json()
        dashboard = (await http.get("/api/dashboard")).json()
    assert dashboard == {"items": len(items), "products": len(SHOP_PRODUCTS),
                         "average_price": 70.31, "average_stars": 3.88,
                         "top_rated": ["Headset", "Monitor", "Keyboard"]}


# --- what the demo does inside, recorded -----------------------------------------------------

def test_the_first_screen_shows_calls_queries_and_an_n_plus_one() -> None:
    """What the home page fires on load, under the recorder as ``asgi-inspect run`` has it."""
    sink = MemorySink()
    inspector = Inspector(DemoApp(), sink, capture_calls=True)  # hooks before the database
    with uvicorn_server(inspector, lifespan="on") as base_url:
        for path in ("/api/dashboard", "/api/reviews"):
            assert httpx.get(base_url + path).status_code == 200
    inspector.close()
    by_path = {exchange.path: exchange for exchange in sink.exchanges}
    assert len(inside.queries(by_path[""])) >= 3  # the lifespan made the tables

    dashboard = by_path["/api/dashboard"]
    (call,) = inside.calls(dashboard)
    assert isinstance(call, OutboundCall)
    assert (call.method, call.url, call.status) == ("GET", base_url + "/api/items", 200)
    assert "demo.py:" in call.location  # the demo's own line: it is the app here
    assert len(inside.queries(dashboard)) == 3
    assert not inside.repeated(dashboard)
    assert by_path["/api/items"].inside == []  # the call it answered is the dashboard's

    (repeat,) = inside.repeated(by_path["/api/reviews"])
    assert repeat.count == len(SHOP_PRODUCTS)
    assert repeat.shape == "select stars, body from reviews where product_id = ? order by id"
    assert "demo.py:" in repeat.location
