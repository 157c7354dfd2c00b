"""The recorder is invisible, and what it records is exactly what happened.

Every app of ``tests/apps.py`` runs under uvicorn twice, bare and wrapped in an Inspector; a real
client (httpx, websockets) must see the same thing both times. A :class:`~tests.apps.Witness`
inside the recorder logs what the app really received, sent and raised; the recorded exchange
must match it event for event. In-process checks cover what a client cannot see: object
identity, the re-raised exception, extensions uvicorn lacks, cancellation, recorder errors.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from uvicorn.lifespan.on import LifespanOn
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from asgi_inspect import Inspector, MemorySink
from asgi_inspect.formats import codec
from asgi_inspect.model import Event, Exchange, Opaque
from tests import apps
from tests.apps import WITNESS_HEADER, Log, Marker, Step, Witness, plain
from tests.servers import uvicorn_server

Seen = tuple[Any, ...]
Client = Callable[[str, list[tuple[bytes, bytes]]], Seen]
MASKED = {"date", "sec-websocket-accept"}  # differ on every run, by design


# clients ------------------------------------------------------------------------------------------

def masked(pairs: Any) -> list[tuple[Any, Any]]:
    """Header pairs in order, with the values that change on every run blanked."""
    out = []
    for name, value in pairs:
        text = name.decode("latin-1") if isinstance(name, bytes) else name
        out.append((name, "*" if text.lower() in MASKED else value))
    return out


def http(method: str = "GET", content: bytes | Callable[[], Iterator[bytes]] | None = None,
         headers: tuple[tuple[bytes, bytes], ...] = ()) -> Client:
    """A request whose status, header pairs, body bytes and any transport error are compared."""

    def call(url: str, extra: list[tuple[bytes, bytes]]) -> Seen:
        body = content() if callable(content) else content
        with (httpx.Client(trust_env=False, timeout=30) as client,
              client.stream(method, url, content=body, headers=[*headers, *extra]) as response):
            received, error = bytearray(), None
            try:
                for part in response.iter_raw():
                    received += part
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            return response.status_code, masked(response.headers.raw), bytes(received), error

    return call


def first_chunk_then_close(url: str, extra: list[tuple[bytes, bytes]]) -> Seen:
    """Reads the first chunk of an endless response and hangs up."""
    with (httpx.Client(trust_env=False, timeout=30) as client,
          client.stream("GET", url, headers=extra) as response):
        return response.status_code, masked(response.headers.raw), next(response.iter_raw())


def ws(*frames: str | bytes, close: tuple[int, str] | None = None) -> Client:
    """A WebSocket session: each frame sent gets one reply (or the server's close)."""

    def call(url: str, extra: list[tuple[bytes, bytes]]) -> Seen:
        headers = [(k.decode(), v.decode()) for k, v in extra]
        try:
            with connect("ws" + url.removeprefix("http"), additional_headers=headers,
                         subprotocols=["chat", "superchat"], proxy=None) as conn:
                replies: list[Any] = []
                for frame in frames:
                    conn.send(frame)
                    try:
                        replies.append(conn.recv(timeout=10))
                    except ConnectionClosed as exc:
                        assert exc.rcvd is not None
                        replies.append(("closed", exc.rcvd.code, exc.rcvd.reason))
                if close is not None:
                    conn.close(*close)
                return conn.subprotocol, masked(conn.response.headers.raw_items()), replies
        except InvalidStatus as exc:
            response = exc.response
            return response.status_code, masked(response.headers.raw_items()), response.body

    return call


def echo_body() -> Iterator[bytes]:
    yield from (bytes([i]) * 1000 for i in range(40))


# the cases ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    app: str
    client: Client
    outcome: str
    notes: tuple[str, ...] = ()  # substrings that must appear among the exchange's notes
    must_see: tuple[str, ...] = ()  # message types that must appear, in this order


CASES = [
    Case("hello", http(), "complete", must_see=("http.response.start", "http.response.body")),
    Case("streaming", http(), "complete", must_see=("http.response.body",) * 3),
    Case("sse", http(), "complete", must_see=("http.response.start", "http.response.body")),
    Case("echo_chunks", http("POST", echo_body), "complete",
         must_see=("http.response.start", "http.request", "http.response.body")),
    Case("raise_before_start", http(), "exception", notes=("the server answered on its own",)),
    Case("raise_after_start", http(), "exception",
         notes=("the client got a truncated body (7 bytes)",)),
    Case("no_response", http("POST", b"ignored"), "no_response",
         notes=("returned without starting a response",), must_see=("http.request",)),
    Case("incomplete", http(), "incomplete", must_see=("http.response.body",)),
    Case("disconnect_mid_stream", first_chunk_then_close, "client_disconnected",
         must_see=("http.response.body", "http.disconnect", "http.response.body")),
    Case("head_with_body", http("HEAD"), "complete",
         notes=("HEAD: the app sent 5 body bytes; the server does not transmit them",)),
    Case("no_content", http(), "complete"),
    Case("not_modified", http(), "complete"),
    Case("body_on_204", http(), "exception",
         notes=("status 204 must not have a body, yet the app sent 4 bytes",)),
    Case("set_cookies", http(), "complete"),
    Case("raw_header_bytes", http(headers=((b"x-raw", b"\xe9t\xe9 \xfe"),)), "complete"),
    Case("binary_body", http("PUT", bytes(range(255, -1, -1)) * 4), "complete"),
    Case("big_body", http("POST", apps.BIG_CHUNK * 50), "complete"),
    Case("buffer_bodies", http(), "complete"),
    Case("generator_headers", http(), "complete"),
    Case("returns_value", http(), "complete", notes=("the app returned 42 instead of None",)),
    Case("scope_state", http(), "complete"),
    Case("unknown_message", http(), "complete", must_see=("x-custom.event",)),
    Case("big_int", http(), "complete"),
    Case("ws_echo", ws("héllo", b"\x01\x02", "close"), "complete",
         must_see=("websocket.accept", "websocket.send", "websocket.send", "websocket.close")),
    Case("ws_client_close", ws(close=(4001, "client bye")), "complete",
         must_see=("websocket.accept", "websocket.disconnect")),
    Case("ws_deny", ws(), "complete",
         must_see=("websocket.http.response.start", "websocket.http.response.body")),
    Case("ws_reject", ws(), "complete", must_see=("websocket.close",)),
]
BY_APP = {case.app: case for case in CASES}


# servers ------------------------------------------------------------------------------------------

class Captured(logging.Handler):
    """Keeps uvicorn's error log records (they carry the exceptions uvicorn caught)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Stack:
    """One server: the apps bare, or inside an Inspector (see :class:`Recorded`)."""

    url: str
    witness: Witness

    def run(self, case: Case) -> tuple[Seen, Log, str]:
        key = uuid.uuid4().hex
        seen = case.client(f"{self.url}/{case.app}", [(WITNESS_HEADER, key.encode())])
        wait_until(lambda: key in self.witness.logs and self.witness.logs[key].done)
        return seen, self.witness.logs.pop(key), key


@dataclass
class Recorded(Stack):
    inspector: Inspector
    sink: MemorySink

    def exchange(self, key: str) -> Exchange:
        """The recorded exchange of one request, once it is closed and settled."""
        found: list[Exchange] = []

        def settled() -> bool:
            found[:] = [x for x in self.sink.exchanges
                        if (WITNESS_HEADER, key.encode()) in x.request_headers]
            return bool(found) and found[0].ended_ns is not None

        wait_until(settled)
        return found[0]


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until ``condition`` holds; the timeout only stops a hung test."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        time.sleep(0.005)


@dataclass
class Servers:
    bare: Stack
    wrapped: Recorded
    log: Captured


pytestmark = pytest.mark.usefixtures("hotpath")  # each test on the Python and the compiled path


@pytest.fixture(scope="module")
def servers(hotpath: str) -> Iterator[Servers]:
    bare = Witness(apps.router(apps.ROUTES, apps.lifespan_state))
    inner = Witness(apps.router(apps.ROUTES, apps.lifespan_state))
    sink = MemorySink()
    inspector = Inspector(inner, sink)
    captured = Captured()
    with uvicorn_server(bare) as bare_url, uvicorn_server(inspector) as wrapped_url:
        logging.getLogger("uvicorn.error").addHandler(captured)
        try:
            yield Servers(Stack(bare_url, bare), Recorded(wrapped_url, inner, inspector, sink),
                          captured)
        finally:
            logging.getLogger("uvicorn.error").removeHandler(captured)
    inspector.close()


# comparing a trace with what happened -------------------------------------------------------------

def normal(value: Any) -> Any:
    """A recorded snapshot in the witness's terms (opaque values become markers)."""
    if isinstance(value, Opaque):
        return Marker(value.type)
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normal(v) for v in value]
    return value


