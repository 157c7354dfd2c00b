"""No input crashes a command: files nested past any sane depth, numbers past any counter and
damaged HAR give one line and exit 2 (``view`` and ``export``), or a trace every TUI renderer
can show. Values nest at most ``values.MAX_DEPTH`` levels in and out of our format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asgi_inspect import values
from asgi_inspect.cli.main import main
from asgi_inspect.formats.codec import TraceError, dumps, header_line, loads
from asgi_inspect.formats.har_import import from_har
from asgi_inspect.model import Caps, Exchange, Opaque
from asgi_inspect.tui.bodies import render_body
from asgi_inspect.tui.widgets.body_view import content_type, start_line
from asgi_inspect.tui.widgets.detail import overview
from asgi_inspect.tui.widgets.exchange_list import summarize
from asgi_inspect.tui.widgets.timeline import frame_preview, message_lines

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def nested(depth: int, inner: Any = None) -> Any:
    for _ in range(depth):
        inner = [inner]
    return inner


def har(entry_extra: str = "", request_extra: str = "") -> str:
    """A one-entry HAR; the extras are JSON members added to the entry and its request."""
    return ('{"log": {"version": "1.2", "entries": [{"startedDateTime": '
            '"2024-01-01T00:00:00Z", "request": {"method": "GET", "url": "http://h/x"'
            f'{request_extra}}}, "response": {{"status": 200, "headers": [], '
            f'"content": {{"text": "ok"}}}}{entry_extra}}}]}}}}')


def _command(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asgi_inspect", *argv], capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize("command", ["view", "export"])
def test_a_har_with_a_100k_deep_value_is_one_line_and_exit_2(tmp_path: Path,
                                                             command: str) -> None:
    path = tmp_path / "deep.har"
    path.write_text(har(entry_extra=', "_junk": ' + "[" * 100_000 + "]" * 100_000))
    result = _command(command, str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert "nested too deeply" in result.stderr


def test_a_trace_value_past_max_depth_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exchange = {"id": "1", "type": "http", "started_at": 1.0,
                "scope": {"type": "http", "state": nested(values.MAX_DEPTH + 5)}}
    path = tmp_path / "deep.jsonl"
    path.write_bytes(header_line() + json.dumps(exchange).encode() + b"\n")
    assert main(["export", str(path), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"nested deeper than {values.MAX_DEPTH} levels" in err


@pytest.mark.parametrize("where", ["header", "param"])
def test_a_deep_value_where_har_wants_text_is_read_or_refused_in_one_line(where: str) -> None:
    deep = "[" * 900 + "]" * 900
    extra = (f', "headers": [{{"name": "x", "value": {deep}}}]' if where == "header" else
             f', "postData": {{"params": [{{"name": "a", "value": {deep}}}]}}')
    try:
        trace = from_har(har(request_extra=extra))
    except TraceError as exc:
        assert "\n" not in str(exc)
    else:
        assert len(trace.exchanges) == 1


def test_numbers_past_any_float_in_a_har_are_junk_not_a_crash() -> None:
    huge = "9" * 400
    trace = from_har(har(entry_extra=f', "timings": {{"wait": {huge}, "send": -{huge}}}, '
                                     f'"_webSocketMessages": [{{"type": "send", "opcode": 1, '
                                     f'"data": "x", "time": {huge}}}]'))
    (exchange,) = trace.exchanges
    assert exchange.duration_ns is not None and exchange.duration_ns <= 10**12 * 10**6


# values ----------------------------------------------------------------------------------------

def test_values_nest_up_to_max_depth_and_deeper_ones_are_written_as_opaque() -> None:
    fits = nested(values.MAX_DEPTH - 1, {"k": b"\xff"})  # MAX_DEPTH containers in all
    assert values.from_json(values.to_json(fits)) == fits
    written = values.to_json(nested(10_000))
    read = values.from_json(json.loads(json.dumps(written)))
    innermost = read
    for _ in range(values.MAX_DEPTH):
        innermost = innermost[0]
    assert innermost == Opaque(type="list", repr=f"nested deeper than {values.MAX_DEPTH} levels")
    with pytest.raises(values.BadValue, match="nested deeper"):
        values.from_json(nested(values.MAX_DEPTH + 1))
    with pytest.raises(values.BadValue, match="nested deeper"):
        values.from_json(nested(values.MAX_DEPTH, {"$map": [[1, 2]]}))


json_documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["$b", "$b64", "$map", "$float", "$opaque", "type",
                                       "repr", "a"]) | st.text(max_size=3), inner, max_size=3),
    max_leaves=16,
) | st.integers(0, 3 * values.MAX_DEPTH).map(nested)


@FUZZ
@given(json_documents)
def test_any_json_decodes_to_a_value_or_a_bad_value(document: Any) -> None:
    try:
        value = values.from_json(document)
    except values.BadValue as exc:
        assert "\n" not in str(exc)
    else:
        assert values.from_json(values.to_json(value)) == value


# HAR -------------------------------------------------------------------------------------------

HAR_KEYS = ("request", "response", "url", "method", "headers", "httpVersion", "postData",
            "text", "params", "name", "value", "_encoding", "encoding", "_content", "bodySize",
            "status", "content", "mimeType", "_undecoded", "_truncated", "size", "timings",
            "wait", "receive", "send", "startedDateTime", "_id", "comment", "_resourceType",
            "_webSocketMessages", "type", "opcode", "data", "time", "_webSocketClose", "code",
            "reason", "timestamp", "_error", "_outcome")
har_scalars = (st.none() | st.booleans() | st.integers() | st.sampled_from([10**400, -(10**400)])
               | st.floats(allow_nan=False, allow_infinity=False)
               | st.sampled_from(["http://h/a?b", "ws://h/ws", "http://[::1", "base64",
                                  "websocket", "send", "exception", "2024-01-01T00:00:00Z",
                                  "text/html; charset=rot13", "\x1b[31m[/]"])
               | st.text(max_size=6))
har_values = st.recursive(
    har_scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(HAR_KEYS), inner, max_size=5),
    max_leaves=25,
) | st.integers(0, 1500).map(nested)


def _shown(exchange: Exchange) -> None:
    """What the TUI renders for ``exchange`` (it must not raise)."""
    overview(exchange, Caps())
    summarize(exchange)
    for direction in ("receive", "send"):
        start_line(exchange, direction)
        render_body(exchange.body(direction), content_type(exchange, direction))
    for event in exchange.events:
        message_lines(event)
        frame_preview(event)


@FUZZ
@given(st.lists(har_values, min_size=1, max_size=3))
def test_any_har_is_a_trace_every_view_shows_or_one_line(entries: list[Any]) -> None:
    document = json.dumps({"log": {"version": "1.2", "entries": entries}})
    try:
        trace = from_har(document)
    except TraceError as exc:
        assert "\n" not in str(exc)
        return
    loads(dumps(trace))  # what was read, our format writes and reads back
    for exchange in trace.exchanges:
        _shown(exchange)
