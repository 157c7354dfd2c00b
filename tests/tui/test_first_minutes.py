"""The first minutes in the TUI (issue 12, items 3 and 8): nothing hidden at 80x24 or in a
long header table, a live filter that never applies half an expression, failed edits and
exports that keep the user's work, ``view`` at the top in start order, "copy of #N", the quit
dialog, singulars, the Overview's framework internals, and WebSocket tabs that say what a
WebSocket has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, RadioButton, Static, TextArea

from asgi_inspect.cli.main import build_parser
from asgi_inspect.cli.view import open_session, viewer
from asgi_inspect.formats.codec import dumps_jsonl, new_trace
from asgi_inspect.model import Opaque
from asgi_inspect.replay.driver import InProcessReplayer
from asgi_inspect.runtime.session import Session
from asgi_inspect.tui.app import InspectorApp
from asgi_inspect.tui.screens.dialogs import QuitScreen
from asgi_inspect.tui.screens.edit_request import EditRequestScreen
from asgi_inspect.tui.screens.export import ExportScreen
from asgi_inspect.tui.widgets import filter_bar
from asgi_inspect.tui.widgets.exchange_list import ID, PATH
from asgi_inspect.tui.widgets.timeline import frame_preview
from asgi_inspect.units import plural
from tests import replay_apps
from tests.tui.conftest import make_app
from tests.tui.factory import T0, http_exchange, showcase, websocket_exchange
from tests.tui.test_app import polled

TYPING_PAUSE = 2.0  # the filter bar's debounce in the typing test below

SMALL = (80, 24)


def screen_lines(app: InspectorApp) -> list[str]:
    """The plain text of the whole screen, line by line, as the terminal shows it."""
    return ["".join(segment.text for segment in strip)
            for strip in app.screen._compositor.render_strips()]


def test_plural_agrees_with_the_count() -> None:
    assert plural(1, "exchange") == "1 exchange"
    assert plural(0, "chunk") == "0 chunks"
    assert plural(1_000, "frame") == "1,000 frames"
    assert plural(2, "entry", "entries") == "2 entries"


async def test_80x24_shows_the_path_status_drops_and_essential_keys() -> None:
    session = Session.offline(showcase(), title="asgi-inspect run shop.api:app --reload")
    session.app_url = "http://127.0.0.1:8000/a/rather/long/root/path/that/will/not/fit"
    app = make_app(session=session)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        lines = screen_lines(app)
        header, footer = lines[0], lines[-1]
        assert "● offline" in header and "46 exchanges" in header and "0 dropped" in header
        assert "follow" in header and header.startswith(" asgi-inspect run")
        assert "? Help" in footer and "/ Filter" in footer and "q Quit" in footer
        assert "L Logs" in footer
        newest = app.exchange_list.row(app.exchange_list.row_count - 1)
        assert any(newest[PATH] in line and "200" in line for line in lines[3:12])
        assert "path" in lines[2] and "st" in lines[2]


async def test_every_header_and_the_body_are_reached_by_scrolling_the_tab() -> None:
    headers = [[f"x-header-{i:02d}".encode(), f"value {i}".encode()] for i in range(30)]
    body = b"".join(b'{"line": %d}\n' % i for i in range(20))
    app = make_app([http_exchange("1", method="POST", path="/many", request_body=body,
                                  content_type="application/x-ndjson",
                                  extra_headers=headers)])
    async with app.run_test(size=SMALL) as pilot:
        app.detail.tabs.active = "request"
        await pilot.pause()
        view = app.detail._request
        table = view._headers
        assert table.row_count == 35  # 3 of curl's, 30, content-type and -length
        assert table.size.height == table.row_count + 1  # every row, none scrolled away
        view.focus()
        seen = "\n".join(screen_lines(app))
        assert "POST /many HTTP/1.1" in seen and "user-agent" in seen
        for _ in range(10):  # page by page through the one scroll of the tab
            await pilot.press("pagedown")
            await pilot.pause()
            seen += "\n".join(screen_lines(app))
        assert all(f"x-header-{i:02d}" in seen for i in range(30)) and "content-length" in seen
        assert all(f'{{"line": {i}}}' in seen for i in range(20))
        assert view.scroll_offset.y == view.max_scroll_y > 0


async def test_the_live_filter_never_applies_the_valid_prefix_of_what_is_typed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The bar applies what was typed once typing pauses for APPLY_AFTER (0.4 s). A machine
    # whose cores are busy can pause that long between two of the test's key presses, and
    # then rightly applies the prefix typed so far: the pause is made long here (a person
    # does not stop for 2 s in the middle of "~m POST"; a busy machine did for 0.4 s).
    monkeypatch.setattr(filter_bar, "APPLY_AFTER", TYPING_PAUSE)
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("slash", *"~m POST")
        # valid: applied live (on a busy machine a pause mid-typing may apply "~m PO" first)
        await polled(pilot, lambda: app.view.filter is not None
                     and app.view.filter.text == "~m POST")
        assert app.view.filter is not None and app.view.filter.text == "~m POST"
        for _ in "~m POST":
            await pilot.press("backspace")
        await pilot.press(*"~c >=4x")  # "~c >=4" on the way matches everything
        await pilot.pause(TYPING_PAUSE * 1.5)
        assert app.view.filter is not None and app.view.filter.text == "~m POST"
        assert app.filter_bar.has_class("-error")
        await pilot.press("backspace", "backspace", "backspace", "backspace", *"4xx")
        await polled(pilot, lambda: app.view.filter is not None
                     and app.view.filter.text == "~c 4xx")
        assert not app.filter_bar.has_class("-error")
        assert {app.store.exchanges[app.exchange_list.row(i)[ID]].status // 100
                for i in range(app.exchange_list.row_count)} == {4}


async def test_enter_applies_the_typed_filter_at_once() -> None:
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("slash", *"~websocket", "enter")
        assert app.view.filter is not None and app.view.filter.text == "~websocket"
        assert app.focused is app.exchange_list


async def test_a_bad_header_line_keeps_the_edit_dialog_and_the_text() -> None:
    session = Session.offline([http_exchange("1", method="POST", path="/items",
                                             request_body=b"hello")], title="edit")
    session.replayer = InProcessReplayer(replay_apps.app, "tests.replay_apps:app")
    app = make_app(session=session)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("e")
        await polled(pilot, lambda: isinstance(app.screen, EditRequestScreen))
        area = app.screen.query_one(TextArea)
        area.move_cursor((0, len(area.document.get_line(0))))
        area.insert("\nthis is not a header")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, EditRequestScreen)
        assert "this is not a header" in area.text
        error = str(app.screen.query_one("#edit-error", Static).render())
        assert "line 2 is not a header" in error
        assert len(app.store) == 1  # nothing was sent
    await session.close()


async def test_export_to_a_missing_directory_names_it_and_keeps_the_dialog(
        tmp_path: Path) -> None:
    app = make_app()
    target = tmp_path / "no-such-dir" / "out.json"
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("x")
        await polled(pilot, lambda: isinstance(app.screen, ExportScreen))
        path_input = app.screen.query_one("#path", Input)
        path_input.value = str(target)
        path_input.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)
        error = str(app.screen.query_one("#export-error", Static).render())
        assert str(target) in error and "No such file or directory" in error
        assert app.screen.query_one("#path", Input).value == str(target)
        path_input.value = str(tmp_path / "out.json")
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ExportScreen)
        assert (tmp_path / "out.json").exists()
        assert any("Wrote 1 exchange to" in n.message for n in app._notifications)


async def test_view_opens_at_the_top_in_start_order(tmp_path: Path) -> None:
    slow = http_exchange("1", path="/slow", started_at=T0, duration_ms=900)
    quick = http_exchange("2", path="/quick", started_at=T0 + 0.1, duration_ms=5)
    later = http_exchange("3", path="/later", started_at=T0 + 0.2, duration_ms=5)
    path = tmp_path / "trace.jsonl"  # in the order they finished, as a recording has them
    path.write_bytes(dumps_jsonl(new_trace([quick, later, slow])))
    session = open_session(build_parser().parse_args(["view", str(path)]))
    app = viewer(session)
    app.animation_level = "none"
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        listing = app.exchange_list
        assert [listing.row(i)[PATH] for i in range(3)] == ["/slow", "/quick", "/later"]
        assert listing.cursor == 0 and not listing.follow
        assert app.detail.exchange is not None and app.detail.exchange.path == "/slow"
        assert "paused" in str(app.header.render())


async def test_a_duplicate_says_whose_copy_it_is() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("g", "D")
        await pilot.pause()
        first = app.store.exchanges[app.exchange_list.row(0)[ID]]
        copy = list(app.store.exchanges.values())[-1]
        assert copy.comment == f"copy of #{first.id}" and first.comment == ""
        assert any(f"copy of #{first.id}" in n.message for n in app._notifications)


async def _live_app(tmp_path: Path) -> tuple[Session, InspectorApp]:
    """A live session (its channel open, as ``run`` has it) holding two exchanges."""
    session = Session(collector=Session.offline([], title="x").collector, title="live")
    await session.open_channel()
    for exchange in showcase()[:2]:
        session.store.add(exchange)
    return session, make_app(session=session)


async def _quit_dialog(pilot: Pilot[None]) -> QuitScreen:
    await pilot.press("q")
    await polled(pilot, lambda: isinstance(pilot.app.screen, QuitScreen))
    assert isinstance(pilot.app.screen, QuitScreen)
    return pilot.app.screen


async def test_q_with_unsaved_exchanges_offers_an_export(tmp_path: Path) -> None:
    session, app = await _live_app(tmp_path)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            dialog = await _quit_dialog(pilot)
            text = str(dialog.query_one(Static).render())
            assert "2 exchanges of this session are not saved" in text
            await pilot.press("escape")  # cancel: still running
            await pilot.pause()
            assert not isinstance(app.screen, QuitScreen) and app.is_running
            await _quit_dialog(pilot)
            await pilot.press("e")  # export…: the dialog opens on all of them
            await polled(pilot, lambda: isinstance(app.screen, ExportScreen))
            chosen = app.screen.query_one("#which").query(RadioButton)
            assert [b.name for b in chosen if b.value] == ["all"]
            path_input = app.screen.query_one("#path", Input)
            path_input.value = str(tmp_path / "all.json")
            path_input.focus()
            await pilot.press("enter")
            await polled(pilot, lambda: not app.is_running)
        exported = json.loads((tmp_path / "all.json").read_text())
        assert len(exported["exchanges"]) == 2
    finally:
        await session.close()


async def test_q_quits_anyway_and_ctrl_c_never_asks(tmp_path: Path) -> None:
    session, app = await _live_app(tmp_path)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await _quit_dialog(pilot)
            await pilot.press("y")
            await polled(pilot, lambda: not app.is_running)
        session2, app2 = await _live_app(tmp_path)
        try:
            async with app2.run_test(size=(120, 36)) as pilot:
                await pilot.press("ctrl+c")
                await polled(pilot, lambda: not app2.is_running)
        finally:
            await session2.close()
    finally:
        await session.close()


async def test_q_never_asks_for_a_file() -> None:
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("q")
        await polled(pilot, lambda: not app.is_running)


async def test_singulars_in_the_header_and_the_overview() -> None:
    app = make_app([http_exchange("1", response_body=b"{}")])
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        assert "1 exchange " in str(app.header.render())
        overview = "\n".join(line.plain for line in app.detail._overview.lines)
        assert "in 1 chunk" in overview and "1 chunks" not in overview


async def test_the_overview_hides_framework_internals_until_i_and_aligns_keys() -> None:
    exchange = http_exchange("1", path="/api/items")
    exchange.scope_added = {
        "fastapi_middleware_astack": Opaque(type="AsyncExitStack",
                                            repr="<contextlib.AsyncExitStack object>"),
        "app": Opaque(type="FastAPI", repr="<fastapi.applications.FastAPI object>"),
        "endpoint": Opaque(type="function", repr="shop.api.list_items"),
        "path_params": {"item": "7"},
    }
    app = make_app([exchange])
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        text = "\n".join(line.plain for line in app.detail._overview.lines)
        assert "fastapi_middleware_astack" not in text and "FastAPI object" not in text
        assert "shop.api.list_items" in text and "'item': '7'" in text
        assert "2 framework internals hidden: i shows them" in text
        await pilot.press("i")
        lines = [line.plain for line in app.detail._overview.lines]
        long = next(line for line in lines if "fastapi_middleware_astack" in line)
        first = lines[0]  # "exchange  #1  http": values start in the same column
        assert long.index("<contextlib") == first.index("#1")


async def test_websocket_tabs_point_to_the_frames_and_binary_frames_are_hex() -> None:
    ws = websocket_exchange("1")
    app = make_app([ws])
    async with app.run_test(size=(120, 36)) as pilot:
        for tab, who in (("request", "the client sent 3 frames"),
                         ("response", "the app sent 3 frames")):
            app.detail.tabs.active = tab
            await pilot.pause()
            view = app.detail._request if tab == "request" else app.detail._response
            info = str(view._info.render())
            assert "a WebSocket carries frames" in info and who in info
            assert "Frames tab" in info and "not kept" not in info
    binary = next(e for e in ws.events if e.type == "websocket.send")
    preview = frame_preview(binary)
    assert "00 01 02 ff" in preview and "|echo 0....|" in preview and "ÿ" not in preview


async def test_at_80_columns_the_header_cuts_the_title_before_the_url() -> None:
    from textual.app import App, ComposeResult

    from asgi_inspect.tui.widgets.header import HeaderStatus, StatusHeader

    status = HeaderStatus(title="asgi-inspect run myproject.main:application", state="running",
                          url="http://127.0.0.1:48135", shown=1, total=1, dropped=0,
                          skipped=0, evicted=0, follow=True, filtered=False)

    class Only(App[None]):
        def compose(self) -> ComposeResult:
            yield StatusHeader(status)

    app = Only()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        line = app.query_one(StatusHeader).render().plain
    assert "http://127.0.0.1:48135" in line and line.startswith(" asgi-in") and "…" in line
    assert "0 dropped" in line and "follow" in line
