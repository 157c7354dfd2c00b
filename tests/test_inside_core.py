"""The spine under calls, queries and spans: attribution to the exchange being handled (tasks
and threads), the cap, redaction before anything leaves the app, the trace format (version 2,
version 1 still read), the post-import hooks, and the facts views read (totals, N+1)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import textwrap
import threading
from pathlib import Path
from time import perf_counter_ns
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from asgi_inspect import inside as facts
from asgi_inspect.formats import codec
from asgi_inspect.model import Exchange, Inside, Opaque, OutboundCall, Query, Span
from asgi_inspect.ops.export import export
from asgi_inspect.record import inside
from asgi_inspect.record.inside.imports import when_imported
from asgi_inspect.record.inside.location import location
from tests import apps

REQUEST = [{"type": "http.request", "body": b""}]
SECRET = "s3cr3t-token-value"


def query(statement: str, t: int, **fields: Any) -> Query:
    return Query(library="test", statement=statement, t_start=t, t_end=t + 1_000, **fields)


def call(url: str, t: int, **fields: Any) -> OutboundCall:
    return OutboundCall(library="test", method="GET", url=url, t_start=t, t_end=t + 2_000,
                        **fields)


async def record(items: list[Inside] | None = None, **options: Any) -> Exchange:
    """One exchange whose app emits ``items`` (absolute times) through the hooks' API."""
    async def app(scope: Any, receive: Any, send: Any) -> None:
        tag = inside.current()
        assert tag is not None
        for item in items or []:
            inside.emit(tag, item)
        await apps.respond(send, b"ok")

    _, exchange = await apps.record(app, apps.http_scope(), REQUEST, capture_calls=True,
                                    **options)
    return exchange


async def test_calls_and_queries_land_on_their_exchange_in_start_order() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        tag = inside.current()
        assert tag is not None
        t = perf_counter_ns()
        # Emitted when each ended: the later call began first.
        inside.emit(tag, query("select 1", t + 500))
        await asyncio.to_thread(inside.emit, tag, call("http://up/x", t))  # a worker thread
        await asyncio.to_thread(lambda: inside.emit(inside.current(),  # type: ignore[arg-type]
                                                    query("select 2", t + 900)))
        await apps.respond(send, b"ok")

    _, exchange = await apps.record(app, apps.http_scope(), REQUEST, capture_calls=True)
    assert [type(i).__name__ for i in exchange.inside] == ["OutboundCall", "Query", "Query"]
    assert [i.t_start for i in exchange.inside] == sorted(i.t_start for i in exchange.inside)
    first = exchange.inside[0]
    assert 0 < first.t_start < first.t_end < exchange.ended_ns  # type: ignore[operator]
    assert exchange.inside[1].t_start - first.t_start == 500  # rebased, not rounded


async def test_nothing_is_recorded_outside_an_exchange_or_without_the_option() -> None:
    assert inside.current() is None

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert inside.current() is None  # capture_output alone records no calls
        await apps.respond(send, b"ok")

    _, exchange = await apps.record(app, apps.http_scope(), REQUEST, capture_output=True)
    assert exchange.inside == []


async def test_two_concurrent_exchanges_keep_their_own_calls() -> None:
    both = asyncio.Barrier(2)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        tag = inside.current()
        assert tag is not None
        await both.wait()  # both exchanges are open now
        inside.emit(tag, call(f"http://up{scope['path']}", perf_counter_ns()))
        await both.wait()
        await apps.respond(send, b"ok")

    async with apps.recorded(app, capture_calls=True) as (inspector, sink):
        await asyncio.gather(apps.drive(inspector, apps.http_scope("/a"), REQUEST),
                             apps.drive(inspector, apps.http_scope("/b"), REQUEST))
    by_path = {e.path: [i.url for i in e.inside] for e in sink.exchanges}  # type: ignore[union-attr]
    assert by_path == {"/a": ["http://up/a"], "/b": ["http://up/b"]}


async def test_past_the_cap_calls_are_counted_and_said() -> None:
    t = perf_counter_ns()
    exchange = await record([query(f"select {n}", t + n) for n in range(5)], max_events=3)
    assert len(exchange.inside) == 3
    assert "2 more calls or queries not kept: the recorder keeps at most max_events of them " \
           "per exchange" in exchange.notes


