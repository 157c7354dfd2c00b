"""What the app did inside an exchange, where a developer looks: the Inside tab, the list's
inside column, the Overview's totals and N+1, headless lines, and --n-plus-one."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.text import Text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asgi_inspect import inside
from asgi_inspect.cli.main import build_parser, main
from asgi_inspect.cli.view import open_session
from asgi_inspect.formats.codec import new_trace, write
from asgi_inspect.model import Caps, Exchange, OutboundCall, Query, Span
from asgi_inspect.record.middleware import Inspector
from asgi_inspect.record.sinks import MemorySink
from asgi_inspect.runtime.headless import format_line
from asgi_inspect.runtime.session import Session
from asgi_inspect.text import printable
from asgi_inspect.tui.widgets.detail import overview
from asgi_inspect.tui.widgets.exchange_list import (
    FLAGS,
    INSIDE,
    INSIDE_FAILED,
    N_PLUS_ONE,
    PATH,
    ExchangeList,
    inside_text,
)
from asgi_inspect.tui.widgets.inside import (
    InsideTable,
    InsideView,
    detail_lines,
    inside_columns,
    statement_lines,
    summary,
)
from asgi_inspect.tui.widgets.lines import fit_columns
from asgi_inspect.tui.widgets.timeline import EventTimeline, bar_span, time_axis
from tests.servers import uvicorn_server
from tests.tui.conftest import make_app
from tests.tui.factory import (
    MS,
    checkout_exchange,
    http_exchange,
    inside_showcase,
    orders_exchange,
    showcase,
)
from tests.tui.scenes import SIZE


def _plain(lines: list[Text]) -> str:
    return "\n".join(line.plain for line in lines)


def _row_of(listing: ExchangeList, path: str) -> int:
    """The last row of ``path`` (the sample traffic before it has the same paths)."""
    return max(i for i in range(listing.row_count) if listing.row(i)[PATH] == path)


# the list ------------------------------------------------------------------------------------

async def test_the_list_counts_queries_and_calls_and_flags_the_n_plus_one() -> None:
    app = make_app(inside_showcase())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        listing = app.exchange_list
        orders = listing.row(_row_of(listing, "/api/orders"))
        assert orders[INSIDE] == "11q 1c 1s" and orders[FLAGS] & N_PLUS_ONE
        assert inside_text(orders) == "!11q 1c 1s"
        checkout = listing.row(_row_of(listing, "/api/checkout"))
        assert inside_text(checkout) == "1q 1c" and checkout[FLAGS] & INSIDE_FAILED
        assert not checkout[FLAGS] & N_PLUS_ONE
        plain = listing.row(0)
        assert plain[INSIDE] == "" and not plain[FLAGS] & (N_PLUS_ONE | INSIDE_FAILED)
        titles = [column[1] for column in listing.fitted_columns(116)]
        assert "inside" in titles
        on_screen = _row_of(listing, "/api/orders") - listing.scroll_offset.y
        assert "!11q 1c 1s" in listing.render_line(on_screen).text


async def test_the_inside_column_shows_once_something_inside_arrives() -> None:
    session = Session.offline(showcase(), title="t")
    app = make_app(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        listing = app.exchange_list
        assert "inside" not in [column[0] for column in listing.fitted_columns(116)]
        session.store.add(orders_exchange("900", started_at=1_800_000_000.0))
        app.poll()
        await pilot.pause()
        assert "inside" in [column[0] for column in listing.fitted_columns(116)]
        header = app.list_pane.query_one("ColumnHeader")
        assert "inside" in header.render_line(0).text


def test_at_80_columns_the_inside_column_goes_first() -> None:
    listing = ExchangeList(Session.offline([], title="t").view)
    listing.has_inside = True
    narrow = [column[0] for column in listing.fitted_columns(78)]
    assert "inside" not in narrow and {"path", "status", "duration"} <= set(narrow)
    assert "inside" in [column[0] for column in listing.fitted_columns(116)]


async def test_the_n_plus_one_threshold_is_the_sessions() -> None:
    session = Session.offline(inside_showcase(), title="t")
    session.n_plus_one = 11  # the customer query ran 10 times: not an N+1 at 11
    app = make_app(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        listing = app.exchange_list
        assert inside_text(listing.row(_row_of(listing, "/api/orders"))) == "11q 1c 1s"
        app.detail.tabs.active = "overview"
        await pilot.pause()
        assert "N+1" not in _plain(list(app.detail._overview.lines))  # type: ignore[arg-type]


# the Inside tab ------------------------------------------------------------------------------

async def test_the_inside_tab_lists_items_in_order_and_shows_the_selected_one() -> None:
    app = make_app(inside_showcase())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = app.detail.query_one(InsideView)
        assert "inside" not in app.detail._hidden  # the selected exchange has items
        app.detail.tabs.active = "inside"
        await pilot.pause()
        table = view.inside_table
        assert [type(item).__name__ for item in table.items] == (
            ["Query"] * 11 + ["OutboundCall", "Span"])
        banner = str(view.banner.render())  # type: ignore[union-attr]
        assert "N+1: select customers.id, customers.name from customers where customers.id = ?"\
               " ran 10 times, 4.0ms, first at shop/api.py:44" in banner.replace("\n", " ")
        table.focus()
        await pilot.press("G", "up")  # the outbound call
        await pilot.pause()
        panel = "\n".join(line.plain if isinstance(line, Text) else line
                          for line in view.panel.lines)
        assert "GET https://pricing.internal/v1/quotes?ids=1,2,3 → 200 (HTTP/1.1)" in panel
        assert "made at    shop/pricing.py:18" in panel
        assert "decoded gzip" in panel and '"price": 10.5' in panel  # the gzip undone
        # an exchange with nothing inside: no tab
        app.exchange_list.move_cursor(0)
        await pilot.pause()
        assert "inside" in app.detail._hidden


def test_bars_share_the_messages_time_axis_cell_for_cell() -> None:
    exchange = orders_exchange("1")
    assert time_axis(exchange) == 48 * MS  # the app returned last
    for width in (60, 80, 116, 200):
        messages = fit_columns(EventTimeline.COLUMNS, EventTimeline.DROP_ORDER, width,
                               EventTimeline.MIN_FLEX)
        ours = inside_columns(width)
        assert messages[-1][0] == ours[-1][0] == "bar" and messages[-1][2] == ours[-1][2]
        assert sum(c[2] + 1 for c in ours) - 1 == width  # so the bars start in one column
    call = next(item for item in exchange.inside if isinstance(item, OutboundCall))
    # 8.5 to 14.2 ms of 48 over 48 cells: cells 8 to 14
    assert bar_span(call.t_start, call.t_end, time_axis(exchange), 48) == (8, 7)
    late = orders_exchange("2")
    late.inside.append(Span(name="background", t_start=40 * MS, t_end=90 * MS))
    assert time_axis(late) == 90 * MS  # the Messages tab's bars scale to it too


def test_summaries_keep_the_outcome_and_time_when_cut() -> None:
    exchange = checkout_exchange("1")
    query, call = exchange.inside
    assert summary(query) == ("INSERT INTO payments (cart, amount) VALUES (?, ?) 1 row 200µs "
                              "sqlite3")
    assert summary(call) == ("POST http://payments.local:9000/charge ✗ ConnectError: [Errno 111]"
                             " Connection refused 1.2ms requests")
    short = summary(orders_exchange("2").inside[1], 40)
    assert short.endswith("1 row 400µs sqlalchemy") and len(short) == 40


def test_statements_are_laid_out_a_clause_a_line_literals_untouched() -> None:
    assert statement_lines("select a, b from t join u on t.id = u.t where b = 'from x where' "
                           "order by a limit 3") == [
        "select a, b", "from t", "join u on t.id = u.t", "where b = 'from x where'",
        "order by a", "limit 3"]
    assert statement_lines("SELECT 1\n  FROM t") == ["SELECT 1", "  FROM t"]


def test_query_and_span_details() -> None:
    query = orders_exchange("1").inside[0]
    text = _plain(detail_lines(query))
    assert "  FROM orders" in text and "library    sqlalchemy (sqlite)" in text
    assert "rows       10" in text and "  [0]: 'open'" in text
    span = orders_exchange("1").inside[-1]
    text = _plain(detail_lines(span))
    assert "kind       client" in text and "  db.statement: 'GET cart:7'" in text


def test_captured_text_is_data_never_markup_nor_control_characters() -> None:
    call = OutboundCall(library="httpx", method="GET", url="http://x/[bold]\x1b[2J", t_start=0,
                        t_end=1, error="[red]boom\x07",
                        response_headers=[[b"x-evil", b"[/]\x1b]0;pwned\x07"]],
                        response_body=b"\x1b[31m[b]red[/b]")
    for line in [*detail_lines(call), Text(summary(call))]:
        assert printable(line.plain) == line.plain
        assert "\x1b" not in line.plain
    assert "[bold]" in summary(call)  # shown as typed, not as a style


PRINTABLE_OR_NOT = st.text(max_size=60)


@settings(max_examples=60, deadline=None)
@given(PRINTABLE_OR_NOT, PRINTABLE_OR_NOT, st.binary(max_size=80),
       st.one_of(st.none(), st.integers(-5, 10**12)))
def test_any_item_renders_printable(text: str, other: str, body: bytes,
                                    number: int | None) -> None:
    items = [
        OutboundCall(library=other, method=text, url=other, t_start=number or 0, t_end=number,
                     status=number, error=text or None, request_headers=[[body, body]],
                     response_body=body, response_size=number),
        Query(library=text, statement=text + other, t_start=0, t_end=number, rows=number,
              parameters=[text, body, number], error=other or None, location=other),
        Span(name=text, t_start=0, attributes={text: other, other: number}, status=other)]
    for item in items:
        for line in [*detail_lines(item), Text(summary(item, 50))]:
            assert printable(line.plain, keep_tabs=True) == line.plain
        for line in statement_lines(text):
            assert line.strip()


def test_an_inside_table_with_nothing_shows_no_rows() -> None:
    table = InsideTable()
    assert table.row_count == 0 and table.current is None


# the Overview ----------------------------------------------------------------------------------

def test_the_overview_gives_totals_and_the_n_plus_one_as_an_inferred_fact() -> None:
    text = _plain(overview(orders_exchange("1"), Caps()))
    assert "queries      11 in 4.6ms" in text
    assert "calls        1 in 5.7ms" in text and "spans        1" in text
    assert ("N+1          select customers.id, customers.name from customers where "
            "customers.id = ? ran 10 times, 4.0ms, first at shop/api.py:44") in text
    assert "N+1" not in _plain(overview(orders_exchange("1"), Caps(), n_plus_one=11))
    failed = _plain(overview(checkout_exchange("2"), Caps()))
    assert "failed       1 (see the Inside tab)" in failed
    assert "queries" not in _plain(overview(http_exchange("3"), Caps()))


# headless and the command line -----------------------------------------------------------------

def test_headless_lines_carry_the_counts_and_the_n_plus_one() -> None:
    assert format_line(orders_exchange("1")).endswith(" 14B 11q 1c 1s N+1")
    assert format_line(orders_exchange("1"), 11).endswith(" 14B 11q 1c 1s")
    assert " 20B 1q 1c" in format_line(checkout_exchange("2"))
    assert format_line(http_exchange("3")).endswith(" 0B")


@pytest.mark.parametrize("value", ["1", "x", "-3"])
@pytest.mark.parametrize("command", [["view", "nothing.jsonl"], ["run", "app:app"], ["listen"],
                                     ["proxy", "http://127.0.0.1:9"]])
def test_a_bad_n_plus_one_is_a_one_line_error(command: list[str], value: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--n-plus-one", value])
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"asgi-inspect {command[0]}: error: argument --n-plus-one: ")


def test_view_reads_with_the_given_threshold(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    write(new_trace([orders_exchange("1")]), trace)
    args = build_parser().parse_args(["view", str(trace), "--n-plus-one", "3"])
    assert open_session(args).n_plus_one == 3
    default = build_parser().parse_args(["view", str(trace)])
    assert open_session(default).n_plus_one == 5


# recorded for real -----------------------------------------------------------------------------

async def _quote(request: Request) -> JSONResponse:
    return JSONResponse({"price": 9.5})


def _shop(upstream: str, database: Path) -> Starlette:
    """An app that reads its items one query each (an N+1) and prices them upstream."""

    async def items(request: Request) -> JSONResponse:
        with sqlite3.connect(database) as db:
            ids = [row[0] for row in db.execute("select id from item order by id")]
            names = [db.execute("select name from item where id = ?", (i,)).fetchone()[0]
                     for i in ids]
        async with httpx.AsyncClient() as client:
            price = (await client.get(f"{upstream}/quote")).json()["price"]
        return JSONResponse({"names": names, "price": price})

    return Starlette(routes=[Route("/items", items)])


def _finished(sink: MemorySink, path: str) -> Exchange:
    deadline = time.monotonic() + 10  # only stops a hung test: a batch leaves within 20 ms
    while time.monotonic() < deadline:
        found = [e for e in sink.exchanges if e.path == path and e.outcome != "streaming"]
        if found:
            return found[0]
        time.sleep(0.02)
    raise AssertionError(f"no finished exchange for {path}")


async def test_a_real_recording_shows_its_queries_call_and_n_plus_one(tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    with sqlite3.connect(database) as db:
        db.execute("create table item (id integer primary key, name text)")
        db.executemany("insert into item (name) values (?)", [(f"item {n}",) for n in range(6)])
    sink = MemorySink()
    with uvicorn_server(Starlette(routes=[Route("/quote", _quote)])) as upstream, \
            uvicorn_server(Inspector(_shop(upstream, database), sink, capture_calls=True),
                           lifespan="off") as url:
        assert httpx.get(f"{url}/items", timeout=30).status_code == 200
        exchange = _finished(sink, "/items")
    assert inside.counts(inside.totals(exchange)) == "7q 1c"
    app = make_app([exchange])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert inside_text(app.exchange_list.row(0)) == "!7q 1c"
        app.detail.tabs.active = "inside"
        await pilot.pause()
        view = app.detail.query_one(InsideView)
        assert "select name from item where id = ? ran 6 times" in str(view.banner.render())
        table = view.inside_table
        table.focus()
        await pilot.press("G")
        await pilot.pause()
        panel = _plain([line if isinstance(line, Text) else Text(line)
                        for line in view.panel.lines])
        assert f"GET {upstream}/quote → 200" in panel
        assert f"made at    tests/tui/test_inside_tab.py:{_line_of('client.get(')}" in panel
        assert '"price": 9.5' in panel


def _line_of(marker: str) -> int:
    lines = Path(__file__).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line)
