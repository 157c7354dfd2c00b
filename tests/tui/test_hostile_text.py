"""Captured text reaches every part of the UI as data: titles, dialogs, notifications and the
filter's title take it literally (Textual would parse a plain string there as markup, and
``[/]`` would raise), and control characters are spelled out.

The sweep at the end puts markup, ANSI CSI, OSC 52, OSC 8, C1 controls, a bidi override and
NUL into every field of an HTTP and a WebSocket exchange (and the title, a log line, the
filter) and looks at every tab, dialog and notification they reach."""

from __future__ import annotations

import json
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Tabs

from asgi_inspect.model import Event, ExceptionInfo, Exchange, Opaque, OutputLine
from asgi_inspect.ops.replay import replay_request
from asgi_inspect.replay.request import request_text
from asgi_inspect.runtime.session import Session
from asgi_inspect.text import printable
from asgi_inspect.tui.app import InspectorApp
from asgi_inspect.tui.screens.dialogs import ConfirmScreen, PromptScreen
from asgi_inspect.tui.screens.edit_request import EditRequestScreen
from asgi_inspect.tui.screens.export import ExportScreen
from asgi_inspect.tui.screens.help import HelpScreen
from asgi_inspect.tui.widgets.detail import DetailPane
from asgi_inspect.tui.widgets.timeline import EventTimeline
from tests.tui.factory import http_exchange, websocket_exchange

HOSTILE_PATH = "/[/][bold red]x[/bold red]\x1b]0;pwned\x07"


def _app(*, replay: bool = False) -> InspectorApp:
    exchange = http_exchange("1", method="GET", path=HOSTILE_PATH)
    exchange.id = "[/]"  # a HAR file's _id can be anything
    session = Session.offline([exchange], title="t[/]")
    if replay:
        from asgi_inspect.replay.http import HttpReplayer

        session.replayer = HttpReplayer("http://127.0.0.1:9")
    return _quiet(session)


def _quiet(session: Session) -> InspectorApp:
    app = InspectorApp(session)
    app.animation_level = "none"
    return app


@pytest.fixture(autouse=True)
def patient_notifications(monkeypatch: pytest.MonkeyPatch) -> None:
    """Notifications outlast a slow machine's test run (the tests read them)."""
    monkeypatch.setattr(InspectorApp, "NOTIFICATION_TIMEOUT", 600)


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
        await pilot.press("enter")
        assert "filter: ~u '[bold]'" in str(app.list_pane._border_title)


# the sweep -------------------------------------------------------------------------------

# C0, C1 and the invisible controls the payload carries: none may reach the terminal raw.
RAW = ("\x1b", "\x07", "\x00", "\x85", "\x9b", "\u202e")


def payload(tag: str) -> str:
    """Markup that would run an action and restyle, then CSI, OSC 52 (clipboard), OSC 8 (a
    link), two C1 controls, a right-to-left override and NUL; ``tag`` says where it went."""
    return (f"[@click=app.quit]{tag}[/][bold red]R[/]\x1b[31mE\x1b]52;c;cHduZWQ=\x07"
            "\x1b]8;;http://evil.example/\x1b\\L\x1b]8;;\x1b\\\x85\x9b\u202eN\x00")


def seen(tag: str) -> str:
    """The start of ``payload(tag)`` as the screen must show it: literally, markup and all
    (what follows is spelled out by ``printable``, or by JSON inside a JSON body)."""
    return f"[@click=app.quit]{tag}[/][bold red]R[/]"


def _hostile_http() -> Exchange:
    body = payload("body").encode()
    exchange = http_exchange(
        "1", method="GET", path="/" + payload("path"), query=payload("query").encode(),
        request_body=body, request_type="text/plain", content_type="application/json",
        response_body=json.dumps({payload("json-key"): [payload("json-value")]}).encode(),
        extra_headers=[[payload("header-name").encode(), payload("header-value").encode()]])
    start = exchange.first("http.response.start")
    assert start is not None
    start.message["headers"].append([b"x-r", payload("response-header").encode()])
    exchange.id = payload("id")
    exchange.comment = payload("comment")
    exchange.notes.append(payload("note"))
    exchange.source = payload("source")
    exchange.replay_of = payload("replay-of")  # an original that is not there: the Diff tab
    exchange.scope["scheme"] = payload("scheme")
    exchange.scope["client"] = [payload("client"), 1]
    exchange.scope[payload("scope-key")] = payload("scope-value")
    exchange.scope_added = {"endpoint": Opaque(type="function", repr=payload("endpoint")),
                            payload("added-key"): payload("added-value")}
    exchange.output = [OutputLine(t=1_000, stream=payload("stream"), text=payload("output"))]
    exchange.outcome = "exception"
    exchange.exception = ExceptionInfo(type=payload("exc-type"), message=payload("exc-message"),
                                       traceback=f"{payload('traceback')}\n  line two",
                                       after_event=0)
    exchange.events.append(Event(direction="send", type=payload("event-type"), t_call=1,
                                 message={"type": "x", payload("field"): payload("value")}))
    return exchange


