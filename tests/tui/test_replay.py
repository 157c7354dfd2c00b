"""Replay from the TUI: r, e and the Diff tab, in-process against a real app."""

from __future__ import annotations

import json

from textual.widgets import TextArea

from asgi_inspect import Inspector, MemorySink
from asgi_inspect.model import Exchange
from asgi_inspect.replay.driver import Driver, InProcessReplayer
from asgi_inspect.replay.request import ReplayRequest
from asgi_inspect.runtime.session import Session
from asgi_inspect.tui.screens.edit_request import EditRequestScreen
from tests import replay_apps
from tests.tui.conftest import make_app
from tests.tui.test_app import SIZE, polled


async def recorded_post() -> Exchange:
    """A JSON POST recorded in-process (the Driver is the in-process server)."""
    async with Driver(replay_apps.app) as driver:
        request = ReplayRequest(
            type="http", method="POST", path="/items", query=b"", body=b"hello",
            headers=[(b"host", b"testserver"), (b"content-type", b"text/plain"),
                     (b"content-length", b"5")],
            scope={"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                   "scheme": "http", "path": "/items", "method": "POST"},
            receives=[({"type": "http.request", "body": b"hello", "more_body": False}, 0)])
        return await driver.replay(request)


def replay_session(original: Exchange) -> Session:
    session = Session.offline([original], title="replay test")
    session.replayer = InProcessReplayer(replay_apps.app, "tests.replay_apps:app")
    return session


async def test_r_replays_into_a_new_exchange_with_a_diff_tab() -> None:
    original = await recorded_post()
    original.replay_of = None
    app = make_app(session=replay_session(original))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await polled(pilot, lambda: len(app.store.exchanges) == 2)
        replay = list(app.store.exchanges.values())[-1]
        assert replay.replay_of == original.id and replay.status == 200
        assert original.replay_of is None  # the original is untouched
        await polled(pilot, lambda: app.exchange_list.selected is replay)
        app.detail.tabs.active = "diff"
        await pilot.pause()
        text = "\n".join(str(line) for line in app.detail._diff.lines)
        assert f"#{replay.id} replays #{original.id}: same" in text
    await app.session.close()


async def test_e_edits_the_request_before_replaying() -> None:
    original = await recorded_post()
    app = make_app(session=replay_session(original))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await polled(pilot, lambda: isinstance(app.screen, EditRequestScreen))
        editor = app.screen.query_one(TextArea)
        assert editor.text.startswith("POST /items\n")
        editor.text = editor.text.replace("POST /items", "PUT /changed?x=1").replace(
            "\n\nhello", "\n\nchanged body")
        await pilot.press("ctrl+s")
        await polled(pilot, lambda: len(app.store.exchanges) == 2)
        replay = list(app.store.exchanges.values())[-1]
        answer = json.loads(replay.body("send"))
        assert (answer["method"], answer["path"], answer["body"]) == ("PUT", "/changed",
                                                                       "changed body")
        assert dict(replay.request_headers)[b"content-length"] == b"12"
        app.detail.tabs.active = "diff"
        await pilot.pause()
        text = "\n".join(str(line) for line in app.detail._diff.lines)
        assert "differs: body" in text and '~ $.method: "POST" → "PUT"' in text
    await app.session.close()


async def test_bad_edit_says_why_and_stays_open() -> None:
    app = make_app(session=replay_session(await recorded_post()))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await polled(pilot, lambda: isinstance(app.screen, EditRequestScreen))
        app.screen.query_one(TextArea).text = "no method here"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, EditRequestScreen)
        assert "first line must be a method and a path" in str(
            app.screen.query_one("#edit-error").render())
    await app.session.close()


async def test_without_a_target_replay_explains_how() -> None:
    app = make_app(session=Session.offline([await recorded_post()], title="no target"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await pilot.pause()
        assert len(app.store.exchanges) == 1
        assert any("--app module:app" in n.message for n in app._notifications)


async def test_replays_sent_over_http_arrive_linked(tmp_path: object) -> None:
    """Under run/listen the replay goes to the server and comes back through the recorder."""
    from asgi_inspect.replay.http import HttpReplayer
    from tests.servers import uvicorn_server

    original = await recorded_post()
    sink = MemorySink()
    inspector = Inspector(replay_apps.app, sink)
    with uvicorn_server(inspector, lifespan="off") as url:
        session = Session.offline([original], title="http replay")
        session.replayer = HttpReplayer(url)
        app = make_app(session=session)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("r")
            await polled(pilot, lambda: any("sent" in n.message for n in app._notifications))
    inspector.flush()
    (replayed,) = sink.exchanges
    assert replayed.replay_of == original.id


def test_the_diff_tab_honours_the_ignore_list() -> None:
    from asgi_inspect.tui.widgets.detail import diff_lines
    from tests.test_diff import _exchange

    original, replay = _exchange(headers=[(b"x-trace", b"1")]), _exchange(
        headers=[(b"x-trace", b"2")])
    replay.id, replay.replay_of = "2", original.id
    assert "differs: headers" in str(diff_lines(original, replay)[0])
    assert str(diff_lines(original, replay, ["x-trace"])[0]).endswith(": same")


def test_session_ignore_list_comes_from_the_command_line(tmp_path: object) -> None:
    from asgi_inspect.cli.main import build_parser

    args = build_parser().parse_args(["view", "t.jsonl", "--ignore-header", "x-trace"])
    assert args.ignore_header == ["x-trace"]
    args = build_parser().parse_args(["run", "--ignore-header", "x-a", "--ignore-header", "x-b"])
    assert args.ignore_header == ["x-a", "x-b"]
