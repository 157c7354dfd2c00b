"""An exchange as OpenTelemetry spans: one server span following the HTTP semantic
conventions, an event per ASGI message, the standard ``exception`` event, and a child span
per outbound call, query and recorded span (the app's own spans keep their ids, their roots
hung under the server span).

Ids come from :mod:`asgi_inspect.otel.context`, a function of the exchange, so every view
names the same trace as the backend. The exchange given is already redacted when it should be
(the exporter's job).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import SplitResult, urlsplit

import msgspec
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from asgi_inspect import __version__
from asgi_inspect.content import body_of
from asgi_inspect.http import host_of, scheme_of, scope_of, text_of
from asgi_inspect.model import (
    DEFAULT_OTLP_BODY,
    Direction,
    Exchange,
    Inside,
    OutboundCall,
    Query,
    Span,
    header,
)
from asgi_inspect.otel.context import (
    TRACED,
    TraceContext,
    derived_id,
    hex_id,
    recorded_spans,
    trace_context,
)
from asgi_inspect.text import decode

SCOPE = InstrumentationScope("asgi-inspect", __version__)
MAX_SPAN_EVENTS = 256  # message events per span; beyond, counted in asgi.events.dropped
_ROUTE = re.compile(r"\bpath='([^']*)'")  # Starlette's and FastAPI's route repr
_CARRIED_KEYS = ("route", "endpoint")  # the scope keys added by the app that spans show
_KINDS = {"internal": SpanKind.INTERNAL, "server": SpanKind.SERVER, "client": SpanKind.CLIENT,
          "producer": SpanKind.PRODUCER, "consumer": SpanKind.CONSUMER}
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_PAYLOAD = ("body", "bytes", "text")  # the message keys whose size an event reports
_BODY_KEYS: tuple[tuple[Direction, str], ...] = (("receive", "http.request.body.content"),
                                                 ("send", "http.response.body.content"))


def to_spans(exchange: Exchange, resource: Resource, *,
             max_body: int = DEFAULT_OTLP_BODY) -> list[ReadableSpan]:
    """The exchange's server span then its children; nothing for a lifespan (no request).
    ``max_body``: body bytes put on the span per direction (0: none)."""
    if exchange.type not in TRACED:
        return []
    context = trace_context(exchange)
    start = round(exchange.started_at * 1e9)
    server = ReadableSpan(
        name=_server_name(exchange), context=_context(context.trace_id, context.span_id,
                                                      context.trace_state),
        parent=_context(context.trace_id, context.parent_id, "", remote=True)
        if context.parent_id else None,
        resource=resource, attributes=_server_attributes(exchange, max_body),
        events=[*_message_events(exchange, start), *_exception_events(exchange, start)],
        kind=SpanKind.SERVER, status=_server_status(exchange), start_time=start,
        end_time=start + _end_ns(exchange), instrumentation_scope=SCOPE)
    return [server, *_children(exchange, context, resource, start)]


def carried(exchange: Exchange) -> Exchange:
    """A copy of the exchange with only what its spans carry, and of its own wherever
    redaction writes (events and their messages, the exception, counters, notes, calls):
    ``redact_exchange(..., copied=True)`` may change it, the recorded exchange stays as it
    was. Of the scope keys the app added, only the route and endpoint (a framework adds
    dozens: exception handlers, exit stacks); no printed lines. Cheaper than a deep copy of
    everything, which was most of the export's cost."""
    added = exchange.scope_added
    kept = {key: added[key] for key in _CARRIED_KEYS if key in added} \
        if isinstance(added, dict) else None
    replace = msgspec.structs.replace
    return replace(
        exchange, scope_added=kept or None, output=[], notes=list(exchange.notes),
        events=[replace(e, message=dict(e.message) if isinstance(e.message, dict)
                        else e.message) for e in exchange.events],
        exception=None if exchange.exception is None else replace(exchange.exception),
        request=replace(exchange.request), response=replace(exchange.response),
        inside=list(exchange.inside))


