"""The recorder's limits and its accounting, in-process.

Caps keep an exchange small whatever flows through it, while the counters still count every
byte; batches a sink refuses are counted and reported to the collector; records that went
missing or arrived after the app returned are flagged, never silently merged.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.testclient import TestClient

from asgi_inspect import Inspector, MemorySink
from asgi_inspect.formats import codec
from asgi_inspect.model import Exchange
from asgi_inspect.record.wire import BatchDecoder
from asgi_inspect.store import collector as collector_module
from asgi_inspect.store.store import Store, memory_estimate
from tests import apps
from tests.apps import Receive, Scope, Send

pytestmark = pytest.mark.usefixtures("hotpath")  # each test on the Python and the compiled path

CHUNK = bytes(range(256)) * 256  # 64 KiB, one object sent again and again
CHUNKS = 20_000  # about 1.25 GiB per direction
MiB = 1024 * 1024


class CountingSink(MemorySink):
    """A memory sink that also measures what the recorder shipped."""

    def __init__(self) -> None:
        super().__init__()
        self.shipped = 0

    def deliver(self, frame: bytes) -> bool:
        self.shipped += len(frame)
        return super().deliver(frame)


class GateSink(MemorySink):
    """Refuses the frames whose numbers are in ``refuse`` (counting from 0), takes the rest."""

    def __init__(self, refuse: set[int]) -> None:
        super().__init__()
        self.refuse = refuse
        self.frames = 0
        self.refused: list[bytes] = []

    def deliver(self, frame: bytes) -> bool:
        number, self.frames = self.frames, self.frames + 1
        if number in self.refuse:
            self.refused.append(bytes(frame))
            return False
        return super().deliver(frame)

    def refused_records(self) -> int:
        decoder = BatchDecoder()
        return sum(len(decoder.decode(frame)[1]) for frame in self.refused)


def kept_payload(exchange: Exchange) -> int:
    """Bytes of body and frame payload actually held by the exchange's events."""
    total = 0
    for event in exchange.events:
        message = event.message if isinstance(event.message, dict) else {}
        for key in ("body", "bytes", "text"):
            value = message.get(key)
            total += len(value) if isinstance(value, (bytes, str)) else 0
    return total


async def firehose(scope: Scope, receive: Receive, send: Send) -> None:
    """Drains a huge request without keeping it, then streams a huge response."""
    while (await receive()).get("more_body"):
        pass
    await apps.start(send)
    for _ in range(CHUNKS):
        await apps.chunk(send, CHUNK)
    await apps.chunk(send, b"", more=False)


async def test_huge_stream_keeps_under_a_mebibyte() -> None:
    incoming = [{"type": "http.request", "body": CHUNK, "more_body": True}] * CHUNKS
    incoming.append({"type": "http.request", "body": b""})
    sink = CountingSink()
    inspector = Inspector(firehose, sink)
    run = await apps.drive(inspector, apps.http_scope(method="POST"), incoming)
    inspector.close()
    assert run.error is None and len(run.sent) == CHUNKS + 2
    (exchange,) = sink.exchanges
    for counters in (exchange.request, exchange.response):
        assert counters.bytes == CHUNKS * len(CHUNK)
        assert counters.chunks == CHUNKS + 1
        assert counters.kept_bytes <= inspector.batcher.max_body
        assert counters.elided == CHUNKS - 1  # the first chunk and the final one are kept
    assert kept_payload(exchange) <= 2 * inspector.batcher.max_body
    assert len(exchange.events) == 5
    assert len(codec.exchange_line(exchange)) < MiB
    assert sink.shipped < MiB
    assert exchange.outcome == "complete"


async def test_trimmed_payloads_keep_a_prefix_and_the_size() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "é" * 30})
        await send({"type": "websocket.send", "bytes": memoryview(b"x" * 30)})
        await send({"type": "websocket.close"})

    scope = {"type": "websocket", "path": "/", "headers": []}
    _, exchange = await apps.record(app, scope, [{"type": "websocket.connect"}], max_body=10)
    assert [e.type for e in exchange.events][-1] == "websocket.close"
    text = exchange.events[2]
    assert (text.message, text.size) == ({"type": "websocket.send", "text": "é" * 10}, 30)
    assert exchange.response.bytes == 60 and exchange.response.kept_bytes == 10
    assert exchange.response.elided == 1  # the binary frame, past the cap


