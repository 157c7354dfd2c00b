"""Reading and writing traces: one JSON document, or JSONL with one exchange per line.

JSONL layout: a header line (the :class:`~asgi_inspect.model.Trace` fields without
``exchanges``), then one :class:`~asgi_inspect.model.Exchange` per line, then optionally a
``{"stats": ...}`` line with the drop counts. Snapshot values are tagged by ``values.py``. A
later line for the same exchange (same ``source`` and ``id``) replaces an earlier one: a
recorder writes an exchange it took as lost again if its records arrive after all.

What is read is checked, not only parsed: the fields of a scope that the ASGI specification
types (``path`` a string, ``query_string`` bytes, ``headers`` byte pairs, ...) must have those
types, and ``started_at`` must be a time a clock can show. Anything that is not a trace of ours
raises :class:`TraceError` with a one-line reason naming the line or the exchange and field;
read leniently (``on_damage``), a damaged line or invalid exchange is skipped and named instead.
"""

from __future__ import annotations

import contextlib
import inspect
import platform
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from asgi_inspect import __version__
from asgi_inspect.model import (
    FORMAT,
    INSIDE_SNAPSHOTS,
    READ_VERSIONS,
    VERSION,
    Event,
    Exchange,
    Inside,
    Opaque,
    Trace,
)
from asgi_inspect.record.files import write_private
from asgi_inspect.values import VALUE_SCHEMA, BadValue, from_json, to_json

OnDamage = Callable[[str], None]  # told one line per damaged line or exchange it skips
_BLANKS = b" \t\n\r\x0b\x0c"  # what bytes.strip() strips
_NOT_BLANK = re.compile(b"[^%s]" % re.escape(_BLANKS))

_encoder = msgspec.json.Encoder()
_exchange_decoder = msgspec.json.Decoder(Exchange)
_trace_decoder = msgspec.json.Decoder(Trace)


class TraceError(Exception):
    """A file that is not a readable trace; the message is one line for the user."""


class _Stats(msgspec.Struct):
    dropped: int = 0
    recorder_errors: int = 0
    unwritten: int = 0  # exchanges the writer could not write (a full disk)


def generator_info() -> dict[str, str]:
    return {"asgi_inspect": __version__, "python": platform.python_version()}


def new_trace(exchanges: Iterable[Exchange] = (), **fields: Any) -> Trace:
    return Trace(created_at=time.time(), generator=generator_info(), exchanges=list(exchanges),
                 **fields)


# encoding --------------------------------------------------------------------------------

def _tagged(exchange: Exchange) -> Exchange:
    events = [msgspec.structs.replace(e, message=to_json(e.message)) for e in exchange.events]
    added = None if exchange.scope_added is None else to_json(exchange.scope_added)
    inside = [_inside_values(item, to_json) for item in exchange.inside]
    return msgspec.structs.replace(exchange, scope=to_json(exchange.scope), events=events,
                                   scope_added=added, inside=inside)


def _inside_values(item: Inside, convert: Callable[[Any], Any]) -> Inside:
    """A copy of a call, query or span whose snapshot values went through ``convert``."""
    changes = {name: convert(getattr(item, name)) for name in INSIDE_SNAPSHOTS
               if getattr(item, name, None) is not None}
    return msgspec.structs.replace(item, **changes) if changes else item


def exchange_line(exchange: Exchange) -> bytes:
    return _encoder.encode(_tagged(exchange)) + b"\n"


def header_line(trace: Trace | None = None) -> bytes:
    header = msgspec.structs.replace(trace or new_trace(), exchanges=[])
    data = msgspec.to_builtins(header)
    data.pop("exchanges", None)
    return _encoder.encode(data) + b"\n"


def stats_line(dropped: int, recorder_errors: int, unwritten: int = 0) -> bytes:
    """The last line of a recording: what was lost on the way and what could not be written
    (read back, both count in :attr:`Trace.dropped`)."""
    return _encoder.encode({"stats": _Stats(dropped, recorder_errors, unwritten)}) + b"\n"


