"""The recording middleware. Everything here runs on the app's hot path.

Rules (see docs/architecture.md): pass the very same scope and message objects on; never call
``receive()``/``send()`` for the app; re-raise with a bare ``raise``; return what the app
returned; never block and never raise into the request. Per event the cost is two
``perf_counter_ns()`` stamps and one MessagePack encode into the pending batch.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import inspect
import itertools
import os
import traceback
from collections.abc import Awaitable, Callable
from time import perf_counter_ns
from types import TracebackType
from typing import Any

from asgi_inspect.model import DEFAULT_MAX_BODY, DEFAULT_MAX_EVENTS
from asgi_inspect.record import context, hotpath
from asgi_inspect.record.batch import MAX_BUFFER, Batcher
from asgi_inspect.record.sinks import MemorySink, Sink, resolve_sink
from asgi_inspect.record.wire import (
    CANCELLED,
    OK,
    RAISED,
    Closed,
    Failure,
    Note,
    Open,
    Progress,
    Received,
    Sent,
    opaque,
    tag_of,
)
from asgi_inspect.types import Message, Receive, Scope, Send
from asgi_inspect.values import safe_repr

# The hottest records are built as plain tuples: they encode exactly like the tagged,
# array-like Structs of wire.py (tag first, then the fields in order), a little faster.
OPEN, RECEIVED, SENT, CLOSED = (tag_of(r) for r in (Open, Received, Sent, Closed))

# The app as the recorder wraps it: ASGI 3, whatever it returns passed on (and noted if not None).
WrappedApp = Callable[[Scope, Receive, Send], Awaitable[object]]


PROGRESS_EVERY_NS = 50_000_000
REDACTED = "(redacted)"  # an exception's message, or an added scope value, under redaction
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
IN, OUT = 0, 1  # what the app receives, what it sends
# Indices into _Tap.hot: the next sequence number, events still kept, body bytes still kept.
SEQ, LEFT, BUDGET = 0, 1, 2

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

    ``sink`` is where records go: a :class:`~asgi_inspect.record.sinks.Sink`, a path (JSONL file),
    or None: the collector named by ``$ASGI_INSPECT`` if set, else an in-memory ring buffer
    (``inspector.sink.exchanges``). ``redact=True`` redacts secrets (Authorization, cookies,
    API keys, token query parameters and JSON fields) before anything leaves the app's
    process; a callable taking and returning a snapshot may be given instead.
    ``capture_output=True`` attributes what the app prints and logs during an exchange to it,
    once :func:`asgi_inspect.record.output.install` has hooked the process's streams (``asgi-inspect
    run`` does both); it is off while redacting, as printed text cannot be redacted reliably.
    ``capture_calls=True`` records what the app does inside each exchange: its outbound HTTP
    calls, database queries and OpenTelemetry spans (it hooks the libraries,
    :func:`asgi_inspect.record.inside.install`); they are redacted along with the rest.
    ``otlp=ENDPOINT`` also sends every exchange as an OpenTelemetry trace ("": the
    ``OTEL_EXPORTER_OTLP_ENDPOINT``), assembled and converted in a thread of its own
    (:mod:`asgi_inspect.otel.sink`; needs the ``otel`` extra).
    """

    def __init__(self, app: Any, sink: Sink | str | os.PathLike[str] | None = None, *,
                 max_body: int = DEFAULT_MAX_BODY, max_events: int = DEFAULT_MAX_EVENTS,
                 redact: bool | Callable[[Any], Any] = False, capture_output: bool = False,
                 capture_calls: bool = False, flush_interval: float = 0.02,
                 otlp: str | None = None) -> None:
        if max_body < 0 or max_events < 1:
            raise ValueError("max_body must be >= 0 and max_events >= 1")
        self.app: WrappedApp = as_asgi3(app)
        self.redact = _redactor(redact)
        self.capture_output = capture_output and self.redact is None
        self.capture_calls = capture_calls
        self._calls_redactor = _calls_redactor(self.redact) if capture_calls else None
        if capture_calls:
            from asgi_inspect.record import inside

            inside.install()
        if otlp is None:
            self.sink = resolve_sink(sink)
        else:  # the inspector's side, in this process: loaded only when asked for
            from asgi_inspect.otel.sink import otlp_sink

            self.sink = otlp_sink(sink, otlp)
        self.batcher = Batcher(self.sink, max_body=max_body, max_events=max_events,
                               flush_interval=flush_interval)
        if isinstance(self.sink, MemorySink):
            self.sink.pending = self.batcher.flush
        self._ids = itertools.count(1)
        self._compiled = _compiled_recorder(self)
        # The whole exchange in C when nothing else is asked of it (no redaction, no capture).
        self._run = self._compiled.run if self._compiled is not None and self.redact is None \
            and not capture_output and not capture_calls else None
        self._closed = False
        atexit.register(self.close)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        # The common case, an HTTP exchange whose messages are kept whole, is recorded by the
        # two closures below with no object of its own: closure variables are the cheapest
        # state Python has. Anything else (a cap reached, a failure, another message or scope
        # type, redaction) hands the exchange to a _Tap, made at the first need from the
        # counters so far (seq: next event number, left: events still kept, budgets: body
        # bytes still kept each way), which records the rest of it. The two closures spell out
        # the same keep-whole step rather than share a helper: a call per event measured
        # +0.4 µs per request in-process, twice that under uvicorn. Where the C extension is
        # built (hotpath.py), it records this common case whole (run: the steps below, in C),
        # or, when output or calls are captured, an Exchange of its own takes the closures'
        # place, step for step, its counters and tap inside it (flow.tap, flow.taken()).
        run = self._run
        if run is not None and type(scope) is dict and scope.get("type") == "http":
            return await run(scope, receive, send)
        batch = self.batcher
        try:
            if batch._timer is not None:  # one attribute read per exchange
                batch.check_timer()
            xid = next(self._ids)
            keys = len(scope)  # more at the end: the app added some (dicts keep their order)
            seq, left, budget_in = 0, batch.max_events, batch.max_body
            budget_out = budget_in
            tap = None
            if scope["type"] == "http" and self.redact is None:
                batch.add((OPEN, xid, perf_counter_ns(),
                           _scope_snapshot(scope) if scope.get("state") else scope))
            else:
                tap = _Tap(self, xid, seq, left, budget_in, budget_out).open(scope)
            tag = context.Tag(batch, xid, output=self.capture_output, calls=self.capture_calls,
                              redactor=self._calls_redactor) \
                if self.capture_output or self.capture_calls else None
            token = None if tag is None else context.CURRENT.set(tag)
            compiled = self._compiled if tap is None else None
            flow = None if compiled is None else compiled.exchange(xid, receive, send)
        except Exception as exc:
            batch.error(exc)
            return await self.app(scope, receive, send)
        if flow is not None:
            tapped_receive, tapped_send = flow.receive, flow.send
        else:
            add = batch.add

            async def tapped_receive() -> Message:
                nonlocal tap, seq, left, budget_in
                t = perf_counter_ns()
                try:
                    message = await receive()
                except BaseException as exc:
                    tap = tap or _Tap(self, xid, seq, left, budget_in, budget_out)
                    tap.failed(RECEIVED, IN, t, None, exc)
                    raise
                t_return = perf_counter_ns()
                try:
                    n = len(message.get("body") or b"") if message.get("type") == _REQUEST else -1
                    if tap is None and 0 <= n <= budget_in and left > 0:
                        budget_in -= n
                        left -= 1
                        add((RECEIVED, xid, seq, t, t_return, message))
                        seq += 1
                    else:
                        tap = tap or _Tap(self, xid, seq, left, budget_in, budget_out)
                        tap.record(RECEIVED, IN, t, t_return, message, OK, None)
                except Exception as exc:
                    batch.error(exc)
                return message

            async def tapped_send(message: Message) -> None:
                nonlocal tap, seq, left, budget_out
                t = perf_counter_ns()
                try:
                    kind = message.get("type")
                    if kind in _HEADED and not isinstance(message.get("headers"), _LISTS):
                        message = _headers_listed(batch, xid, message)  # before the server reads
                except Exception as exc:  # not a mapping: the server will say so, not us
                    kind = None
                    batch.error(exc)
                try:
                    await send(message)
                except BaseException as exc:
                    tap = tap or _Tap(self, xid, seq, left, budget_in, budget_out)
                    tap.failed(SENT, OUT, t, message, exc)
                    raise
                t_return = perf_counter_ns()
                try:  # recorded once returned: the message is what the server was given
                    n = (len(message.get("body") or b"") if kind == _BODY
                         else 0 if kind == _START else -1)
                    if tap is None and 0 <= n <= budget_out and left > 0:
                        budget_out -= n
                        left -= 1
                        add((SENT, xid, seq, t, t_return, message))
                        seq += 1
                    else:
                        tap = tap or _Tap(self, xid, seq, left, budget_in, budget_out)
                        tap.record(SENT, OUT, t, t_return, message, OK, None)
                except Exception as exc:
                    batch.error(exc)

        try:
            result = await self.app(scope, tapped_receive, tapped_send)
        except BaseException as exc:
            tap = (flow.taken() if flow is not None
                   else tap or _Tap(self, xid, seq, left, budget_in, budget_out))
            tap.close(exc, None, _scope_added(scope, keys))
            raise
        finally:
            if tag is not None:
                context.CURRENT.reset(token)  # type: ignore[arg-type]
                if tag.skipped:
                    _note_skipped(tag)
        if (tap if flow is None else flow.tap) is None and result is None \
                and len(scope) == keys:
            batch.add((CLOSED, xid, perf_counter_ns(), OK))
        else:
            tap = (flow.taken() if flow is not None
                   else tap or _Tap(self, xid, seq, left, budget_in, budget_out))
            tap.close(None, result, _scope_added(scope, keys))
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