async def test_events_cap() -> None:
    """Past max_events, chunks and unknown messages are counted; the skeleton stays."""

    async def chatty(scope: Scope, receive: Receive, send: Send) -> None:
        await apps.start(send)
        for i in range(300):
            await send({"type": "x-custom.tick", "n": i})
            await apps.chunk(send, b"%03d" % i)
        await apps.chunk(send, b"end", more=False)

    _, exchange = await apps.record(chatty, apps.http_scope(), max_events=50)
    types = [e.type for e in exchange.events]
    assert len(types) == 51  # 50 events, then the final body chunk that ends the response
    assert types[0] == "http.response.start" and types[-1] == "http.response.body"
    assert exchange.events[-1].message["body"] == b"end"
    assert exchange.response.chunks == 301 and exchange.response.bytes == 903
    assert exchange.response.elided == 600 - 49
    assert exchange.outcome == "complete"


async def test_an_exchange_leaves_the_fast_path_without_a_gap() -> None:
    """Body chunks kept whole are recorded by the fast path; the chunk that crosses the cap
    hands the exchange to the general recorder, which trims, counts, and records the failure
    against the right event, with no gap in the sequence."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await apps.start(send)
        for _ in range(5):
            await apps.chunk(send, b"x" * 4)
        raise RuntimeError("after five chunks")

    incoming = [{"type": "http.request", "body": b"abc", "more_body": False}]
    run, exchange = await apps.record(app, apps.http_scope(method="POST"), incoming,
                                      max_body=10)
    assert isinstance(run.error, RuntimeError)
    assert not exchange.lost_records
    assert [e.type for e in exchange.events] == ["http.request", "http.response.start",
                                                 "http.response.body", "http.response.body",
                                                 "http.response.body"]
    assert [e.message.get("body") for e in exchange.events[2:]] == [b"xxxx", b"xxxx", b"xx"]
    assert exchange.events[-1].size == 4
    assert exchange.response.bytes == 20 and exchange.response.elided == 2
    assert exchange.exception is not None and exchange.exception.after_event == 4
    assert exchange.outcome == "exception"


async def test_counters_move_while_chunks_are_elided() -> None:
    """A long stream shows its running totals before it ends."""
    gate = asyncio.Event()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await apps.start(send)
        for _ in range(3):
            await apps.chunk(send, CHUNK)
        await gate.wait()
        await apps.chunk(send, b"", more=False)

    async with apps.recorded(slow) as (inspector, sink):
        task = asyncio.create_task(apps.drive(inspector, apps.http_scope()))
        while not sink.exchanges or sink.exchanges[0].response.bytes < 2 * len(CHUNK):
            await asyncio.sleep(0.005)
        (live,) = sink.exchanges
        assert live.outcome == "streaming" and live.response.elided >= 1
        gate.set()
        await task
    assert sink.exchanges[0].response.bytes == 3 * len(CHUNK)


async def test_refused_batches_are_counted_and_reported() -> None:
    """The collector learns how many records were lost from the next batch's header."""
    holder: list[Inspector] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await apps.start(send)  # frame 0, the Open alone (the first record after a rest)
        holder[0].flush()  # frame 1: the start; both refused
        await apps.chunk(send, b"one")
        holder[0].flush()  # frame 2: taken
        await apps.chunk(send, b"two", more=False)

    sink = GateSink(refuse={0, 1})
    inspector = Inspector(app, sink)
    holder.append(inspector)
    await apps.drive(inspector, apps.http_scope())
    inspector.close()
    lost = sink.refused_records()
    assert lost >= 2  # at least the Open and the start message
    assert inspector.dropped == sink.collector.dropped == lost
    (exchange,) = sink.exchanges
    assert exchange.lost_records and exchange.type == "?"
    assert [e.type for e in exchange.events] == ["http.response.body"] * 2
    assert exchange.events[0].t_call == 0  # timed from the first record that arrived


async def test_lost_send_record_is_flagged() -> None:
    """A gap in an exchange's event sequence marks it instead of going unnoticed."""

    async def server_send(message: dict[str, Any]) -> None:
        pass

    async def server_receive() -> dict[str, Any]:
        raise AssertionError("this app never receives")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        inspector.flush()  # frame 0: the Open record, taken
        await apps.start(send)
        inspector.flush()  # frame 1: the record of the start message, refused
        await apps.chunk(send, b"x", more=False)

    sink = GateSink(refuse={1})
    inspector = Inspector(app, sink)
    await inspector(apps.http_scope(), server_receive, server_send)
    inspector.close()
    (exchange,) = sink.exchanges
    assert exchange.lost_records and exchange.type == "http"
    assert [e.type for e in exchange.events] == ["http.response.body"]
    assert sink.collector.dropped == inspector.dropped == 1