def dumps(trace: Trace) -> bytes:
    """The whole trace as one JSON document."""
    tagged = msgspec.structs.replace(trace, exchanges=[_tagged(e) for e in trace.exchanges])
    return msgspec.json.format(_encoder.encode(tagged), indent=1)


def dumps_jsonl(trace: Trace) -> bytes:
    lines = [header_line(trace)]
    lines.extend(exchange_line(e) for e in trace.exchanges)
    return b"".join(lines)


def write(trace: Trace, path: str | Path, *, jsonl: bool | None = None) -> None:
    """Write a trace, owner-only (it may hold secrets); JSONL when ``jsonl`` is true or the
    name ends in ``.jsonl``."""
    path = Path(path)
    if jsonl is None:
        jsonl = path.suffix == ".jsonl"
    write_private(path, dumps_jsonl(trace) if jsonl else dumps(trace))


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
    exchange.inside = [_inside_values(item, from_json) for item in exchange.inside]
    return exchange


# 9999-12-31T23:59:59Z: the last second a clock column or a HAR date can show
_LATEST_TIME = 253402300799.0


def _is_address(value: Any) -> bool:
    return value is None or (isinstance(value, list) and len(value) == 2 and
                             isinstance(value[0], str) and isinstance(value[1], int | None))


def _is_headers(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], bytes) and
        isinstance(pair[1], bytes) for pair in value)


# The scope fields the ASGI specification types, what they must be, and the test.
_SCOPE_FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    **{key: ("a string", lambda v: isinstance(v, str))
       for key in ("type", "http_version", "method", "scheme", "path", "root_path")},
    "raw_path": ("bytes or null", lambda v: isinstance(v, bytes | None)),
    "query_string": ("bytes", lambda v: isinstance(v, bytes)),
    "headers": ("a list of [name, value] byte pairs", _is_headers),
    "client": ("[host, port] or null", _is_address),
    "server": ("[host, port] or null", _is_address),
    "subprotocols": ("a list of strings",
                     lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v)),
    "asgi": ("an object", lambda v: isinstance(v, dict)),
    "state": ("an object", lambda v: isinstance(v, dict | Opaque)),
    "extensions": ("an object or null", lambda v: isinstance(v, dict | Opaque | None)),
}


def _checked(exchange: Exchange) -> Exchange:
    """An exchange read from a file, its values untagged and checked: what views rely on
    has the type the ASGI specification gives it. :class:`BadValue` names the field."""
    _untag(exchange)
    if not 0 <= exchange.started_at <= _LATEST_TIME:
        raise BadValue(f"exchange {exchange.id}: started_at {exchange.started_at!r} is not a "
                       f"time (seconds since 1970, before the year 10000)")
    scope = exchange.scope
    for key, (expected, valid) in _SCOPE_FIELDS.items():
        if key in scope and not valid(scope[key]):
            raise BadValue(f"exchange {exchange.id}: scope {key} must be {expected}, not "
                           f"{_kind(scope[key])}")
    return exchange


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check_version(format_: Any, version: Any) -> None:
    if format_ != FORMAT:
        raise TraceError(f"not an asgi-inspect trace (format is {format_!r})")
    if version not in READ_VERSIONS:
        raise TraceError(f"unsupported trace version {version!r} (this build reads "
                         f"{', '.join(map(str, READ_VERSIONS))})")


