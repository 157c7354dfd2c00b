"""The trace model: exchanges, their events, and the trace that holds them.

This is the one definition every other part stands on. The JSON codec (``codec.py``), the JSON
Schema shipped with the package and the views all read these Structs. Message and scope
snapshots are kept as native Python values (``bytes`` stays ``bytes``, a missing key stays
missing); ``values.py`` turns them into tagged JSON and back without loss.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Final, Literal

import msgspec

FORMAT: Final = "asgi-inspect"
VERSION = 2  # 2: exchanges carry what the app did inside them (`inside`)
READ_VERSIONS = (1, 2)  # every version this build reads
REPLAY_HEADER = b"x-asgi-inspect-replay"  # links a replay sent over HTTP to its original

Direction = Literal["receive", "send"]
EventStatus = Literal["ok", "raised", "cancelled"]
Outcome = Literal[
    "streaming",  # the app has not returned yet
    "complete",
    "no_response",  # the app returned without starting a response
    "incomplete",  # the response started but its final body was never sent
    "exception",
    "cancelled",
    "client_disconnected",
]

# A snapshot value: tagged JSON on disk (see values.py), native Python in memory.
Snapshot = Annotated[Any, msgspec.Meta(extra_json_schema={"$ref": "#/$defs/Value"})]


class Opaque(msgspec.Struct, frozen=True):
    """A value the recorder could not keep as data (a file object, a pool, a generator)."""

    type: str
    repr: str


class OutputLine(msgspec.Struct, gc=False):
    """A line the app printed or logged while it handled the exchange."""

    t: int  # ns since the exchange started
    stream: str  # "stdout", "stderr" or "log"
    text: str  # without its line break


class ExceptionInfo(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """The exception the app raised, formatted when it was caught."""

    type: str
    message: str
    traceback: str = ""
    after_event: int = -1  # index of the last event before it; -1 when none


class Event(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """One ``receive()`` or ``send()`` call of the app.

    Times are nanoseconds since the exchange started. ``size`` is the original payload size
    when only a prefix of it was kept (see ``Exchange.caps``).
    """

    direction: Direction
    type: str
    t_call: int
    t_return: int | None = None
    status: EventStatus = "ok"
    message: Snapshot = None
    size: int | None = None
    error: str | None = None
    late: bool = False  # happened after the app had returned

    @property
    def truncated(self) -> bool:
        return self.size is not None

    @property
    def wait_ns(self) -> int | None:
        """How long the await took: the client or server for receive, backpressure for send."""
        return None if self.t_return is None else self.t_return - self.t_call


class OutboundCall(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False, tag="call",
                   tag_field="kind"):
    """An HTTP request the app made while it handled the exchange (httpx, requests/urllib3,
    aiohttp). Times are ns since the exchange started; headers are [name, value] byte pairs
    and bodies bytes (a prefix when larger than ``max_body``: ``*_size`` holds the whole)."""

    library: str
    method: str
    url: str
    t_start: int
    t_end: int | None = None  # the response was read to its end, or the call failed
    t_first_byte: int | None = None  # the response's status line and headers arrived
    status: int | None = None
    http_version: str = ""
    request_headers: Snapshot = None
    response_headers: Snapshot = None
    request_body: Snapshot = None
    response_body: Snapshot = None
    request_size: int | None = None
    response_size: int | None = None
    error: str | None = None  # "ConnectError: [Errno 111] Connection refused"
    location: str = ""  # file:line of the first frame of the app's own code that made it
    mocked: bool = False  # answered from a recording (replay --mock-outbound), not the network


class Query(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False, tag="sql",
            tag_field="kind"):
    """A database statement the app ran while it handled the exchange (SQLAlchemy, Django's
    ORM, sqlite3, asyncpg, psycopg). ``parameters`` are the values sent with it, or only their
    type names when recorded with redaction."""

    library: str
    statement: str
    t_start: int
    t_end: int | None = None
    parameters: Snapshot = None
    many: int | None = None  # executemany: how many parameter sets
    rows: int | None = None  # rows returned or affected, when the driver says
    database: str = ""  # the dialect or driver's name: sqlite, postgresql
    error: str | None = None
    location: str = ""


class Span(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False, tag="span",
           tag_field="kind"):
    """An OpenTelemetry span that started while the exchange ran (any instrumented library:
    redis, celery, boto...)."""

    name: str
    t_start: int
    t_end: int | None = None
    library: str = ""  # the instrumentation scope's name
    span_kind: str = "internal"  # internal, server, client, producer, consumer
    trace_id: str = ""
    span_id: str = ""
    parent_id: str = ""
    attributes: Snapshot = None
    status: str = ""  # "", "ok" or "error"
    error: str | None = None


# What the app did inside an exchange, in the order each began.
Inside = OutboundCall | Query | Span
# Their fields that hold the app's values (headers, bodies, parameters, attributes): snapshots,
# tagged on disk as messages are (values.py); an opaque marker may stand in for a value.
INSIDE_SNAPSHOTS = ("request_headers", "response_headers", "request_body", "response_body",
                    "parameters", "attributes")


class Counters(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Totals for one direction, counted on every chunk even when the chunk was not kept."""

    bytes: int = 0
    chunks: int = 0
    kept_bytes: int = 0
    elided: int = 0  # chunks or frames counted but not kept as events