class _Tap:
    """The general recorder of one exchange, for everything the fast path leaves aside.

    ``hot`` holds what every event updates, indexed by SEQ, LEFT and BUDGET + way. Past the
    caps, :meth:`_over_cap` trims or counts chunks instead of keeping them.
    """

    __slots__ = ("batch", "elided", "hot", "inspector", "redact", "shutdown", "state",
                 "t_progress", "xid")

    def __init__(self, inspector: Inspector, xid: int, seq: int, left: int, budget_in: int,
                 budget_out: int) -> None:
        self.inspector = inspector
        self.batch = inspector.batcher
        self.xid = xid
        self.hot = [seq, left, budget_in, budget_out]
        self.redact = inspector.redact
        self.elided: list[int] | None = None  # bytes, chunks, events: in, then out
        self.t_progress = 0
        self.state: Any = None
        self.shutdown = False

    def open(self, scope: Scope) -> _Tap:
        """Record the scope (redacted if asked) as the exchange opens."""
        if scope.get("type") == "lifespan":
            self.state = scope.get("state")
        snap = _scope_snapshot(scope)
        if self.redact is not None:
            snap = self.redact(snap)
        self.batch.add((OPEN, self.xid, perf_counter_ns(), snap))
        return self

    def failed(self, tag: int, way: int, t: int, message: Message | None,
               exc: BaseException) -> None:
        """A receive() or send() that raised or was cancelled."""
        try:
            self.record(tag, way, t, perf_counter_ns(), message, _status(exc), _describe(exc))
        except Exception as error:
            self.batch.error(error)

    # records ---------------------------------------------------------------------------

    def record(self, tag: int, way: int, t: int, t_return: int, message: Message | None,
                status: int, error: str | None) -> None:
        """One receive() or send(): its snapshot within the caps, or a count past them."""
        snap, size = None, None
        if message is not None:  # None: a receive() that raised has no message
            taken = self._snapshot(message, way, status != OK)
            if taken is None:
                self._progress(t_return)
                return
            snap, size = taken
        hot = self.hot
        hot[LEFT] -= 1
        seq = hot[SEQ]
        hot[SEQ] = seq + 1
        if self.redact is not None and snap is not None:
            snap = self.redact(snap)
        self.batch.add((tag, self.xid, seq, t, t_return, snap, status, size, error))

    # snapshots and caps ----------------------------------------------------------------

    def _snapshot(self, message: Message, way: int,
                  force: bool) -> tuple[Message, int | None] | None:
        """What to record of a message (and the payload's size when trimmed); None when it is
        counted instead of kept. The common case, a payload within the budget, returns at once.
        """
        kind = message.get("type")
        key = _PAYLOAD_KEY.get(kind)  # type: ignore[arg-type]
        if key is not None:
            key, payload = _payload(message, key)
            n = len(payload)
            hot = self.hot
            if n <= hot[BUDGET + way] and (hot[LEFT] > 0 or force):
                hot[BUDGET + way] -= n
                return message, None
            return self._over_cap(message, key, payload, way, force)
        if kind in _SPECIAL_SENDS:
            return _SPECIAL_SENDS[kind](self, message), None
        if self.hot[LEFT] <= 0 and kind not in _ALWAYS_KEPT and not force:
            self._count_elided(way, 0, 0)
            return None
        return message, None

    def _over_cap(self, message: Message, key: str, payload: Any, way: int,
                  force: bool) -> tuple[Message, int | None] | None:
        """Trim a payload to what the budget allows, or (mid-stream) count it and keep nothing.

        ``way`` is IN for what the app receives, OUT for what it sends. Returns the snapshot
        and the original size, or None when the chunk is elided.
        """
        hot = self.hot
        budget = hot[BUDGET + way]
        n = len(payload)
        final = not message.get("more_body", key != "body")
        if not force and not final and (budget == 0 or hot[LEFT] <= 0):
            self._count_elided(way, n, 1)
            return None
        kept = min(n, budget)
        hot[BUDGET + way] = budget - kept
        if kept == n:
            return message, None
        return _trimmed(message, key, payload, kept), n

    def _count_elided(self, way: int, size: int, chunks: int, events: int = 1) -> None:
        """Count what went by without being kept: payload bytes, chunks, and events."""
        elided = self.elided
        if elided is None:
            elided = self.elided = [0, 0, 0, 0, 0, 0]
        at = 3 * way
        elided[at] += size
        elided[at + 1] += chunks
        elided[at + 2] += events

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
        self._count_elided(OUT, count if isinstance(count, int) else 0, 1, 0)  # not kept
        return snap

    def _pathsend(self, message: Message) -> Message:
        try:
            stat = os.stat(message["path"])
            note = f"pathsend file: {stat.st_size} bytes, modified {stat.st_mtime:.0f}"
            self._count_elided(OUT, stat.st_size, 1, 0)  # the server sends it; we keep none
        except Exception as exc:
            note = f"pathsend file not readable: {_describe(exc)}"
        self.batch.add(Note(self.xid, perf_counter_ns(), note))
        return message

    def _shutdown_answered(self, message: Message) -> Message:
        self.shutdown = True
        return message

    def _startup_complete(self, message: Message) -> Message:
        state = self.state
        if isinstance(state, dict):
            keys = ", ".join(f"{k}: {type(v).__qualname__}" for k, v in state.items())
            self.batch.add(Note(self.xid, perf_counter_ns(), f"state after startup: {{{keys}}}"))
        return message

    # end of the exchange ---------------------------------------------------------------

    def _elided_totals(self) -> tuple[int, ...] | None:
        return None if self.elided is None else tuple(self.elided)

    def _progress(self, t: int) -> None:
        if t - self.t_progress > PROGRESS_EVERY_NS:
            self.t_progress = t
            # Only called once _count_elided set the six counters: never None, six long. No
            # check or cast() for the type checker here: this runs per elided event.
            self.batch.add(Progress(self.xid, t, self._elided_totals()))  # type: ignore[arg-type]

    def close(self, exc: BaseException | None, result: Any,
              scope_added: dict[str, Any] | None = None) -> None:
        """Record how the app's call ended, and what it added to the scope."""
        try:
            t = perf_counter_ns()
            status, failure = OK, None
            if isinstance(exc, asyncio.CancelledError):
                status = CANCELLED
            elif exc is not None:
                status = RAISED
                failure = self._failure(exc)
            returned = None if result is None else safe_repr(result)
            if scope_added is not None and self.redact is not None:  # values may be secrets
                scope_added = {k: opaque(type(v).__qualname__, REDACTED)
                               for k, v in scope_added.items()}
            self.batch.add((CLOSED, self.xid, t, status, failure, returned, self._elided_totals(),
                            scope_added))
            if self.shutdown:  # the server exits now, maybe by a signal that atexit never sees
                self.inspector.close()
            elif self.state is not None:  # the lifespan lasts as long as the process: flush
                self.batch.flush()
        except Exception as error:
            self.batch.error(error)

    def _failure(self, exc: BaseException) -> Failure:
        """The exception as recorded. Under redaction its text is left out (an exception may
        quote the token it refused, and a traceback every exception chained to it): the
        type and where it was raised stay (:func:`_redacted_traceback`)."""
        if self.redact is None:
            return Failure(_type_name(exc), _message(exc), _app_traceback(exc),
                           self.hot[SEQ] - 1)
        return Failure(_type_name(exc), REDACTED, _redacted_traceback(exc), self.hot[SEQ] - 1)


