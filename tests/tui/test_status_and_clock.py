"""The list's status cell (a server's 500, the failure marks) and the running clock of open
exchanges, driven through the clock the list and the Overview read (``now``)."""

from __future__ import annotations

from asgi_inspect.model import Caps, Exchange
from asgi_inspect.tui.widgets.detail import overview
from asgi_inspect.tui.widgets.exchange_list import ExchangeList
from tests.tui.conftest import AppFactory
from tests.tui.factory import T0, failing_exchange, http_exchange

SIZE = (120, 30)


def cell(listing: ExchangeList, exchange_id: str, column: str) -> str:
    index = next(i for i in range(listing.row_count) if listing.row(i)[0] == exchange_id)
    return listing.cell(index, column)[0]


def no_response(exchange_id: str) -> Exchange:
    return http_exchange(exchange_id, path="/silent", status=None, outcome="no_response")


async def test_the_status_cell_says_what_the_client_got(app_factory: AppFactory) -> None:
    exchanges = [http_exchange("1"), failing_exchange("2"), no_response("3"),
                 http_exchange("4", outcome="streaming", status=None)]
    app = app_factory(exchanges)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        listing = app.exchange_list
        assert cell(listing, "1", "status") == "200 "
        assert cell(listing, "2", "status") == "500✗"  # the server's 500, the app raised
        assert cell(listing, "3", "status") == "  —∅"  # the app sent no response
        assert cell(listing, "4", "status") == "  … "


async def test_an_open_exchange_shows_a_running_clock(app_factory: AppFactory) -> None:
    open_one = http_exchange("1", path="/poll", status=None, outcome="streaming")
    app = app_factory([open_one, http_exchange("2")])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        listing, detail = app.exchange_list, app.detail
        assert cell(listing, "1", "duration") == "…"  # a file: no clock to run on
        clock = [T0 + 2.0]
        listing.now = detail.now = lambda: clock[0]
        assert cell(listing, "1", "duration") == "2.00s"
        assert cell(listing, "2", "duration") == "6.0ms"  # its response time (returned at 12)
        clock[0] = T0 + 45.0
        assert cell(listing, "1", "duration") == "45.00s"
        await pilot.press("k")  # the open one, in the Overview
        assert detail.exchange is open_one
        detail.tick_clock()
        await pilot.pause()
        assert any("45.00s and counting (still open)" in line.plain
                   for line in detail._overview.lines)
        clock[0] = T0 + 46.0
        detail.tick_clock()
        await pilot.pause()
        assert any("46.00s and counting" in line.plain for line in detail._overview.lines)


def test_the_overview_shows_response_time_and_app_return() -> None:
    exchange = http_exchange("1", duration_ms=311.0)
    exchange.events[-1].t_return = 2_400_000  # the client had its answer at 2.4 ms
    lines = [line.plain for line in overview(exchange, Caps())]
    assert any(line.startswith("duration") and "2.4ms (the response finished)" in line
               for line in lines)
    assert any(line.startswith("app returned") and "311.0ms" in line for line in lines)
    assert any("background work after the response: 308.6ms" in " ".join(line.split())
               for line in lines)
