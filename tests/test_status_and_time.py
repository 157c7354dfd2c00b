"""The status the client got and time that tells the truth, under real uvicorn and hypercorn.

One app, served once per server for the module: it raises before responding (the server sends
500 in its place), returns without a response, answers then runs a background task
(Starlette's ``BackgroundTask``), and holds a WebSocket whose ``receive()`` waits while frames
go out. Each test reads what the real client saw and what the recorder made of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import websockets.sync.client
from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from asgi_inspect import Inspector, MemorySink
from asgi_inspect.filters import compile_filter
from asgi_inspect.formats.har import har_entry
from asgi_inspect.model import Exchange
from asgi_inspect.replay.diff import diff_exchanges
from asgi_inspect.replay.driver import Driver
from asgi_inspect.replay.request import ReplayRequest
from asgi_inspect.runtime.headless import format_line
from asgi_inspect.tui.widgets.timeline import FrameTable, frame_time
from tests.servers import uvicorn_server, wait_for_port

MS = 1_000_000
BACKGROUND_S = 0.3  # how long the background task works after the response


async def finish_report() -> None:
    await asyncio.sleep(BACKGROUND_S)


async def background(request: Any) -> PlainTextResponse:
    return PlainTextResponse("report queued", background=BackgroundTask(finish_report))


starlette_app = Starlette(routes=[Route("/background", background)])


async def websocket_session(receive: Any, send: Any) -> None:
    """Asks for the client's frame first, then sends two while that ``receive()`` waits: the
    client answers only after the second, so the call order is not the order on the wire."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    answer = asyncio.ensure_future(receive())
    await asyncio.sleep(0.01)
    await send({"type": "websocket.send", "text": "one"})
    await send({"type": "websocket.send", "text": "two"})
    reply = await answer
    await send({"type": "websocket.send", "text": f"got {reply.get('text')}"})
    await send({"type": "websocket.close", "code": 1000})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await websocket_session(receive, send)
    elif scope["type"] == "lifespan" or scope["path"] == "/background":
        await starlette_app(scope, receive, send)
    elif scope["path"] == "/boom":
        await receive()
        raise RuntimeError("boom before the response")
    elif scope["path"] == "/silent":
        await receive()  # and return without a response
    else:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@contextlib.contextmanager
def hypercorn_server(asgi_app: Any) -> Iterator[str]:
    """Serve ``asgi_app`` with hypercorn in a thread on a socket bound here; yields the URL."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.loglevel = "CRITICAL"  # /boom's traceback is expected
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(serve(asgi_app, config, shutdown_trigger=stop.wait))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)  # the bound only stops a hung test
        loop.close()
        with contextlib.suppress(OSError):  # hypercorn closes the socket it was given
            sock.close()


class Served:
    """The app behind a recorder, served by one real server."""

    def __init__(self, url: str, sink: MemorySink) -> None:
        self.url, self.sink = url, sink

    def exchange(self, path: str, done: Callable[[Exchange], bool] = lambda e: True) -> Exchange:
        """The last recorded exchange for ``path`` once it closed and ``done`` holds (the
        recorder's batches leave every 20 ms; the bound only stops a hung test)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = [e for e in self.sink.exchanges if e.path == path]
            if found and found[-1].outcome != "streaming" and done(found[-1]):
                return found[-1]
            time.sleep(0.02)
        raise TimeoutError(f"{path} was not recorded")


@pytest.fixture(scope="module", params=["uvicorn", "hypercorn"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    sink = MemorySink()
    inspector = Inspector(app, sink)
    serving = uvicorn_server(inspector, log_level="critical") if request.param == "uvicorn" \
        else hypercorn_server(inspector)
    with serving as url:
        yield Served(url, sink)
    inspector.close()


def test_the_servers_500_for_an_app_that_raised_is_the_status(served: Served) -> None:
    response = httpx.get(served.url + "/boom")
    assert response.status_code == 500  # what the client got: the server's own answer
    exchange = served.exchange("/boom")
    assert exchange.outcome == "exception" and exchange.exception is not None
    assert exchange.status == 500 and exchange.answered_by_server
    assert not any(e.type == "http.response.start" for e in exchange.events)  # none made up
    assert {e.id for e in compile_filter("~c 5xx").select([exchange])} == {exchange.id}
    assert {e.id for e in compile_filter("~c >=400 !~q").select([exchange])} == {exchange.id}
    line = format_line(exchange)
    assert " /boom 500 " in line and "[exception] RuntimeError: boom before the response" in line
    entry = har_entry(exchange)["response"]
    assert (entry["status"], entry["_answeredByServer"]) == (500, True)


def test_no_response_stays_no_status(served: Served) -> None:
    response = httpx.get(served.url + "/silent")
    assert response.status_code == 500  # uvicorn and hypercorn answer; daphne would not
    exchange = served.exchange("/silent")
    assert exchange.outcome == "no_response"
    assert exchange.status is None and not exchange.answered_by_server
    assert any("returned without starting a response" in note for note in exchange.notes)
    assert " /silent --- " in format_line(exchange)
    assert har_entry(exchange)["response"]["status"] == 0
    assert {e.id for e in compile_filter("~q").select([exchange])} == {exchange.id}


def test_a_background_task_is_not_response_time(served: Served) -> None:
    response = httpx.get(served.url + "/background")
    assert response.text == "report queued"
    exchange = served.exchange("/background")
    response_end, returned = exchange.response_end_ns, exchange.ended_ns
    assert response_end is not None and returned is not None
    assert returned - response_end >= BACKGROUND_S * 1e9 * 0.9  # the task ran after
    assert exchange.duration_ns == response_end  # what the list, ~d and sorting use
    quick = compile_filter(f"~dur <{int(BACKGROUND_S * 1000)}ms").select([exchange])
    assert [e.id for e in quick] == [exchange.id]
    har = har_entry(exchange)
    assert har["time"] <= response_end / MS + 0.001  # HAR timings end with the response


def test_websocket_frames_read_in_the_order_they_went_through(served: Served) -> None:
    ws_url = served.url.replace("http://", "ws://") + "/chat"
    with websockets.sync.client.connect(ws_url) as client:
        assert [client.recv(), client.recv()] == ["one", "two"]
        client.send("hi")
        assert client.recv() == "got hi"
    exchange = served.exchange("/chat")
    frames = [event for _, event in FrameTable().select_events(exchange)]
    texts = [e.message.get("text") for e in frames if e.type in ("websocket.send",
                                                                  "websocket.receive")]
    assert texts == ["one", "two", "hi", "got hi"]
    times = [frame_time(e) for e in frames]  # the Frames tab's "at" column
    assert times == sorted(times)
    reply = next(e for e in frames if e.type == "websocket.receive")
    first = next(e for e in frames if e.type == "websocket.send")
    assert reply.t_call < first.t_call  # the app asked before "one" went out...
    assert frame_time(reply) > frame_time(first)  # ...and "hi" arrived after it


def test_a_replay_reports_the_same_status(served: Served) -> None:
    httpx.get(served.url + "/boom")
    original = served.exchange("/boom")

    async def replay() -> Exchange:
        async with Driver(app) as driver:
            return await driver.replay(ReplayRequest.from_exchange(original), original.id)

    replayed = asyncio.run(replay())
    assert replayed.status == 500 and replayed.answered_by_server
    assert not [c for c in diff_exchanges(original, replayed).changes if c.section == "status"]