async def test_late_events_are_flagged() -> None:
    """Sends from a task that outlives the app are kept and marked late."""
    release = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await apps.start(send)

        async def later() -> None:
            await release.wait()
            await apps.chunk(send, b"late", more=False)

        tasks.append(asyncio.create_task(later()))

    async with apps.recorded(app) as (inspector, sink):
        await apps.drive(inspector, apps.http_scope())
        release.set()
        await tasks[0]
    (exchange,) = sink.exchanges
    assert [(e.type, e.late) for e in exchange.events] == [("http.response.start", False),
                                                            ("http.response.body", True)]
    assert exchange.outcome == "incomplete"  # as it stood when the app returned


async def test_receive_is_never_called_for_the_app() -> None:
    run, exchange = await apps.record(apps.hello, apps.http_scope(), [{"type": "http.request"}])
    assert run.received == [] and not run.waiting.is_set()
    assert [e.direction for e in exchange.events] == ["send", "send"]


async def test_a_long_open_exchange_does_not_keep_closed_ones_alive() -> None:
    """The lifespan stays open for the whole process; closed exchanges must still be let go."""
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()  # never answered in this test
        else:
            await apps.respond(send, b"x")

    started = asyncio.Event()

    async def lifespan_receive() -> dict[str, Any]:
        if started.is_set():
            await asyncio.Event().wait()
        started.set()
        return {"type": "lifespan.startup"}

    async def ignore(message: dict[str, Any]) -> None:
        pass

    sink = MemorySink(max_exchanges=10)
    inspector = Inspector(app, sink)
    lifespan = asyncio.ensure_future(inspector({"type": "lifespan", "state": {}},
                                               lifespan_receive, ignore))
    await started.wait()
    for _ in range(collector_module._RECENT + 500):
        await apps.drive(inspector, apps.http_scope())
    inspector.flush()
    assert len(sink.collector._running) == 1  # only the lifespan
    assert len(sink.collector._recent) == collector_module._RECENT
    lifespan.cancel()


async def test_the_collector_keeps_within_its_memory_bound() -> None:
    """Past ``max_memory`` the oldest exchanges go, counted; the estimate stays exact for what
    is kept, even for an exchange evicted while it still streams."""
    body = b"y" * 10_000

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await apps.respond(send, body)

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        await apps.start(send)
        for _ in range(50):
            await apps.chunk(send, body)
            await asyncio.sleep(0)
        await apps.chunk(send, b"", more=False)

    sink = MemorySink(max_exchanges=None)
    store = sink.collector.store
    store.max_memory = 100_000
    streaming = Inspector(stream, sink, max_body=1_000_000)
    inspector = Inspector(app, sink)
    running = asyncio.ensure_future(apps.drive(streaming, apps.http_scope()))
    for _ in range(40):
        await asyncio.sleep(0)  # the stream sends a chunk
        streaming.flush()
        await apps.drive(inspector, apps.http_scope())
        inspector.flush()
    await running
    streaming.flush()
    assert store.memory <= store.max_memory
    assert store.memory == sum(map(memory_estimate, store))
    assert 5 <= len(store) <= 9 and store.evicted == 41 - len(sink.exchanges)
    assert "1" not in store  # the stream, evicted while it ran


def test_a_single_exchange_bigger_than_the_bound_is_kept() -> None:
    store = Store(max_memory=10)
    exchange = store.add(Exchange(id="", type="http", started_at=0.0, scope={}))
    assert list(store.exchanges) == [exchange.id] and store.evicted == 0
    store.remove([exchange])
    assert store.memory == 0


# one event loop per request (Starlette's TestClient without ``with``) ----------------------

class FrameSink:
    """Keeps the frames the recorder delivers, to see when they leave."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def deliver(self, frame: bytes) -> bool:
        self.frames.append(frame)
        return True

    def close(self) -> None:
        pass


def test_records_leave_when_each_request_runs_on_a_loop_of_its_own() -> None:
    sink = FrameSink()
    client = TestClient(Inspector(apps.echo_chunks, sink))  # no ``with``: a new loop per request
    for _ in range(3):
        assert client.post("/", content=b"x").status_code == 200
    collector = collector_module.Collector(None)
    for frame in sink.frames:
        collector.feed(frame)
    done = [x for x in collector.store if x.outcome == "complete"]
    assert len(done) >= 2  # the first two left when the next request began, not at close


def test_a_memory_sink_shows_what_is_still_pending() -> None:
    sink = MemorySink()
    client = TestClient(Inspector(apps.echo_chunks, sink))
    for _ in range(3):
        client.post("/", content=b"x")
    assert [x.outcome for x in sink.exchanges] == ["complete"] * 3
