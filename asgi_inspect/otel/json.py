"""The OTLP JSON encoding of spans (the OpenTelemetry protocol's JSON form of an
``ExportTraceServiceRequest``): what ``asgi-inspect export -f otlp-json`` writes, one request
per line, as the OTel Collector's file exporter writes them and its ``otlpjsonfile`` receiver
reads them.

OTLP JSON is not protobuf's generic JSON mapping: trace and span ids are hex strings (not
base64), enums are integers, and 64-bit integers are decimal strings. Spans of one resource
and instrumentation scope are grouped under them, as the protocol nests them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext

_ENCODER = msgspec.json.Encoder()


def request_line(spans: Sequence[ReadableSpan]) -> bytes:
    """One ``ExportTraceServiceRequest`` for ``spans`` as a line of OTLP JSON."""
    return _ENCODER.encode(request(spans)) + b"\n"


def request(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """The ``ExportTraceServiceRequest`` of ``spans``, as JSON-ready values."""
    grouped: dict[int, tuple[Resource, dict[int, tuple[InstrumentationScope | None,
                                                      list[ReadableSpan]]]]] = {}
    for span in spans:
        scopes = grouped.setdefault(id(span.resource), (span.resource, {}))[1]
        scopes.setdefault(id(span.instrumentation_scope),
                          (span.instrumentation_scope, []))[1].append(span)
    return {"resourceSpans": [
        {"resource": {"attributes": attributes(resource.attributes)},
         "scopeSpans": [{"scope": _scope(scope), "spans": [span_json(s) for s in members]}
                        for scope, members in scopes.values()]}
        for resource, scopes in grouped.values()]}


def span_json(span: ReadableSpan) -> dict[str, Any]:
    """One span in OTLP JSON."""
    context = _valid(span.context)
    encoded: dict[str, Any] = {
        "traceId": f"{context.trace_id:032x}", "spanId": f"{context.span_id:016x}",
        "name": span.name, "kind": span.kind.value + 1,  # OTLP counts UNSPECIFIED as 0
        "startTimeUnixNano": str(span.start_time or 0),
        "endTimeUnixNano": str(span.end_time or span.start_time or 0),
        "attributes": attributes(span.attributes or {}),
        "events": [{"timeUnixNano": str(event.timestamp), "name": event.name,
                    "attributes": attributes(event.attributes or {})} for event in span.events],
        "status": {"code": span.status.status_code.value,
                   **({"message": span.status.description} if span.status.description
                      else {})},
    }
    if span.parent is not None:
        encoded["parentSpanId"] = f"{span.parent.span_id:016x}"
    if context.trace_state:
        encoded["traceState"] = context.trace_state.to_header()
    return encoded


def attributes(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Attributes as OTLP ``KeyValue`` pairs."""
    return [{"key": key, "value": any_value(value)} for key, value in values.items()]


def any_value(value: Any) -> dict[str, Any]:
    """One attribute value as an OTLP ``AnyValue`` (bool before int: a bool is an int)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bytes):
        return {"stringValue": value.decode("utf-8", "replace")}
    if isinstance(value, Sequence):
        return {"arrayValue": {"values": [any_value(item) for item in value]}}
    return {"stringValue": str(value)}


def _scope(scope: InstrumentationScope | None) -> dict[str, str]:
    if scope is None:
        return {}
    return {"name": scope.name, **({"version": scope.version} if scope.version else {})}


def _valid(context: SpanContext | None) -> SpanContext:
    if context is None:  # every span we make has one; ReadableSpan's type allows none
        raise ValueError("a span without a context cannot be encoded")
    return context
