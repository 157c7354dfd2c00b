"""The recording middleware. Everything here runs on the app's hot path.

Rules (see docs/architecture.md): pass the very same scope and message objects on; never call
``receive()``/``send()`` for the app; re-raise with a bare ``raise``; return what the app
returned; never block and never raise into the request. Per event the cost is two
``perf_counter_ns()`` stamps and one MessagePack encode into the pending batch.
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import itertools
import os
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from time import perf_counter_ns, time_ns
from typing import Any

from asgi_inspect.batch import Batcher
from asgi_inspect.sinks import Sink, resolve_sink
from asgi_inspect.values import safe_repr
from asgi_inspect.wire import (
    CANCELLED,
    OK,
    RAISED,
    Closed,
    Failure,
    Note,
    Open,
    Progress,
    Received,
    Sending,
    Sent,
    opaque,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_MAX_EVENTS = 1000
PROGRESS_EVERY_NS = 50_000_000

# Message types whose payload counts against the body cap, and the key that carries it.
_PAYLOAD_KEY = {
    "http.request": "body",
    "http.response.body": "body",
    "websocket.http.response.body": "body",
    "websocket.receive": "",  # "bytes" or "text", whichever is set
    "websocket.send": "",
}
# Never elided, whatever the caps: the skeleton of every exchange.
_ALWAYS_KEPT = frozenset({
    "http.response.start", "http.response.trailers", "http.response.pathsend",
    "websocket.connect", "websocket.accept", "websocket.close", "websocket.disconnect",
    "websocket.http.response.start",
    "lifespan.startup", "lifespan.startup.complete", "lifespan.startup.failed",
    "lifespan.shutdown", "lifespan.shutdown.complete", "lifespan.shutdown.failed",
})


class Inspector:
    """Wrap an ASGI app so that every scope, ``receive()`` and ``send()`` is recorded.

    ``sink`` is where records go: a :class:`~asgi_inspect.sinks.Sink`, a path (JSONL file),
    or None: the collector named by ``$ASGI_INSPECT`` if set, else an in-memory ring buffer
    (``inspector.sink.exchanges``).
    """

    def __init__(self, app: Any, sink: Sink | str | os.PathLike[str] | None = None, *,
                 max_body: int = DEFAULT_MAX_BODY, max_events: int = DEFAULT_MAX_EVENTS,
                 flush_interval: float = 0.02) -> None:
        if max_body < 0 or max_events < 1:
            raise ValueError("max_body must be >= 0 and max_events >= 1")
        self.app: ASGIApp = as_asgi3(app)
        self.sink = resolve_sink(sink)
        self.batcher = Batcher(self.sink, max_body=max_body, max_events=max_events,
                               flush_interval=flush_interval)
        self._ids = itertools.count(1)
        self._closed = False
        atexit.register(self.close)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        try:
            tap = _Tap(self, scope, receive, send)
        except Exception as exc:
            self.batcher.error(exc)
            return await self.app(scope, receive, send)
        try:
            result = await self.app(scope, tap.receive, tap.send)
        except BaseException as exc:
            tap.close(exc, None)
            raise
        tap.close(None, result)
        return result

    @property
    def dropped(self) -> int:
        return self.batcher.dropped

    @property
    def errors(self) -> int:
        return self.batcher.errors

    def flush(self) -> None:
        self.batcher.flush()

    def close(self) -> None:
        """Flush what is pending and close the sink (also run at interpreter exit)."""
        if not self._closed:
            self._closed = True
            atexit.unregister(self.close)
            self.batcher.close()


class _Flow:
    """Byte and chunk accounting for one direction, and the cap on what is kept."""

    __slots__ = ("budget", "bytes", "chunks", "elided", "kept")

    def __init__(self, budget: int) -> None:
        self.bytes = self.chunks = self.kept = self.elided = 0
        self.budget = budget

    def take(self, message: Message, key: str, keep_all: bool) -> tuple[Message, int | None] | None:
        """The snapshot of a payload message and its original size if trimmed; None: elided."""
        key, payload = _payload(message, key)
        n = len(payload)
        self.bytes += n
        self.chunks += 1
        budget = self.budget
        if n <= budget and keep_all:
            self.budget = budget - n
            self.kept += n
            return message, None
        if (budget == 0 or not keep_all) and message.get("more_body", key != "body"):
            self.elided += 1
            return None
        if n <= budget:
            self.budget = budget - n
            self.kept += n
            return message, None
        self.budget = 0
        self.kept += budget
        return _trimmed(message, key, payload, budget), n


class _Tap:
    """The recorder of one exchange: the receive/send wrappers handed to the app."""

    __slots__ = (
        "_receive",
        "_send",
        "batch",
        "events_left",
        "inbound",
        "outbound",
        "seq",
        "state",
        "t_progress",
        "xid",
    )

    def __init__(self, inspector: Inspector, scope: Scope, receive: Receive, send: Send) -> None:
        batch = self.batch = inspector.batcher
        self.xid = next(inspector._ids)
        self._receive = receive
        self._send = send
        self.seq = 0
        self.events_left = batch.max_events
        self.inbound = _Flow(batch.max_body)
        self.outbound = _Flow(batch.max_body)
        self.t_progress = 0
        self.state = scope.get("state") if scope.get("type") == "lifespan" else None
        batch.add(Open(self.xid, time_ns(), perf_counter_ns(), _scope_snapshot(scope)))

    # receive ---------------------------------------------------------------------------

    async def receive(self) -> Message:
        t = perf_counter_ns()
        try:
            message = await self._receive()
        except BaseException as exc:
            self._receive_failed(t, exc)
            raise
        try:
            self._received(t, message)
        except Exception as exc:
            self.batch.error(exc)
        return message

    def _received(self, t: int, message: Message) -> None:
        t_return = perf_counter_ns()
        kind = message.get("type")
        snap, size = message, None
        key = _PAYLOAD_KEY.get(kind)  # type: ignore[arg-type]
        if key is not None:
            taken = self.inbound.take(message, key, self.events_left > 0)
            if taken is None:
                self._progress(t_return)
                return
            snap, size = taken
        elif self.events_left <= 0 and kind not in _ALWAYS_KEPT:
            self.inbound.elided += 1
            return
        self.events_left -= 1
        seq = self.seq
        self.seq = seq + 1
        self.batch.add(Received(self.xid, seq, t, t_return, OK, snap, size, None))

    def _receive_failed(self, t: int, exc: BaseException) -> None:
        try:
            status = CANCELLED if isinstance(exc, asyncio.CancelledError) else RAISED
            seq = self.seq
            self.seq = seq + 1
            self.batch.add(Received(self.xid, seq, t, perf_counter_ns(), status, None, None,
                                    _describe(exc)))
        except Exception as error:
            self.batch.error(error)

    # send ------------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        t = perf_counter_ns()
        try:
            seq = self._sending(t, message, False)
        except Exception as exc:
            self.batch.error(exc)
            seq = -1
        try:
            await self._send(message)
        except BaseException as exc:
            self._send_failed(t, message, seq, exc)
            raise
        if seq >= 0:
            self.batch.add(Sent(self.xid, seq, perf_counter_ns(), OK, None))

    def _sending(self, t: int, message: Message, force: bool) -> int:
        kind = message.get("type")
        snap, size = message, None
        key = _PAYLOAD_KEY.get(kind)  # type: ignore[arg-type]
        if key is not None:
            taken = self.outbound.take(message, key, force or self.events_left > 0)
            if taken is None:
                self._progress(t)
                return -1
            snap, size = taken
        elif kind in _SPECIAL_SENDS:
            snap = _SPECIAL_SENDS[kind](self, message)
        elif self.events_left <= 0 and kind not in _ALWAYS_KEPT and not force:
            self.outbound.elided += 1
            return -1
        self.events_left -= 1
        seq = self.seq
        self.seq = seq + 1
        self.batch.add(Sending(self.xid, seq, t, snap, size))
        return seq

    def _send_failed(self, t: int, message: Message, seq: int, exc: BaseException) -> None:
        try:
            if seq < 0:
                seq = self._sending(t, message, True)
            status = CANCELLED if isinstance(exc, asyncio.CancelledError) else RAISED
            self.batch.add(Sent(self.xid, seq, perf_counter_ns(), status, _describe(exc)))
        except Exception as error:
            self.batch.error(error)

    def _zerocopy(self, message: Message) -> Message:
        """Describe the file without reading, seeking or closing it."""
        snap = dict(message)
        file = message.get("file")
        try:
            fd = file.fileno()  # type: ignore[union-attr]
            stat = os.fstat(fd)
            text = f"fd={fd} name={getattr(file, 'name', '?')!r} size={stat.st_size}"
        except Exception:
            text = safe_repr(file)
        snap["file"] = opaque("file", text)
        count = message.get("count")
        self.outbound.bytes += count if isinstance(count, int) else 0
        self.outbound.chunks += 1
        return snap

    def _pathsend(self, message: Message) -> Message:
        try:
            stat = os.stat(message["path"])
            self.outbound.bytes += stat.st_size
            note = f"pathsend file: {stat.st_size} bytes, modified {stat.st_mtime:.0f}"
        except Exception as exc:
            note = f"pathsend file not readable: {_describe(exc)}"
        self.outbound.chunks += 1
        self.batch.add(Note(self.xid, perf_counter_ns(), note))
        return message

    def _startup_complete(self, message: Message) -> Message:
        state = self.state
        if isinstance(state, dict):
            keys = ", ".join(f"{k}: {type(v).__qualname__}" for k, v in state.items())
            self.batch.add(Note(self.xid, perf_counter_ns(), f"state after startup: {{{keys}}}"))
        return message

    # end of the exchange ---------------------------------------------------------------

    def _totals(self) -> tuple[int, int, int, int, int, int, int, int]:
        i, o = self.inbound, self.outbound
        return (i.bytes, i.chunks, i.kept, i.elided, o.bytes, o.chunks, o.kept, o.elided)

    def _progress(self, t: int) -> None:
        if t - self.t_progress > PROGRESS_EVERY_NS:
            self.t_progress = t
            self.batch.add(Progress(self.xid, t, self._totals()))

    def close(self, exc: BaseException | None, result: Any) -> None:
        try:
            t = perf_counter_ns()
            status, failure = OK, None
            if isinstance(exc, asyncio.CancelledError):
                status = CANCELLED
            elif exc is not None:
                status = RAISED
                failure = Failure(_type_name(exc), _message(exc),
                                  "".join(traceback.format_exception(exc)), self.seq - 1)
            returned = None if result is None else safe_repr(result)
            self.batch.add(Closed(self.xid, t, status, failure, returned, self._totals()))
            if self.state is not None:  # the lifespan ends with the process: flush now
                self.batch.flush()
        except Exception as error:
            self.batch.error(error)


_SPECIAL_SENDS: dict[str, Callable[[_Tap, Message], Message]] = {
    "http.response.zerocopysend": _Tap._zerocopy,
    "http.response.pathsend": _Tap._pathsend,
    "lifespan.startup.complete": _Tap._startup_complete,
}


def _payload(message: Message, key: str) -> tuple[str, Any]:
    if key:
        return key, message.get(key) or b""
    data = message.get("bytes")
    if data is not None:
        return "bytes", data
    return "text", message.get("text") or ""


def _trimmed(message: Message, key: str, payload: Any, budget: int) -> dict[str, Any]:
    snap = dict(message)
    part = payload[:budget]
    snap[key] = part if isinstance(part, str) else bytes(part)
    return snap


def _scope_snapshot(scope: Scope) -> Scope:
    """The scope as recorded: ``state`` is reduced to key names and type names."""
    state = scope.get("state")
    if not state:
        return scope
    snap = dict(scope)
    try:
        snap["state"] = {str(k): type(v).__qualname__ for k, v in state.items()}
    except Exception:
        snap["state"] = safe_repr(state)
    return snap


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _message(exc: BaseException) -> str:
    try:
        return str(exc)[:2000]
    except Exception:
        return safe_repr(exc)


def _describe(exc: BaseException) -> str:
    text = _message(exc)
    return f"{_type_name(exc)}: {text}" if text else _type_name(exc)


def as_asgi3(app: Any) -> ASGIApp:
    """Return an ASGI 3 callable for ``app``, adapting a legacy ASGI 2 double callable."""
    if _is_asgi3(app):
        return app  # type: ignore[no-any-return]

    async def asgi2_adapter(scope: Scope, receive: Receive, send: Send) -> None:
        instance = app(scope)
        await instance(receive, send)

    return asgi2_adapter


def _is_asgi3(app: Any) -> bool:
    if inspect.isclass(app):
        return hasattr(app, "__await__")
    if inspect.isfunction(app) or inspect.ismethod(app):
        return inspect.iscoroutinefunction(app)
    call = getattr(app, "__call__", None)  # noqa: B004
    if inspect.isfunction(call) or inspect.ismethod(call):
        return inspect.iscoroutinefunction(call)
    return True  # a C-level or otherwise opaque callable: assume the modern interface
