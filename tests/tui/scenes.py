"""The screens worth a picture, as Pilot steps: shared by the snapshot tests and the screenshots."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from asgi_inspect.model import OutboundCall
from asgi_inspect.tui.app import InspectorApp
from asgi_inspect.tui.widgets.exchange_list import PATH
from asgi_inspect.tui.widgets.filter_bar import APPLY_AFTER
from asgi_inspect.tui.widgets.inside import InsideTable

Scene = Callable[[Pilot[Any]], Coroutine[Any, Any, None]]
SIZE = (120, 36)


def still(pilot: Pilot[Any]) -> None:
    """No blinking cursors: the frame must not depend on when it is taken."""
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False


def select(path: str, tab: str = "overview") -> Scene:
    """Put the cursor on the last exchange whose path starts with ``path``, open ``tab``."""

    async def run(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, InspectorApp)
        listing = app.exchange_list
        index = max(i for i in range(listing.row_count) if listing.row(i)[PATH].startswith(path))
        listing.move_cursor(index)
        await pilot.pause()
        app.detail.tabs.active = tab
        await pilot.pause()
        still(pilot)

    return run


def press(*keys: str, wait: float = 0.0) -> Scene:
    """Press ``keys``, then let ``wait`` seconds pass (a filter typed applies on a pause)."""

    async def run(pilot: Pilot[Any]) -> None:
        await pilot.press(*keys)
        await pilot.pause(wait or None)
        still(pilot)

    return run


SCENES: dict[str, Scene] = {
    "main": press(),
    "overview": select("/api/items", "overview"),
    "request-json": select("/api/items", "request"),
    "response-html": select("/about", "response"),
    "messages": select("/events", "messages"),
    "websocket-frames": select("/ws/echo", "frames"),
    "exception": select("/orders", "exception"),
    "output": select("/orders", "output"),
    "help": press("question_mark"),
    "filter": press("slash", *"~m POST | ~c 5xx", wait=APPLY_AFTER + 0.3),
    "filter-error": press("slash", *"~m POST & ~nope", wait=APPLY_AFTER + 0.3),
    "side-by-side": press("v", "g", "j", "j"),
}


async def inside_full_screen(pilot: Pilot[Any]) -> None:
    """The Inside tab of the exchange with an N+1, full screen, on its outbound call."""
    await select("/api/orders", "inside")(pilot)
    app = pilot.app
    assert isinstance(app, InspectorApp)
    table = app.detail.query_one(InsideTable)
    calls = [i for i, item in enumerate(table.items) if isinstance(item, OutboundCall)]
    table.move_cursor(calls[0])
    app.action_open_detail()
    await pilot.pause()
    still(pilot)


# Over tests/tui/factory.py's inside_showcase(): exchanges that made calls and queries.
INSIDE_SCENES: dict[str, Scene] = {
    "inside": inside_full_screen,
    "inside-overview": select("/api/orders", "overview"),
    "inside-checkout": select("/api/checkout", "inside"),
}
