"""The trace format is lossless, and a bad file is a one-line TraceError, never a traceback.

Property tests: any snapshot value survives values.to_json/from_json and a JSON text round trip
exactly (types, key order, key presence, float bits); whole traces survive the JSON document and
JSONL forms; truncated, fuzzed and foreign input is refused with :class:`TraceError`.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from asgi_inspect import TraceError, read, values
from asgi_inspect.formats import codec
from asgi_inspect.model import (
    Caps,
    Counters,
    Event,
    ExceptionInfo,
    Exchange,
    Opaque,
    Outcome,
    Trace,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def same(a: Any, b: Any) -> bool:
    """Strict equality: same types (True is not 1, 1.0 is not 1), same float bits, same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            same(ka, kb) and same(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True))
    if isinstance(a, msgspec.Struct):
        return same(msgspec.structs.asdict(a), msgspec.structs.asdict(b))
    return bool(a == b)


# strategies ------------------------------------------------------------------------------------

keys = st.one_of(
    st.text(max_size=8), st.text(max_size=8).map(lambda s: "$" + s), st.binary(max_size=8),
    st.integers(), st.none(), st.booleans(), st.floats(allow_nan=False),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary(),
    st.builds(Opaque, type=st.text(max_size=10), repr=st.text(max_size=20)),
)
snapshots = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)
mappings = st.dictionaries(keys, snapshots, max_size=4)  # scopes and messages are dicts
# The reader checks the scope fields the ASGI spec types (tests/test_loss.py); others are free.
scopes = st.dictionaries(keys.filter(lambda k: k not in codec._SCOPE_FIELDS), snapshots,
                         max_size=4)
times = st.floats(min_value=0, max_value=codec._LATEST_TIME)  # what a clock can show
small = st.integers(min_value=0, max_value=2**62)
finite = st.floats(allow_nan=False, allow_infinity=False)
maybe_text = st.none() | st.text(max_size=20)

events = st.builds(
    Event, direction=st.sampled_from(["receive", "send"]), type=st.text(max_size=30),
    t_call=small, t_return=st.none() | small,
    status=st.sampled_from(["ok", "raised", "cancelled"]),
    message=st.none() | mappings,
    size=st.none() | small, error=maybe_text, late=st.booleans(),
)
counters = st.builds(Counters, bytes=small, chunks=small, kept_bytes=small, elided=small)
exchanges = st.builds(
    Exchange, id=st.text(min_size=1, max_size=8), type=st.text(max_size=10), started_at=times,
    scope=scopes, events=st.lists(events, max_size=4),
    outcome=st.sampled_from(list(Outcome.__args__)),
    exception=st.none() | st.builds(ExceptionInfo, type=st.text(), message=st.text(),
                                    traceback=st.text(), after_event=st.integers(-1, 100)),
    ended_ns=st.none() | small, request=counters, response=counters,
    notes=st.lists(st.text(max_size=20), max_size=3), scope_added=st.none() | mappings,
    source=st.text(max_size=10),
    lost_records=st.booleans(), replay_of=maybe_text, marked=st.booleans(),
    comment=st.text(max_size=20),
)
traces = st.builds(
    Trace, created_at=finite, generator=st.dictionaries(st.text(max_size=8), st.text(max_size=8)),
    caps=st.builds(Caps, max_body=small, max_events=small), dropped=small,
    recorder_errors=small,
    # one line per exchange: a later line for the same (source, id) replaces an earlier one
    exchanges=st.lists(exchanges, max_size=3, unique_by=lambda e: (e.source, e.id)),
)


# lossless ----------------------------------------------------------------------------------------

@FAST
@given(snapshots)
def test_values_round_trip(value: Any) -> None:
    tagged = values.to_json(value)
    assert same(values.from_json(tagged), value)
    text = msgspec.json.encode(tagged)
    json.loads(text, parse_constant=pytest.fail)  # plain JSON: no NaN or Infinity literals
    assert same(values.from_json(msgspec.json.decode(text)), value)


def test_values_tag_what_json_cannot_hold() -> None:
    assert values.to_json(b"caf\xc3\xa9") == {"$b": "café"}
    assert values.to_json(b"\xff") == {"$b64": "/w=="}
    assert values.to_json({"$b": 1}) == {"$map": [["$b", 1]]}
    assert values.to_json({1: None}) == {"$map": [[1, None]]}
    assert values.to_json(float("-inf")) == {"$float": "-inf"}
    assert values.to_json({"plain": [1, "x"]}) == {"plain": [1, "x"]}


def test_buffers_and_tuples_become_bytes_and_lists() -> None:
    """The only conversions the format makes, both documented: ASGI treats them alike."""
    value = (bytearray(b"a"), memoryview(b"\xff"), ("x",))
    assert same(values.from_json(values.to_json(value)), [b"a", b"\xff", ["x"]])


@FAST
@given(traces)
def test_trace_round_trips_as_document_and_jsonl(trace: Trace) -> None:
    assert same(codec.loads(codec.dumps(trace)), trace)
    assert same(codec.loads(codec.dumps_jsonl(trace)), trace)
    for exchange in trace.exchanges:
        assert same(codec.exchange_copy(exchange), exchange)