def loads(data: bytes | str, on_damage: OnDamage | None = None) -> Trace:
    """A trace from our JSON document or JSONL text.

    Strict without ``on_damage``: a damaged line or an invalid exchange raises
    :class:`TraceError` naming it. With ``on_damage``, each is skipped instead and described
    to it in one line (``line 3424: ...``, ``exchange 7: ...``); :class:`TraceError` then
    means nothing could be read: no valid header, or not one of the file's exchanges.
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")  # a lone surrogate then fails to decode
    # Where the text starts and ends (no BOM, no blanks around it), found without copying
    # the file: read as views of ``data``, a big trace is not held twice.
    start = _NOT_BLANK.search(data, 3 if data.startswith(b"\xef\xbb\xbf") else 0)
    if start is None:
        raise TraceError("the file is empty")
    begin, end = start.start(), len(data)
    while data[end - 1] in _BLANKS:
        end -= 1
    skipped_lines = data.count(b"\n", 0, begin)  # blank lines before it
    newline = data.find(b"\n", begin, end)
    first_line = memoryview(data)[begin:end if newline < 0 else newline]
    try:
        head = msgspec.json.decode(first_line)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        head = None
    try:
        if isinstance(head, dict) and "exchanges" not in head:
            return _loads_jsonl(_lines(data, begin, end), skipped_lines + 1, on_damage)
        return _loads_document(memoryview(data)[begin:end], on_damage)
    except RecursionError:
        raise TraceError("the JSON is nested too deeply") from None


def _loads_document(data: memoryview, on_damage: OnDamage | None) -> Trace:
    try:
        raw = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise TraceError(f"not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise TraceError("not an asgi-inspect trace (the JSON is not an object)")
    _check_version(raw.get("format"), raw.get("version"))
    try:
        trace = _trace_decoder.decode(data)
    except (msgspec.ValidationError, UnicodeDecodeError) as exc:
        if on_damage is None:
            raise TraceError(f"invalid trace: {exc}") from None
        return _document_by_exchange(raw, on_damage)
    decoded, trace.exchanges = trace.exchanges, []
    damage = _Damage(on_damage)
    for index, exchange in enumerate(decoded):
        with damage.skipped():  # the reason names the exchange
            try:
                trace.exchanges.append(_checked(exchange))
            except BadValue:  # read leniently, its calls and queries may be what is damaged
                if on_damage is None:
                    raise
                trace.exchanges.append(_read_exchange(raw["exchanges"][index], damage,
                                                      f"exchanges[{index}]"))
    damage.check(len(trace.exchanges))
    return trace


# What a damaged line or exchange raises while it is read.
_DAMAGE = (msgspec.DecodeError, msgspec.ValidationError, BadValue, KeyError, UnicodeDecodeError)


def _document_by_exchange(raw: dict[str, Any], on_damage: OnDamage) -> Trace:
    """A document whose exchanges do not all decode: each one on its own, skipping the bad."""
    items = raw.pop("exchanges", None)
    try:
        trace = msgspec.convert(raw, Trace)
    except msgspec.ValidationError as exc:
        raise TraceError(f"invalid trace header: {exc}") from None
    if not isinstance(items, list):
        raise TraceError("invalid trace: exchanges is not a list")
    damage = _Damage(on_damage)
    for index, item in enumerate(items):
        where = f"exchanges[{index}]"
        with damage.skipped(where):
            trace.exchanges.append(_read_exchange(item, damage, where))
    damage.check(len(trace.exchanges))
    return trace


def _read_exchange(data: memoryview | Any, damage: _Damage, where: str) -> Exchange:
    """One exchange (a JSONL line, or a document's decoded item), checked. Read leniently,
    an exchange whose only damage is in calls, queries or spans is kept without the damaged
    ones, each named, and a note says so: its request and response are worth more than one
    unreadable query."""
    try:
        if isinstance(data, memoryview):
            return _checked(_exchange_decoder.decode(data))
        return _checked(msgspec.convert(data, Exchange))
    except _DAMAGE:
        kept = None if damage.on_damage is None else _without_damaged_inside(data, damage, where)
        if kept is None:
            raise
        return kept


def _without_damaged_inside(data: memoryview | Any, damage: _Damage,
                            where: str) -> Exchange | None:
    """The exchange with its readable inside items only, or None when the damage is
    elsewhere (or it cannot be read at all)."""
    try:
        raw = msgspec.json.decode(data) if isinstance(data, memoryview) else data
        items = raw.get("inside")
        if not isinstance(items, list) or not items:
            return None
        exchange = _checked(msgspec.convert({**raw, "inside": []}, Exchange))
    except (*_DAMAGE, AttributeError, TypeError):
        return None
    for index, item in enumerate(items):
        try:
            exchange.inside.append(_inside_values(msgspec.convert(item, Inside), from_json))
        except _DAMAGE as exc:
            damage.report(f"{where}: exchange {exchange.id}: inside[{index}] skipped: {exc}")
    skipped = len(items) - len(exchange.inside)
    if not skipped:  # the damage was not in them after all
        return None
    exchange.notes.append(f"{skipped} damaged call, query or span item"
                          f"{'' if skipped == 1 else 's'} skipped when the file was read")
    return exchange


class _Damage:
    """Where a lenient read reports what it skips; a strict one (no ``on_damage``) raises."""

    def __init__(self, on_damage: OnDamage | None) -> None:
        self.on_damage = on_damage
        self.first: str | None = None

    @contextlib.contextmanager
    def skipped(self, where: str = "") -> Iterator[None]:
        """Read one line or exchange (``where``, unless the reason names it): what is wrong
        with it becomes a one-line :class:`TraceError`, or is reported and the item skipped."""
        try:
            yield
        except _DAMAGE as exc:
            reason = f"{where}: {exc}" if where else str(exc)
            if self.on_damage is None:
                raise TraceError(reason) from None
            self.first = self.first or reason
            self.report(reason)

    def report(self, reason: str) -> None:
        """Name one thing a lenient read skipped (only ever called when lenient)."""
        if self.on_damage is not None:
            self.on_damage(reason)

    def check(self, kept: int) -> None:
        """A file whose every exchange was damaged is not a trace one can look at."""
        if self.first is not None and not kept:
            raise TraceError(f"no exchange could be read ({self.first})")


def _lines(data: bytes, begin: int, end: int) -> Iterator[memoryview]:
    """``data[begin:end].split(b"\\n")``, a line at a time and as views: no copy of the file."""
    view = memoryview(data)
    while (newline := data.find(b"\n", begin, end)) >= 0:
        yield view[begin:newline]
        begin = newline + 1
    yield view[begin:end]


def _loads_jsonl(lines: Iterable[memoryview], first_number: int,
                 on_damage: OnDamage | None) -> Trace:
    numbered = iter(enumerate(lines, first_number))
    trace = _jsonl_header(next(numbered)[1])
    damage = _Damage(on_damage)
    where: dict[tuple[str, str], int] = {}  # (source, id) -> index, for a later line to replace
    for number, line in numbered:
        if _NOT_BLANK.search(line):
            with damage.skipped(f"line {number}"):
                _jsonl_line(trace, line, where, damage, f"line {number}")
    damage.check(len(trace.exchanges))
    return trace


def _jsonl_header(line: memoryview) -> Trace:
    try:
        head = msgspec.json.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise TraceError(f"line 1: {exc}") from None
    _check_version(head.get("format"), head.get("version"))
    try:
        return msgspec.convert(head, Trace)
    except msgspec.ValidationError as exc:
        raise TraceError(f"invalid trace header: {exc}") from None


def _jsonl_line(trace: Trace, line: memoryview, where: dict[tuple[str, str], int],
                damage: _Damage, label: str) -> None:
    if line[:8].tobytes() == b'{"stats"':
        stats = msgspec.json.decode(line, type=dict[str, _Stats])["stats"]
        trace.dropped += stats.dropped + stats.unwritten
        trace.recorder_errors += stats.recorder_errors
        return
    exchange = _read_exchange(line, damage, label)
    key = (exchange.source, exchange.id)
    index = where.get(key) if exchange.source else None
    if index is None:
        where[key] = len(trace.exchanges)
        trace.exchanges.append(exchange)
    else:
        trace.exchanges[index] = exchange


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
    # Version 2 only added fields: a file of version 1 is a valid trace of version 2.
    defs["Trace"]["properties"]["version"] = {"enum": list(READ_VERSIONS)}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://asgi-inspect.dev/schema/trace-v{VERSION}.json",
            "title": f"asgi-inspect trace, version {VERSION}",
            **trace_ref, "$defs": defs}


__all__ = ["Event", "Exchange", "Trace", "TraceError", "dumps", "dumps_jsonl", "exchange_copy",
           "exchange_line", "header_line", "json_schema", "loads", "new_trace",
           "stats_line", "write"]
