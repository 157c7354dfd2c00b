"""The SSE lens against a real sse-starlette app recorded by our Inspector under uvicorn, read
with httpx streaming (the events table checked while the stream is still open, then after);
the parser's WHATWG rules on crafted chunks; and, whatever the bytes, it returns."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from asgi_inspect import Inspector, MemorySink, lenses
from asgi_inspect.filters import compile_filter
from asgi_inspect.lenses.base import Block, Table
from asgi_inspect.lenses.sse import MAX_EVENTS, SseLens, parse_stream
from asgi_inspect.model import Counters, Event, Exchange, Outcome
from tests.servers import uvicorn_server

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OPENAI_PIECES = ["Hel", "lo, ", "wor", "ld"]


@dataclass
class App:
    """The streaming app, and the gate that holds its ``/events`` stream open."""

    release: threading.Event

    async def events(self, request: Request) -> EventSourceResponse:
        async def stream() -> AsyncIterator[ServerSentEvent]:
            yield ServerSentEvent(json.dumps({"n": 1, "tags": ["a"]}), event="tick", id="1",
                                  retry=1500)
            yield ServerSentEvent(comment="keep-alive")
            yield ServerSentEvent("line one\nline two", event="note", id="2")
            while not self.release.is_set():
                await asyncio.sleep(0.01)
            yield ServerSentEvent("bye", event="close")

        return EventSourceResponse(stream())

    async def openai(self, request: Request) -> EventSourceResponse:
        async def stream() -> AsyncIterator[ServerSentEvent]:
            for piece in OPENAI_PIECES:
                yield ServerSentEvent(json.dumps(
                    {"object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": {"content": piece}}]}))
            yield ServerSentEvent("[DONE]")

        return EventSourceResponse(stream(), sep="\n")

    async def anthropic(self, request: Request) -> EventSourceResponse:
        async def stream() -> AsyncIterator[ServerSentEvent]:
            yield ServerSentEvent(json.dumps({"type": "message_start"}), event="message_start")
            for text in ("Bonjour", " !"):
                yield ServerSentEvent(json.dumps(
                    {"type": "content_block_delta", "index": 0,
                     "delta": {"type": "text_delta", "text": text}}),
                    event="content_block_delta")
            yield ServerSentEvent(json.dumps({"type": "message_stop"}), event="message_stop")

        return EventSourceResponse(stream(), sep="\r")


@dataclass
class Served:
    url: str
    sink: MemorySink
    app: App

    def exchange(self, path: str, condition: Callable[[Exchange], bool]) -> Exchange:
        """The recorded exchange of ``path`` once ``condition`` holds for it."""
        found: list[Exchange] = []

        def ready() -> bool:
            found[:] = [x for x in self.sink.exchanges if x.type == "http" and x.path == path]
            return bool(found) and condition(found[0])

        wait_until(ready)
        return found[0]


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until ``condition`` holds; the bound only stops a hung test."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    app = App(threading.Event())
    routes = [Route("/events", app.events), Route("/openai", app.openai),
              Route("/anthropic", app.anthropic)]
    sink = MemorySink()
    inspector = Inspector(Starlette(routes=routes), sink)
    try:
        with uvicorn_server(inspector) as url:
            yield Served(url, sink, app)
    finally:
        app.release.set()
        inspector.close()


def events_table(exchange: Exchange) -> Table:
    sections = dict(lenses.sections(exchange))
    (lens,) = [lens for lens in sections if lens.name == "sse"]
    (table,) = [part for part in sections[lens] if isinstance(part, Table)]
    return table


def blocks(exchange: Exchange) -> dict[str, str]:
    return {part.title: part.text for _, parts in lenses.sections(exchange) for part in parts
            if isinstance(part, Block)}


def test_events_table_while_open_and_after(served: Served) -> None:
    with httpx.stream("GET", f"{served.url}/events", timeout=20) as response:
        lines = response.iter_lines()
        while next(lines) != "data: line two":
            pass
        live = served.exchange(
            "/events", lambda x: lenses.tagged(x, "sse") and len(events_table(x).rows) == 2)
        assert live.outcome == "streaming"
        table = events_table(live)
        assert table.title == "Events (2 events)"
        assert table.columns == ("time", "id", "event", "retry", "data")
        assert [row[1:] for row in table.rows] == [
            ("1", "tick", "1500", '{\n  "n": 1,\n  "tags": [\n    "a"\n  ]\n}'),
            ("2", "note", "", "line one\nline two")]
        assert table.note == "open: streaming; 1 comment (keep-alives)"
        assert lenses.tagged(live, "sse") and not lenses.tagged(live, "rpc")
        served.app.release.set()
        rest = list(lines)
    assert "data: bye" in rest
    ended = served.exchange("/events", lambda x: x.outcome != "streaming")
    table = events_table(ended)
    assert [row[2] for row in table.rows] == ["tick", "note", "close"]
    assert table.note == "ended cleanly; 1 comment (keep-alives)"
    times = [row[0] for row in table.rows]
    assert all(t.endswith(("µs", "ms", "s")) for t in times)
    assert lenses.operation(ended) == "" and lenses.error(ended) == ""
    assert compile_filter("~sse").select([ended]) == [ended]
    assert "Assembled text" not in " ".join(blocks(ended))


@pytest.mark.parametrize("path, text, chunks", [
    ("/openai", "".join(OPENAI_PIECES), len(OPENAI_PIECES)),  # LF line ends, [DONE]
    ("/anthropic", "Bonjour !", 2),  # CR line ends, named events
])
def test_llm_stream_text_is_assembled(served: Served, path: str, text: str,
                                      chunks: int) -> None:
    with httpx.stream("GET", f"{served.url}{path}", timeout=20) as response:
        response.read()
    exchange = served.exchange(path, lambda x: x.outcome != "streaming")
    assert blocks(exchange)[f"Assembled text ({chunks} chunks)"] == text
    assert events_table(exchange).note == "ended cleanly"


# the parser, on crafted chunks ----------------------------------------------------------------

MS = 1_000_000


def streamed(*chunks: bytes, outcome: Outcome = "complete", sent: int | None = None,
             headers: list[list[bytes]] | None = None) -> Exchange:
    """A ``text/event-stream`` response sent in ``chunks``, the n-th at n ms after its start
    (at 1 ms); ``sent`` bytes in all when the capture kept fewer."""
    kept = sum(map(len, chunks))
    events = [Event(direction="send", type="http.response.start", t_call=MS // 2, t_return=MS,
                    message={"type": "http.response.start", "status": 200, "headers": [
                        [b"content-type", b"text/event-stream; charset=utf-8"],
                        *(headers or [])]})]
    events += [Event(direction="send", type="http.response.body", t_call=(n + 1) * MS,
                     t_return=(n + 1) * MS,
                     message={"type": "http.response.body", "body": chunk, "more_body": True})
               for n, chunk in enumerate(chunks, start=1)]
    return Exchange(id="1", type="http", started_at=0.0, outcome=outcome,
                    scope={"type": "http", "method": "GET", "path": "/s", "headers": []},
                    events=events, ended_ns=None if outcome == "streaming" else 99 * MS,
                    response=Counters(bytes=sent or kept, kept_bytes=kept, chunks=len(chunks)))


def test_whatwg_fields_and_line_endings() -> None:
    exchange = streamed(b"\xef\xbb\xbfdata: a\r\ndata:b\rdata\n\n",
                        b"id: 7\nid: bad\x00id\nretry: 12x\nevent\ncolour: red\ndata:  c\n\n",
                        b"retry: 300\n\n: comment\n\n")
    stream = parse_stream(exchange)
    assert [(e.data, e.event, e.id, e.retry) for e in stream.events] == [
        ("a\nb\n", "", None, None),  # a field without a colon has an empty value
        (" c", "", "7", None),  # one space dropped; an id with NUL and a bad retry ignored
        ("", "", None, 300),  # a retry-only block is shown: the client acted on it
    ]
    assert stream.comments == 1


def test_each_event_is_timed_by_the_chunk_that_completed_it() -> None:
    exchange = streamed(b"data: one\n", b"\ndata: tw", b"o\n\ndata: three\n\n")
    assert [(e.data, e.t_ns) for e in parse_stream(exchange).events] == [
        ("one", 3 * MS), ("two", 4 * MS), ("three", 4 * MS)]
    times = [row[0] for row in events_table(exchange).rows]
    assert times == ["2.0ms", "3.0ms", "3.0ms"]  # since the response started, at 1 ms


def test_an_event_cut_before_its_blank_line_is_pending_then_lost() -> None:
    chunks = (b"data: done\n\n", b"data: half")
    live = events_table(streamed(*chunks, outcome="streaming"))
    assert [row[0] for row in live.rows] == ["1.0ms", "pending"]
    assert live.note == "open: streaming; last event pending (no blank line yet)"
    gone = events_table(streamed(*chunks, outcome="client_disconnected"))
    assert gone.note == "closed by the client; last event never ended (no blank line)"


def test_capped_capture_says_later_events_were_not_kept() -> None:
    table = events_table(streamed(b"data: 1\n\n", sent=70_000))
    assert table.note == "cut: capture capped at 9B: later events not kept"


def test_compressed_stream_is_read_whole_and_untimed() -> None:
    exchange = streamed(b"data: x\n\n", b"data: y\n\n",
                        headers=[[b"content-encoding", b"identity"]])
    assert [row[0] for row in events_table(exchange).rows] == ["1.0ms", "2.0ms"]
    packed = gzip.compress(b"data: x\n\ndata: y\n\n")
    exchange = streamed(packed[:10], packed[10:], headers=[[b"content-encoding", b"gzip"]])
    table = events_table(exchange)
    assert [(row[0], row[4]) for row in table.rows] == [("", "x"), ("", "y")]
    assert table.note == "ended cleanly; compressed: event times not known"


def test_rows_are_bounded_and_the_rest_counted() -> None:
    exchange = streamed(b"data: e\n\n" * (MAX_EVENTS + 5))
    table = events_table(exchange)
    assert len(table.rows) == MAX_EVENTS
    assert table.title == f"Events ({MAX_EVENTS + 5:,} events)"
    assert table.note == "ended cleanly; 5 more events not shown"


def test_only_event_streams_are_recognised() -> None:
    exchange = streamed(b"data: x\n\n")
    exchange.events[0].message["headers"] = [[b"content-type", b"text/plain"]]
    assert SseLens().read(exchange) is None
    assert not compile_filter("~sse")(exchange)


@FUZZ
@given(chunks=st.lists(st.binary(max_size=80) | st.sampled_from(
    [b"data: ", b"\n", b"\r", b"\r\n", b"id: 1", b"retry: 5", b":", b"event: x",
     b'data: {"choices": [{"delta": {"content": "a"}}]}', b"data: [DONE]", b"\xef\xbb\xbf"]),
    max_size=12),
    outcome=st.sampled_from(["complete", "streaming", "client_disconnected"]),
    extra=st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=20)), max_size=3))
def test_any_stream_reads_without_raising(chunks: list[bytes], outcome: Outcome,
                                          extra: list[tuple[bytes, bytes]]) -> None:
    exchange = streamed(*chunks, outcome=outcome, headers=[list(pair) for pair in extra])
    lens = SseLens()
    assert lens.read(exchange) is not None
    for part in lens.sections(exchange):
        assert isinstance(part, (Table, Block))


@FUZZ
@given(message=st.dictionaries(st.sampled_from(["body", "more_body", "headers", "status"]),
                               st.none() | st.integers() | st.binary(max_size=10)
                               | st.lists(st.binary(max_size=5), max_size=3), max_size=4))
def test_any_message_shape_reads_without_raising(message: dict[str, Any]) -> None:
    exchange = streamed(b"data: ok\n\n")
    exchange.events.append(Event(direction="send", type="http.response.body", t_call=1,
                                 message=message))
    SseLens().sections(exchange)