def test_missing_key_and_none_stay_apart() -> None:
    scopes = [{"raw_path": None}, {}]
    messages = [{"type": "http.request", "more_body": None}, {"type": "http.request"}, None]
    trace = codec.new_trace([
        Exchange(id=str(i), type="http", started_at=0.0, scope=scope,
                 events=[Event(direction="receive", type="http.request", t_call=0,
                               t_return=None, message=m) for m in messages])
        for i, scope in enumerate(scopes)
    ])
    for data in (codec.dumps(trace), codec.dumps_jsonl(trace)):
        loaded = codec.loads(data)
        assert [x.scope for x in loaded.exchanges] == scopes
        assert [e.message for e in loaded.exchanges[0].events] == messages
        assert all(e.t_return is None for e in loaded.exchanges[0].events)


def test_stats_lines_add_up() -> None:
    trace = codec.new_trace(dropped=2)
    data = codec.dumps_jsonl(trace) + codec.stats_line(3, 4) + codec.stats_line(1, 0)
    loaded = codec.loads(data)
    assert (loaded.dropped, loaded.recorder_errors) == (6, 4)


# bad input ---------------------------------------------------------------------------------------

def refused(data: bytes | str) -> str:
    """The one-line reason ``data`` is not a trace; fails if it loads or raises anything else."""
    with pytest.raises(TraceError) as info:
        codec.loads(data)
    message = str(info.value)
    assert message and "\n" not in message
    return message


def loads_or_refuses(data: bytes) -> Trace | None:
    try:
        return codec.loads(data)
    except TraceError as exc:
        assert str(exc) and "\n" not in str(exc)
        return None


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "the file is empty"),
    (b"  \n", "the file is empty"),
    (b"hello", "not valid JSON"),
    (b"\x00\xff\xfe", "not valid JSON"),
    (b"<html><body>502</body></html>", "not valid JSON"),
    (b"[1, 2]", "the JSON is not an object"),
    (b'{"format": "har", "version": 1, "exchanges": []}', "format is 'har'"),
    (b'{"format": "asgi-inspect", "version": 3, "exchanges": []}', "unsupported trace version 3"),
    (b'{"format": "asgi-inspect", "version": 3}\n', "unsupported trace version 3"),
    (b'{"format": "asgi-inspect", "version": 1, "exchanges": [{"id": 1}]}', "invalid trace"),
    (b'{"format": "asgi-inspect", "version": 1, "exchanges": '
     b'[{"id": "1", "type": "http", "started_at": 0, "scope": {"$b64": "%%"}}]}', "bad $b64"),
    (b'{"format": "asgi-inspect", "version": 1}\n{"id": "1"}\n', "line 2"),
    (b'{"format": "asgi-inspect", "version": 1}\n{"stats": 1}\n', "line 2"),
    (b'{"format": "asgi-inspect", "version": 1}\n{"id": "1", "type": "http", "started_at": 0, '
     b'"scope": {"$nope": 1}}\n', "unknown tag '$nope'"),
])
def test_bad_files_are_refused_in_one_line(data: bytes, reason: str) -> None:
    assert reason in refused(data)


def test_unreadable_path(tmp_path: Any) -> None:
    with pytest.raises(TraceError, match="cannot read"):
        read(tmp_path / "missing.json")


@FAST
@given(traces, st.data())
def test_truncated_documents_are_refused(trace: Trace, data: st.DataObject) -> None:
    text = codec.dumps(trace).rstrip()
    cut = data.draw(st.integers(0, len(text) - 1))
    refused(text[:cut] if cut else b" ")


@FAST
@given(traces.filter(lambda t: t.exchanges), st.data())
def test_truncated_jsonl_loses_at_most_the_cut_lines(trace: Trace, data: st.DataObject) -> None:
    text = codec.dumps_jsonl(trace)
    cut = data.draw(st.integers(1, len(text) - 1))
    loaded = loads_or_refuses(text[:cut])
    if loaded is not None:
        assert same(loaded.exchanges, trace.exchanges[: len(loaded.exchanges)])


def is_utf8(data: bytes) -> bool:
    """Non-UTF-8 input has its own (xfail) test below; the fuzzers stay on UTF-8 text."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_escape_as_other_errors(data: bytes) -> None:
    loads_or_refuses(bytes(b & 0x7F for b in data))


@FAST
@given(traces, st.data())
def test_fuzzed_traces_load_or_are_refused(trace: Trace, data: st.DataObject) -> None:
    text = bytearray(codec.dumps(trace) if data.draw(st.booleans()) else codec.dumps_jsonl(trace))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(text) - 1))
        text[position] = data.draw(st.integers(0, 127))
    assume(is_utf8(bytes(text)))
    loads_or_refuses(bytes(text))


@pytest.mark.parametrize("data", [
    b'{"format": "asgi-inspect", "version": 1, "exchanges": [], "x": "\x80"}',
    b'{"format": "asgi-inspect", "version": 1, "x": "caf\xe9"}\n',
    b'{"format": "asgi-inspect", "version": 1}\n{"id": "\xff"}\n',
], ids=["document", "jsonl-header", "jsonl-line"])
def test_invalid_utf8_is_refused(data: bytes) -> None:
    refused(data)


@pytest.mark.parametrize("data", [
    b"[" * 100_000,
    b'{"format": "asgi-inspect", "version": 1, "exchanges": [{"id": "1", "type": "http", '
    b'"started_at": 0, "scope": ' + b"[" * 5000 + b"]" * 5000 + b"}]}",
], ids=["bare", "in-scope"])
def test_deeply_nested_json_is_refused(data: bytes) -> None:
    refused(data)


def test_text_with_lone_surrogate_is_refused() -> None:
    refused('{"format": "asgi-inspect", "version": 1, "exchanges": [], "x": "\ud800"}')
