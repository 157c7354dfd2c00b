"""Reading and writing traces: one JSON document, or JSONL with one exchange per line.

JSONL layout: a header line (the :class:`~asgi_inspect.model.Trace` fields without
``exchanges``), then one :class:`~asgi_inspect.model.Exchange` per line, then optionally a
``{"stats": ...}`` line with the drop counts. Snapshot values are tagged by ``values.py``.
Anything that is not a trace of ours raises :class:`TraceError` with a one-line reason.
"""

from __future__ import annotations

import inspect
import platform
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from asgi_inspect import __version__
from asgi_inspect.model import FORMAT, VERSION, Event, Exchange, Trace
from asgi_inspect.values import VALUE_SCHEMA, BadValue, from_json, to_json

_encoder = msgspec.json.Encoder()
_exchange_decoder = msgspec.json.Decoder(Exchange)
_trace_decoder = msgspec.json.Decoder(Trace)


class TraceError(Exception):
    """A file that is not a readable trace; the message is one line for the user."""


class _Stats(msgspec.Struct):
    dropped: int = 0
    recorder_errors: int = 0


def generator_info() -> dict[str, str]:
    return {"asgi_inspect": __version__, "python": platform.python_version()}


def new_trace(exchanges: Iterable[Exchange] = (), **fields: Any) -> Trace:
    return Trace(created_at=time.time(), generator=generator_info(), exchanges=list(exchanges),
                 **fields)


# encoding --------------------------------------------------------------------------------

def _tagged(exchange: Exchange) -> Exchange:
    events = [msgspec.structs.replace(e, message=to_json(e.message)) for e in exchange.events]
    added = None if exchange.scope_added is None else to_json(exchange.scope_added)
    return msgspec.structs.replace(exchange, scope=to_json(exchange.scope), events=events,
                                   scope_added=added)


def exchange_line(exchange: Exchange) -> bytes:
    return _encoder.encode(_tagged(exchange)) + b"\n"


def header_line(trace: Trace | None = None) -> bytes:
    header = msgspec.structs.replace(trace or new_trace(), exchanges=[])
    data = msgspec.to_builtins(header)
    data.pop("exchanges", None)
    return _encoder.encode(data) + b"\n"


def stats_line(dropped: int, recorder_errors: int) -> bytes:
    return _encoder.encode({"stats": _Stats(dropped, recorder_errors)}) + b"\n"


def dumps(trace: Trace) -> bytes:
    """The whole trace as one JSON document."""
    tagged = msgspec.structs.replace(trace, exchanges=[_tagged(e) for e in trace.exchanges])
    return msgspec.json.format(_encoder.encode(tagged), indent=1)


def dumps_jsonl(trace: Trace) -> bytes:
    lines = [header_line(trace)]
    lines.extend(exchange_line(e) for e in trace.exchanges)
    return b"".join(lines)


def write(trace: Trace, path: str | Path, *, jsonl: bool | None = None) -> None:
    """Write a trace; JSONL when ``jsonl`` is true or the name ends in ``.jsonl``."""
    path = Path(path)
    if jsonl is None:
        jsonl = path.suffix == ".jsonl"
    path.write_bytes(dumps_jsonl(trace) if jsonl else dumps(trace))


# decoding --------------------------------------------------------------------------------

def _untag(exchange: Exchange) -> Exchange:
    exchange.scope = from_json(exchange.scope)
    if not isinstance(exchange.scope, dict):
        raise BadValue(f"exchange {exchange.id}: the scope is not an object")
    if exchange.scope_added is not None:
        exchange.scope_added = from_json(exchange.scope_added)
        if not isinstance(exchange.scope_added, dict):
            raise BadValue(f"exchange {exchange.id}: scope_added is not an object")
    for event in exchange.events:
        event.message = from_json(event.message)
        if not isinstance(event.message, dict | None):
            raise BadValue(f"exchange {exchange.id}: a message is not an object")
    return exchange


def _check_version(format_: Any, version: Any) -> None:
    if format_ != FORMAT:
        raise TraceError(f"not an asgi-inspect trace (format is {format_!r})")
    if version != VERSION:
        raise TraceError(f"unsupported trace version {version!r} (this build reads {VERSION})")


