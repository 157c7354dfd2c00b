"""Replay from the TUI: send requests again, show each result next to its original."""

from __future__ import annotations

from typing import TYPE_CHECKING

from asgi_inspect.diff import diff_exchanges
from asgi_inspect.model import Exchange
from asgi_inspect.replay import ReplayError, ReplayRequest
from asgi_inspect.tui.formatting import printable

if TYPE_CHECKING:
    from asgi_inspect.tui.app import InspectorApp

NO_REPLAYER = ("Replay needs a target: open the trace with --app module:app or --url URL, "
               "or use asgi-inspect run")


def replay_request(app: InspectorApp, exchange: Exchange) -> ReplayRequest | None:
    """The request to replay, or None after telling the user why it cannot be replayed."""
    if app.session.replayer is None:
        app.notify(NO_REPLAYER, severity="warning")
        return None
    try:
        return ReplayRequest.from_exchange(exchange)
    except ReplayError as exc:
        app.notify(f"#{printable(exchange.id)}: {exc}", severity="warning")
        return None


async def run_replays(app: InspectorApp, items: list[tuple[Exchange, ReplayRequest]]) -> None:
    """Replay one after the other; each result is a new exchange, the originals stay as they
    were. In-process results are added here; over HTTP they arrive through the live channel."""
    replayer = app.session.replayer
    assert replayer is not None
    results = []
    for original, request in items:
        try:
            replayed = await replayer.replay(original, request)
        except (ReplayError, OSError, Exception) as exc:  # a refused connection, a timeout...
            app.notify(f"replay of #{printable(original.id)} failed: {exc}", severity="error")
            continue
        if replayed is not None:
            stored = app.add_exchange(replayed)
            diff = diff_exchanges(original, stored, ignore_headers=app.session.ignored_headers)
            results.append(f"#{stored.id}: {diff.summary()}")
        else:
            results.append(f"#{printable(original.id)} sent")
    if results:
        shown = "; ".join(results[:3]) + (f" (+{len(results) - 3} more)" if len(results) > 3
                                          else "")
        app.notify(f"Replayed {len(results)} via {replayer.where}: {printable(shown)}")
