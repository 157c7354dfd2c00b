"""The ASGI apps the benchmarks serve, as uvicorn factories (``uvicorn --factory apps:NAME``).

Each variant is built only when its server starts, so a bare server never imports or creates
anything of the recorder. ``recorded`` variants use ``Inspector(app)`` with no sink: with
``$ASGI_INSPECT`` set by the benchmark, that is the live channel to a collector process.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asgi_inspect.record.sinks import Sink

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STREAM_ENV = "BENCH_STREAM_BYTES"
CHUNK = 64 * 1024

_HELLO_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")],
}
_HELLO_BODY = {"type": "http.response.body", "body": b"Hello, world!"}


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    """The smallest honest HTTP app: reads the request, answers 13 bytes."""
    if scope["type"] != "http":
        return
    await receive()
    await send(_HELLO_START)
    await send(_HELLO_BODY)


def stream_app(total: int) -> ASGIApp:
    """An app that streams ``total`` bytes in 64 KiB chunks of one preallocated bytes object."""
    chunk = bytes(CHUNK)
    full, rest = divmod(total, CHUNK)
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/octet-stream"),
                    (b"content-length", str(total).encode())],
    }

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await receive()
        await send(start)
        more = {"type": "http.response.body", "body": chunk, "more_body": True}
        for _ in range(full):
            await send(more)
        await send({"type": "http.response.body", "body": chunk[:rest], "more_body": False})

    return stream


def passthrough(app: ASGIApp) -> ASGIApp:
    """A do-nothing wrapper of the same shape as the recorder: the floor any middleware pays."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_wrapper() -> Message:
            return await receive()

        async def send_wrapper(message: Message) -> None:
            await send(message)

        await app(scope, receive_wrapper, send_wrapper)

    return wrapper


def floor_recorder(app: ASGIApp) -> ASGIApp:
    """The least any recorder meeting the spec's per-event rules can do, for scale.

    Per call: a coroutine wrapper, two clock readings and one MessagePack encode of the
    message (the snapshot); per exchange: the scope encoded and a closing time. Nothing else:
    no exchange ids, sequence numbers, caps, error handling, loss accounting, batching or sink.
    It is not a usable recorder (the buffer is thrown away as it fills); it measures the floor
    under ``recorder-only``.
    """
    import msgspec

    encode_into = msgspec.msgpack.Encoder(enc_hook=repr).encode_into
    buffer = bytearray()

    async def recorder(scope: Scope, receive: Receive, send: Send) -> None:
        encode_into((1, perf_counter_ns(), scope), buffer, -1)

        async def tapped_receive() -> Message:
            t = perf_counter_ns()
            message = await receive()
            encode_into((2, t, perf_counter_ns(), message), buffer, -1)
            return message

        async def tapped_send(message: Message) -> None:
            t = perf_counter_ns()
            await send(message)
            encode_into((3, t, perf_counter_ns(), message), buffer, -1)

        await app(scope, tapped_receive, tapped_send)
        encode_into((7, perf_counter_ns()), buffer, -1)
        if len(buffer) > 65536:
            buffer.clear()

    return recorder


class NullSink:
    """Takes every batch and keeps only counts: the recorder's own cost, without a consumer."""

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0

    def deliver(self, frame: bytes) -> bool:
        self.frames += 1
        self.bytes += len(frame)
        return True

    def close(self) -> None:
        pass


def _recorded(app: ASGIApp, sink: Sink | None = None) -> ASGIApp:
    from asgi_inspect import Inspector

    return Inspector(app, sink=sink)


def _stream_total() -> int:
    return int(os.environ.get(STREAM_ENV, str(1 << 30)))


# Factories, named on the uvicorn command line.

def bare() -> ASGIApp:
    return hello


def wrapper() -> ASGIApp:
    return passthrough(hello)


def recorded() -> ASGIApp:
    return _recorded(hello)


def recorded_hooked() -> ASGIApp:
    """``recorded`` with calls and queries recorded (``capture_calls``: the hooks installed,
    httpx and sqlite3 hooked) in an app that makes none: the per-request cost of the option."""
    from asgi_inspect import Inspector

    inspector = Inspector(hello, capture_calls=True)
    import sqlite3  # noqa: F401  # hooked as an app's imports would be

    import httpx  # noqa: F401

    return inspector


def recorder_only() -> ASGIApp:
    return _recorded(hello, NullSink())


def floor() -> ASGIApp:
    return floor_recorder(hello)


def stream_bare() -> ASGIApp:
    return stream_app(_stream_total())


def stream_recorded() -> ASGIApp:
    return _recorded(stream_app(_stream_total()))