_SPECIAL_SENDS: dict[str, Callable[[_Tap, Message], Message]] = {
    "http.response.zerocopysend": _Tap._zerocopy,
    "http.response.pathsend": _Tap._pathsend,
    "lifespan.startup.complete": _Tap._startup_complete,
    "lifespan.shutdown.complete": _Tap._shutdown_answered,
    "lifespan.shutdown.failed": _Tap._shutdown_answered,
}
# Sends whose headers may be any iterable.
_HEADED = frozenset({"http.response.start", "http.response.trailers", "websocket.accept",
                     "websocket.http.response.start"})
_LISTS = (list, tuple)
_REQUEST, _START, _BODY = "http.request", "http.response.start", "http.response.body"
_C_SIZE_LIMIT = 2**62  # caps from here on are kept by the Python path (C counts in 64 bits)


def _headers_listed(batch: Batcher, xid: int, message: Message) -> Message:
    """Headers may be any iterable (Sanic sends a generator): the server would use it up
    before we record it, so it is read into a list once, and a copy of the message carrying
    that list goes on to the server (ASGI middleware copies rather than mutates)."""
    headers = message.get("headers")
    if headers is not None and not isinstance(headers, _LISTS):
        message = {**message, "headers": list(headers)}
        batch.add(Note(xid, perf_counter_ns(), f"{message.get('type')}: headers "
                            f"were a {type(headers).__name__}; passed on as a list"))
    return message


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


