"""The Logs pane keeps only the session's bounded tail and renders only what is on screen."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot

from asgi_inspect.runtime.session import MAX_LOG_LINES, Session
from asgi_inspect.tui.app import InspectorApp
from tests.tui.conftest import AppFactory
from tests.tui.factory import showcase

SIZE = (120, 36)


def shown(app: InspectorApp) -> list[str]:
    """The text of the pane's lines on screen."""
    logs = app.logs
    height = logs.scrollable_content_region.height
    return [logs.render_line(y).text.rstrip() for y in range(height)]


async def until(pilot: Pilot[None], condition: Callable[[], bool]) -> None:
    """Let the app's polls run until ``condition()`` holds (a generous bound, not a timing:
    at least 30 s, for a machine whose cores are busy with other work)."""
    for _ in range(1500):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("the pane never took the lines in")


async def test_lines_logged_while_hidden_cost_nothing_and_show_as_the_tail(
        app_factory: AppFactory) -> None:
    session = Session.offline(showcase(), title="t")
    app = app_factory(session=session)
    async with app.run_test(size=SIZE) as pilot:
        for n in range(3 * MAX_LOG_LINES):
            session.log("stdout", f"GET /item/{n} 200")
        await pilot.pause(0.2)  # several polls while hidden
        logs = app.logs
        assert not logs.display and logs.virtual_size.height == 0
        assert len(logs._strips) == 0  # nothing rendered, nothing queued
        await pilot.press("L")
        await until(pilot, lambda: shown(app)[-1:] == [f"GET /item/{3 * MAX_LOG_LINES - 1} 200"])
        assert logs.virtual_size.height == MAX_LOG_LINES  # the bounded tail, no more
        # only what showed: the tail, and the top before the pane scrolled to its end
        assert len(logs._strips) <= 2 * logs.scrollable_content_region.height
        assert logs.line(logs.first) is session.logs[0]  # read in place, not copied


async def test_follows_the_end_and_keeps_the_place_when_scrolled_up(
        app_factory: AppFactory) -> None:
    session = Session.offline(showcase(), title="t")
    for n in range(MAX_LOG_LINES):
        session.log("stderr" if n % 2 else "stdout", f"line {n}")
    app = app_factory(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("L")
        await until(pilot, lambda: shown(app)[-1:] == [f"line {MAX_LOG_LINES - 1}"])
        session.log("inspector", "server process 7 exited with code 1")
        await until(pilot, lambda: shown(app)[-1:] == ["server process 7 exited with code 1"])
        logs = app.logs
        logs.focus()
        await pilot.press("home")
        await until(pilot, lambda: shown(app)[0] == "line 1")  # line 0 was pushed out
        logs.scroll_to(y=100, animate=False, immediate=True)
        await until(pilot, lambda: shown(app)[0] == "line 101")
        for n in range(10):
            session.log("stdout", f"more {n}")
        await until(pilot, lambda: logs.scroll_offset.y == 90)  # the lines moved up as older
        assert shown(app)[0] == "line 101"  # ones went, and the pane still shows the same ones
        await pilot.press("end")
        await until(pilot, lambda: shown(app)[-1:] == ["more 9"])