class Exchange(msgspec.Struct, kw_only=True, omit_defaults=True, dict=True):
    """One call of the ASGI app: an HTTP request, a WebSocket session or the lifespan.

    ``dict=True`` gives instances a ``__dict__`` for caches that are never serialized: the
    scope does not change once recorded, and a status, once its response has started, never
    changes (events are only appended).
    """

    id: str
    type: str
    started_at: float  # unix time, seconds
    scope: Snapshot
    events: list[Event] = msgspec.field(default_factory=list)
    outcome: Outcome = "streaming"
    exception: ExceptionInfo | None = None
    ended_ns: int | None = None  # when the app returned
    request: Counters = msgspec.field(default_factory=Counters)
    response: Counters = msgspec.field(default_factory=Counters)
    notes: list[str] = msgspec.field(default_factory=list)
    # What the app printed and logged while it ran (asgi-inspect run), in order.
    output: list[OutputLine] = msgspec.field(default_factory=list)
    # Outbound HTTP calls, database queries and OpenTelemetry spans it made (trace version 2).
    inside: list[Inside] = msgspec.field(default_factory=list)
    # Keys the app (its framework, its middleware) added to the scope while it ran, such as
    # Starlette's endpoint, route and path_params; functions and classes as module.qualname.
    scope_added: Snapshot | None = None
    source: str = ""
    lost_records: bool = False  # some of its records were dropped on the way
    replay_of: str | None = None
    marked: bool = False
    comment: str = ""

    # Derived views; nothing here is stored twice.

    @property
    def method(self) -> str:
        cached = self.__dict__.get("_method")
        if cached is None:
            method = self.scope.get("method") if self.type == "http" else None
            cached = method if isinstance(method, str) else _METHODS.get(self.type, "")
            self.__dict__["_method"] = cached
        return cached

    @property
    def path(self) -> str:
        """The path with its query string (the scope does not change once recorded)."""
        cached = self.__dict__.get("_path")
        if cached is None:
            path = self.scope.get("path", "")
            query = self.scope.get("query_string") or b""
            cached = f"{path}?{query.decode('latin-1')}" if isinstance(query, bytes) and query \
                else str(path)
            self.__dict__["_path"] = cached
        return cached

    @property
    def label(self) -> str:
        """What a one-line view shows for it: the path, or where a lifespan has got to (and
        how it ended, when not by a shutdown: its process died, or the app has none)."""
        if self.type != "lifespan":
            return self.path
        last = next((e.type for e in reversed(self.events) if e.status == "ok"), "")
        if self.outcome == "incomplete":  # settled as lost: its recorder's process is gone
            return "process exited"
        if not last and self.outcome != "streaming":  # it never took lifespan.startup
            return "lifespan unsupported"
        return _LIFESPAN_PHASES.get(last, "lifespan")

    def first(self, message_type: str) -> Event | None:
        return next((e for e in self.events if e.type == message_type), None)

    @property
    def response_start(self) -> Event | None:
        return self.first("http.response.start") or self.first("websocket.http.response.start")

    @property
    def status(self) -> int | None:
        """The status the client got (the one rule every view reads).

        The app's own: its response start, for WebSocket 101 when accepted, 403 when closed
        before. When the app raised before starting a response and the client was still
        there, ``SERVER_ERROR_STATUS``: uvicorn, hypercorn and daphne all answer 500 in its
        place (``answered_by_server``). None while no response has started, and when the app
        returned without one (outcome ``no_response``): uvicorn and hypercorn answer 500
        then but daphne nothing, so no status is claimed.
        """
        cached = self.__dict__.get("_status")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        status = self._find_status()
        if status is None and self.answered_by_server:
            status = SERVER_ERROR_STATUS
        if status is not None:
            self.__dict__["_status"] = status
        return status

    @property
    def answered_by_server(self) -> bool:
        """The app raised before it answered, so the server sent the client a 500 of its own
        (the recorder sees no send for it)."""
        if self.outcome != "exception" or self.type not in _SERVER_ANSWERS:
            return False
        answers, gone = _SERVER_ANSWERS[self.type]
        return not any(e.type in answers if e.direction == "send" else e.type == gone
                       for e in self.events)

    def _find_status(self) -> int | None:
        for event in self.events:
            kind = event.type
            if kind == "http.response.start" or kind == "websocket.http.response.start":
                message = event.message
                status = message.get("status") if isinstance(message, dict) else None
                return status if isinstance(status, int) else None
            if kind == "websocket.accept":
                return 101
            if kind == "websocket.close" and event.direction == "send":
                return 403
        return None

    @property
    def request_headers(self) -> list[tuple[bytes, bytes]]:
        return header_pairs(self.scope.get("headers"))

    @property
    def response_headers(self) -> list[tuple[bytes, bytes]]:
        start = self.response_start or self.first("websocket.accept")
        return header_pairs(start.message.get("headers")) if start and start.message else []

    def body(self, direction: Direction) -> bytes:
        """The kept body bytes of one direction (a prefix when the body was capped)."""
        key = "body"
        wanted = ("http.request",) if direction == "receive" else ("http.response.body",)
        if self.type == "websocket":
            wanted = ("websocket.http.response.body",)
        parts = [
            e.message.get(key) or b""
            for e in self.events
            if e.direction == direction and e.type in wanted and isinstance(e.message, dict)
        ]
        return b"".join(p for p in parts if isinstance(p, bytes))

    @property
    def ttfb_ns(self) -> int | None:
        """Time to the first response body chunk whose send returned (or the WebSocket accept)."""
        for e in self.events:
            if e.status == "ok" and e.t_return is not None and e.type in _FIRST_BYTE:
                return e.t_return
        return None

    @property
    def response_end_ns(self) -> int | None:
        """When the response finished: the return of the final body send (or of a file send),
        the WebSocket close (sent or received); else when the app returned, as the server
        then answers or closes in its place. None while the response is still open.

        It differs from ``ended_ns`` when the app works on after its response (a FastAPI
        background task): the client had its answer here.
        """
        cached: int | None = self.__dict__.get("_response_end")
        if cached is not None:
            return cached
        found = next((e.t_return for e in reversed(self.events) if _finishes(e)), None)
        if found is None:
            return self.ended_ns
        self.__dict__["_response_end"] = found  # a finished response stays finished
        return found

    @property
    def duration_ns(self) -> int | None:
        """The response time (``response_end_ns``): what the list shows, ``~d`` filters and
        sorting by duration use. None while the response is open: views show a running
        clock then (``running_ns``)."""
        return self.response_end_ns

    @property
    def last_event_ns(self) -> int:
        """The time of the last thing recorded: how long an open exchange has run, as far as
        a trace that no longer grows (a file) can tell."""
        return max((e.t_return or e.t_call for e in self.events), default=0)

    @property
    def content_type(self) -> str:
        value = header(self.response_headers, b"content-type")
        return "" if value is None else value.decode("latin-1")

    def added(self, key: str) -> str:
        """A key the app added to the scope, as text (a function as ``module.qualname``);
        empty when it added none by that name."""
        value = self.scope_added.get(key) if isinstance(self.scope_added, dict) else None
        if value is None:
            return ""
        return value.repr if isinstance(value, Opaque) else str(value)

    @property
    def endpoint(self) -> str:
        """The endpoint a framework (Starlette, FastAPI) routed the exchange to, if recorded."""
        return self.added("endpoint")


