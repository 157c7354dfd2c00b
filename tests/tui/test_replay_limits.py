"""The TUI's replay says what it cannot do: a confirm before sending a capped body, and the
ignore rules (``I``) the Diff tab honours."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual.widgets import TextArea

from asgi_inspect.model import Exchange
from asgi_inspect.replay.driver import Driver, InProcessReplayer
from asgi_inspect.replay.ignore import BodyIgnore
from asgi_inspect.replay.request import ReplayRequest
from asgi_inspect.runtime.session import Session
from asgi_inspect.tui.screens.replay_dialogs import IgnoreRulesScreen, ReplayWarningScreen
from tests import replay_apps
from tests.tui.conftest import make_app
from tests.tui.test_app import SIZE, polled

BODY = b"x" * 100


@pytest.fixture
def version() -> Iterator[dict[str, int]]:
    replay_apps.VERSION["value"] = 1
    yield replay_apps.VERSION
    replay_apps.VERSION["value"] = 1


async def capped_post(max_body: int = 16) -> Exchange:
    """A POST of 100 bytes recorded by a recorder that keeps ``max_body`` of them."""
    async with Driver(replay_apps.app, max_body=max_body) as driver:
        request = ReplayRequest(
            type="http", method="POST", path="/items", query=b"", body=BODY,
            headers=[(b"host", b"testserver"), (b"content-length", b"100")],
            scope={"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                   "scheme": "http", "path": "/items", "method": "POST"},
            receives=[({"type": "http.request", "body": BODY, "more_body": False}, 0)])
        exchange = await driver.replay(request)
    exchange.replay_of = None
    return exchange


def replay_session(original: Exchange) -> Session:
    session = Session.offline([original], title="replay limits")
    session.replayer = InProcessReplayer(replay_apps.app, "tests.replay_apps:app")
    return session


def screen_text(app: object) -> str:
    return "\n".join(str(widget.render()) for widget in app.screen.query("Static"))  # type: ignore[attr-defined]


async def test_a_capped_body_asks_first_cancel_sends_nothing_send_anyway_sends() -> None:
    original = await capped_post()
    app = make_app(session=replay_session(original))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await polled(pilot, lambda: isinstance(app.screen, ReplayWarningScreen))
        text = screen_text(app)
        assert f"#{original.id} POST /items" in text
        assert "the request body was capped at capture: 16B of 100B kept" in text
        await pilot.press("escape")
        await polled(pilot, lambda: not isinstance(app.screen, ReplayWarningScreen))
        await pilot.pause(0.2)
        assert len(app.store.exchanges) == 1  # cancelled: nothing was sent
        await pilot.press("r")
        await polled(pilot, lambda: isinstance(app.screen, ReplayWarningScreen))
        await pilot.click("#send")
        await polled(pilot, lambda: len(app.store.exchanges) == 2)
        replay = list(app.store.exchanges.values())[-1]
        assert replay.replay_of == original.id
        assert b'"body": "xxxxxxxxxxxxxxxx"' in replay.body("send")  # the 16 bytes kept
        assert any("request body was capped" in note for note in replay.notes)
    await app.session.close()


async def test_an_edited_body_is_sent_whole_without_asking() -> None:
    original = await capped_post()
    app = make_app(session=replay_session(original))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await polled(pilot, lambda: isinstance(app.screen.query(TextArea).first(), TextArea))
        editor = app.screen.query_one(TextArea)
        editor.text = editor.text.split("\n\n")[0] + "\n\nwhole body"
        await pilot.press("ctrl+s")
        await polled(pilot, lambda: len(app.store.exchanges) == 2)
        assert not isinstance(app.screen, ReplayWarningScreen)
    await app.session.close()


async def test_ignore_rules_make_the_diff_tab_same(version: dict[str, int]) -> None:
    original = await capped_post(max_body=1024)  # whole: no question before sending
    app = make_app(session=replay_session(original))
    async with app.run_test(size=SIZE) as pilot:
        version["value"] = 2
        await pilot.press("r")
        await polled(pilot, lambda: len(app.store.exchanges) == 2)
        replay = list(app.store.exchanges.values())[-1]
        await polled(pilot, lambda: app.exchange_list.selected is replay)
        app.detail.tabs.active = "diff"
        await pilot.pause()
        assert "~ $.version: 1 → 2" in "\n".join(str(line) for line in app.detail._diff.lines)
        await pilot.press("I")
        await polled(pilot, lambda: isinstance(app.screen, IgnoreRulesScreen))
        app.screen.query_one(TextArea).text = "$.version[\n"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, IgnoreRulesScreen)  # a bad rule: named, the text kept
        assert "bad JSONPath '$.version['" in str(app.screen.query_one("#ignore-error").render())
        app.screen.query_one(TextArea).text = "$.version\nhandling \\w+\n"
        await pilot.press("ctrl+s")
        await polled(pilot, lambda: not isinstance(app.screen, IgnoreRulesScreen))
        await pilot.pause()
        diff_text = "\n".join(str(line) for line in app.detail._diff.lines)
        assert f"#{replay.id} replays #{original.id}: same" in diff_text
        assert app.session.ignored_body == BodyIgnore.parse(["$.version"], [r"handling \w+"])
    await app.session.close()
