"""Tricky raw ASGI apps, and the harness that proves the recorder changes nothing about them.

Every app here exercises one corner of the spec that a recording middleware can get wrong
(see shared/research/asgi-spec-checklist.md). ``ROUTES`` serves them all from one server, one
path segment per app. :class:`Witness` sits *inside* the recorder and writes down exactly what
the app received, sent and raised, so a test can compare the recorded trace with what really
happened. :func:`drive` calls an app in-process, for the extensions uvicorn does not support
(trailers, pathsend), for identity checks and for cancellation.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from asgi_inspect import Inspector, MemorySink
from asgi_inspect.model import Exchange

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[Any]]

WITNESS_HEADER = b"x-witness"
STREAM_CHUNKS = 200
BIG_CHUNK = bytes(range(256)) * 4096  # 1 MiB, preallocated once
BIG_SIZE = 50 * len(BIG_CHUNK)
TEXT_PLAIN = [(b"content-type", b"text/plain")]


class AppError(RuntimeError):
    """Raised by the apps that fail; always chained to a cause the recorder must not lose."""


# helpers the apps share ---------------------------------------------------------------------------

async def start(send: Send, status: int = 200, headers: Any = TEXT_PLAIN, **extra: Any) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers, **extra})


async def chunk(send: Send, body: Any, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": more})


async def respond(send: Send, body: bytes, status: int = 200, headers: Any = TEXT_PLAIN) -> None:
    await start(send, status, headers)
    await chunk(send, body, more=False)


async def read_body(receive: Receive) -> bytes:
    """The whole request body (stops at a disconnect)."""
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


def header(scope: Scope, name: bytes) -> bytes | None:
    return next((v for k, v in scope.get("headers", ()) if k == name), None)


# HTTP ---------------------------------------------------------------------------------------------

async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    """The baseline: one start, one body, no receive at all."""
    await respond(send, b"hello")


async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
    """Many small chunks; the last message leaves out every optional key."""
    await start(send, headers=[(b"content-type", b"application/octet-stream")])
    for i in range(STREAM_CHUNKS):
        await chunk(send, b"%d," % i)
    await send({"type": "http.response.body"})


async def sse(scope: Scope, receive: Receive, send: Send) -> None:
    """Server-sent events, one event per chunk."""
    await start(send, headers=[(b"content-type", b"text/event-stream"),
                               (b"cache-control", b"no-cache")])
    for i in range(5):
        await chunk(send, f"id: {i}\nevent: tick\ndata: {{\"n\": {i}}}\n\n".encode())
    await chunk(send, b"", more=False)


async def echo_chunks(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the request body chunk by chunk and echoes each chunk as it arrives."""
    await start(send, headers=[(b"content-type", b"application/octet-stream")])
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
        await chunk(send, message.get("body", b""))
    await chunk(send, b"", more=False)


async def raise_before_start(scope: Scope, receive: Receive, send: Send) -> None:
    """Fails before any response: the server answers 500 on its own."""
    try:
        {}["missing"]
    except KeyError as cause:
        raise AppError("failed before the response") from cause


async def raise_after_start(scope: Scope, receive: Receive, send: Send) -> None:
    """Fails mid-body: the client sees a truncated response."""
    await start(send)
    await chunk(send, b"partial")
    try:
        int("not a number")
    except ValueError as cause:
        raise AppError("failed mid-body") from cause


