"""The TUI's export dialog (``x``) can add the outbound calls as HAR entries of their own, as
``asgi-inspect export -f har --with-calls`` does; another format ignores the box."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Checkbox, Input, RadioButton

from asgi_inspect.model import OutboundCall
from asgi_inspect.tui.screens.export import ExportScreen
from tests.recorded_inside import record_inside
from tests.tui.conftest import AppFactory

SIZE = (120, 36)


async def test_the_dialog_adds_the_calls_to_a_har(app_factory: AppFactory,
                                                  tmp_path: Path) -> None:
    made = await record_inside("/orders", [OutboundCall(
        library="httpx", method="GET", url="http://stock.internal/levels", t_start=0,
        t_end=1_000_000, status=200)])
    app = app_factory([made])
    async with app.run_test(size=SIZE) as pilot:
        for fmt, tick in (("har", True), ("har", False), ("jsonl", True)):
            await pilot.press("x")
            assert isinstance(app.screen, ExportScreen)
            await pilot.click({b.name: b for b in app.screen.query(RadioButton)}[fmt])
            app.screen.query_one("#with-calls", Checkbox).value = tick
            path = tmp_path / f"{fmt}-{tick}.{fmt}"
            app.screen.query_one("#path", Input).value = str(path)
            await pilot.click("#export")
            await pilot.pause()
            assert not isinstance(app.screen, ExportScreen)  # written, no error shown
    entries = json.loads((tmp_path / "har-True.har").read_text())["log"]["entries"]
    assert [e.get("_asgiInspect", {}).get("madeBy") for e in entries] == [None, "orders"]
    assert len(json.loads((tmp_path / "har-False.har").read_text())["log"]["entries"]) == 1
    (line,) = (tmp_path / "jsonl-True.jsonl").read_text().splitlines()[1:]
    assert json.loads(line)["inside"][0]["url"] == "http://stock.internal/levels"
