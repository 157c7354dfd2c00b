"""``c`` with two marked exchanges: both side by side and their diff, from real recordings."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import OptionList, Static

from asgi_inspect import read
from asgi_inspect.cli.main import build_parser
from asgi_inspect.cli.view import _compared, open_session, viewer
from asgi_inspect.runtime.session import Session
from asgi_inspect.tui.screens.compare import CompareScreen, PairsScreen
from tests.recorded_traffic import record
from tests.tui.conftest import make_app
from tests.tui.test_app import SIZE


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The app's traffic recorded, then again after its prices changed."""
    folder = tmp_path_factory.mktemp("compare")
    return record(folder / "a.jsonl"), record(folder / "b.jsonl", changed=True)


@pytest.fixture
def items(traces: tuple[Path, Path]) -> list[object]:
    """GET /api/items as recorded, then again after the app's prices changed."""
    before, after = (read(path).exchanges for path in traces)
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


async def test_view_compare_opens_on_the_pairs(traces: tuple[Path, Path]) -> None:
    """view A --compare B: the pairs as diff reports them; Enter on a changed one compares
    it side by side; Esc twice shows A's session."""
    a, b = traces
    args = build_parser().parse_args(["view", str(a), "--compare", str(b), "--ignore-field",
                                      "$.request_id"])
    session = open_session(args)
    app = viewer(session, _compared(args, session))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PairsScreen)
        rows = [str(app.screen.query_one(OptionList).get_option_at_index(i).prompt)
                for i in range(6)]
        assert rows[1] == "~ changed  GET /api/items (#3 → #3)  200 → 200  differs: body"
        assert rows[0].startswith("= same     GET /health (#2 → #2)")
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        assert "~ $[0].price: 3 → 30" in _text(app.screen)
        await pilot.press("escape", "escape")
        assert not isinstance(app.screen, (CompareScreen, PairsScreen))
    await app.session.close()
