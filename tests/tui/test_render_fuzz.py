"""No exchange crashes a view: every TUI renderer returns, with printable text, whatever an
exchange holds (scope fields of the wrong type, values nested as deep as a file may hold them,
times no calendar has, numbers past any counter, any bytes as a body, control characters
everywhere); and the app itself shows such exchanges in every tab.

Property tests with bounded examples (hypothesis); each runs in a few seconds.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.text import Text

from asgi_inspect.model import (
    Caps,
    Counters,
    Event,
    ExceptionInfo,
    Exchange,
    Opaque,
    Outcome,
    OutputLine,
)
from asgi_inspect.runtime.session import Session
from asgi_inspect.text import printable
from asgi_inspect.tui.app import InspectorApp
from asgi_inspect.tui.bodies import classify, render_body
from asgi_inspect.tui.formatting import NO_TIME, clock, editable, typed
from asgi_inspect.tui.widgets.body_view import content_type, message_headers, start_line
from asgi_inspect.tui.widgets.detail import (
    TABS,
    diff_lines,
    exception_lines,
    output_lines,
    overview,
)
from asgi_inspect.tui.widgets.exchange_list import (
    COMMENT,
    DURATION,
    KIND,
    METHOD,
    PATH,
    SIZE,
    STARTED,
    status_class,
    status_text,
    summarize,
)
from asgi_inspect.tui.widgets.timeline import (
    bar_span,
    frame_kind,
    frame_preview,
    message_lines,
    payload_size,
)
from asgi_inspect.units import format_duration, format_size
from asgi_inspect.values import MAX_DEPTH, value_text
from tests.tui.factory import http_exchange, websocket_exchange

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def nested(depth: int, inner: Any = None) -> Any:
    """``inner`` in ``depth`` lists (built without recursion)."""
    for _ in range(depth):
        inner = [inner]
    return inner


# strategies ------------------------------------------------------------------------------

# Text with what hostile traffic carries: markup, escape sequences, C1, bidi, NUL.
hostile = st.lists(st.sampled_from(["[", "]", "/", "@click=app.quit", "bold", "\x1b", "\x07",
                                    "\x00", "\x85", "\x9b", "\u202e", "\u2028", "a", "é", "日",
                                    "\n", "\r", "\t", "\\x1b", "\\"]), max_size=12).map("".join)
texts = hostile | st.text(max_size=12)
big_ints = st.integers() | st.integers(min_value=2**63 - 2, max_value=2**63 + 2) | st.sampled_from(
    [-(10**400), 10**400, 10**4000, -1])
times = st.floats() | st.sampled_from([1e20, -1e20, 253402300800.0, 1.7e9])
scalars = (st.none() | st.booleans() | big_ints | st.floats() | texts | st.binary(max_size=24)
           | st.builds(Opaque, type=texts, repr=texts))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3)
    | st.tuples(inner, inner),
    max_leaves=12,
) | st.integers(0, MAX_DEPTH).map(nested)  # as deep as a file may hold a value
pairs = st.lists(st.tuples(st.binary(max_size=8), st.binary(max_size=8)).map(list), max_size=3)
headers = pairs | values

SCOPE_KEYS = ("type", "method", "path", "raw_path", "query_string", "root_path", "scheme",
              "http_version", "client", "server", "headers", "subprotocols", "state")
EVENT_TYPES = ("http.request", "http.response.start", "http.response.body",
               "websocket.accept", "websocket.receive", "websocket.send", "websocket.close",
               "websocket.disconnect", "websocket.http.response.start",
               "websocket.http.response.body", "lifespan.startup")
MESSAGE_KEYS = ("body", "bytes", "text", "headers", "status", "code", "reason", "subprotocol",
                "more_body")


@st.composite
def scopes(draw: st.DrawFn) -> dict[str, Any]:
    """A scope whose fields are right, of the wrong type, or missing."""
    scope = {key: draw(values) for key in draw(st.sets(st.sampled_from(SCOPE_KEYS)))}
    if draw(st.booleans()):
        scope["headers"] = draw(headers)
    scope.update(draw(st.dictionaries(texts, values, max_size=2)))
    return scope


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    message: dict[str, Any] = {"type": draw(st.sampled_from(EVENT_TYPES) | texts)}
    for key in draw(st.sets(st.sampled_from(MESSAGE_KEYS))):
        message[key] = draw(values if key != "headers" else headers)
    return message


events = st.builds(
    Event, direction=st.sampled_from(["receive", "send"]),
    type=st.sampled_from(EVENT_TYPES) | texts, t_call=big_ints, t_return=st.none() | big_ints,
    status=st.sampled_from(["ok", "raised", "cancelled"]), message=messages(),
    size=st.none() | big_ints, error=st.none() | texts, late=st.booleans())
counters = st.builds(Counters, bytes=big_ints, chunks=big_ints, kept_bytes=big_ints,
                     elided=big_ints)
exchanges = st.builds(
    Exchange, id=texts, type=st.sampled_from(["http", "websocket", "lifespan"]) | texts,
    started_at=times, scope=scopes(), events=st.lists(events, max_size=5),
    outcome=st.sampled_from(get_args(Outcome)),
    exception=st.none() | st.builds(ExceptionInfo, type=texts, message=texts, traceback=texts,
                                    after_event=big_ints),
    ended_ns=st.none() | big_ints, request=counters, response=counters,
    notes=st.lists(texts, max_size=2),
    output=st.lists(st.builds(OutputLine, t=big_ints, stream=texts, text=texts), max_size=2),
    scope_added=st.none() | values, source=texts, lost_records=st.booleans(),
    replay_of=st.none() | texts, marked=st.booleans(), comment=texts)


def assert_printable(lines: list[Text] | list[str] | str) -> None:
    """No control character in what a renderer gives the terminal."""
    for line in [lines] if isinstance(lines, str) else lines:
        text = line.plain if isinstance(line, Text) else line
        assert printable(text, keep_tabs=True) == text, repr(text)


# renderers -----------------------------------------------------------------------------------

@FUZZ
@given(exchanges)
def test_every_renderer_returns_printable_text_for_any_exchange(exchange: Exchange) -> None:
    assert_printable(overview(exchange, Caps()))
    assert_printable(output_lines(exchange))
    assert_printable(exception_lines(exchange))
    assert_printable(diff_lines(None, exchange))
    for direction in ("receive", "send"):
        assert_printable(start_line(exchange, direction))
        message_headers(exchange, direction)
        body = render_body(exchange.body(direction), content_type(exchange, direction))
        assert_printable(body.lines)
        assert_printable(body.note)
    span = max(exchange.duration_ns or 0, 1)
    for event in exchange.events:
        assert_printable(message_lines(event))
        assert_printable(frame_preview(event))
        assert_printable(frame_kind(event))
        format_size(payload_size(event))
        start, length = bar_span(event.t_call, event.t_return, span, 40)
        assert 0 <= start < 40 and 1 <= length <= 40 - start
    row = summarize(exchange)
    assert_printable([row[METHOD], row[PATH], row[KIND], row[COMMENT]])
    assert status_text(row) and status_class(row) and clock(row[STARTED])
    format_duration(row[DURATION])
    format_size(row[SIZE])


@FUZZ
@given(exchanges)
def test_a_replay_diff_of_any_exchange_renders(exchange: Exchange) -> None:
    assert_printable(diff_lines(exchange, exchange))
    assert_printable(diff_lines(http_exchange("1"), exchange))


def test_a_replay_whose_body_is_too_deep_to_compare_says_so() -> None:
    original = http_exchange("1", response_body=b"[" * 3000 + b"1" + b"]" * 3000)
    replay = http_exchange("2", response_body=b"[" * 3000 + b"2" + b"]" * 3000)
    (line,) = diff_lines(original, replay)
    assert "cannot be compared here, a body is nested too deeply" in line.plain


CONTENT_TYPES = ("application/json", "application/x-ndjson", "application/x-www-form-urlencoded",
                 "text/html", "text/plain", "application/octet-stream", "image/png", "")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512), st.sampled_from(CONTENT_TYPES) | texts)
def test_any_bytes_render_as_printable_lines(data: bytes, mime: str) -> None:
    body = render_body(data, mime, limit=256)
    assert body.kind == classify(data, mime) or body.note
    assert_printable(body.lines)
    assert_printable(body.note)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=20)


def levels(value: Any) -> int:
    """How many lists and objects deep ``value`` nests."""
    if isinstance(value, (list, dict)):
        children = value.values() if isinstance(value, dict) else value
        return 1 + max(map(levels, children), default=0)
    return 0


@FUZZ
@given(json_values, st.integers(0, 2 * MAX_DEPTH) | st.integers(0, 20_000),
       st.sampled_from(["[", '{"a":']))
def test_any_json_body_renders_and_a_deep_one_says_why_it_is_raw(
        value: Any, depth: int, opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    text = opening * depth + json.dumps(value) + closing * depth
    body = render_body(text.encode(), "application/json", limit=None)
    assert_printable(body.lines)
    if depth + levels(value) > MAX_DEPTH:
        assert body.kind == "text" and body.lines == [printable(text)]
        assert body.note == f"JSON nested deeper than {MAX_DEPTH} levels: shown as text"
    else:
        assert body.kind == "json" and not body.note


def test_a_3kb_body_nested_3000_deep_is_shown_raw_with_the_reason() -> None:
    data = b"[" * 3000 + b"]" * 3000
    exchange = http_exchange("1", response_body=data)
    body = render_body(exchange.body("send"), content_type(exchange, "send"))
    assert (body.kind, body.lines) == ("text", [data.decode()])
    assert "nested deeper than" in body.note


@FUZZ
@given(values)
def test_value_text_is_bounded_for_any_value(value: Any) -> None:
    text = value_text(value, limit=50)
    assert len(text) <= 50


def test_value_text_walks_any_depth_and_cycles_without_recursion() -> None:
    assert value_text(nested(100_000), limit=10) == "[" * 9 + "…"
    cycle: list[Any] = [1]
    cycle.append(cycle)
    assert value_text(cycle, limit=12) == "[1, [1, [1,…"
    assert value_text({"f": Opaque(type="function", repr="app.view"), 1: (b"x",)}) == \
        "{'f': app.view, 1: [b'x']}"


@FUZZ
@given(texts | st.text())
def test_edited_text_round_trips_and_never_shows_a_control(text: str) -> None:
    shown = editable(text)
    assert typed(shown) == text
    assert all(printable(line, keep_tabs=True) == line for line in shown.split("\n"))


@settings(max_examples=100, deadline=None)
@given(times)
def test_any_start_time_shows_as_a_clock_or_as_no_time(started_at: float) -> None:
    shown = clock(started_at, with_date=True)
    assert shown == NO_TIME or shown[-4] == "."


# the app --------------------------------------------------------------------------------------

def _crafted() -> list[Exchange]:
    """What a crafted trace may hold: a start no calendar has, scope fields of the wrong type,
    deep values, numbers past any counter."""
    odd = http_exchange("1", started_at=1e20)
    odd.scope.update(query_string="a=1", client="nowhere", server={"host": 1},
                     headers=[[b"a"], "b", [1, 2]], http_version=[1, 1], scheme=None,
                     raw_path="/not-bytes", path=nested(MAX_DEPTH), state=nested(MAX_DEPTH))
    odd.events[0].message["headers"] = "not a list"
    odd.scope_added = {"deep": nested(MAX_DEPTH), 1: Opaque(type="x", repr="y")}
    odd.request.bytes = odd.events[0].t_call = 10**400
    odd.output = [OutputLine(t=-(10**400), stream="stdout", text="x")]
    mapped = http_exchange("2", started_at=float("nan"))
    mapped.scope["query_string"] = {"a": [b"1"]}
    start = mapped.first("http.response.start")
    assert start is not None
    start.message.update(status=10**4000, headers=[[b"content-type", 5]])
    ws = websocket_exchange("3", started_at=-1e20)
    for event in ws.events:
        if event.type == "websocket.accept":
            event.message.update(headers=[[1, 2], [b"x"]], subprotocol=["chat"])
        if event.type == "websocket.close":
            event.message.update(code=nested(50), reason=b"\x1b[2J")
    ws.replay_of = "1"
    return [odd, mapped, ws]


async def test_crafted_exchanges_show_in_every_tab() -> None:
    app = InspectorApp(Session.offline(_crafted(), title="crafted"))
    app.animation_level = "none"
    async with app.run_test(size=(160, 50)) as pilot:
        for index in range(app.exchange_list.row_count):
            app.exchange_list.move_cursor(index)
            await pilot.pause()
            for tab in TABS:
                app.detail.tabs.active = tab
                await pilot.pause()
        assert app.is_running
        screen = app.export_screenshot()
        assert "\x1b" not in screen and NO_TIME in screen
