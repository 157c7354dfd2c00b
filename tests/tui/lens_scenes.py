"""The lens screens worth a picture, over real recorded traffic (``lens_showcase.jsonl``,
made by ``scripts/lens_showcase.py``): shared by the snapshot tests and the screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from asgi_inspect import read
from asgi_inspect.runtime.session import Session
from asgi_inspect.tui.app import InspectorApp
from asgi_inspect.tui.widgets.exchange_list import OPERATION
from tests.tui.conftest import make_app
from tests.tui.scenes import Scene, select, still

TRACE = Path(__file__).with_name("lens_showcase.jsonl")


def lens_app() -> InspectorApp:
    """The TUI over the recorded showcase, as ``asgi-inspect view`` opens it."""
    session = Session.offline(read(TRACE), title="asgi-inspect view lens_showcase.jsonl")
    return make_app(session=session)


def select_operation(operation: str, tab: str) -> Scene:
    """Put the cursor on the exchange whose operation is ``operation``, open ``tab``."""

    async def run(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, InspectorApp)
        listing = app.exchange_list
        listing.move_cursor(next(i for i in range(listing.row_count)
                                 if listing.row(i)[OPERATION] == operation))
        await pilot.pause()
        app.detail.tabs.active = tab
        await pilot.pause()
        still(pilot)

    return run


LENS_SCENES: dict[str, Scene] = {
    "lens-jsonrpc": select_operation("items.add", "protocol"),
    "lens-graphql": select_operation("query GetItem", "protocol"),
    "lens-sse": select("/chat", "protocol"),
    "lens-socketio": select("/socket.io", "frames"),
    "lens-form": select("/upload", "protocol"),
    "decoded-body": select("/api/catalog", "response"),
}
