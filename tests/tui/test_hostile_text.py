"""Captured text reaches every part of the UI as data: titles, dialogs, notifications and the
filter's title take it literally (Textual would parse a plain string there as markup, and
``[/]`` would raise), and control characters are spelled out."""

from __future__ import annotations

from textual.widgets import Input

from asgi_inspect.runtime.session import Session
from asgi_inspect.tui.app import InspectorApp
from asgi_inspect.tui.screens.dialogs import PromptScreen
from asgi_inspect.tui.screens.edit_request import EditRequestScreen
from asgi_inspect.tui.widgets.detail import DetailPane
from tests.tui.factory import http_exchange

HOSTILE_PATH = "/[/][bold red]x[/bold red]\x1b]0;pwned\x07"


def _app(*, replay: bool = False) -> InspectorApp:
    exchange = http_exchange("1", method="GET", path=HOSTILE_PATH)
    exchange.id = "[/]"  # a HAR file's _id can be anything
    session = Session.offline([exchange], title="t[/]")
    if replay:
        from asgi_inspect.replay.http import HttpReplayer

        session.replayer = HttpReplayer("http://127.0.0.1:9")
    app = InspectorApp(session)
    app.animation_level = "none"
    return app


async def test_titles_dialogs_and_notifications_take_captured_text_literally() -> None:
    app = _app(replay=True)
    async with app.run_test(size=(120, 36)) as pilot:
        detail = app.query_one(DetailPane)
        title = str(detail._border_title)  # the Content as rendered, not markup
        assert "[/][bold red]x[/bold red]" in title and "\\x1b]0;pwned\\x07" in title
        await pilot.press("semicolon")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"[/]", "enter")
        assert app.store.exchanges[app.exchange_list.selected_id or ""].comment == "[/]"
        await pilot.press("e")
        assert isinstance(app.screen, EditRequestScreen)
        await pilot.press("escape", "D")
        await pilot.pause()
        shown = [n.message for n in app._notifications]
        assert any("[/]" in message for message in shown)
        await pilot.press("slash", *"~u [/]", "enter")
        assert "[/]" in str(app.list_pane._border_title)
        assert "\x1b" not in app.export_screenshot() and "\x07" not in app.export_screenshot()


async def test_a_filter_of_markup_shows_as_typed() -> None:
    app = _app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("slash")
        app.filter_bar.query_one(Input).value = "~u '[bold]'"
        await pilot.pause()
        assert "filter: ~u '[bold]'" in str(app.list_pane._border_title)
