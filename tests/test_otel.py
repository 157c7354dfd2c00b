"""Exchanges as OpenTelemetry traces (issue 15), against a real OTLP/HTTP receiver: the server
span after the HTTP semantic conventions, message and exception events, the trace context it
joins, children for calls, queries and the app's own spans, bodies capped and redacted, OTLP
JSON, the export CLI, losses counted, ``Inspector(app, otlp=...)`` and ``run --otlp``.
(Arize Phoenix, a real backend: test_otel_phoenix.py.)"""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from websockets.sync.client import connect

from asgi_inspect import Inspector
from asgi_inspect.cli.main import main
from asgi_inspect.formats.codec import dumps, dumps_jsonl, loads, new_trace
from asgi_inspect.model import Exchange, OutboundCall, Query, Span
from asgi_inspect.ops.export import redact_exchange
from asgi_inspect.otel.context import parse_traceparent, trace_context, trace_label
from asgi_inspect.otel.exporter import SpanExport, settings
from asgi_inspect.otel.spans import to_spans
from asgi_inspect.runtime.session import Session
from asgi_inspect.store.collector import Collector
from tests.otel_apps import Receiver, app
from tests.servers import free_port, uvicorn_server, wait_for_port
from tests.test_cli_run import APP_DIR, CLI, running

RESOURCE = Resource.create({"service.name": "otel-test"})
CALLER_TRACE, CALLER_SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


def record(asgi: Any, drive: Callable[[str], None]) -> list[Exchange]:
    """The exchanges (lifespan aside) ``drive`` makes against ``asgi`` served by uvicorn."""
    inspector = Inspector(asgi)
    with uvicorn_server(inspector) as url:
        drive(url)
    return [e for e in inspector.sink.exchanges if e.type != "lifespan"]  # type: ignore[attr-defined]


def _drive(url: str) -> None:
    """One connection per request: the server closes the one its 500 went out on."""
    httpx.get(f"{url}/items/7?color=red", headers={"user-agent": "otel-test/1"})
    httpx.get(f"{url}/fail")
    httpx.post(f"{url}/login", json={"user": "ann", "password": "hunter2"},
               headers={"authorization": "Bearer s3cret"})
    httpx.get(f"{url}/items/8", headers={"traceparent": TRACEPARENT, "tracestate": "vendor=1"})
    with connect(url.replace("http", "ws") + "/ws") as socket:
        socket.send("hello")
        socket.recv()


@pytest.fixture(scope="module")
def exchanges() -> dict[str, Exchange]:
    return {e.path.partition("?")[0]: e for e in record(app, _drive)}


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    sink = Receiver()
    with uvicorn_server(sink.app) as url:
        yield sink, url


def _attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_an_exchange_is_a_server_span_after_the_http_conventions(
        exchanges: dict[str, Exchange]) -> None:
    exchange = exchanges["/items/7"]
    [span] = to_spans(exchange, RESOURCE)
    attributes = _attributes(span)
    assert (span.name, span.kind, span.parent) == ("GET /items/{item_id}", SpanKind.SERVER, None)
    assert {key: attributes[key] for key in (
        "http.request.method", "url.path", "url.query", "url.scheme", "http.response.status_code",
        "http.route", "server.address", "client.address", "user_agent.original",
        "network.protocol.version")} == {
        "http.request.method": "GET", "url.path": "/items/7", "url.query": "color=red",
        "url.scheme": "http", "http.response.status_code": 200, "http.route": "/items/{item_id}",
        "server.address": "127.0.0.1", "client.address": "127.0.0.1",
        "user_agent.original": "otel-test/1", "network.protocol.version": "1.1"}
    assert isinstance(attributes["server.port"], int) and isinstance(attributes["client.port"], int)
    start = round(exchange.started_at * 1e9)
    assert span.start_time == start and span.end_time is not None and span.end_time >= start
    assert [(e.name, e.timestamp, (e.attributes or {})["asgi.event.direction"])
            for e in span.events] == [(e.type, start + e.t_call, e.direction)
                                      for e in exchange.events]
    body = next(e for e in span.events if e.name == "http.response.body")
    assert (body.attributes or {})["asgi.event.size"] == len(b'{"id":7}')
    assert span.status.status_code is StatusCode.UNSET


