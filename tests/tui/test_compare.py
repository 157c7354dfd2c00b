"""``c`` with two marked exchanges: both side by side and their diff, from real recordings."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from textual.widgets import Static

from asgi_inspect import read
from asgi_inspect.runtime.session import Session
from asgi_inspect.tui.screens.compare import CompareScreen
from tests.recorded_traffic import record
from tests.tui.conftest import make_app
from tests.tui.test_app import SIZE


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> list[object]:
    """GET /api/items as recorded, then again after the app's prices changed."""
    folder = tmp_path_factory.mktemp("compare")
    before = read(record(folder / "a.jsonl")).exchanges
    after = read(record(folder / "b.jsonl", changed=True)).exchanges
    first = next(e for e in before if e.path == "/api/items")
    second = next(e for e in after if e.path == "/api/items")
    second.id = "20"
    return [first, second]


def _text(screen: CompareScreen) -> str:
    """What the screen's columns and diff hold, as plain text."""
    console = Console(width=200, file=io.StringIO(), color_system=None)
    for static in screen.query(Static):
        console.print(static.content)
    return str(console.file.getvalue())


async def test_two_marked_exchanges_compare_side_by_side(items: list[object]) -> None:
    app = make_app(session=Session.offline(items, title="compare"))  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")  # nothing marked: it says what to do
        assert not isinstance(app.screen, CompareScreen)
        await pilot.press("g", "m", "j", "m")
        assert len(app.store.marked()) == 2
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        text = _text(app.screen)
        assert "#3 GET /api/items" in text and "#20 GET /api/items" in text
        assert "#3 → #20: differs: headers, body" in text
        assert "~ $[0].price: 3 → 30" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, CompareScreen)
    await app.session.close()