def span_count(exchange: Exchange) -> int:
    """How many spans :func:`to_spans` makes of it, without making them (to count losses)."""
    return 1 + len(exchange.inside) if exchange.type in TRACED else 0


# the server span ----------------------------------------------------------------------------

def route_of(exchange: Exchange) -> str:
    """The route template a framework matched (``/items/{id}``), or "" when none said."""
    match = _ROUTE.search(exchange.added("route"))
    return match[1] if match else ""


def _server_name(exchange: Exchange) -> str:
    """``GET /items/{id}`` when the route is known, else the method alone (the semantic
    conventions keep span names low in cardinality: never the raw path)."""
    route = route_of(exchange)
    return f"{exchange.method} {route}" if route else exchange.method


def _server_attributes(exchange: Exchange, max_body: int) -> dict[str, Any]:
    scope, headers = scope_of(exchange), exchange.request_headers  # each read once
    attributes: dict[str, Any] = {
        "http.request.method": exchange.method, "url.path": text_of(scope.get("path"), "/"),
        "url.scheme": scheme_of(exchange),
        "network.protocol.version": text_of(scope.get("http_version"), "1.1"),
        "asgi_inspect.exchange.id": exchange.id, "asgi_inspect.outcome": exchange.outcome,
    }
    query = scope.get("query_string")
    if isinstance(query, bytes) and query:
        attributes["url.query"] = query.decode("latin-1")
    authority = urlsplit("//" + host_of(exchange, ""))
    if authority.hostname:
        attributes["server.address"] = authority.hostname
    port = _port(authority)
    if port is not None:
        attributes["server.port"] = port
    client = scope.get("client")
    if isinstance(client, (list, tuple)) and len(client) == 2 and isinstance(client[0], str):
        attributes["client.address"] = client[0]
        if isinstance(client[1], int):
            attributes["client.port"] = client[1]
    agent = header(headers, b"user-agent")
    if agent is not None:
        attributes["user_agent.original"] = agent.decode("latin-1")
    status, route = exchange.status, route_of(exchange)
    if status is not None:
        attributes["http.response.status_code"] = status
    if route:
        attributes["http.route"] = route
    if exchange.endpoint:
        attributes["code.function.name"] = exchange.endpoint
    if exchange.exception is not None:
        attributes["error.type"] = exchange.exception.type
    elif status is not None and status >= 500:
        attributes["error.type"] = str(status)
    attributes.update(_headers("http.request.header", headers))
    attributes.update(_headers("http.response.header", exchange.response_headers))
    attributes["http.request.body.size"] = exchange.request.bytes
    attributes["http.response.body.size"] = exchange.response.bytes
    if max_body > 0:
        attributes.update(_bodies(exchange, max_body))
    if len(exchange.events) > MAX_SPAN_EVENTS:
        attributes["asgi.events.dropped"] = len(exchange.events) - MAX_SPAN_EVENTS
    if exchange.notes:
        attributes["asgi_inspect.notes"] = list(exchange.notes)
    return attributes