def test_the_exception_is_the_standard_event_and_an_error(exchanges: dict[str, Exchange]) -> None:
    [span] = to_spans(exchanges["/fail"], RESOURCE)
    assert span.status.status_code is StatusCode.ERROR
    assert _attributes(span)["http.response.status_code"] == 500
    assert _attributes(span)["error.type"] == "RuntimeError"
    [event] = [e for e in span.events if e.name == "exception"]
    attributes = event.attributes or {}
    assert attributes["exception.type"] == "RuntimeError"
    assert attributes["exception.message"] == "the basket could not be priced"
    assert "raise RuntimeError" in str(attributes["exception.stacktrace"])


def test_a_traceparent_makes_it_the_callers_child(exchanges: dict[str, Exchange]) -> None:
    [span] = to_spans(exchanges["/items/8"], RESOURCE)
    assert span.context is not None and span.parent is not None
    assert f"{span.context.trace_id:032x}" == CALLER_TRACE
    assert f"{span.parent.span_id:016x}" == CALLER_SPAN and span.parent.is_remote
    assert span.context.trace_state.to_header() == "vendor=1"
    assert trace_label(exchanges["/items/8"]) == f"trace {CALLER_TRACE}"
    assert trace_label(exchanges["/items/8"], "http://jaeger:16686/trace/{trace_id}") == \
        f"http://jaeger:16686/trace/{CALLER_TRACE}"


@pytest.mark.parametrize("value", [
    b"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # version ff is invalid
    b"00-00000000000000000000000000000000-b7ad6b7169203331-01",  # all-zero trace id
    b"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # all-zero parent
    b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",  # 00 has 4 fields
    b"00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01", b"garbage", b""])
def test_an_invalid_traceparent_starts_a_trace_of_its_own(value: bytes) -> None:
    assert parse_traceparent(value) is None


def test_ids_are_the_same_for_the_same_exchange_and_differ_between_them(
        exchanges: dict[str, Exchange]) -> None:
    first, second = exchanges["/items/7"], exchanges["/fail"]
    again = loads(dumps(new_trace([first]))).exchanges[0]
    assert trace_context(first) == trace_context(again)  # a saved trace names the same spans
    assert trace_context(first).trace_id != trace_context(second).trace_id
    assert trace_context(first).span_id != trace_context(second).span_id


def test_a_websocket_session_is_a_span_with_frame_events(exchanges: dict[str, Exchange]) -> None:
    [span] = to_spans(exchanges["/ws"], RESOURCE)
    assert span.name == "WS /ws" and _attributes(span)["http.response.status_code"] == 101
    frames = [(e.name, (e.attributes or {}).get("asgi.event.size")) for e in span.events
              if e.name in ("websocket.receive", "websocket.send")]
    assert frames == [("websocket.receive", 5), ("websocket.send", 5)]


def test_calls_queries_and_the_apps_spans_are_children(exchanges: dict[str, Exchange]) -> None:
    exchange = copy.deepcopy(exchanges["/items/7"])
    own_trace, root, child = "5b8aa5a2d2c872e8321cf37308d69df2", "051581bf3cb55c13", \
        "aa1c1e3a0ea8dd37"
    exchange.inside = [
        OutboundCall(library="httpx", method="GET", url="http://stock:9000/level?sku=1",
                     t_start=1000, t_first_byte=2000, t_end=3000, status=503,
                     location="app/stock.py:12"),
        Query(library="sqlite3", statement="select * from items where id = ?", t_start=4000,
              t_end=5000, rows=1, database="sqlite", location="app/db.py:7"),
        Span(name="price order", t_start=6000, t_end=9000, library="shop", span_kind="client",
             trace_id=own_trace, span_id=root, attributes={"order.id": 7}),
        Span(name="discount", t_start=7000, t_end=8000, trace_id=own_trace, span_id=child,
             parent_id=root, status="error", error="ValueError: no discount")]
    server, call, query, root_span, child_span = to_spans(exchange, RESOURCE)
    assert server.context is not None
    assert f"{server.context.trace_id:032x}" == own_trace  # the app's own trace, joined
    start = server.start_time or 0
    for span in (call, query, root_span, child_span):
        assert span.context is not None and span.context.trace_id == server.context.trace_id
    assert call.parent is not None and call.parent.span_id == server.context.span_id
    assert (call.name, call.kind, call.status.status_code) == ("GET", SpanKind.CLIENT,
                                                               StatusCode.ERROR)
    assert {k: _attributes(call)[k] for k in ("url.full", "server.address", "server.port",
                                              "http.response.status_code", "code.file.path",
                                              "code.line.number")} == {
        "url.full": "http://stock:9000/level?sku=1", "server.address": "stock",
        "server.port": 9000, "http.response.status_code": 503,
        "code.file.path": "app/stock.py", "code.line.number": 12}
    assert (call.start_time, call.end_time) == (start + 1000, start + 3000)
    assert [(e.name, e.timestamp) for e in call.events] == [
        ("http.response.first_byte", start + 2000)]
    assert (query.name, _attributes(query)["db.query.text"],
            _attributes(query)["db.response.returned_rows"]) == (
        "SELECT sqlite", "select * from items where id = ?", 1)
    assert root_span.context is not None and f"{root_span.context.span_id:016x}" == root
    assert root_span.parent is not None and root_span.parent.span_id == server.context.span_id
    assert root_span.kind is SpanKind.CLIENT and _attributes(root_span)["order.id"] == 7
    assert child_span.parent is not None and f"{child_span.parent.span_id:016x}" == root
    assert child_span.status.status_code is StatusCode.ERROR


