"""The TUI keeps big stores out of the cycle collector's full passes, and small ones in.

``gc.freeze()`` spares a full collection the walk over 100k exchanges, but whatever Textual
render objects are alive at a freeze (strips with caches that refer to themselves) can never
be freed once they die: a store that stays small must never be frozen, or a long session at
``--max-exchanges 1000`` would leak with every freeze.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from textual.pilot import Pilot

from asgi_inspect.model import Exchange
from asgi_inspect.runtime.session import Session
from asgi_inspect.store.collector import Collector
from asgi_inspect.tui.app import FREEZE_EVERY, InspectorApp
from tests.tui.conftest import AppFactory
from tests.tui.factory import sample_exchanges

SIZE = (100, 30)


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """Start and end with nothing frozen (the freeze is process-wide)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


async def take_in(pilot: Pilot[None], app: InspectorApp, count: int) -> None:
    """Add ``count`` exchanges in batches, letting the app poll in between."""
    exchanges = sample_exchanges(count, start=1)
    for at in range(0, count, 1000):
        for exchange in exchanges[at:at + 1000]:
            app.store.add(exchange)
        app.poll()
        await pilot.pause()


def frozen(exchange: Exchange) -> bool:
    """Whether ``exchange`` is in the permanent generation (tracked, in no other)."""
    return gc.is_tracked(exchange) and id(exchange) not in {id(o) for o in gc.get_objects()}


def newest(app: InspectorApp) -> Exchange:
    return next(reversed(app.store.exchanges.values()))


async def test_a_small_store_is_never_frozen(app_factory: AppFactory) -> None:
    session = Session(collector=Collector(1000), title="capped")
    app = app_factory(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await take_in(pilot, app, 3 * FREEZE_EVERY)
        assert len(app.store) == 1000 and app.store.evicted == 3 * FREEZE_EVERY - 1000
        assert gc.get_freeze_count() == 0 and not frozen(newest(app))


async def test_a_big_store_is_frozen_as_it_takes_exchanges_in(app_factory: AppFactory) -> None:
    session = Session(collector=Collector(FREEZE_EVERY), title="full")
    app = app_factory(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await take_in(pilot, app, FREEZE_EVERY)
        assert frozen(newest(app))  # the store reached FREEZE_EVERY: its exchanges are frozen
        await take_in(pilot, app, FREEZE_EVERY)  # full: each new one evicts an old one
        assert len(app.store) == FREEZE_EVERY
        assert frozen(newest(app))  # taken in, not kept, is what counts
