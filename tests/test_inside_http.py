"""Outbound HTTP calls recorded inside exchanges (issue 13, point 1): an app under
``Inspector(capture_calls=True)`` served by uvicorn calls a real upstream (uvicorn on a free
port) with httpx (sync in FastAPI's threadpool, async), requests, urllib3 and aiohttp."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import gzip
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote_plus

import httpx
import pytest
import trustme
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from asgi_inspect import inside
from asgi_inspect.model import Exchange, OutboundCall, header
from asgi_inspect.record.inside.calls import MARK
from asgi_inspect.record.middleware import Inspector
from asgi_inspect.record.sinks import MemorySink
from tests.outbound_app import app as outbound_app
from tests.servers import free_port, uvicorn_server

MAX_BODY = 1024
BIG = 100_000


async def echo(request: Request) -> JSONResponse:
    """What the upstream was sent; ``n=slow...`` answers after a pause (overlapping calls)."""
    if request.query_params.get("n", "").startswith("slow"):
        await asyncio.sleep(0.3)
    return JSONResponse({"method": request.method, "query": request.url.query,
                         "body": (await request.body()).decode(),
                         "auth": request.headers.get("authorization")},
                        headers={"x-upstream": "yes"})


async def big(request: Request) -> Response:
    return Response(b"x" * BIG, media_type="application/octet-stream")


async def gzipped(request: Request) -> Response:
    return Response(gzip.compress(b"z" * 500), headers={"content-encoding": "gzip"})


async def redirect(request: Request) -> Response:
    return RedirectResponse("/echo?n=r", status_code=302)


async def slow(request: Request) -> Response:
    await asyncio.sleep(2)
    return Response(b"late")


UPSTREAM = Starlette(routes=[Route("/echo", echo, methods=["GET", "POST"]),
                             Route("/big", big), Route("/gzip", gzipped), Route("/slow", slow),
                             Route("/redirect", redirect)])


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with uvicorn_server(UPSTREAM) as url, pytest.MonkeyPatch.context() as patch:
        patch.setenv("OUTBOUND_UPSTREAM", url)
        yield url


@contextlib.contextmanager
def serving(**options: object) -> Iterator[tuple[str, MemorySink]]:
    sink = MemorySink()
    inspector = Inspector(outbound_app, sink, capture_calls=True, max_body=MAX_BODY,
                          **options)  # type: ignore[arg-type]
    with uvicorn_server(inspector, lifespan="off") as url:
        yield url, sink


@pytest.fixture(scope="module")
def app(upstream: str) -> Iterator[tuple[str, MemorySink]]:
    with serving() as served:
        yield served


def recorded(sink: MemorySink, target: str) -> Exchange:
    """The finished exchange for ``target`` (path and query, unquoted), once the recorder
    sent it."""
    deadline = time.monotonic() + 10  # only stops a hung test: a batch leaves within 20 ms
    while time.monotonic() < deadline:
        with contextlib.suppress(RuntimeError):  # the server's thread is adding one
            for exchange in list(sink.collector.store):
                if unquote_plus(exchange.path) == target and exchange.outcome != "streaming":
                    return exchange
        time.sleep(0.02)
    raise AssertionError(f"no finished exchange for {target}")


def only_call(exchange: Exchange) -> OutboundCall:
    (call,) = inside.calls(exchange)
    return call


def line_of(marker: str) -> int:
    """The line of tests/outbound_app.py that holds ``marker``."""
    lines = Path(__file__).with_name("outbound_app.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line)


def assert_timed(call: OutboundCall, exchange: Exchange) -> None:
    assert call.t_first_byte is not None and call.t_end is not None
    assert 0 <= call.t_start <= call.t_first_byte <= call.t_end
    last = max(event.t_return or event.t_call for event in exchange.events)
    assert call.t_end <= last  # made while the exchange ran, on its clock


def test_httpx_sync_in_fastapis_threadpool(app: tuple[str, MemorySink], upstream: str) -> None:
    url, sink = app
    answer = httpx.get(f"{url}/httpx-sync?n=1")
    assert answer.json() == {"status": 200, "upstream": {
        "method": "GET", "query": "n=1", "body": "", "auth": None}}
    exchange = recorded(sink, "/httpx-sync?n=1")
    call = only_call(exchange)
    assert (call.library, call.method, call.url) == ("httpx", "GET", f"{upstream}/echo?n=1")
    assert (call.status, call.http_version, call.mocked, call.error) == (
        200, "HTTP/1.1", False, None)
    assert header(call.request_headers, b"host") == upstream.split("//")[1].encode()
    assert header(call.response_headers, b"x-upstream") == b"yes"
    assert call.response_body == answer.content[answer.content.index(b'{"method"'):-1]
    assert call.response_size == len(call.response_body)
    assert call.location == f"tests/outbound_app.py:{line_of('# the call under test')}"
    assert_timed(call, exchange)


def test_httpx_async_request_body_and_headers(app: tuple[str, MemorySink],
                                              upstream: str) -> None:
    url, sink = app
    assert httpx.post(f"{url}/httpx-async", content=b"hello upstream").status_code == 200
    exchange = recorded(sink, "/httpx-async")
    call = only_call(exchange)
    assert (call.library, call.method, call.url) == (
        "httpx", "POST", f"{upstream}/echo?token=s3cret")
    assert (call.request_body, call.request_size) == (b"hello upstream", 14)
    assert header(call.request_headers, b"authorization") == b"Bearer s3cret"
    assert b'"body":"hello upstream"' in call.response_body
    assert call.location == f"tests/outbound_app.py:{line_of('client.post(upstream')}"
    assert_timed(call, exchange)


def test_httpx2_through_the_same_hook(app: tuple[str, MemorySink], upstream: str) -> None:
    url, sink = app
    assert httpx.get(f"{url}/httpx2").json()["status"] == 200
    exchange = recorded(sink, "/httpx2")
    call = only_call(exchange)
    assert (call.library, call.method, call.url, call.status) == (
        "httpx2", "GET", f"{upstream}/echo?n=2", 200)
    assert b'"query":"n=2"' in call.response_body
    assert call.location == f"tests/outbound_app.py:{line_of('# the httpx2 call')}"
    assert_timed(call, exchange)


def test_requests_body_capped_with_its_whole_size(app: tuple[str, MemorySink],
                                                  upstream: str) -> None:
    url, sink = app
    assert httpx.get(f"{url}/requests").json() == {"status": 200, "size": BIG}
    call = only_call(recorded(sink, "/requests"))
    assert (call.library, call.method, call.url, call.status) == (
        "requests", "GET", f"{upstream}/big", 200)
    assert call.response_body == b"x" * MAX_BODY and call.response_size == BIG
    assert (header(call.request_headers, b"user-agent") or b"").startswith(b"python-requests/")


def test_a_response_never_closed_is_recorded_when_collected(app: tuple[str, MemorySink],
                                                             upstream: str) -> None:
    url, sink = app
    assert httpx.get(f"{url}/abandoned").json() == {"status": 200}
    exchange = recorded(sink, "/abandoned")
    gc.collect()  # httpx's response and its stream refer to each other: collected as a cycle
    deadline = time.monotonic() + 10  # only stops a hung test
    while not exchange.inside and time.monotonic() < deadline:
        time.sleep(0.02)
    call = only_call(exchange)  # late, on the exchange it belongs to
    assert (call.url, call.status, call.error) == (f"{upstream}/big", 200, None)
    assert call.t_first_byte is not None and call.t_end is None  # never read to its end
    assert call.response_size == 0 and call.response_body is None


def test_each_network_request_is_one_call(app: tuple[str, MemorySink], upstream: str) -> None:
    url, sink = app
    assert httpx.get(f"{url}/redirected").json() == {"status": 200, "hops": 1}
    hop, landed = inside.calls(recorded(sink, "/redirected"))
    assert (hop.url, hop.status) == (f"{upstream}/redirect", 302)
    assert (landed.url, landed.status) == (f"{upstream}/echo?n=r", 200)
    assert hop.library == landed.library == "requests"
    assert hop.t_end is not None and hop.t_end <= landed.t_start


def test_urllib3_on_its_own(app: tuple[str, MemorySink], upstream: str) -> None:
    url, sink = app
    assert httpx.get(f"{url}/urllib3").json()["upstream"]["query"] == "n=u"
    exchange = recorded(sink, "/urllib3")
    call = only_call(exchange)
    assert (call.library, call.url, call.status) == ("urllib3", f"{upstream}/echo?n=u", 200)
    assert b'"query":"n=u"' in call.response_body
    assert call.response_size == len(call.response_body)
    assert_timed(call, exchange)


def test_aiohttp_through_its_trace_config(app: tuple[str, MemorySink], upstream: str) -> None:
    url, sink = app
    assert httpx.get(f"{url}/aiohttp").json()["upstream"]["body"] == "from aiohttp"
    exchange = recorded(sink, "/aiohttp")
    call = only_call(exchange)
    assert (call.library, call.method, call.url, call.status) == (
        "aiohttp", "POST", f"{upstream}/echo?n=a", 200)
    assert (call.request_body, call.request_size) == (b"from aiohttp", 12)
    assert header(call.request_headers, b"host") is not None  # the headers as sent
    assert b'"body":"from aiohttp"' in call.response_body
    assert call.location.startswith("tests/outbound_app.py:")
    assert_timed(call, exchange)


def test_bodies_as_on_the_wire_or_as_aiohttp_decoded_them(app: tuple[str, MemorySink]) -> None:
    url, sink = app
    assert httpx.get(f"{url}/compressed").json() == {"same": True}
    by_httpx, by_aiohttp = inside.calls(recorded(sink, "/compressed"))
    assert header(by_httpx.response_headers, b"content-encoding") == b"gzip"
    assert gzip.decompress(by_httpx.response_body) == b"z" * 500  # as sent: a view decodes it
    assert by_httpx.response_size == len(by_httpx.response_body) < 500
    assert header(by_aiohttp.response_headers, b"content-encoding") is None  # undone already
    assert by_aiohttp.response_body == b"z" * 500


def test_refused_and_timed_out_calls(app: tuple[str, MemorySink], upstream: str) -> None:
    url, sink = app
    closed = f"http://127.0.0.1:{free_port()}/nothing"
    assert httpx.get(f"{url}/fail", params={"url": closed}).json()["error"] == "ConnectError"
    refused = only_call(recorded(sink, f"/fail?url={closed}"))
    assert refused.url == closed and refused.status is None
    assert refused.error is not None and refused.error.startswith("ConnectError: ")
    assert "refused" in refused.error.lower()

    late = f"{upstream}/slow"
    answer = httpx.get(f"{url}/fail", params={"url": late, "timeout": "0.2"})
    assert answer.json()["error"] == "ReadTimeout"
    timed_out = only_call(recorded(sink, f"/fail?url={late}&timeout=0.2"))
    assert timed_out.error is not None and timed_out.error.startswith("ReadTimeout")
    assert timed_out.t_end is not None and timed_out.t_first_byte is None


def test_a_tls_failure(app: tuple[str, MemorySink], tmp_path: Path) -> None:
    url, sink = app
    pem = tmp_path / "server.pem"
    trustme.CA().issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    with uvicorn_server(UPSTREAM, ssl_certfile=str(pem), ssl_keyfile=str(pem)) as plain:
        untrusted = plain.replace("http://", "https://") + "/echo"
        answer = httpx.get(f"{url}/fail", params={"url": untrusted})
    assert answer.json()["error"] == "ConnectError"
    call = only_call(recorded(sink, f"/fail?url={untrusted}"))
    assert call.error is not None and "CERTIFICATE_VERIFY_FAILED" in call.error


def test_redacted_when_recording_with_redaction(upstream: str) -> None:
    with serving(redact=True) as (url, sink):
        assert httpx.post(f"{url}/httpx-async", content=b"{}").status_code == 200
        call = only_call(recorded(sink, "/httpx-async"))
    assert b"s3cret" not in (header(call.request_headers, b"authorization") or b"s3cret")
    assert "s3cret" not in call.url and call.url.startswith(f"{upstream}/echo?token=")


async def test_concurrent_requests_keep_their_own_calls(app: tuple[str, MemorySink],
                                                        upstream: str) -> None:
    url, sink = app
    names = [f"slow{i}" for i in range(4)]
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        answers = await asyncio.gather(*(client.get("/httpx-sync", params={"n": n})
                                         for n in names))
    assert all(answer.status_code == 200 for answer in answers)
    exchanges = await asyncio.to_thread(lambda: [recorded(sink, f"/httpx-sync?n={n}")
                                                 for n in names])
    starts = []
    for name, exchange in zip(names, exchanges, strict=True):
        call = only_call(exchange)
        assert call.url == f"{upstream}/echo?n={name}"
        assert f'"query":"n={name}"'.encode() in call.response_body
        starts.append(exchange.events[0].t_call)
    assert len(set(starts)) == len(names)


def test_nothing_is_recorded_outside_an_exchange(app: tuple[str, MemorySink],
                                                 upstream: str) -> None:
    _, sink = app
    before = sum(len(e.inside) for e in list(sink.collector.store))
    assert getattr(httpx.HTTPTransport.handle_request, MARK)  # hooked in this process
    assert httpx.get(f"{upstream}/echo?n=outside").json()["query"] == "n=outside"
    time.sleep(0.1)  # two flush intervals: anything recorded would have arrived
    assert sum(len(e.inside) for e in list(sink.collector.store)) == before