_METHODS = {"http": "HTTP", "websocket": "WS"}  # when the scope names none
_LIFESPAN_PHASES = {
    "lifespan.startup": "startup…", "lifespan.startup.complete": "started",
    "lifespan.startup.failed": "startup failed", "lifespan.shutdown": "shutting down…",
    "lifespan.shutdown.complete": "stopped", "lifespan.shutdown.failed": "shutdown failed",
}
# What a server sends in the app's place when the app raised before answering (see
# Exchange.status), and per scope type: the sends that answer, the receive that says the
# client left.
SERVER_ERROR_STATUS: Final = 500
_SERVER_ANSWERS = {
    "http": (frozenset({"http.response.start", "http.response.pathsend"}), "http.disconnect"),
    "websocket": (frozenset({"websocket.accept", "websocket.close",
                             "websocket.http.response.start"}), "websocket.disconnect"),
}
_FINAL_SENDS = frozenset({"http.response.body", "http.response.zerocopysend",
                          "websocket.http.response.body"})
_CLOSES = frozenset({"websocket.close", "websocket.disconnect"})


def _finishes(event: Event) -> bool:
    """Whether this event, when it went through, ended the response."""
    if event.status != "ok" or event.t_return is None:
        return False
    kind = event.type
    if kind in _FINAL_SENDS:
        message = event.message
        return event.direction == "send" and not (isinstance(message, dict)
                                                  and message.get("more_body", False))
    return kind in _CLOSES or kind == "http.response.pathsend"