@pytest.mark.parametrize("redact", [True, lambda snapshot: snapshot], ids=["rules", "own"])
async def test_redaction_happens_before_anything_leaves_the_app(redact: Any) -> None:
    t = perf_counter_ns()
    exchange = await record([
        call(f"http://up/x?token={SECRET}&page=2", t,
             request_headers=[[b"authorization", f"Bearer {SECRET}".encode()]],
             request_body=json.dumps({"password": SECRET}).encode()),
        query("select * from users where id = ?", t + 1, parameters=[42, SECRET]),
    ], redact=redact)
    text = codec.exchange_line(exchange).decode()
    assert SECRET not in text
    made, ran = exchange.inside
    assert isinstance(made, OutboundCall) and isinstance(ran, Query)
    assert made.url.endswith("&page=2") and made.request_headers[0][1].startswith(b"Bearer <")
    assert ran.parameters == ["int", "str"]  # a query's values carry no names: types only


async def test_values_msgpack_cannot_hold_are_described_not_lost() -> None:
    exchange = await record([query("select ?", perf_counter_ns(),
                                   parameters=[2**70, object(), "ok"])])
    (ran,) = exchange.inside
    assert isinstance(ran, Query)
    assert ran.parameters[2] == "ok"
    assert [type(p) for p in ran.parameters[:2]] == [Opaque, Opaque]
    assert ran.parameters[0].type == "int"


async def test_the_trace_format_keeps_everything_and_still_reads_version_1() -> None:
    t = perf_counter_ns()
    exchange = await record([
        call("http://up/x", t, status=201, request_headers=[[b"a", b"\xff"]],
             response_body=b"\x00\x01binary", response_size=9000, error=None),
        query("insert into t values (?)", t + 1, parameters=[b"bytes", None, 1.5], rows=1),
        Span(name="redis GET", t_start=t + 2, t_end=t + 3, attributes={"db.system": "redis"},
             trace_id="ab" * 16, span_id="cd" * 8),
    ])
    trace = codec.new_trace([exchange])
    for data in (codec.dumps(trace), codec.dumps_jsonl(trace)):
        (back,) = codec.loads(data).exchanges
        assert back.inside == exchange.inside
    document = json.loads(codec.dumps(trace))
    assert document["version"] == 2
    Draft202012Validator(codec.json_schema()).validate(document)
    assert [i["kind"] for i in document["exchanges"][0]["inside"]] == ["call", "sql", "span"]

    del document["exchanges"][0]["inside"]
    document["version"] = 1  # what the last release wrote
    (old,) = codec.loads(json.dumps(document).encode()).exchanges
    assert old.inside == [] and old.path == exchange.path


def test_exports_redact_calls_and_queries_recorded_in_clear() -> None:
    exchange = Exchange(id="1", type="http", started_at=1.0, scope=apps.http_scope(), inside=[
        call("http://up/", 1, response_headers=[[b"set-cookie", f"sid={SECRET}".encode()]]),
        query(f"select * from t where api_key = '{SECRET}'", 2, parameters=[SECRET])])
    for fmt in ("json", "jsonl"):
        assert SECRET not in export([exchange], fmt)  # type: ignore[arg-type]
        assert SECRET in export([exchange], fmt, redact=False)  # type: ignore[arg-type]
    assert exchange.inside[1].parameters == [SECRET]  # the recorded exchange never changes