async def no_response(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the request and returns without answering."""
    await read_body(receive)


async def incomplete(scope: Scope, receive: Receive, send: Send) -> None:
    """Promises 10 bytes, sends 4 with more_body, then returns."""
    await start(send, headers=[(b"content-length", b"10")])
    await chunk(send, b"part")


async def disconnect_mid_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """Streams until the client goes away, then sends once more (the server drops it)."""
    await start(send)
    await chunk(send, b"first")
    while (await receive())["type"] != "http.disconnect":
        pass
    await chunk(send, b"after the disconnect")


async def head_with_body(scope: Scope, receive: Receive, send: Send) -> None:
    """Sends a body to a HEAD request; the server must not transmit it."""
    await respond(send, b"hello", headers=[(b"content-length", b"5")])


async def no_content(scope: Scope, receive: Receive, send: Send) -> None:
    await respond(send, b"", status=204, headers=[])


async def not_modified(scope: Scope, receive: Receive, send: Send) -> None:
    """A 304 whose body message leaves out every optional key."""
    await start(send, 304, [(b"etag", b'"v1"')])
    await send({"type": "http.response.body"})


async def body_on_204(scope: Scope, receive: Receive, send: Send) -> None:
    """A 204 with a body: the server's send() raises, and the app lets it propagate."""
    await start(send, 204, [])
    await chunk(send, b"oops", more=False)


async def set_cookies(scope: Scope, receive: Receive, send: Send) -> None:
    """Repeated headers in mixed case: order and duplicates must survive."""
    await respond(send, b"cookies", headers=[
        (b"Set-Cookie", b"a=1; Path=/"), (b"x-dup", b"1"), (b"set-cookie", b"b=2"),
        (b"SET-COOKIE", b"c=3, d=4"), (b"x-dup", b"2"),
    ])


async def raw_header_bytes(scope: Scope, receive: Receive, send: Send) -> None:
    """Header values that are not UTF-8, both ways."""
    echoed = header(scope, b"x-raw") or b""
    await respond(send, echoed, headers=[(b"x-raw", b"caf\xe9 \xff\xfe"), (b"x-echo", echoed)])


async def binary_body(scope: Scope, receive: Receive, send: Send) -> None:
    """Echoes a binary body and adds every byte value."""
    body = await read_body(receive)
    await respond(send, body + bytes(range(256)),
                  headers=[(b"content-type", b"application/octet-stream")])


async def big_body(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads a large upload, then streams 50 MiB back from one preallocated chunk."""
    size = len(await read_body(receive))
    await start(send, headers=[(b"x-received", str(size).encode())])
    for _ in range(BIG_SIZE // len(BIG_CHUNK)):
        await chunk(send, BIG_CHUNK)
    await chunk(send, b"", more=False)


async def buffer_bodies(scope: Scope, receive: Receive, send: Send) -> None:
    """memoryview and bytearray bodies; the buffer is reused after send returns."""
    buffer = bytearray(b"first!")
    await start(send)
    await chunk(send, memoryview(buffer))
    buffer[:] = b"second"
    await chunk(send, memoryview(buffer))
    await chunk(send, bytearray(b"array"), more=False)


async def generator_headers(scope: Scope, receive: Receive, send: Send) -> None:
    """Headers as a one-shot generator: whoever reads it uses it up, so only once."""
    pairs = ((name, value) for name, value in [(b"x-gen", b"1"), (b"x-gen", b"2")])
    await start(send, headers=pairs)
    await chunk(send, b"generated", more=False)


async def returns_value(scope: Scope, receive: Receive, send: Send) -> int:
    """A complete response, then a non-None return value (uvicorn logs and closes)."""
    await respond(send, b"done")
    return 42


async def scope_state(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the lifespan state copy the server put in the scope."""
    await respond(send, str(scope["state"]["greeting"]).encode())


async def unknown_message(scope: Scope, receive: Receive, send: Send) -> None:
    """Sends a custom message type; the server refuses it, the app carries on."""
    with contextlib.suppress(RuntimeError):
        await send({"type": "x-custom.event", "payload": {"n": 1}})
    await respond(send, b"after custom")


async def big_int(scope: Scope, receive: Receive, send: Send) -> None:
    """An extra key holding an int MessagePack cannot encode: a recorder error, never a 500."""
    await start(send, x_big=2**70)
    await chunk(send, b"big int", more=False)


# WebSocket ----------------------------------------------------------------------------------------

async def ws_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Echoes text and binary frames; closes with a code and reason when told to."""
    assert (await receive())["type"] == "websocket.connect"
    chosen = scope["subprotocols"][0] if scope["subprotocols"] else None
    await send({"type": "websocket.accept", "subprotocol": chosen, "headers": [(b"x-ws", b"1")]})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "close":
            await send({"type": "websocket.close", "code": 4000, "reason": "done"})
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"][::-1]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"] + b"\x00\xff"})


async def ws_client_close(scope: Scope, receive: Receive, send: Send) -> None:
    """Accepts and listens until the client closes with its own code and reason."""
    await receive()
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass


async def ws_deny(scope: Scope, receive: Receive, send: Send) -> None:
    """Denies the handshake with an HTTP response (the websocket.http.response extension)."""
    await receive()
    await send({"type": "websocket.http.response.start", "status": 418,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "websocket.http.response.body", "body": b"I'm a ", "more_body": True})
    await send({"type": "websocket.http.response.body", "body": b"teapot"})


async def ws_reject(scope: Scope, receive: Receive, send: Send) -> None:
    """Closes before accepting: the server answers 403."""
    await receive()
    await send({"type": "websocket.close", "code": 1008})


# lifespan and in-process only ---------------------------------------------------------------------

async def serve_lifespan(receive: Receive, send: Send) -> None:
    """Complete startup and shutdown, nothing else: the lifespan of the test apps that need
    one (a server that runs it, and a clean end to the trace)."""
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


async def lifespan_state(scope: Scope, receive: Receive, send: Send) -> None:
    """Puts a greeting into the lifespan state, then waits for shutdown."""
    await receive()
    scope["state"]["greeting"] = "hello from lifespan"
    await send({"type": "lifespan.startup.complete"})
    await receive()
    await send({"type": "lifespan.shutdown.complete"})


async def lifespan_failed(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "no database"})


async def trailers(scope: Scope, receive: Receive, send: Send) -> None:
    """HTTP trailers (an extension uvicorn lacks): start announces them, they come last."""
    await start(send, headers=[(b"trailer", b"x-checksum")], trailers=True)
    await chunk(send, b"with trailers", more=False)
    await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")],
                "more_trailers": False})


async def pathsend(scope: Scope, receive: Receive, send: Send) -> None:
    """Sends this very file by path (the pathsend extension)."""
    await start(send)
    await send({"type": "http.response.pathsend", "path": __file__})


async def hang(scope: Scope, receive: Receive, send: Send) -> None:
    """Waits on receive() forever: only cancellation ends it."""
    while True:
        await receive()


ROUTES: dict[str, App] = {app.__name__: app for app in (
    hello, streaming, sse, echo_chunks, raise_before_start, raise_after_start, no_response,
    incomplete, disconnect_mid_stream, head_with_body, no_content, not_modified, body_on_204,
    set_cookies, raw_header_bytes, binary_body, big_body, buffer_bodies, generator_headers,
    returns_value, scope_state, unknown_message, big_int, ws_echo, ws_client_close, ws_deny,
    ws_reject,
)}


def router(routes: dict[str, App], lifespan: App) -> App:
    """One app that serves ``routes`` by first path segment; passes everything through."""

    async def route(scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] == "lifespan":
            return await lifespan(scope, receive, send)
        return await routes[scope["path"].strip("/").split("/")[0]](scope, receive, send)

    return route


# the witness --------------------------------------------------------------------------------------

@dataclass
class Step:
    """One receive() or send() as the app saw it."""

    direction: str
    message: Any  # a plain snapshot (see :func:`plain`)
    error: str | None = None  # the exception type name when the call raised


@dataclass
class Log:
    """Everything one witnessed call of the app did, as plain snapshots taken at the time."""

    scope: Any = None
    steps: list[Step] = field(default_factory=list)
    raised: BaseException | None = None
    returned: Any = None
    done: bool = False


@dataclass(frozen=True)
class Marker:
    """Stands for a value a snapshot must not look into (a generator, an object)."""

    type: str


def plain(value: Any) -> Any:
    """A deep snapshot: buffers become bytes, tuples lists; anything else non-data a Marker."""
    if value is None or isinstance(value, (str, int, float, bytes)):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return Marker(type(value).__qualname__)


class Witness:
    """Innermost wrapper logging what the app really saw, for requests with an x-witness header."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.logs: dict[str, Log] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        key = header(scope, WITNESS_HEADER)
        if key is None:
            return await self.app(scope, receive, send)
        log = self.logs[key.decode()] = Log(scope=plain(scope))

        async def witnessed_receive() -> Message:
            try:
                message = await receive()
            except BaseException as exc:
                log.steps.append(Step("receive", None, type(exc).__name__))
                raise
            log.steps.append(Step("receive", plain(message)))
            return message

        async def witnessed_send(message: Message) -> None:
            step = Step("send", plain(message))
            log.steps.append(step)
            try:
                await send(message)
            except BaseException as exc:
                step.error = type(exc).__name__
                raise

        try:
            log.returned = await self.app(scope, witnessed_receive, witnessed_send)
        except BaseException as exc:
            log.raised = exc
            raise
        finally:
            log.done = True
        return log.returned


# in-process driving -------------------------------------------------------------------------------

def http_scope(path: str = "/", method: str = "GET", headers: Iterable[tuple[bytes, bytes]] = (),
               **extra: Any) -> dict[str, Any]:
    """A scope shaped like uvicorn's (tuples for client and server)."""
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
        "scheme": "http", "method": method, "path": path, "raw_path": path.encode(),
        "query_string": b"", "root_path": "", "headers": list(headers),
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), **extra,
    }


