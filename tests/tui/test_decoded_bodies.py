"""The Response tab of a compressed body: decoded, an info line that says so, ``b`` for raw."""

from __future__ import annotations

from textual.widgets import DataTable

from asgi_inspect.tui.widgets.body_view import MessageView
from tests.content_samples import TEXT, record
from tests.tui.conftest import make_app


async def test_response_tab_decodes_and_b_shows_the_bytes_as_sent() -> None:
    recorded = record([("GET", "/starlette"), ("GET", "/capped"), ("GET", "/corrupt")])
    app = make_app(list(recorded.values()))
    async with app.run_test(size=(120, 36)) as pilot:
        view: MessageView = app.detail._response
        app.detail.tabs.active = "response"
        await pilot.press("g")
        for step in range(len(recorded)):
            await pilot.press(*(["escape", "j"] if step else []))  # back to the list, next
            exchange = app.exchange_list.selected
            assert exchange is not None and app.detail.exchange is exchange
            await pilot.pause()
            info = str(view._info.render())
            lines = view._body.lines
            if exchange.path == "/starlette":
                assert info == "text · gzip decoded · 1.2KiB sent → 14.5KiB · b shows raw"
                assert lines[:2] == ["item 0: the quick brown fox", "item 1: the quick brown fox"]
                view.query_one(DataTable).focus()
                await pilot.press("b")
                raw_info = str(view._info.render())
                assert raw_info == "binary · gzip as sent · 1.2KiB sent · b decodes"
                assert view._body.lines[0].startswith("00000000  1f 8b 08")
                await pilot.press("b")
                assert view._body.lines == TEXT.decode().split("\n")
            elif exchange.path == "/capped":
                assert info.startswith("text · gzip decoded · 150KiB sent → 134KiB · b shows "
                                       "raw · capped capture: decoded gzip 64.0KiB of 150KiB")
            else:
                assert info.startswith("binary · 27B sent · could not decode gzip: ")
                assert lines[0].startswith("00000000  1f 8b 08")