def running_ns(started_at: float, now: float) -> int:
    """How long an exchange that started at ``started_at`` has run by ``now`` (both unix
    seconds): the running clock of an open exchange in a live session."""
    return max(int((now - started_at) * 1e9), 0)


_FIRST_BYTE = frozenset(
    {"http.response.body", "http.response.pathsend", "http.response.zerocopysend",
     "websocket.accept", "websocket.http.response.body"}
)


def header(headers: Iterable[Sequence[bytes]], name: bytes) -> bytes | None:
    """The first value of a header (``name`` lowercase; names compared case-insensitively)."""
    return next((pair[1] for pair in headers if pair[0].lower() == name), None)


def header_pairs(headers: Any) -> list[tuple[bytes, bytes]]:
    """The well-formed [name, value] byte pairs of a recorded header list, in order."""
    if not isinstance(headers, list):
        return []
    return [
        (h[0], h[1])
        for h in headers
        if isinstance(h, (list, tuple)) and len(h) == 2
        and isinstance(h[0], bytes) and isinstance(h[1], bytes)
    ]


# The default limits, named once: the recorder's caps per exchange, and what the inspector
# keeps in memory before it evicts the oldest exchanges.
DEFAULT_MAX_BODY = 64 * 1024  # body bytes kept per direction and exchange
DEFAULT_MAX_EVENTS = 1000  # events kept per exchange
DEFAULT_OTLP_BODY = 8 * 1024  # body bytes an exported OpenTelemetry span carries per direction
DEFAULT_MAX_EXCHANGES = 100_000
DEFAULT_MAX_MEMORY = 1024**3


class Caps(msgspec.Struct, kw_only=True):
    """The limits the recorder kept data under."""

    max_body: int = DEFAULT_MAX_BODY
    max_events: int = DEFAULT_MAX_EVENTS


class Trace(msgspec.Struct, kw_only=True):
    """A saved trace: a versioned header and its exchanges, in the order they started."""

    format: Literal["asgi-inspect"] = FORMAT
    version: int = VERSION
    created_at: float = 0.0
    generator: dict[str, str] = msgspec.field(default_factory=dict)
    caps: Caps = msgspec.field(default_factory=Caps)
    dropped: int = 0  # records lost because a consumer lagged
    recorder_errors: int = 0
    exchanges: list[Exchange] = msgspec.field(default_factory=list)
