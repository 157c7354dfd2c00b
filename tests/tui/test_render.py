"""The TUI's pure parts: escaping, body rendering, column layout, and the list's bookkeeping."""

from __future__ import annotations

from pathlib import Path

from asgi_inspect.model import Caps, Opaque, OutputLine
from asgi_inspect.store.store import Store
from asgi_inspect.store.view import View
from asgi_inspect.text import printable
from asgi_inspect.tui.app import InspectorApp
from asgi_inspect.tui.bodies import classify, hex_dump, render_body
from asgi_inspect.tui.formatting import data_text
from asgi_inspect.tui.screens.help import binding_rows
from asgi_inspect.tui.widgets.body_view import MessageView
from asgi_inspect.tui.widgets.detail import output_lines, overview
from asgi_inspect.tui.widgets.exchange_list import ID, ExchangeList, read_drawn, summarize
from asgi_inspect.tui.widgets.lines import LineTable, fit, fit_columns
from tests.tui.factory import http_exchange, sample_exchanges


def test_printable_spells_out_controls_and_invisible_direction_marks() -> None:
    assert printable("a\x1b[31mb\x00\x7f\x9b") == "a\\x1b[31mb\\x00\\x7f\\x9b"
    assert printable("evil\u202etxt.exe\u2028") == "evil\\u202etxt.exe\\u2028"
    assert printable("tab\there", keep_tabs=True) == "tab\there"
    assert printable("tab\there") == "tab\\x09here"
    assert printable("héllo ✓ 日本") == "héllo ✓ 日本"


def test_data_text_is_never_markup() -> None:
    text = data_text(b"[bold red]x[/] \x1b[2J")
    assert text.plain == "[bold red]x[/] \\x1b[2J"
    assert text.spans == []


def test_json_is_pretty_printed_and_escaped() -> None:
    body = render_body(b'{"a": [1, {"b": "\\u001b\xe2\x80\xae"}]}', "application/json")
    assert body.kind == "json"
    assert body.lines == ["{", '  "a": [', "    1,", "    {", '      "b": "\\u001b\\u202e"',
                          "    }", "  ]", "}"]


def test_ndjson_and_broken_json() -> None:
    assert render_body(b'{"a":1}\n{"a":2}\n', "application/x-ndjson").lines == [
        '{"a": 1}', '{"a": 2}']
    cut = render_body(b'{"a": [1, 2', "application/json")
    assert cut.kind == "text" and cut.lines == ['{"a": [1, 2']


def test_form_is_url_decoded() -> None:
    body = render_body(b"name=J%C3%BCrgen&q=a+b&empty=", "application/x-www-form-urlencoded")
    assert body.kind == "form"
    assert body.lines == ["name   Jürgen", "q      a b", "empty  "]


def test_binary_is_a_hex_dump_and_limits_are_kept() -> None:
    data = bytes(range(40))
    body = render_body(data, "application/octet-stream", limit=20)
    assert body.kind == "binary" and (body.shown, body.total) == (20, 40)
    assert body.lines[0] == ("00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  "
                             "|................|")
    assert hex_dump(b"AB") == ["00000000  41 42" + " " * 42 + "  |AB|"]


def test_classify_sniffs_when_the_type_is_missing() -> None:
    assert classify(b"", "text/plain") == "empty"
    assert classify(b'  {"x": 1}', "") == "json"
    assert classify(b"<html></html>", "text/html; charset=utf-8") == "html"
    assert classify(b"plain words\n", "") == "text"
    assert classify(b"\x89PNG\r\n\x1a\n\x00\x00", "") == "binary"
    assert classify("é".encode() * 600, "")[:4] == "text"  # a character cut at 1 KiB is fine


def test_columns_give_way_on_narrow_screens() -> None:
    columns = ExchangeList.COLUMNS
    wide = fit_columns(columns, ExchangeList.DROP_ORDER, 120)
    assert [c[0] for c in wide] == [c[0] for c in columns]
    assert sum(c[2] + 1 for c in wide) - 1 == 120
    narrow = [c[0] for c in fit_columns(columns, ExchangeList.DROP_ORDER, 60)]
    assert "kind" not in narrow and "time" not in narrow and "path" in narrow
    assert fit("日本語のパス", 7) == "日本語…"
    assert fit("/short", 10) == "/short"