def _hostile_websocket() -> Exchange:
    exchange = websocket_exchange("2", path="/ws" + payload("ws-path"), messages=0)
    close = exchange.events.pop()
    exchange.events += [
        Event(direction="receive", type="websocket.receive", t_call=60_000_000,
              message={"type": "websocket.receive", "text": payload("text-frame")}),
        Event(direction="send", type="websocket.send", t_call=61_000_000,
              message={"type": "websocket.send", "bytes": payload("binary-frame").encode()}),
        Event(direction="send", type="websocket.close", t_call=close.t_call,
              message={"type": "websocket.close", "code": payload("code"),
                       "reason": payload("reason")})]
    exchange.started_at += 1
    return exchange


# What each tab must show literally, for the exchange in the list at that index.
TABS: dict[tuple[int, str], tuple[str, ...]] = {
    (0, "overview"): ("id", "source", "exc-type", "exc-message", "endpoint", "client", "scheme",
                      "query", "scope-key", "scope-value", "added-key", "added-value",
                      "comment", "note", "replay-of"),
    (0, "request"): ("header-name", "header-value", "body"),
    (0, "response"): ("response-header", "json-key", "json-value"),
    (0, "messages"): ("event-type", "field", "value"),  # the last event, in full
    (0, "output"): ("stream", "output"),
    (0, "exception"): ("exc-type", "exc-message", "traceback"),
    (0, "diff"): ("replay-of",),
    (1, "frames"): ("text-frame",),  # a binary frame shows as a hex dump, never as text
}


def _screen(app: InspectorApp) -> str:
    """The screen as text, after checking every cell: no markup action or link applied."""
    strips = app.screen._compositor.render_strips()
    for strip in strips:
        for segment in strip:
            style = segment.style
            assert style is None or (not style.link and "@click" not in (style.meta or {})), \
                segment
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def _check(app: InspectorApp, where: str, *tags: str) -> str:
    text = _screen(app)
    screenshot = app.export_screenshot()
    for char in RAW:
        assert char not in text and char not in screenshot, (where, char)
    for tag in tags:
        assert seen(tag) in text, (where, tag)
    return text


async def _open(pilot: Pilot[Any], tab: str) -> None:
    """Open ``tab``; in the Messages tab put the cursor on the last event (shown in full)."""
    app = pilot.app
    assert isinstance(app, InspectorApp)
    app.detail.tabs.active = tab
    await pilot.pause()
    if tab == "messages":
        app.detail.query_one(EventTimeline).focus()
        await pilot.press("end")
        app.detail.query_one(Tabs).focus()  # a pane holding the focus stays the active one


async def test_every_view_of_hostile_text_shows_it_literally_and_safely() -> None:
    session = Session.offline([_hostile_http(), _hostile_websocket()], title=payload("title"))
    session.log("stdout", payload("log"))
    from asgi_inspect.replay.http import HttpReplayer

    session.replayer = HttpReplayer("http://127.0.0.1:9")
    app = _quiet(session)
    async with app.run_test(size=(260, 70)) as pilot:
        app.exchange_list.move_cursor(0)
        await pilot.pause()
        _check(app, "list and header", "path", "title")
        await pilot.press("enter")  # the detail pane full screen: room for every line
        for (index, tab), tags in TABS.items():
            app.exchange_list.move_cursor(index)
            await pilot.pause()
            await _open(pilot, tab)
            _check(app, tab, *tags)
        await _open(pilot, "overview")
        await pilot.press("escape")
        app.exchange_list.move_cursor(1)
        await pilot.pause()
        _check(app, "websocket in the list", "ws-path")
        app.exchange_list.move_cursor(0)
        await pilot.press("L")
        await pilot.pause()
        _check(app, "logs", "log")
        await pilot.press("L", "semicolon")
        assert isinstance(app.screen, PromptScreen)
        _check(app, "comment dialog")  # a narrow input: it shows the end of the value
        assert app.screen.query_one(Input).value == printable(payload("comment"))
        await pilot.press("enter")  # unchanged: the comment is kept exactly
        assert app.store.exchanges[payload("id")].comment == payload("comment")
        await pilot.press("e")
        assert isinstance(app.screen, EditRequestScreen)
        _check(app, "edit request", "path", "header-name", "body")
        focused = app.focused_exchange
        assert focused is not None  # what would be sent is the request exactly as recorded:
        assert app.screen.text == request_text(replay_request(focused))
        await pilot.press("escape", "x")
        assert isinstance(app.screen, ExportScreen)
        _check(app, "export dialog")
        await pilot.press("escape", "z")
        assert isinstance(app.screen, ConfirmScreen)
        _check(app, "confirm dialog")
        await pilot.press("n", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        _check(app, "help")
        await pilot.press("escape", "D")  # the notification names the id
        await pilot.pause()
        _check(app, "notification")
        assert any(seen("id") in n.message for n in app._notifications)
        app.filter_bar.set_expression(f"~u '{payload('filter')}")  # unclosed: an error too
        await pilot.pause()
        _check(app, "filter bar", "filter")
