"""OpenTelemetry spans attached to the exchange they started in: an app instrumented with the
SDK (its own spans, and httpx's through the official instrumentation when installed), served
by uvicorn under ``Inspector(capture_calls=True)``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from asgi_inspect import inside as facts
from asgi_inspect import read
from asgi_inspect.model import Exchange, Span
from asgi_inspect.record import inside
from asgi_inspect.record.inside import otel_spans
from asgi_inspect.record.middleware import Inspector
from asgi_inspect.record.sinks import MemorySink
from tests import apps
from tests.servers import free_port, uvicorn_server, wait_for_port
from tests.test_cli_run import APP_DIR, running


async def pong(request: Request) -> PlainTextResponse:
    return PlainTextResponse("pong")


UPSTREAM = Starlette(routes=[Route("/ping", pong)])


class Served:
    """The instrumented app under an Inspector and uvicorn, with its own tracer provider
    (made once recording is on, as ``asgi-inspect run`` loads an app), and an upstream."""

    def __init__(self, upstream: str) -> None:
        self.sink = MemorySink()
        self.both = asyncio.Barrier(2)  # /pair: two requests open at once
        self.inspector = Inspector(self.app(), self.sink, capture_calls=True)
        self.provider = TracerProvider()
        self.tracer = self.provider.get_tracer("shop.checkout")
        self.upstream = upstream
        self.background: set[asyncio.Task[None]] = set()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/nested", self.nested), Route("/pair", self.pair),
                                 Route("/sync", self.sync), Route("/fails", self.fails),
                                 Route("/outbound", self.outbound),
                                 Route("/later", self.later)])

    async def nested(self, request: Request) -> JSONResponse:
        with self.tracer.start_as_current_span("checkout") as outer:
            outer.set_attribute("cart.items", 3)
            outer.set_attribute("cart.skus", ("a-1", "b-2"))
            with self.tracer.start_as_current_span("price"), \
                    self.tracer.start_as_current_span("tax"):
                pass
            with self.tracer.start_as_current_span("reserve"):
                pass
        return JSONResponse({})

    async def pair(self, request: Request) -> JSONResponse:
        who = request.query_params["who"]
        with self.tracer.start_as_current_span("pair", attributes={"who": who}):
            await self.both.wait()  # both exchanges are open, each inside its span
            with self.tracer.start_as_current_span("inner", attributes={"who": who}):
                await self.both.wait()
        return JSONResponse({})

    def sync(self, request: Request) -> JSONResponse:  # Starlette runs it in a worker thread
        with self.tracer.start_as_current_span("in a thread", kind=SpanKind.CLIENT):
            pass
        return JSONResponse({})

    async def fails(self, request: Request) -> JSONResponse:
        try:
            with self.tracer.start_as_current_span("charge"):
                raise LookupError("no such card")
        except LookupError:
            pass
        with self.tracer.start_as_current_span("refund") as span:
            span.set_status(Status(StatusCode.ERROR, "refund refused"))
        with self.tracer.start_as_current_span("notify") as span:
            span.set_status(StatusCode.OK)
        return JSONResponse({})

    async def outbound(self, request: Request) -> JSONResponse:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        with self.tracer.start_as_current_span("fetch"):
            async with httpx.AsyncClient() as client:
                HTTPXClientInstrumentor.instrument_client(
                    client, tracer_provider=self.provider)
                response = await client.get(self.upstream + "/ping")
        return JSONResponse({"upstream": response.text})


    async def later(self, request: Request) -> JSONResponse:
        span = self.tracer.start_span("send receipt")  # ended by a task, after the response

        async def finish() -> None:
            await asyncio.sleep(0.05)
            span.end()

        task = asyncio.create_task(finish())
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return JSONResponse({})


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Served]]:
    with uvicorn_server(UPSTREAM, lifespan="off") as upstream:
        app = Served(upstream)
        with uvicorn_server(app.inspector, lifespan="off") as url:
            yield url, app
        app.provider.shutdown()


def exchange_of(app: Served, path: str,
                ready: Callable[[Exchange], object] = lambda _: True) -> Exchange:
    """The last exchange of ``path`` (with its query string) once it ended and ``ready``
    holds for it (the recorder's batches leave on a timer)."""
    deadline = time.monotonic() + 20  # only stops a hung test
    while True:
        found = [e for e in app.sink.exchanges
                 if e.path == path and e.ended_ns is not None and ready(e)]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, f"no exchange for {path}"
        time.sleep(0.02)


def by_name(exchange: Exchange) -> dict[str, Span]:
    return {span.name: span for span in facts.spans(exchange)}


def test_spans_attach_to_their_exchange_with_parents_kind_and_attributes(
        served: tuple[str, Served]) -> None:
    url, app = served
    assert httpx.get(url + "/nested").status_code == 200
    exchange = exchange_of(app, "/nested")
    spans = by_name(exchange)
    assert [s.name for s in exchange.inside] == ["checkout", "price", "tax", "reserve"]
    outer = spans["checkout"]
    assert (outer.library, outer.span_kind, outer.parent_id) == ("shop.checkout", "internal", "")
    assert len(outer.trace_id) == 32 and len(outer.span_id) == 16
    assert {s.trace_id for s in spans.values()} == {outer.trace_id}
    assert spans["price"].parent_id == spans["reserve"].parent_id == outer.span_id
    assert spans["tax"].parent_id == spans["price"].span_id
    assert outer.attributes == {"cart.items": 3, "cart.skus": ["a-1", "b-2"]}
    assert (outer.status, outer.error) == ("", None)
    # Moved to the recorder's clock and rebased: inside the exchange, children inside parents.
    tax, price = spans["tax"], spans["price"]
    assert 0 < outer.t_start <= price.t_start <= tax.t_start
    assert tax.t_end <= price.t_end <= outer.t_end <= exchange.ended_ns  # type: ignore[operator]


def test_concurrent_requests_keep_their_own_spans(served: tuple[str, Served]) -> None:
    url, app = served

    async def both() -> None:
        async with httpx.AsyncClient(base_url=url) as client:
            answers = await asyncio.gather(client.get("/pair?who=a"), client.get("/pair?who=b"))
        assert [a.status_code for a in answers] == [200, 200]

    asyncio.run(both())
    for who in "ab":
        spans = facts.spans(exchange_of(app, f"/pair?who={who}"))
        assert [(s.name, s.attributes) for s in spans] == [("pair", {"who": who}),
                                                          ("inner", {"who": who})]
        assert spans[1].parent_id == spans[0].span_id


def test_a_span_in_a_sync_endpoints_thread_is_attributed(served: tuple[str, Served]) -> None:
    url, app = served
    assert httpx.get(url + "/sync").status_code == 200
    (span,) = facts.spans(exchange_of(app, "/sync"))
    assert (span.name, span.span_kind) == ("in a thread", "client")


def test_errors_come_from_the_exception_event_or_the_status(served: tuple[str, Served]) -> None:
    url, app = served
    assert httpx.get(url + "/fails").status_code == 200
    spans = by_name(exchange_of(app, "/fails"))
    assert (spans["charge"].status, spans["charge"].error) == ("error",
                                                               "LookupError: no such card")
    assert (spans["refund"].status, spans["refund"].error) == ("error", "refund refused")
    assert (spans["notify"].status, spans["notify"].error) == ("ok", None)
    assert facts.totals(exchange_of(app, "/fails")).errors == 2


def test_an_instrumented_librarys_spans_show_up(served: tuple[str, Served]) -> None:
    pytest.importorskip("opentelemetry.instrumentation.httpx",
                        reason="opentelemetry-instrumentation-httpx is not installed")
    url, app = served
    assert httpx.get(url + "/outbound").json() == {"upstream": "pong"}
    spans = facts.spans(exchange_of(app, "/outbound"))
    fetch, call = spans
    assert (call.span_kind, call.parent_id) == ("client", fetch.span_id)
    assert call.library.startswith("opentelemetry.instrumentation.httpx")
    assert call.attributes is not None
    assert any(value == 200 for value in call.attributes.values())  # the status code


def test_a_span_that_ends_after_the_response_joins_its_exchange(
        served: tuple[str, Served]) -> None:
    url, app = served
    assert httpx.get(url + "/later").status_code == 200
    exchange = exchange_of(app, "/later", facts.spans)
    (span,) = facts.spans(exchange)
    assert span.name == "send receipt"
    assert span.t_end > exchange.ended_ns  # type: ignore[operator]


def test_no_span_is_kept_outside_an_exchange(served: tuple[str, Served]) -> None:
    _url, app = served
    with app.tracer.start_as_current_span("at startup"):
        pass
    assert not otel_spans.PROCESSOR._open
    assert "at startup" not in [s.name for e in app.sink.exchanges for s in facts.spans(e)]


def test_a_global_provider_set_before_recording_began_is_hooked() -> None:
    """The app set its provider up at import, then wrapped itself in the Inspector."""
    script = textwrap.dedent("""
        import asyncio
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        trace.set_tracer_provider(TracerProvider())
        tracer = trace.get_tracer("early")

        from asgi_inspect.record.middleware import Inspector
        from asgi_inspect.record.sinks import MemorySink
        from tests import apps

        async def app(scope, receive, send):
            with tracer.start_as_current_span("handled"):
                await apps.respond(send, b"ok")

        async def main():
            sink = MemorySink()
            inspector = Inspector(app, sink, capture_calls=True)
            await apps.drive(inspector, apps.http_scope(), [{"type": "http.request"}])
            inspector.close()
            (exchange,) = sink.exchanges
            print([(span.name, span.library) for span in exchange.inside])

        asyncio.run(main())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=False, cwd=APP_DIR.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('handled', 'early')]"


async def test_span_attributes_are_redacted_by_name_when_recording_with_redaction() -> None:
    inside.install()  # as Inspector(capture_calls=True) does, before the app makes a provider
    tracer = TracerProvider().get_tracer("auth")

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        with tracer.start_as_current_span("login", attributes={"user": "ada",
                                                                "password": "hunter2"}):
            await apps.respond(send, b"ok")  # type: ignore[arg-type]

    _, exchange = await apps.record(app, apps.http_scope(), [{"type": "http.request"}],
                                    capture_calls=True, redact=True)
    (span,) = facts.spans(exchange)
    assert span.attributes["user"] == "ada"  # type: ignore[index]
    assert "hunter2" not in repr(span.attributes)


async def test_past_the_open_span_cap_the_oldest_is_let_go_and_counted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otel_spans, "MAX_OPEN", 2)
    inside.install()
    tracer = TracerProvider().get_tracer("leaky")

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        spans = [tracer.start_span(f"open {n}") for n in range(3)]
        for span in spans:
            span.end()
        await apps.respond(send, b"ok")  # type: ignore[arg-type]

    _, exchange = await apps.record(app, apps.http_scope(), [{"type": "http.request"}],
                                    capture_calls=True)
    assert [span.name for span in facts.spans(exchange)] == ["open 1", "open 2"]
    assert any(note.startswith("1 more call or query not kept") for note in exchange.notes)


def test_spans_under_asgi_inspect_run(tmp_path: Path) -> None:
    """The app sets its global provider up at import, in the server process run starts."""
    port, record = free_port(), tmp_path / "session.jsonl"
    args = ["run", "tests.otel_app:app", "--app-dir", str(APP_DIR.parent), "--port", str(port),
            "--headless", "--record", str(record)]
    with running(args) as process:
        wait_for_port(port, timeout=60)
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
        time.sleep(0.3)
        process.send_signal(2)
        _out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    (exchange,) = [e for e in read(record).exchanges if e.type == "http"]
    outer, inner = facts.spans(exchange)
    assert (outer.name, inner.name, outer.library) == ("place order", "charge", "orders")
    assert inner.parent_id == outer.span_id