def test_list_follows_filters_and_removes_in_arrival_order() -> None:
    store = Store()
    for exchange in sample_exchanges(30):
        store.add(exchange)
    view = View(store)
    listing = ExchangeList(view)
    listing.sync(store.drain_changes())
    assert [listing.row(i)[ID] for i in range(3)] == ["1", "2", "3"]
    assert listing.selected_id == "30"  # following
    view.set_filter("~m POST")
    listing.refilter()
    expected = [e.id for e in store if e.method == "POST"]
    assert [listing.row(i)[ID] for i in range(listing.row_count)] == expected
    # the oldest (eviction), then one in the middle
    store.remove([store.exchanges[i] for i in ("1", "2", "3", "17")])
    store.add(http_exchange("31", method="POST"))
    listing.sync(store.drain_changes())
    expected = [e.id for e in store if e.method == "POST"]
    assert [listing.row(i)[ID] for i in range(listing.row_count)] == expected
    assert [e.id for e in view.shown()] == expected  # the list shows what the view selects
    assert listing.total == 27 and listing.selected_id == "31"
    view.set_filter(None)
    listing.refilter()
    assert listing.row_count == 27


def test_the_list_keeps_the_views_order_as_rows_arrive_and_change() -> None:
    store = Store()
    for exchange in sample_exchanges(20):
        store.add(exchange)
    view = View(store)
    listing = ExchangeList(view)
    listing.sync(store.drain_changes())
    view.set_order("duration")
    listing.refilter()

    def rows() -> list[str]:
        return [listing.row(i)[ID] for i in range(listing.row_count)]

    assert rows() == [e.id for e in view.shown()]
    durations = [store.exchanges[i].duration_ns or 0 for i in rows()]
    assert durations == sorted(durations)
    live = store.add(http_exchange("21", status=None, outcome="streaming"))
    store.remove([store.exchanges["7"]])
    listing.sync(store.drain_changes())
    assert rows() == [e.id for e in view.shown()] and "7" not in rows()
    live.ended_ns, live.outcome = 10**12, "complete"  # it ends, the slowest of all
    store.changed.add("21")
    listing.sync(store.drain_changes())
    assert rows() == [e.id for e in view.shown()] and rows()[-1] == "21"
    view.set_filter("~m POST")
    listing.refilter()
    assert rows() == [e.id for e in view.shown()]


def test_an_update_can_move_a_row_in_or_out_of_the_filter() -> None:
    store = Store()
    live = http_exchange("1", status=None, outcome="streaming")
    store.add(live)
    view = View(store, filter_text="~c 200")
    listing = ExchangeList(view)
    listing.sync(store.drain_changes())
    assert listing.row_count == 0
    done = http_exchange("1", status=200)
    live.events, live.outcome = done.events, "complete"
    store.changed.add("1")
    listing.sync(store.drain_changes())
    assert listing.row_count == 1 and listing.row(0) == read_drawn(summarize(live), live)


def test_the_key_table_in_the_docs_covers_every_binding() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "tui.md"
    table = docs.read_text(encoding="utf-8").split("## Keys", 1)[1].split("## Filter", 1)[0]
    for bindings in (InspectorApp.BINDINGS, LineTable.BINDINGS, MessageView.BINDINGS):
        for keys, _, _ in binding_rows(bindings):
            for key in keys.split():
                assert f"`{key}`" in table, key


def test_overview_shows_what_the_app_added_to_the_scope() -> None:
    exchange = http_exchange("1", path="/items/7")
    exchange.scope_added = {
        "app": Opaque(type="Starlette", repr="<starlette.applications.Starlette object>"),
        "handlers": [{Opaque(type="type", repr="<class 'HTTPException'>"): 1}],
        "path_params": {"item_id": "7"},
        "endpoint": Opaque(type="function", repr="shop.views.read_item"),
    }
    lines = [line.plain for line in overview(exchange, Caps())]
    assert "handled by    shop.views.read_item" in lines  # aligned with "  path_params"
    start = lines.index("added to the scope while the app ran:")
    shown = [line.split(maxsplit=1) for line in lines[start + 1:start + 4]]
    assert shown == [["endpoint", "shop.views.read_item"], ["path_params", "{'item_id': '7'}"],
                     ["handlers", "[{<class 'HTTPException'>: 1}]"]]
    assert lines[start + 4].strip() == "1 framework internal hidden: i shows them"  # the app
    everything = [line.plain for line in overview(exchange, Caps(), internals=True)]
    assert "app" in [line.split(maxsplit=1)[0] for line in everything]


def test_output_lines_say_when_where_and_what() -> None:
    exchange = http_exchange("1")
    exchange.output = [OutputLine(t=1_500_000, stream="stdout", text="hello \x1b[31m"),
                       OutputLine(t=2_000_000, stream="log", text="WARNING shop: low stock")]
    assert [line.plain.split(maxsplit=2) for line in output_lines(exchange)] == [
        ["+1.5ms", "stdout", "hello \\x1b[31m"], ["+2.0ms", "log", "WARNING shop: low stock"]]