def test_a_library_is_hooked_when_the_app_imports_it(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "late_lib.py").write_text("VALUE = 1\n")
    (tmp_path / "broken_hook_lib.py").write_text("VALUE = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: list[tuple[str, int]] = []
    when_imported("late_lib", lambda module: seen.append((module.__name__, module.VALUE)))
    assert seen == [] and "late_lib" not in sys.modules  # never imported by us
    try:
        import late_lib  # type: ignore[import-not-found]  # noqa: F401

        assert seen == [("late_lib", 1)]
        when_imported("late_lib", lambda module: seen.append(("again", 0)))  # imported: at once
        assert seen[-1] == ("again", 0)

        def fails(module: Any) -> None:
            raise RuntimeError("no")

        when_imported("broken_hook_lib", fails)
        with caplog.at_level(logging.ERROR, "asgi_inspect"):
            import broken_hook_lib  # type: ignore[import-not-found]
        assert broken_hook_lib.VALUE == 2  # the app's import goes on
        assert "could not hook broken_hook_lib" in caplog.text
        assert broken_hook_lib.__spec__.loader.__class__.__name__ != "_Loader"
    finally:
        sys.modules.pop("late_lib", None)
        sys.modules.pop("broken_hook_lib", None)


def test_location_is_the_apps_own_line(tmp_path: Path) -> None:
    here = location(0)
    assert here == f"tests/test_inside_core.py:{sys._getframe().f_lineno - 1}"
    # Called from a library (the standard library's threading here), the app's frame wins.
    found: list[str] = []
    line = sys._getframe().f_lineno + 1
    thread = threading.Thread(target=lambda: found.append(location(0)))
    thread.start()
    thread.join()
    assert found == [f"tests/test_inside_core.py:{line}"]


def test_statement_shapes_take_the_values_out() -> None:
    same = ["SELECT * FROM item WHERE id = 3", "select * from item where id = $1",
            "select *\n  from item -- by id\n where id = %s", "select * from item where id=?",
            "select * from item where id = :id", "SELECT * FROM item WHERE id = %(id)s"]
    assert {facts.shape(s) for s in same} == \
        {"select * from item where id = ?"}
    assert facts.shape("select 1 from t where a in (1, 2, 3)") == \
        facts.shape("select 1 from t where a in ($1, $2)")
    assert facts.shape("select 'it''s' from t2") == "select ? from t2"
    assert facts.shape("select col1 from t") != facts.shape("select col2 from t")


def test_totals_and_n_plus_one() -> None:
    items: list[Inside] = [query("select * from author", 0)]
    items += [query(f"select * from book where author_id = {n}", 10 + n, location="app.py:9")
              for n in range(6)]
    items += [call("http://up/a", 50, status=200), call("http://up/b", 60, status=503),
              query("select broken", 70, error="OperationalError: no such table")]
    exchange = Exchange(id="1", type="http", started_at=1.0, scope={}, inside=items)
    totals = facts.totals(exchange)
    assert (totals.queries, totals.calls, totals.spans, totals.errors) == (8, 2, 0, 2)
    assert totals.query_ns == 8_000 and totals.call_ns == 4_000
    (repeat,) = facts.repeated(exchange)
    assert (repeat.shape, repeat.count, repeat.location) == \
        ("select * from book where author_id = ?", 6, "app.py:9")
    assert facts.repeated(exchange, threshold=7) == []
    exchange.inside.append(query("select * from book where author_id = 99", 80))
    assert facts.totals(exchange).queries == 9  # the cache follows what arrives


def test_the_hooks_module_table_names_modules_that_exist() -> None:
    missing = []
    for ours in inside.HOOKS.values():
        path = Path(inside.__file__).parent / (ours.rsplit(".", 1)[1] + ".py")
        if not path.exists():
            missing.append(ours)
    assert missing == [], textwrap.shorten(f"HOOKS names modules that do not exist: {missing}",
                                           200)


async def test_capture_redaction_reaches_inside_a_compressed_call_body() -> None:
    import gzip
    import zlib

    secret_json = json.dumps({"access_token": SECRET, "user": "ann"}).encode()
    gzipped = gzip.compress(secret_json)
    t = perf_counter_ns()
    exchange = await record([
        call("http://up/gzip", t, response_headers=[[b"content-encoding", b"gzip"]],
             response_body=gzipped, response_size=len(gzipped)),
        call("http://up/deflate", t + 1, response_headers=[[b"Content-Encoding", b"deflate"]],
             response_body=zlib.compress(secret_json)),
        call("http://up/br", t + 2, response_headers=[[b"content-encoding", b"br"]],
             response_body=b"\x0bbrotli bytes"),
        call("http://up/capped", t + 3, response_headers=[[b"content-encoding", b"gzip"]],
             response_body=gzipped[:20], response_size=len(gzipped)),
        call("http://up/plain", t + 4, response_headers=[[b"content-encoding", b"gzip"]],
             response_body=gzip.compress(b'{"user": "ann"}')),
    ], redact=True)
    by_url = {item.url.rsplit("/", 1)[1]: item for item in exchange.inside
              if isinstance(item, OutboundCall)}
    for name in ("gzip", "deflate"):
        body = by_url[name].response_body
        decoded = gzip.decompress(body) if name == "gzip" else zlib.decompress(body)
        assert SECRET.encode() not in decoded and b'"user":"ann"' in decoded.replace(b" ", b"")
    for name in ("br", "capped"):  # this process cannot redact them whole: not kept at all
        withheld = by_url[name].response_body
        assert isinstance(withheld, Opaque) and withheld.type == "withheld"
    assert gzip.decompress(by_url["plain"].response_body) == b'{"user": "ann"}'  # untouched