def _headers(prefix: str, pairs: Sequence[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    """Headers as the conventions' ``http.request.header.<name>`` string arrays."""
    found: dict[str, list[str]] = {}
    for name, value in pairs:
        found.setdefault(f"{prefix}.{name.decode('latin-1').lower()}", []).append(
            value.decode("latin-1"))
    return found


def _bodies(exchange: Exchange, max_body: int) -> Iterator[tuple[str, str]]:
    """The bodies as text (their Content-Encoding undone), at most ``max_body`` bytes each."""
    for direction, key in _BODY_KEYS:
        text = _body_text(exchange, direction, max_body)
        if text:
            yield key, text


def _body_text(exchange: Exchange, direction: Direction, max_body: int) -> str:
    body = body_of(exchange, direction)
    data = body.data
    if not data:
        return ""
    kept = decode(data[:max_body])
    cut = len(data) > max_body or not body.complete
    return f"{kept}… ({len(data):,} bytes kept of the body)" if cut else kept


def _message_events(exchange: Exchange, start: int) -> list[Event]:
    """One event per receive() and send(): its type, direction and how long its await took
    (the client or server on receive, backpressure on send); frames only by size."""
    events = []
    for event in exchange.events[:MAX_SPAN_EVENTS]:
        attributes: dict[str, Any] = {"asgi.event.direction": event.direction}
        if event.wait_ns is not None:
            attributes["asgi.event.wait_ns"] = event.wait_ns
        if event.status != "ok":
            attributes["asgi.event.status"] = event.status
        if event.error:
            attributes["asgi.event.error"] = event.error
        size = _payload_size(event.message, event.size)
        if size is not None:
            attributes["asgi.event.size"] = size
        events.append(Event(event.type, attributes, start + event.t_call))
    return events


def _payload_size(message: Any, size: int | None) -> int | None:
    if size is not None:
        return size
    if not isinstance(message, dict):
        return None
    payload = next((message[k] for k in _PAYLOAD if isinstance(message.get(k), bytes | str)),
                   None)
    return None if payload is None else len(payload)


def _exception_events(exchange: Exchange, start: int) -> list[Event]:
    """The standard ``exception`` event, at the event it followed (else the end)."""
    info = exchange.exception
    if info is None:
        return []
    events = exchange.events
    after = events[info.after_event] if 0 <= info.after_event < len(events) else None
    at = (after.t_return or after.t_call) if after is not None else _end_ns(exchange)
    return [Event("exception", {"exception.type": info.type, "exception.message": info.message,
                                "exception.stacktrace": info.traceback,
                                "exception.escaped": True}, start + at)]


def _server_status(exchange: Exchange) -> Status:
    """Error when the app raised or answered 5xx (a 4xx is the client's error, not the
    server's, as the conventions say for server spans)."""
    if exchange.exception is not None:
        info = exchange.exception
        return Status(StatusCode.ERROR, f"{info.type}: {info.message}")
    status = exchange.status
    if status is not None and status >= 500:
        return Status(StatusCode.ERROR)
    return Status(StatusCode.UNSET)


def _end_ns(exchange: Exchange) -> int:
    """When the exchange ended: the app returned, or its response did, whichever was later;
    for one still open (exported from a saved trace), its last event."""
    ends = [t for t in (exchange.ended_ns, exchange.response_end_ns) if t is not None]
    return max(ends) if ends else exchange.last_event_ns


# the children ------------------------------------------------------------------------------

def _children(exchange: Exchange, context: TraceContext, resource: Resource,
              start: int) -> Iterator[ReadableSpan]:
    """A client span per outbound call and query, and the app's own recorded spans with
    their ids kept (their roots hung under the server span)."""
    recorded = {s.span_id for s in recorded_spans(exchange) if hex_id(s.span_id, 16)}
    for index, item in enumerate(exchange.inside):
        if isinstance(item, Span) and hex_id(item.span_id, 16):
            span_id = int(item.span_id, 16)
            parent = int(item.parent_id, 16) if item.parent_id in recorded else context.span_id
        else:
            span_id, parent = derived_id(exchange, f"inside-{index}", 8), context.span_id
        name, kind, attributes, status = _describe(item)
        end = item.t_end if item.t_end is not None else item.t_start
        yield ReadableSpan(
            name=name, context=_context(context.trace_id, span_id, context.trace_state),
            parent=_context(context.trace_id, parent, context.trace_state), resource=resource,
            attributes=attributes, events=_call_events(item, start), kind=kind, status=status,
            start_time=start + item.t_start, end_time=start + end,
            instrumentation_scope=SCOPE)


def _describe(item: Inside) -> tuple[str, SpanKind, dict[str, Any], Status]:
    """A child's name, kind, attributes and status, by what it is."""
    if isinstance(item, OutboundCall):
        return _call(item)
    if isinstance(item, Query):
        return _query(item)
    attributes = {key: _attribute(value) for key, value in (item.attributes or {}).items()} \
        if isinstance(item.attributes, dict) else {}
    if item.library:
        attributes["otel.scope.name"] = item.library
    failed = item.status == "error" or item.error is not None
    status = Status(StatusCode.ERROR, item.error) if failed else Status(StatusCode.UNSET)
    return item.name, _KINDS.get(item.span_kind, SpanKind.INTERNAL), attributes, status


def _call(call: OutboundCall) -> tuple[str, SpanKind, dict[str, Any], Status]:
    """An outbound HTTP call as the conventions' HTTP client span."""
    attributes: dict[str, Any] = {"http.request.method": call.method, "url.full": call.url,
                                  "asgi_inspect.library": call.library}
    parts = urlsplit(call.url)
    if parts.hostname:
        attributes["server.address"] = parts.hostname
    port = _port(parts)
    if port is not None:
        attributes["server.port"] = port
    if call.status is not None:
        attributes["http.response.status_code"] = call.status
    if call.http_version:
        attributes["network.protocol.version"] = call.http_version
    if call.location:
        attributes.update(_location(call.location))
    failed = call.error is not None or (call.status is not None and call.status >= 400)
    if failed:
        attributes["error.type"] = (call.error or "").partition(":")[0] or str(call.status)
    return (call.method, SpanKind.CLIENT, attributes,
            Status(StatusCode.ERROR, call.error) if failed else Status(StatusCode.UNSET))


def _port(parts: SplitResult) -> int | None:
    try:
        return int(parts.port) if parts.port is not None else None
    except ValueError:  # a port out of range in a recorded URL
        return None


def _query(query: Query) -> tuple[str, SpanKind, dict[str, Any], Status]:
    """A database statement as the conventions' database client span."""
    operation = query.statement.split(None, 1)[0].upper() if query.statement.strip() else ""
    attributes: dict[str, Any] = {"db.query.text": query.statement,
                                  "asgi_inspect.library": query.library}
    if query.database:
        attributes["db.system.name"] = query.database
    if operation:
        attributes["db.operation.name"] = operation
    if query.rows is not None:
        attributes["db.response.returned_rows"] = query.rows
    if query.many is not None:
        attributes["db.operation.batch.size"] = query.many
    if query.location:
        attributes.update(_location(query.location))
    if query.error is not None:
        attributes["error.type"] = query.error.partition(":")[0]
    name = " ".join(part for part in (operation, query.database) if part) or "query"
    return (name, SpanKind.CLIENT, attributes,
            Status(StatusCode.ERROR, query.error) if query.error else Status(StatusCode.UNSET))


def _location(location: str) -> dict[str, Any]:
    """``file:line`` as ``code.file.path`` and ``code.line.number``."""
    path, _, line = location.rpartition(":")
    if path and line.isdigit():
        return {"code.file.path": path, "code.line.number": int(line)}
    return {"code.file.path": location}


def _call_events(item: Inside, start: int) -> list[Event]:
    """An outbound call's first response byte, the moment its headers arrived."""
    if isinstance(item, OutboundCall) and item.t_first_byte is not None:
        return [Event("http.response.first_byte", {}, start + item.t_first_byte)]
    return []


def _attribute(value: Any) -> Any:
    """A recorded span attribute as OpenTelemetry takes one: a scalar or a list of them."""
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str | bool | int | float)
                                               for v in value):
        return list(value)
    return decode(value) if isinstance(value, bytes) else str(value)


# ids ---------------------------------------------------------------------------------------

def _context(trace_id: int, span_id: int, trace_state: str, *,
             remote: bool = False) -> SpanContext:
    state = TraceState.from_header([trace_state]) if trace_state else None
    return SpanContext(trace_id, span_id, is_remote=remote, trace_flags=_SAMPLED,
                       trace_state=state)
