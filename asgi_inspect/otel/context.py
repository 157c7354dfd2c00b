"""Where an exchange sits in a distributed trace: the ids of its server span, the same for
every view that asks (the Overview, the headless line, the export, an export of the saved
trace later), with no OpenTelemetry package needed to compute them.

The trace is the caller's when the request carried a valid ``traceparent`` (W3C trace
context; its ``tracestate`` is kept), else the trace of the spans the app's own OpenTelemetry
instrumentation started inside it with no parent (so the ``traceparent`` its instrumented
client sent downstream joins this trace), else one derived from the exchange's recorder, id
and start. Span ids are derived the same way: sending a saved trace again names the same
spans, which backends that key on ids take as the same.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from asgi_inspect.model import Exchange, Span, header

TRACE_ID_FIELD = "{trace_id}"  # where --trace-url puts the trace id
TRACED = frozenset({"http", "websocket"})  # exchange types sent as traces (not the lifespan)
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class TraceContext:
    """An exchange's server span: its ids, and its parent's when it has one."""

    trace_id: int
    span_id: int
    parent_id: int = 0  # the caller's span (traceparent); 0 for a root span
    trace_state: str = ""

    @property
    def trace_hex(self) -> str:
        return f"{self.trace_id:032x}"


def trace_context(exchange: Exchange) -> TraceContext:
    """The exchange's place in a distributed trace (see the module's docstring)."""
    span_id = derived_id(exchange, "server", 8)
    headers = exchange.request_headers
    incoming = parse_traceparent(header(headers, b"traceparent"))
    if incoming is not None:
        state = header(headers, b"tracestate")
        return TraceContext(incoming[0], span_id, incoming[1],
                            "" if state is None else state.decode("latin-1"))
    adopted = next((int(s.trace_id, 16) for s in recorded_spans(exchange)
                    if hex_id(s.trace_id, 32) and not s.parent_id), 0)
    return TraceContext(adopted or derived_id(exchange, "trace", 16), span_id)


def trace_label(exchange: Exchange, template: str = "") -> str:
    """What a view shows of the exchange's trace: ``template`` with the trace id in it (a
    link to the backend), or ``trace <id>``; "" for a lifespan (no request, no trace)."""
    if exchange.type not in TRACED:
        return ""
    trace_id = trace_context(exchange).trace_hex
    return template.replace(TRACE_ID_FIELD, trace_id) if template else f"trace {trace_id}"


def parse_traceparent(value: bytes | None) -> tuple[int, int] | None:
    """The trace id and parent span id of a W3C ``traceparent`` header, or None when it is
    absent or invalid (version ff, all-zero ids, a version 00 header with more fields)."""
    if value is None:
        return None
    match = _TRACEPARENT.match(value.decode("latin-1").strip().lower())
    if match is None or match[1] == "ff" or (match[1] == "00" and match[5]):
        return None
    trace_id, parent_id = int(match[2], 16), int(match[3], 16)
    return (trace_id, parent_id) if trace_id and parent_id else None


def recorded_spans(exchange: Exchange) -> Iterator[Span]:
    """The app's own OpenTelemetry spans recorded inside the exchange."""
    return (item for item in exchange.inside if isinstance(item, Span))


def hex_id(text: str, digits: int) -> bool:
    """Whether ``text`` is a valid (lowercase hex, not all-zero) id of ``digits`` digits."""
    return len(text) == digits and _HEX.issuperset(text) and int(text, 16) != 0


def derived_id(exchange: Exchange, what: str, size: int) -> int:
    """A random-looking, never-zero id of ``size`` bytes, the same each time for the same
    exchange (its recorder, id and start) and purpose."""
    seed = f"{exchange.source}|{exchange.id}|{exchange.started_at!r}|{what}".encode()
    value = int.from_bytes(hashlib.blake2b(seed, digest_size=size).digest(), "big")
    return value or 1