def _scope_added(scope: Scope, before: int) -> dict[str, Any] | None:
    """The keys added to the scope after its first ``before`` ones, with their values;
    functions and classes are described by name (``module.qualname``)."""
    try:
        added = list(scope)[before:]
        return {str(key): _described(scope[key]) for key in added} or None
    except Exception:
        return None


def _described(value: Any) -> Any:
    if inspect.isfunction(value) or inspect.ismethod(value) or inspect.isclass(value):
        kind = "class" if inspect.isclass(value) else "function"
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", "?")
        return opaque(kind, f"{getattr(value, '__module__', '?')}.{name}")
    return value


def _compiled_recorder(inspector: Inspector) -> Any:
    """The C extension's recorder of this inspector's common path, or None for the Python
    path (hotpath.py chooses; caps beyond what C's sizes hold stay in Python)."""
    module = hotpath.compiled()
    batch = inspector.batcher
    if module is None or max(batch.max_body, batch.max_events) >= _C_SIZE_LIMIT:
        return None
    _configure(module)
    return module.Recorder(inspector, batch)


@functools.cache
def _configure(module: Any) -> None:
    """Give the extension the Python path's constants and helpers, once: one source."""
    module.configure(tap=_Tap, headers_listed=_headers_listed, headed=_HEADED,
                     received=RECEIVED, sent=SENT, way_in=IN, way_out=OUT, ok=OK,
                     request=_REQUEST, start=_START, body=_BODY, max_buffer=MAX_BUFFER,
                     open=OPEN, closed=CLOSED, scope_snapshot=_scope_snapshot,
                     scope_added=_scope_added)