def loads(data: bytes | str) -> Trace:
    """A trace from our JSON document or JSONL text."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")  # a lone surrogate then fails to decode
    data = data.removeprefix(b"\xef\xbb\xbf").strip()
    if not data:
        raise TraceError("the file is empty")
    first_line = data.split(b"\n", 1)[0]
    try:
        head = msgspec.json.decode(first_line)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        head = None
    try:
        if isinstance(head, dict) and "exchanges" not in head:
            return _loads_jsonl(data)
        return _loads_document(data)
    except RecursionError:
        raise TraceError("the JSON is nested too deeply") from None


def _loads_document(data: bytes) -> Trace:
    try:
        raw = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise TraceError(f"not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise TraceError("not an asgi-inspect trace (the JSON is not an object)")
    _check_version(raw.get("format"), raw.get("version"))
    try:
        trace = _trace_decoder.decode(data)
        for exchange in trace.exchanges:
            _untag(exchange)
    except (msgspec.ValidationError, BadValue, UnicodeDecodeError) as exc:
        raise TraceError(f"invalid trace: {exc}") from None
    return trace


def _loads_jsonl(data: bytes) -> Trace:
    lines = iter(enumerate(data.split(b"\n"), 1))
    trace = _jsonl_header(next(lines)[1])
    for number, line in lines:
        if line.strip():
            _jsonl_line(trace, line, number)
    return trace


def _jsonl_header(line: bytes) -> Trace:
    try:
        head = msgspec.json.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise TraceError(f"line 1: {exc}") from None
    _check_version(head.get("format"), head.get("version"))
    try:
        return msgspec.convert(head, Trace)
    except msgspec.ValidationError as exc:
        raise TraceError(f"invalid trace header: {exc}") from None


def _jsonl_line(trace: Trace, line: bytes, number: int) -> None:
    try:
        if line.startswith(b'{"stats"'):
            stats = msgspec.json.decode(line, type=dict[str, _Stats])["stats"]
            trace.dropped += stats.dropped
            trace.recorder_errors += stats.recorder_errors
        else:
            trace.exchanges.append(_untag(_exchange_decoder.decode(line)))
    except (msgspec.DecodeError, msgspec.ValidationError, BadValue, KeyError,
            UnicodeDecodeError) as exc:
        raise TraceError(f"line {number}: {exc}") from None




def exchange_copy(exchange: Exchange) -> Exchange:
    """A deep copy (for duplicating or editing an exchange without touching the original)."""
    return _untag(_exchange_decoder.decode(exchange_line(exchange)))


# schema ----------------------------------------------------------------------------------

def _canonical(schema: Any) -> Any:
    """msgspec's schema in one form whatever its release: docstring descriptions cleaned up
    as :func:`inspect.cleandoc` does (0.23 dedents them, earlier releases do not), and
    ``null`` last in an ``anyOf`` (0.19-0.21 put it first). Neither changes what validates."""
    if isinstance(schema, list):
        return [_canonical(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "description" and isinstance(value, str):
            out[key] = inspect.cleandoc(value)
        elif key == "anyOf" and isinstance(value, list):
            null = [v for v in value if v == {"type": "null"}]
            out[key] = [_canonical(v) for v in value if v != {"type": "null"}] + null
        else:
            out[key] = _canonical(value)
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a trace document, generated from the model."""
    (trace_ref,), defs = msgspec.json.schema_components([Trace])
    defs = _canonical(defs)
    defs["Value"] = VALUE_SCHEMA
    defs["Trace"]["required"] = ["format", "version"]
    defs["Trace"]["properties"]["version"] = {"const": VERSION}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://asgi-inspect.dev/schema/trace-v1.json",
            "title": "asgi-inspect trace, version 1",
            **trace_ref, "$defs": defs}


__all__ = ["Event", "Exchange", "Trace", "TraceError", "dumps", "dumps_jsonl", "exchange_copy",
           "exchange_line", "header_line", "json_schema", "loads", "new_trace",
           "stats_line", "write"]
