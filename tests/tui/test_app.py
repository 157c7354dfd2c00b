"""Pilot tests: the inspector driven by keys and clicks over seeded exchanges."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RadioButton

from asgi_inspect import read
from asgi_inspect.model import Event
from asgi_inspect.runtime.session import Session
from asgi_inspect.tui.app import InspectorApp
from asgi_inspect.tui.screens.dialogs import ConfirmScreen
from asgi_inspect.tui.screens.export import ExportScreen
from asgi_inspect.tui.screens.help import HelpScreen
from asgi_inspect.tui.widgets.exchange_list import ID, PATH, STATUS
from asgi_inspect.tui.widgets.timeline import EventTimeline
from tests.tui.conftest import AppFactory
from tests.tui.factory import http_exchange, sample_exchanges, showcase

SIZE = (120, 36)


def ids(app: InspectorApp) -> list[str]:
    listing = app.exchange_list
    return [listing.row(i)[ID] for i in range(listing.row_count)]


async def polled(pilot: Pilot[None], condition: Callable[[], bool]) -> None:
    """Let the app's 50 ms poll run until ``condition`` holds (a generous bound, not a timing:
    at least 30 s, for a machine whose cores are busy with other work)."""
    for _ in range(1500):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("the app never took the change in")


def screen_text(app: InspectorApp) -> str:
    """The plain text of every line of the exchange list on screen."""
    listing = app.exchange_list
    return "\n".join(listing.render_line(y).text for y in range(listing.size.height))


async def test_starts_following_the_newest(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        listing = app.exchange_list
        assert listing.row_count == len(showcase())
        assert listing.follow and listing.cursor == listing.row_count - 1
        assert app.detail.exchange is listing.selected
        assert "22:13:26.302" in screen_text(app)  # the newest row is on screen


async def test_moving_up_pauses_follow_and_counts_new(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k", "k")
        listing = app.exchange_list
        assert not listing.follow and listing.cursor == listing.row_count - 3
        selected = listing.selected_id
        for exchange in sample_exchanges(5, start=100, seed=3):
            app.store.add(exchange)
        await polled(pilot, lambda: listing.row_count == len(showcase()) + 5)
        assert listing.selected_id == selected  # the cursor did not move
        assert listing.new_below == 5
        assert "5 new" in str(app.list_pane.border_subtitle)
        await pilot.press("F")
        assert listing.follow and listing.selected_id == "104"
        assert listing.new_below == 0


async def test_live_exchanges_stream_in_and_follow_keeps_the_end(app_factory: AppFactory) -> None:
    app = app_factory([])
    async with app.run_test(size=SIZE) as pilot:
        listing = app.exchange_list
        assert listing.row_count == 0 and app.detail.exchange is None
        for batch in range(3):
            for exchange in sample_exchanges(40, start=1 + batch * 40, seed=batch):
                app.store.add(exchange)
            await polled(pilot, lambda n=40 * (batch + 1): listing.row_count == n)
            assert listing.cursor == listing.row_count - 1
            await polled(pilot, lambda: app.detail.exchange is listing.selected)
        assert listing.scroll_offset.y == listing.max_scroll_y > 0


async def test_open_exchange_updates_live(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        live = app.exchange_list.selected
        assert live is not None and live.path == "/events" and live.outcome == "streaming"
        app.detail.tabs.active = "messages"
        await pilot.pause()
        timeline = app.query_one(EventTimeline)
        assert timeline.row_count == 4
        live.events.append(Event(direction="send", type="http.response.body", t_call=2_000_000_000,
                                 t_return=2_000_050_000, message={"type": "http.response.body",
                                                                  "body": b"", "more_body": False}))
        live.outcome, live.ended_ns = "complete", 2_000_100_000
        app.store.changed.add(live.id)
        await polled(pilot, lambda: timeline.row_count == 5)
        assert app.exchange_list.row(app.exchange_list.cursor)[STATUS] == 200
        assert "●" not in screen_text(app).splitlines()[-1]


async def test_select_with_keys_mouse_and_switch_tabs(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g", "j")
        listing = app.exchange_list
        assert listing.cursor == 1 and app.detail.exchange is listing.selected
        await pilot.click("#exchanges", offset=(10, 3))
        assert listing.cursor == 3
        assert app.detail.exchange is listing.selected
        await pilot.press("right_square_bracket")
        assert app.detail.tabs.active == "request"
        await pilot.click("#--content-tab-messages")
        assert app.detail.tabs.active == "messages"
        await pilot.press("enter")
        assert app.screen.maximized is app.detail
        await pilot.press("escape")
        assert app.screen.maximized is None and app.focused is listing


async def test_request_tab_shows_headers_and_pretty_json(app_factory: AppFactory) -> None:
    exchange = http_exchange("1", method="POST", path="/api", request_body=b'{"a": [1, 2]}')
    app = app_factory([exchange])
    async with app.run_test(size=SIZE) as pilot:
        app.detail.tabs.active = "request"
        await pilot.pause()
        table = app.detail.query_one("#request DataTable", DataTable)
        assert [table.get_row_at(i)[0].plain for i in range(table.row_count)][-2:] == [
            "content-type", "content-length"]
        body = app.detail.query_one("#request TextLines")
        assert body.lines == ["{", '  "a": [', "    1,", "    2", "  ]", "}"]


async def test_clear_all_asks_first(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("z")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.exchange_list.row_count == len(showcase())
        await pilot.press("z", "y")
        assert app.exchange_list.row_count == 0
        assert app.store.exchanges == {}
        assert app.detail.exchange is None


async def test_delete_keeps_the_cursor_in_place(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g", "j", "j")
        before = ids(app)
        await pilot.press("d")
        assert ids(app) == before[:2] + before[3:]
        assert app.exchange_list.selected_id == before[3]
        assert before[2] not in app.store.exchanges


async def test_mark_and_show_only_marked(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g", "m", "j", "j", "m")
        marked = [e.id for e in app.store.exchanges.values() if e.marked]
        assert marked == [ids(app)[0], ids(app)[2]]
        assert "★" in screen_text(app).splitlines()[0][:3]
        await pilot.press("M")
        assert ids(app) == marked
        assert "marked only" in str(app.list_pane.border_title)
        await pilot.press("M")
        assert app.exchange_list.row_count == len(showcase())


async def test_filter_good_and_bad_expressions(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"~m POST")
        posts = [e.id for e in app.store.exchanges.values() if e.method == "POST"]
        await polled(pilot, lambda: ids(app) == posts)  # applied once the typing pauses
        await pilot.press(*" & ~c (")
        bar = app.filter_bar
        assert bar.has_class("-error")
        error = str(bar.error.render())
        assert "at column" in error and "^" in error
        assert ids(app) == posts  # the last good filter stays in force
        await pilot.press("escape")
        assert not bar.has_class("-open") and app.focused is app.exchange_list
        assert app.exchange_list.row_count == len(showcase())


async def test_initial_filter_from_the_command_line(app_factory: AppFactory) -> None:
    app = app_factory(filter_text="~websocket")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert [app.store.exchanges[i].type for i in ids(app)] == ["websocket"]
        assert "1/46 shown" in str(app.header.render())


async def test_comment_and_duplicate(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g", "semicolon", *"slow one", "enter")
        first = app.store.exchanges[ids(app)[0]]
        assert first.comment == "slow one"
        assert "✎ slow one" in screen_text(app).splitlines()[0]
        await pilot.press("D")
        copy = app.store.exchanges[ids(app)[-1]]
        assert copy.id != first.id and copy.scope == first.scope and copy.events == first.events
        assert app.exchange_list.row_count == len(showcase()) + 1


async def test_captured_text_is_data_not_markup_or_escapes(app_factory: AppFactory) -> None:
    hostile = http_exchange("1", path="/x\x1b[2J", extra_headers=[[b"x-evil", b"[bold]x\x1b[31m"]])
    app = app_factory([hostile])
    async with app.run_test(size=SIZE) as pilot:
        assert app.exchange_list.row(0)[PATH] == "/x\\x1b[2J"
        assert "/x\\x1b[2J" in screen_text(app)
        app.detail.tabs.active = "request"
        await pilot.pause()
        table = app.detail.query_one("#request DataTable", DataTable)
        cells = [table.get_row_at(i) for i in range(table.row_count)]
        assert [c.plain for c in cells[-1]] == ["x-evil", "[bold]x\\x1b[31m"]
        assert not any(c.spans for row in cells for c in row)  # no markup was applied
        assert "\x1b" not in app.export_screenshot()


async def test_copy_as_curl_and_export(app_factory: AppFactory, tmp_path: Path) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g", "j", "y")
        assert app.clipboard.startswith("# 2: DELETE /api/items → 200\ncurl ")
        await pilot.press("x")
        assert isinstance(app.screen, ExportScreen)
        buttons = {b.name: b for b in app.screen.query(RadioButton)}
        await pilot.click(buttons["jsonl"])
        await pilot.click(buttons["shown"])
        path_input = app.screen.query_one("#path", Input)
        path_input.value = str(tmp_path / "out.jsonl")
        await pilot.click("#export")
        await pilot.pause()
        assert len(read(tmp_path / "out.jsonl").exchanges) == len(showcase())


async def test_logs_pane_shows_stderr(app_factory: AppFactory) -> None:
    session = Session.offline(showcase(), title="t")
    session.log("stdout", "INFO: started")
    session.log("stderr", "boom \x1b[2J")
    app = app_factory(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("L")
        await pilot.pause()
        assert app.logs.display and not app.detail.display
        assert [app.logs.render_line(y).text.rstrip() for y in range(3)] == [
            "INFO: started", "boom \\x1b[2J", ""]
        await pilot.press("L", "v")
        assert app.detail.display and app.main.has_class("-side")


async def test_help_palette_and_restart_without_server(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("ctrl+p", *"export")
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        results = palette.query_one(CommandList)
        # The palette searches in the background: Enter picks a command once one is listed.
        await polled(pilot, lambda: results.has_class("--visible") and "Export exchanges" in str(
            getattr(results.highlighted_option, "prompt", "")))
        await pilot.press("enter")
        await polled(pilot, lambda: isinstance(app.screen, ExportScreen))
        await pilot.press("escape")
        await pilot.press("ctrl+r")
        assert any("No server process" in n.message for n in app._notifications)


async def test_textual_theme_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_THEME", "nord")
    assert InspectorApp(Session.offline([], title="t")).theme == "nord"


async def test_sort_cycles_the_views_order_and_the_list_follows_it(
        app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        assert app.view.order == "duration"
        listing = app.exchange_list
        assert [listing.row(i)[ID] for i in range(listing.row_count)] == [
            e.id for e in app.view.shown()]
        assert "by duration" in str(app.list_pane._border_title)
        await pilot.press("s", "s", "s", "s", "s")  # size, status, method, path, time
        assert app.view.order == "time"
        assert ids(app) == [e.id for e in app.store]