def _sent(config_body: int, exchange: Exchange) -> dict[str, Any]:
    """The server span's attributes as the export sends them (redacted by the export rules)."""
    memory = InMemorySpanExporter()
    export = SpanExport(settings("http://127.0.0.1:1", max_body=config_body), redact_exchange,
                        exporter=memory)
    export(exchange)
    export.close()
    return dict(memory.get_finished_spans()[0].attributes or {})


def test_bodies_are_capped_and_redacted_by_default(exchanges: dict[str, Exchange]) -> None:
    login = exchanges["/login"]
    sent = _sent(8192, login)
    text = json.dumps(sent)
    assert "hunter2" not in text and "s3cret" not in text and "tok-777" not in text
    assert '"user":"ann"' in sent["http.request.body.content"]
    assert "<redacted" in sent["http.request.header.authorization"][0]
    assert sent["http.response.body.content"].startswith('{"user":"ann","token":"<redacted')
    cut = _sent(5, login)
    assert cut["http.request.body.content"].startswith('{"use…')
    assert "http.request.body.content" not in _sent(0, login)  # --otlp-body 0: no bodies
    assert login.body("receive").count(b"hunter2") == 1  # the recorded exchange is untouched


def _export(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(["export", *argv])
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.fixture
def trace_file(exchanges: dict[str, Exchange], tmp_path: Path) -> Path:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(dumps_jsonl(new_trace(list(exchanges.values()))))
    return path


def test_otlp_json_export(trace_file: Path, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "spans.otlp.jsonl"
    code, err = _export(capsys, str(trace_file), "-f", "otlp-json", "-o", str(out))
    assert code == 0 and "(OTLP JSON," in err, err
    assert out.stat().st_mode & 0o777 == 0o600
    requests = [json.loads(line) for line in out.read_text().splitlines()]
    spans = [span for request in requests for resource in request["resourceSpans"]
             for scope in resource["scopeSpans"] for span in scope["spans"]]
    assert len(requests) == len(spans) == 5
    joined = next(s for s in spans if s["traceId"] == CALLER_TRACE)
    assert joined["parentSpanId"] == CALLER_SPAN and joined["kind"] == 2  # SPAN_KIND_SERVER
    assert joined["traceState"] == "vendor=1"
    status = next(a for a in joined["attributes"] if a["key"] == "http.response.status_code")
    assert status["value"] == {"intValue": "200"}  # 64-bit integers as strings
    assert int(joined["endTimeUnixNano"]) >= int(joined["startTimeUnixNano"])
    failed = next(s for s in spans if any(e["name"] == "exception" for e in s["events"]))
    assert failed["status"]["code"] == 2  # STATUS_CODE_ERROR
    assert "hunter2" not in out.read_text()
    resource = requests[0]["resourceSpans"][0]["resource"]["attributes"]
    assert {"key": "service.name", "value": {"stringValue": "asgi-inspect"}} in resource


def test_export_sends_a_saved_trace_with_its_recorded_times(
        trace_file: Path, exchanges: dict[str, Exchange], receiver: tuple[Receiver, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    sink, url = receiver
    code, err = _export(capsys, str(trace_file), "-f", "otlp", "--otlp", url)
    assert code == 0 and err == f"asgi-inspect: sent 5 exchanges as 5 spans to {url}/v1/traces\n"
    by_name = {span.name: span for span in sink.spans}
    assert set(by_name) == {"GET /items/{item_id}", "GET /fail", "POST /login", "WS /ws"}
    failed = exchanges["/fail"]
    assert by_name["GET /fail"].start_time_unix_nano == round(failed.started_at * 1e9)
    assert by_name["GET /fail"].trace_id.hex() == trace_context(failed).trace_hex


def test_bad_otlp_input_is_one_line_and_exit_2(trace_file: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")  # the exporter's own, in seconds
    closed = f"http://127.0.0.1:{free_port()}"
    for argv, message in (
            (["--otlp", "app:app"], "bad --otlp: not an OTLP endpoint URL: 'app:app'"),
            (["--otlp", closed, "--otlp-protocol", "xml"], "unknown OTLP protocol 'xml'"),
            (["-f", "otlp", "--otlp", closed, "-o", str(tmp_path / "x")], "-o is for files"),
            (["--otlp", closed], f"5 of 5 spans could not be sent to {closed}/v1/traces")):
        code, err = _export(capsys, str(trace_file), *argv)
        assert code == 2 and err.count("\n") == 1, err
        assert err.startswith("asgi-inspect: error: ") and message in err, err


def test_spans_that_cannot_be_sent_or_queued_are_counted(
        exchanges: dict[str, Exchange], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    said: list[str] = []
    closed = SpanExport(settings(f"http://127.0.0.1:{free_port()}"), redact_exchange,
                        warn=said.append)
    session = Session(collector=Collector(), otlp=closed)
    for exchange in exchanges.values():
        closed(exchange)
    closed.close()
    assert (closed.sent, closed.dropped, session.dropped) == (0, 5, 5)
    assert said[0].startswith("asgi-inspect: OTLP spans lost: ")
    assert said[-1].startswith("asgi-inspect: 5 spans could not be sent to ")

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "30")
    slow = Receiver(delay=0.5)  # busy: one request in flight, one exchange queued, no room
    with uvicorn_server(slow.app) as url:
        export = SpanExport(settings(url), redact_exchange, max_queued=1, warn=said.append)
        for _ in range(3):
            for exchange in exchanges.values():
                export(exchange)
        export.close(timeout=30)
    assert export.sent + export.dropped == 15 and export.dropped >= 15 - 2 * 5
    assert len(slow.spans) == export.sent


def test_an_inspector_alone_sends_from_a_thread(receiver: tuple[Receiver, str]) -> None:
    sink, url = receiver
    inspector = Inspector(app, otlp=url)
    with uvicorn_server(inspector) as served:
        assert httpx.get(f"{served}/items/3").status_code == 200
        httpx.get(f"{served}/fail")
    inspector.close()
    assert sorted(span.name for span in sink.spans) == ["GET /fail", "GET /items/{item_id}"]
    assert inspector.sink.dropped == 0  # type: ignore[attr-defined]


def test_run_otlp_sends_and_the_headless_line_links_the_trace(
        receiver: tuple[Receiver, str]) -> None:
    sink, url = receiver
    port = free_port()
    args = ["run", "tests.otel_apps:app", "--app-dir", str(APP_DIR.parent), "--port", str(port),
            "--headless", "--otlp", url, "--trace-url", "http://jaeger:16686/trace/{trace_id}"]
    with running(args, OTEL_SERVICE_NAME="shop") as process:
        wait_for_port(port, timeout=60)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            client.get("/items/1", headers={"traceparent": TRACEPARENT})
        deadline = time.monotonic() + 30  # only stops a hung test
        while not sink.spans and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    line = next(line for line in out.splitlines() if "GET /items/1 200" in line)
    assert line.endswith(f" http://jaeger:16686/trace/{CALLER_TRACE}"), line
    [span] = sink.spans
    assert span.trace_id.hex() == CALLER_TRACE and span.parent_span_id.hex() == CALLER_SPAN
    resource = sink.requests[0].resource_spans[0].resource
    assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == "shop"


def test_run_refuses_bad_otlp_settings_before_starting() -> None:
    for extra, message in ((["--otlp", "nope"], "bad --otlp"),
                           (["--trace-url", "http://jaeger/trace/"], "needs {trace_id}")):
        result = subprocess.run([*CLI, "run", "tests.otel_apps:app", "--port", str(free_port()),
                                 "--headless", *extra], capture_output=True, text=True,
                                timeout=60, cwd=APP_DIR.parent, check=False)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert message in result.stderr, result.stderr
