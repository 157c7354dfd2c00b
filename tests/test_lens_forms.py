"""The forms lens on a real Starlette form endpoint under the recorder, driven by httpx with
urlencoded and multipart bodies (one past the 64 KiB capture cap, as in the newcomer's
``curl -F file=@blob.bin -F note=hi``)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asgi_inspect import Inspector, MemorySink, lenses
from asgi_inspect.filters import compile_filter
from asgi_inspect.lenses import Table
from asgi_inspect.lenses.forms import FormLens, multipart, parameters, preview
from asgi_inspect.model import Event, Exchange
from tests.servers import uvicorn_server
from tests.test_transparency import wait_until


async def form(request: Request) -> JSONResponse:
    async with request.form() as fields:
        return JSONResponse(sorted(fields.keys()))


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[httpx.Client, MemorySink]]:
    sink = MemorySink()
    inspector = Inspector(Starlette(routes=[Route("/{name}", form, methods=["POST"])]), sink)
    with uvicorn_server(inspector) as url, httpx.Client(base_url=url) as client:
        yield client, sink
    inspector.close()


def recorded(sink: MemorySink, path: str) -> Exchange:
    found: list[Exchange] = []

    def ended() -> bool:
        found[:] = [x for x in sink.exchanges if x.path == path and x.ended_ns is not None]
        return bool(found)

    wait_until(ended)
    return found[0]


def table_of(exchange: Exchange) -> Table:
    ((lens, (table,)),) = lenses.sections(exchange)
    assert lens.title == "Form" and isinstance(table, Table)
    return table


def test_urlencoded(served: tuple[httpx.Client, MemorySink]) -> None:
    client, sink = served
    sent = client.post("/signup", data={"name": "Ada Lovelace", "note": "a+b=c & d ✓",
                                        "empty": ""})
    assert sent.json() == ["empty", "name", "note"]
    exchange = recorded(sink, "/signup")
    assert compile_filter("~form")(exchange) and lenses.operation(exchange) == ""
    assert table_of(exchange) == Table("Form fields", ("name", "value"), (
        ("name", "Ada Lovelace"), ("note", "a+b=c & d ✓"), ("empty", "")))


def test_multipart_within_the_cap(served: tuple[httpx.Client, MemorySink]) -> None:
    client, sink = served
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
    sent = client.post("/upload", files=[
        ("title", (None, "Holiday")),
        ("photo", ("beach.png", png, "image/png")),
        ("notes", ("notes.txt", "line one\nline two " * 10, "text/plain"))])
    assert sent.json() == ["notes", "photo", "title"]
    table = table_of(recorded(sink, "/upload"))
    assert table.columns == ("field", "filename", "type", "size", "preview")
    assert table.note == ""
    title, photo, notes = table.rows
    assert title == ("title", "", "", "7B", "Holiday")
    assert photo == ("photo", "beach.png", "image/png", "48B",
                     "89 50 4e 47 0d 0a 1a 0a 00 01 02 03 04 05 06 07 …")
    assert notes[:4] == ("notes", "notes.txt", "text/plain", "180B")
    assert notes[4] == ("line one\nline two " * 4)[:60] + "…"


def test_multipart_past_the_cap(served: tuple[httpx.Client, MemorySink]) -> None:
    client, sink = served
    blob = bytes(range(256)) * 800  # 200 KiB
    sent = client.post("/big", files=[("file", ("blob.bin", blob, "application/octet-stream")),
                                      ("note", (None, "hi"))])
    assert sent.json() == ["file", "note"]  # the app got it all; the capture kept 64 KiB
    exchange = recorded(sink, "/big")
    table = table_of(exchange)
    ((field, filename, kind, size, shown),) = table.rows  # "note" sat past the cap
    assert (field, filename, kind) == ("file", "blob.bin", "application/octet-stream")
    assert size.endswith("kept (cut)") and shown.startswith("00 01 02 03")
    assert table.note == (f"capture capped: 65,536 of {exchange.request.bytes:,} bytes; "
                          "later fields not kept")


def test_parts_and_parameters() -> None:
    assert parameters('form-data; name="a \\"b\\""; filename=x.txt; FILENAME*=UTF-8\'\'%E2%9C%93'
                      ) == {"name": 'a "b"', "filename": "✓"}
    body = (b"preamble\r\n--XY\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
            b"--XY\r\nContent-Disposition: form-data; name=b\r\n\r\n2\r\n--XY--\r\nepilogue")
    assert [(p.field, p.data, p.whole) for p in multipart(body, "XY")] == [
        ("a", b"1", True), ("b", b"2", True)]
    assert [(p.field, p.data, p.whole) for p in multipart(body[:70], "XY")] == [("a", b"1", True)]
    assert preview("✓".encode() * 100) == "✓" * 60 + "…"  # never cut inside a character
    assert preview(b"a\x00b") == "61 00 62"


def crafted(kind: bytes, data: bytes, sent: int) -> Exchange:
    exchange = Exchange(id="f", type="http", started_at=0.0, outcome="completed",
                        scope={"type": "http", "method": "POST", "path": "/",
                               "headers": [[b"content-type", kind]]},
                        events=[Event(direction="receive", type="http.request", t_call=1,
                                      message={"type": "http.request", "body": data})])
    exchange.request.bytes = sent
    return exchange


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from([b"multipart/form-data; boundary=B", b"multipart/form-data",
                             b"application/x-www-form-urlencoded",
                             b'multipart/form-data; boundary="a b"']),
       data=st.lists(st.sampled_from([b"--B", b"--a b", b"\r\n", b"\r\n\r\n", b"--",
                                      b"Content-Disposition: form-data; name=", b"x", b"%",
                                      b"&", b"=", b"\xff\x00", b"filename*=x''%ZZ"]),
                     max_size=25).map(b"".join),
       sent=st.integers(0, 100))
def test_any_body_is_read_without_raising(kind: bytes, data: bytes, sent: int) -> None:
    exchange = crafted(kind, data, sent)
    lens = FormLens()
    assert lens.read(exchange) is not None
    (table,) = lens.sections(exchange)
    assert isinstance(table, Table)
    assert all(len(row) == len(table.columns) for row in table.rows)