def as_step(event: Event) -> Step:
    assert event.status in ("ok", "raised", "cancelled"), event
    error = None
    if event.status != "ok":
        assert event.error, event
        error = event.error.split(":")[0].rsplit(".")[-1]
    return Step(event.direction, normal(event.message), error)


_PAYLOADS = {"http.request", "http.response.body", "websocket.http.response.body",
             "websocket.receive", "websocket.send"}
_COUNTED = _PAYLOADS | {"http.response.pathsend"}  # counted in the totals, kept or not


def expected(value: Any) -> Any:
    """A witnessed value as the recorder must keep it: ints past 64 bits become opaque."""
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return Marker("int")
    if isinstance(value, dict):
        return {k: expected(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expected(v) for v in value]
    return value


def kind(step: Step) -> str | None:
    return step.message.get("type") if isinstance(step.message, dict) else None


def payload_key(message: dict[str, Any]) -> str:
    if "body" in message or message["type"].startswith(("http.", "websocket.http.")):
        return "body"
    return "bytes" if message.get("bytes") is not None else "text"


def payload_size(step: Step) -> int:
    if kind(step) == "http.response.pathsend":
        return os.path.getsize(step.message["path"])
    return len(step.message.get(payload_key(step.message)) or b"")


ONE_SHOT = Marker("generator")


def fits(event: Event, want: Step) -> bool:
    """Whether a recorded event is this witnessed call; a capped payload must be a true prefix.

    The recorder turns one-shot headers into a list and passes that on, so a witnessed
    generator matches a recorded list (its content: test_generator_headers_are_listed_once).
    """
    got = as_step(event)
    if isinstance(want.message, dict) and isinstance(got.message, dict):
        got.message.update({k: v for k, v in want.message.items()
                            if v == ONE_SHOT and isinstance(got.message.get(k), list)})
    if event.size is None:
        return got == want
    key = payload_key(want.message)
    kept = got.message[key]
    return (event.size == payload_size(want) and kept == want.message[key][: len(kept)]
            and {**got.message, key: None} == {**want.message, key: None}
            and (got.direction, got.error) == (want.direction, want.error))


def assert_faithful(exchange: Exchange, log: Log) -> None:
    """The recorded events are the witnessed calls, in order; only counted chunks are missing."""
    want = [Step(s.direction, expected(s.message), s.error) for s in log.steps]
    skipped = {"receive": 0, "send": 0}
    for event in exchange.events:
        while want and kind(want[0]) in _PAYLOADS and not fits(event, want[0]):
            skipped[want.pop(0).direction] += 1
        assert want, f"recorded {event.type} that did not happen"
        step = want.pop(0)
        assert fits(event, step), (as_step(event), step)
    for step in want:
        skipped[step.direction] += 1
    for direction, counters in (("receive", exchange.request), ("send", exchange.response)):
        steps = [s for s in log.steps if s.direction == direction and kind(s) in _COUNTED]
        assert counters.elided == skipped[direction]
        assert counters.chunks == len(steps)
        assert counters.bytes == sum(payload_size(s) for s in steps)
    scope = expected(log.scope)
    if "state" in scope:
        scope["state"] = {k: type(v).__qualname__ for k, v in scope["state"].items()}
    assert normal(exchange.scope) == scope


def assert_exception(exchange: Exchange, raised: BaseException) -> None:
    info = exchange.exception
    assert info is not None
    assert info.type.rsplit(".")[-1] == type(raised).__qualname__
    assert info.message == str(raised)
    assert info.after_event == len(exchange.events) - 1
    if raised.__cause__ is not None:
        assert "The above exception was the direct cause" in info.traceback
        assert type(raised.__cause__).__name__ in info.traceback


def assert_subsequence(types: tuple[str, ...], exchange: Exchange) -> None:
    recorded = iter(e.type for e in exchange.events)
    assert all(t in recorded for t in types), [e.type for e in exchange.events]


# under uvicorn ------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=[c.app for c in CASES])
def test_under_uvicorn(case: Case, servers: Servers) -> None:
    bare, wrapped = servers.bare, servers.wrapped
    errors_before = wrapped.inspector.errors
    seen_bare = bare.run(case)[0]
    seen, log, key = wrapped.run(case)
    assert seen == seen_bare

    exchange = wrapped.exchange(key)
    assert_faithful(exchange, log)
    assert_subsequence(case.must_see, exchange)
    assert exchange.outcome == case.outcome
    for note in case.notes:
        assert any(note in n for n in exchange.notes), exchange.notes
    assert not exchange.lost_records
    if log.raised is not None:
        assert_exception(exchange, log.raised)
        assert any(r.exc_info and r.exc_info[1] is log.raised for r in servers.log.records)
    if log.returned is not None:
        assert f"the app returned {log.returned!r} instead of None" in exchange.notes
    assert wrapped.inspector.errors - errors_before == (case.app == "big_int")


def test_witnessed_client_views(servers: Servers) -> None:
    """Spot checks that the clients really saw the tricky parts (so equality means something)."""
    bare = servers.bare
    status, headers, body, error = bare.run(BY_APP["set_cookies"])[0]
    assert [v for k, v in headers if k.lower() == b"set-cookie"] == [
        b"a=1; Path=/", b"b=2", b"c=3, d=4"]
    assert (status, body, error) == (200, b"cookies", None)
    assert bare.run(BY_APP["raise_before_start"])[0][0] == 500
    assert bare.run(BY_APP["raise_after_start"])[0][2:] == (b"partial", "RemoteProtocolError")
    assert bare.run(BY_APP["raw_header_bytes"])[0][2] == b"\xe9t\xe9 \xfe"
    assert bare.run(BY_APP["ws_echo"])[0][2] == ["olléh", b"\x01\x02\x00\xff",
                                                  ("closed", 4000, "done")]
    assert bare.run(BY_APP["ws_deny"])[0][::2] == (418, b"I'm a teapot")
    closed = bare.run(BY_APP["ws_client_close"])[1].steps[-1].message
    assert closed == {"type": "websocket.disconnect", "code": 4001, "reason": "client bye"}


def test_recorded_payloads_are_exact(servers: Servers) -> None:
    """Bodies, frames and raw header bytes come back byte for byte from the trace."""
    wrapped = servers.wrapped
    seen, _, key = wrapped.run(BY_APP["binary_body"])
    exchange = wrapped.exchange(key)
    assert exchange.body("receive") == bytes(range(255, -1, -1)) * 4
    assert exchange.body("send") == seen[2]
    seen, _, key = wrapped.run(BY_APP["raw_header_bytes"])
    exchange = wrapped.exchange(key)
    assert (b"x-raw", b"\xe9t\xe9 \xfe") in exchange.request_headers
    assert exchange.response_headers[0] == (b"x-raw", b"caf\xe9 \xff\xfe")
    _, _, key = wrapped.run(BY_APP["buffer_bodies"])
    assert wrapped.exchange(key).body("send") == b"first!secondarray"
    _, _, key = wrapped.run(BY_APP["big_int"])
    start = wrapped.exchange(key).response_start
    assert start is not None
    assert start.message["x_big"] == Opaque("int", str(2**70))


def test_big_body_is_capped_but_counted(servers: Servers) -> None:
    wrapped = servers.wrapped
    seen, _, key = wrapped.run(BY_APP["big_body"])
    exchange = wrapped.exchange(key)
    assert len(seen[2]) == apps.BIG_SIZE
    assert exchange.request.bytes == exchange.response.bytes == apps.BIG_SIZE
    caps = wrapped.sink.collector.caps
    for counters in (exchange.request, exchange.response):
        assert counters.kept_bytes <= caps.max_body
        assert counters.elided > 0
    assert exchange.body("send") == apps.BIG_CHUNK[: exchange.response.kept_bytes]


def test_lifespan_state_recorded(servers: Servers) -> None:
    wrapped = servers.wrapped
    (life,) = [x for x in wrapped.sink.exchanges if x.type == "lifespan"]
    assert [e.type for e in life.events][:2] == ["lifespan.startup", "lifespan.startup.complete"]
    assert "state after startup: {greeting: str}" in life.notes
    assert life.outcome == "streaming"  # the lifespan lasts as long as the server


# lifespan, driven by uvicorn's own lifespan code --------------------------------------------------

async def lifespan_result(app: Any) -> tuple[Any, ...]:
    config = uvicorn.Config(app, lifespan="on", log_config=None, log_level="critical")
    config.load()
    lifespan = LifespanOn(config)
    await lifespan.startup()
    if not lifespan.should_exit:
        await lifespan.shutdown()
    return (lifespan.startup_failed, lifespan.shutdown_failed, lifespan.should_exit,
            lifespan.error_occurred, dict(lifespan.state))


@pytest.mark.parametrize(("app", "types"), [
    (apps.lifespan_state, ["lifespan.startup", "lifespan.startup.complete", "lifespan.shutdown",
                           "lifespan.shutdown.complete"]),
    (apps.lifespan_failed, ["lifespan.startup", "lifespan.startup.failed"]),
])
async def test_lifespan(app: apps.App, types: list[str]) -> None:
    bare = await lifespan_result(app)
    sink = MemorySink()
    inspector = Inspector(app, sink)
    assert await lifespan_result(inspector) == bare
    inspector.close()
    (exchange,) = sink.exchanges
    assert [e.type for e in exchange.events] == types
    assert exchange.outcome == "complete"
    if app is apps.lifespan_failed:
        assert exchange.events[-1].message == {"type": "lifespan.startup.failed",
                                               "message": "no database"}


# in-process ---------------------------------------------------------------------------------------

async def compare_in_process(app: apps.App, scope: dict[str, Any],
                             incoming: list[dict[str, Any]]) -> tuple[apps.Run, Log, Exchange]:
    """Bare and wrapped runs must hand the server the same messages and end the same way."""
    bare_witness, witness = Witness(app), Witness(app)
    bare = await apps.drive(bare_witness, scope, incoming)
    run, exchange = await apps.record(witness, scope, incoming)
    assert plain(run.sent) == plain(bare.sent)
    assert type(run.error) is type(bare.error)
    assert run.result == bare.result
    (log,) = witness.logs.values()
    assert_faithful(exchange, log)
    return run, log, exchange


def witnessed_scope(path: str = "/", **extra: Any) -> dict[str, Any]:
    return apps.http_scope(path, headers=[(WITNESS_HEADER, uuid.uuid4().hex.encode())], **extra)


async def test_trailers_in_process() -> None:
    scope = witnessed_scope(extensions={"http.response.trailers": {}})
    run, _, exchange = await compare_in_process(apps.trailers, scope, [])
    assert [m["type"] for m in run.sent][-1] == "http.response.trailers"
    assert exchange.outcome == "complete"
    assert exchange.events[-1].message["headers"] == [[b"x-checksum", b"abc"]]


async def test_pathsend_in_process() -> None:
    scope = witnessed_scope(extensions={"http.response.pathsend": {}})
    _, _, exchange = await compare_in_process(apps.pathsend, scope, [])
    size = os.path.getsize(apps.__file__)
    assert exchange.outcome == "complete"
    assert exchange.response.bytes == size
    assert any(n.startswith(f"pathsend file: {size} bytes") for n in exchange.notes)


async def test_unknown_scope_type_and_message_pass_through() -> None:
    """Unknown scope types reach the app; unknown messages are recorded generically."""
    scope = {"type": "x-custom", "headers": [(WITNESS_HEADER, b"k")], "extra": (1, b"2")}
    incoming = [{"type": "x-custom.hello", "data": b"\x00"}]
    run, _, exchange = await compare_in_process(apps.echo_chunks, scope, incoming)
    assert run.received == incoming
    assert exchange.type == "x-custom"
    assert exchange.scope["extra"] == [1, b"2"]


async def test_generator_headers_are_listed_once() -> None:
    """A one-shot headers iterable is read once; the server gets every pair, so does the trace."""
    run, exchange = await apps.record(apps.generator_headers, apps.http_scope())
    assert run.sent[0]["headers"] == [(b"x-gen", b"1"), (b"x-gen", b"2")]
    start = exchange.response_start
    assert start is not None and start.message["headers"] == [[b"x-gen", b"1"], [b"x-gen", b"2"]]
    assert any("headers were a generator; passed on as a list" in n for n in exchange.notes)


async def test_same_objects_pass_through() -> None:
    """The app gets the server's scope and messages, the server gets the app's, unchanged."""
    scope = apps.http_scope("/spy")
    keys = list(scope)
    incoming = [{"type": "http.request", "body": b"a", "more_body": True},
                {"type": "http.request", "body": b"b"}]
    sent = [{"type": "http.response.start", "status": 200, "headers": (("x", "tuple"),)},
            {"type": "http.response.body", "body": memoryview(b"view")}]
    seen: list[Any] = []

    async def spy(got_scope: apps.Scope, receive: apps.Receive, send: apps.Send) -> None:
        seen.append(got_scope)
        seen.extend([await receive(), await receive()])
        for message in sent:
            await send(message)

    run, _ = await apps.record(spy, scope, incoming)
    assert seen[0] is scope and list(scope) == keys
    assert all(a is b for a, b in zip(seen[1:], incoming, strict=True))
    assert all(a is b for a, b in zip(run.sent, sent, strict=True))


@pytest.mark.parametrize("make", [
    lambda: apps.AppError("chained"),
    lambda: ExceptionGroup("group", [ValueError("one"), KeyError("two")]),
    lambda: KeyboardInterrupt(),
], ids=["chained", "group", "keyboard-interrupt"])
async def test_same_exception_reraised(make: Callable[[], BaseException]) -> None:
    error, cause = make(), LookupError("the cause")
    error.__cause__ = cause

    async def failing(scope: apps.Scope, receive: apps.Receive, send: apps.Send) -> None:
        await apps.start(send)
        raise error

    run, exchange = await apps.record(failing, apps.http_scope())
    assert run.error is error and error.__cause__ is cause
    assert error.__traceback__ is not None
    assert error.__traceback__.tb_next is not None  # the app's own frame is still there
    assert exchange.outcome == "exception"
    assert_exception(exchange, error)


async def test_return_value_passes_through() -> None:
    token = object()

    async def returning(scope: apps.Scope, receive: apps.Receive, send: apps.Send) -> object:
        await apps.respond(send, b"x")
        return token

    run, exchange = await apps.record(returning, apps.http_scope())
    assert run.result is token
    assert any(n.startswith("the app returned <object object") for n in exchange.notes)


async def test_cancellation() -> None:
    """A cancelled call re-raises CancelledError and is recorded as cancelled, receive included."""
    scope = witnessed_scope()
    witness = Witness(apps.hang)
    async with apps.recorded(witness) as (inspector, sink):
        run = apps.Run()
        task = asyncio.create_task(apps.drive(inspector, scope, [{"type": "http.request"}], run))
        await run.waiting.wait()
        task.cancel()
        await task
    assert isinstance(run.error, asyncio.CancelledError)
    (exchange,) = sink.exchanges
    assert exchange.outcome == "cancelled"
    assert [(e.type, e.status) for e in exchange.events] == [("http.request", "ok"),
                                                              ("?", "cancelled")]
    (log,) = witness.logs.values()
    assert isinstance(log.raised, asyncio.CancelledError)


class RaisingSink(MemorySink):
    def deliver(self, frame: bytes) -> bool:
        raise OSError("the sink is broken")


class UnreprValue:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


async def test_recorder_errors_never_reach_the_request() -> None:
    """A broken sink and values nothing can encode are counted; the request is untouched."""
    scope = apps.http_scope(extensions={"odd": {"value": UnreprValue(), "huge": -(2**70)}})
    bare = await apps.drive(apps.big_int, scope)
    inspector = Inspector(apps.big_int, RaisingSink())
    run = await apps.drive(inspector, scope)
    inspector.close()
    assert plain(run.sent) == plain(bare.sent)
    assert run.error is None and run.result is None
    assert inspector.errors >= 3  # the scope, the start message, every delivery


async def test_a_message_that_is_not_a_mapping_meets_the_server_not_us() -> None:
    """Whatever the app passes to send() goes on as it is; the error the app sees is the
    server's own, and the recorder counts its own trouble instead of raising."""
    seen: list[Any] = []

    async def strict_send(message: Any) -> None:
        seen.append(message)
        raise TypeError("the server wants a dict")

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(["not", "a", "dict"])

    inspector = Inspector(app, MemorySink())
    with pytest.raises(TypeError, match="the server wants a dict"):
        await inspector(apps.http_scope(), receive, strict_send)
    inspector.close()
    assert seen == [["not", "a", "dict"]]
    assert inspector.errors >= 1


def test_failed_send_is_not_counted_as_delivered(servers: Servers) -> None:
    """A 204 body that the server refused (send raised) never reached the client."""
    wrapped = servers.wrapped
    seen, _, key = wrapped.run(BY_APP["body_on_204"])
    assert seen[0] == 204 and seen[2] == b""
    notes = wrapped.exchange(key).notes
    assert not any("the client got a truncated body (4 bytes)" in n for n in notes), notes


async def test_keys_the_framework_adds_to_the_scope_are_recorded() -> None:
    """Which endpoint and route handled a request: Starlette writes them into the scope."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def read_item(request: Any) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["item_id"])

    app = Starlette(routes=[Route("/items/{item_id}", read_item)])
    incoming = [{"type": "http.request", "body": b""}]
    run, exchange = await apps.record(app, apps.http_scope("/items/7"), incoming)
    assert run.error is None
    assert "endpoint" not in exchange.scope  # the snapshot is the scope the server gave
    added = exchange.scope_added
    assert added is not None
    assert added["endpoint"] == Opaque(type="function", repr=f"{__name__}.{read_item.__qualname__}")
    assert added["path_params"] == {"item_id": "7"}
    assert "/items/{item_id}" in added["route"].repr
    restored = codec.loads(codec.dumps(codec.new_trace([exchange])))
    assert restored.exchanges[0].scope_added == added


async def test_an_app_that_adds_nothing_records_nothing_added() -> None:
    _, exchange = await apps.record(apps.hello, apps.http_scope())
    assert exchange.scope_added is None


async def test_added_keys_are_described_by_type_only_when_redacting() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["user"] = {"token": "s3cret"}
        await apps.respond(send, b"ok")

    _, exchange = await apps.record(app, apps.http_scope(), redact=True)
    assert exchange.scope_added == {"user": Opaque(type="dict", repr="(redacted)")}