def _redactor(redact: bool | Callable[[Any], Any]) -> Callable[[Any], Any] | None:
    if redact is True:
        from asgi_inspect.record.redact import capture_redactor

        return capture_redactor()
    return redact or None


def _calls_redactor(redact: Callable[[Any], Any] | None) -> Any:
    """What redacts calls and queries when recording with redaction: the recorder's own
    redactor, or the default rules beside a redaction function of the user's."""
    if redact is None:
        return None
    from asgi_inspect.record.redact import Redactor, capture_redactor

    return redact if isinstance(redact, Redactor) else capture_redactor()


def _note_skipped(tag: context.Tag) -> None:
    from asgi_inspect.record.inside import skipped_note

    tag.batch.add((tag_of(Note), tag.xid, perf_counter_ns(), skipped_note(tag.skipped)))


def _status(exc: BaseException) -> int:
    return CANCELLED if isinstance(exc, asyncio.CancelledError) else RAISED


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


def _redacted_traceback(exc: BaseException) -> str:
    """A traceback as Python prints it, every exception's message replaced by
    :data:`REDACTED`: the frames and source lines (the app's code) stay, data does not."""
    blocks: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_list(_app_frames(current.__traceback__)))
        head = f"Traceback (most recent call last):\n{frames}" if frames else ""
        blocks.append(f"{head}{_type_name(current)}: {REDACTED}\n")
        if current.__cause__ is not None:
            blocks.append(_CAUSE)
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            blocks.append(_CONTEXT)
            current = current.__context__
        else:
            current = None
    return "".join(reversed(blocks))


def _app_traceback(exc: BaseException) -> str:
    """The traceback as Python prints it, less the recorder's own frames (``__call__``,
    ``tapped_receive``...): they are no part of the app's story. Made only on a failure."""
    report = traceback.TracebackException.from_exception(exc)
    _drop_our_frames(report, set())
    return "".join(report.format())


def _drop_our_frames(report: traceback.TracebackException, seen: set[int]) -> None:
    if id(report) in seen:
        return
    seen.add(id(report))
    report.stack = traceback.StackSummary.from_list(
        [frame for frame in report.stack if frame.filename != __file__])
    for nested in (report.__cause__, report.__context__, *(report.exceptions or ())):
        if nested is not None:
            _drop_our_frames(nested, seen)


def _app_frames(tb: TracebackType | None) -> traceback.StackSummary:
    """The frames of a traceback, less the recorder's own (see :func:`_app_traceback`)."""
    return traceback.StackSummary.from_list(
        [frame for frame in traceback.extract_tb(tb) if frame.filename != __file__])


def _describe(exc: BaseException) -> str:
    text = _message(exc)
    return f"{_type_name(exc)}: {text}" if text else _type_name(exc)


def as_asgi3(app: Any) -> WrappedApp:
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