@dataclass
class Run:
    """What an in-process call did, seen from the server's side (the objects themselves)."""

    received: list[Message] = field(default_factory=list)
    sent: list[Message] = field(default_factory=list)
    error: BaseException | None = None
    result: Any = None
    waiting: asyncio.Event = field(default_factory=asyncio.Event)  # receive() is blocked


async def drive(app: App, scope: Scope, incoming: Iterable[Message] = (),
                run: Run | None = None) -> Run:
    """Call ``app`` like a server would; receive() blocks once ``incoming`` is used up.

    Whatever the call raises, CancelledError included, is kept in ``run.error``, not raised.
    """
    run = run or Run()
    pending = collections.deque(incoming)

    async def receive() -> Message:
        if not pending:
            run.waiting.set()
            await asyncio.Event().wait()
        message = pending.popleft()
        run.received.append(message)
        return message

    async def send(message: Message) -> None:
        run.sent.append(message)

    try:
        run.result = await app(scope, receive, send)
    except BaseException as exc:
        run.error = exc
    return run


@contextlib.asynccontextmanager
async def recorded(app: App, **options: Any) -> AsyncIterator[tuple[Inspector, MemorySink]]:
    """An Inspector around ``app`` writing to memory; flushed and closed on exit."""
    sink = MemorySink()
    inspector = Inspector(app, sink, **options)
    try:
        yield inspector, sink
    finally:
        inspector.close()


async def record(app: App, scope: Scope, incoming: Iterable[Message] = (),
                 **options: Any) -> tuple[Run, Exchange]:
    """Drive ``app`` through an Inspector; returns the run and the one exchange recorded."""
    async with recorded(app, **options) as (inspector, sink):
        run = await drive(inspector, scope, incoming)
    (exchange,) = sink.exchanges
    return run, exchange
