"""Every view draws what lenses say, through the registry: the list's operation and error
mark, the protocol tab's tables and blocks, frame labels, headless lines, and a lens that
breaks on a crafted exchange contained. A small lens written here, as a user would write one,
is put in the registry for each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from asgi_inspect import lenses
from asgi_inspect.lenses import Block, Lens, Reading, Section, Table
from asgi_inspect.model import Event, Exchange
from asgi_inspect.runtime.headless import format_line
from asgi_inspect.store.store import Store
from asgi_inspect.store.view import View
from asgi_inspect.tui.sections import section_lines
from asgi_inspect.tui.widgets.exchange_list import FAILED, FLAGS, OPERATION, ExchangeList
from tests.tui.conftest import AppFactory
from tests.tui.factory import http_exchange, websocket_exchange


class Echo(Lens):
    """Reads ``/rpc/NAME`` requests as the operation NAME; ``/rpc/fail`` reports an error,
    ``/rpc/broken`` breaks while rendering; frames become ``frame N``."""

    name = "echo"
    title = "Echo"
    tag = "echo"
    summary = "echo exchanges"

    def read(self, exchange: Exchange) -> Reading | None:
        path = exchange.path
        if path.startswith("/ws/"):
            return Reading(self.name)
        if not path.startswith("/rpc/"):
            return None
        name = path.removeprefix("/rpc/")
        return Reading(self.name, operation=f"call {name}",
                       error="it failed" if name == "fail" else "")

    def sections(self, exchange: Exchange) -> list[Section]:
        if exchange.path.endswith("broken"):
            raise RecursionError("deep")
        long = "word " * 40
        return [Table("Calls", ("id", "data"), (("1", '{"a": 1}'), ("2", long.strip()))),
                Block("Query", "query Q {\n  items\n}", "graphql")]

    def frame(self, exchange: Exchange, event: Event) -> str | None:
        return f"frame {exchange.events.index(event)}"


@pytest.fixture(autouse=True)
def echo_lens(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(lenses, "LENSES", (Echo(),))
    yield


def test_the_list_row_names_the_operation_and_marks_a_protocol_error() -> None:
    store = Store()
    for number, path in (("1", "/rpc/add"), ("2", "/rpc/fail"), ("3", "/plain")):
        store.add(http_exchange(number, path=path))
    listing = ExchangeList(View(store))
    listing.sync(store.drain_changes())  # the lenses read a row when it is asked for (drawn)
    ok, failed, plain = (listing.row(index) for index in range(3))
    assert ok[OPERATION] == "call add"
    assert not ok[FLAGS] & FAILED and failed[FLAGS] & FAILED
    assert plain[OPERATION] == ""


def test_headless_lines_carry_the_operation_and_the_error() -> None:
    line = format_line(http_exchange("2", method="POST", path="/rpc/fail"))
    assert "POST /rpc/fail «call fail» 200" in line and "[it failed]" in line


def test_tables_wrap_their_last_column_and_blocks_keep_their_lines() -> None:
    table = Table("Events", ("id", "data"), (("1", "x" * 50), ("22", "{\n  \"a\": 1\n}")),
                  note="2 events")
    lines = [t.plain for t in section_lines([table, Block("B", "a\x1b[31m")], 30, Console())]
    assert lines[0] == "Events"
    assert lines[1].split() == ["id", "data"]
    assert all(len(line) <= 30 for line in lines[:-1])
    assert lines[2].startswith("1   ") and lines[3].startswith("    x")  # wrapped under data
    assert lines[4:7] == ["22  {", '      "a": 1', "    }"]
    assert lines[7] == "2 events"
    assert lines[-2:] == ["B", "a\\x1b[31m"]  # captured text escaped, never markup


async def test_the_protocol_tab_shows_the_sections(app_factory: AppFactory) -> None:
    app = app_factory([http_exchange("1", path="/plain"), http_exchange("2", path="/rpc/add")])
    async with app.run_test(size=(120, 40)) as pilot:
        app.exchange_list.move_cursor(0)
        await pilot.pause()
        assert "protocol" in app.detail._hidden  # no lens read /plain
        app.exchange_list.move_cursor(1)
        await pilot.pause()
        assert "protocol" not in app.detail._hidden
        assert str(app.detail.tabs.get_tab("protocol").label) == "Echo"
        app.detail.tabs.active = "protocol"
        await pilot.pause()
        shown = [line.plain if hasattr(line, "plain") else line
                 for line in app.detail._protocol.lines]
        assert shown[0] == "Calls" and "Query" in shown and "query Q {" in shown


async def test_a_lens_that_breaks_is_contained(app_factory: AppFactory) -> None:
    broken = http_exchange("1", path="/rpc/broken")
    [(_, parts)] = lenses.sections(broken)
    assert isinstance(parts[0], Block) and "could not read" in parts[0].title
    assert "RecursionError: deep" in parts[0].text
    app = app_factory([broken])
    async with app.run_test(size=(120, 40)) as pilot:
        app.detail.tabs.active = "protocol"
        await pilot.pause()
        assert any("could not read" in getattr(line, "plain", "")
                   for line in app.detail._protocol.lines)


def test_frames_get_the_lens_label() -> None:
    session = websocket_exchange("1", path="/ws/chat")
    frame = session.events[2]
    assert lenses.frame_label(session, frame) == "frame 2"


def test_readings_of_an_ended_exchange_are_kept_and_a_streaming_one_is_read_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    class Counting(Echo):
        def read(self, exchange: Exchange) -> Reading | None:
            calls.append(exchange.id)
            return super().read(exchange)

    monkeypatch.setattr(lenses, "LENSES", (Counting(),))
    done = http_exchange("1", path="/rpc/a")
    open_ = http_exchange("2", path="/rpc/b", outcome="streaming")
    for _ in range(3):
        lenses.operation(done)
        lenses.operation(open_)
    assert calls.count("1") == 1 and calls.count("2") == 3
