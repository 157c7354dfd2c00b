"""What the store keeps is out of the cycle collector's sight, and freed when it goes.

A full collection walks every tracked object: at 100k exchanges of some seventeen lists, dicts
and structs each, that was a pause of seconds. The store untracks each exchange it keeps with
its snapshots and lists (plain data, in no cycle), and reference counting frees them when they
are evicted. Recorded by a real recorder behind a real uvicorn server, or read from a file.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from asgi_inspect.formats import codec
from asgi_inspect.formats.reader import read
from asgi_inspect.model import Exchange
from asgi_inspect.record.middleware import Inspector
from asgi_inspect.record.sinks import MemorySink
from asgi_inspect.runtime.session import Session
from tests.apps import read_body
from tests.servers import uvicorn_server

CAP = 50  # exchanges the sink's store keeps


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echoes the request body under a few headers, and adds a scope key as routers do."""
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    scope["path_params"] = {"item": [1, {"deep": ["x"]}]}
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"x-echo", b"1")]})
    await send({"type": "http.response.body", "body": body or b"hello"})


@pytest.fixture(scope="module")
def recorded() -> Iterator[tuple[httpx.Client, MemorySink]]:
    sink = MemorySink(CAP)
    with uvicorn_server(Inspector(app, sink), lifespan="off") as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        yield client, sink


def take_in(recorded: tuple[httpx.Client, MemorySink], count: int) -> list[Exchange]:
    """``count`` requests through the recorder; the exchanges kept once all have arrived."""
    client, sink = recorded
    store = sink.collector.store
    before = len(store) + store.evicted
    for n in range(count):
        client.post(f"/items/{n}?q={n}", content=b"x" * (n % 7),
                    headers={"authorization": "Bearer t"})
    deadline = time.monotonic() + 30  # the batches leave on a 20 ms timer
    while len(store) + store.evicted < before + count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(store) + store.evicted == before + count
    return sink.exchanges


def tracked_parts(exchange: Exchange) -> list[str]:
    """Where in ``exchange`` a container is still tracked by the cycle collector."""
    found = ["exchange"] if gc.is_tracked(exchange) else []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, (dict, list)):
            if gc.is_tracked(value):
                found.append(where)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                walk(item, f"{where}[{key!r}]")

    walk(exchange.scope, "scope")
    walk(exchange.scope_added, "scope_added")
    for name in ("events", "notes", "output"):
        if gc.is_tracked(getattr(exchange, name)):
            found.append(name)
    for n, event in enumerate(exchange.events):
        if gc.is_tracked(event):
            found.append(f"events[{n}]")
        walk(event.message, f"events[{n}].message")
    for counters in (exchange.request, exchange.response):
        if gc.is_tracked(counters):
            found.append("counters")
    return found


def test_a_recorded_exchange_is_not_tracked(
        recorded: tuple[httpx.Client, MemorySink]) -> None:
    exchanges = take_in(recorded, 10)
    newest = exchanges[-1]
    assert newest.scope["path"] == "/items/9" and len(newest.events) == 3
    assert newest.scope_added is not None  # the nested path_params: untracked too
    assert [tracked_parts(e) for e in exchanges] == [[] for _ in exchanges]
    assert newest.status == 200 and newest.method == "POST"  # caches in its __dict__
    assert tracked_parts(newest) == []


def test_tracked_objects_grow_by_one_per_exchange_at_most(
        recorded: tuple[httpx.Client, MemorySink]) -> None:
    take_in(recorded, CAP)  # full: from here each new exchange evicts the oldest
    gc.collect()
    tracked = len(gc.get_objects())
    take_in(recorded, 4 * CAP)
    gc.collect()
    # The evicted stay alive a while as the collector's recent ones (late events still find
    # them): its entry there is tracked. About 17 tracked objects per exchange before.
    assert (len(gc.get_objects()) - tracked) / (4 * CAP) < 1.5


def test_untracked_exchanges_are_freed_by_their_reference_count(
        recorded: tuple[httpx.Client, MemorySink], tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    codec.write(codec.new_trace(take_in(recorded, 5)), path)
    trace = read(path)
    gc.collect()
    blocks = sys.getallocatedblocks()
    copies = [codec.exchange_copy(e) for _ in range(20) for e in trace.exchanges]
    session = Session.offline(copies, title=str(path))
    kept = len(copies)
    assert len(session.store) == kept and tracked_parts(copies[-1]) == []
    session.store.remove(copies)
    del session, copies
    gc.collect()  # the session's own objects (not the exchanges) may form cycles
    # Some 60 blocks per exchange stayed if its untracked parts were not freed.
    assert sys.getallocatedblocks() - blocks < kept * 3


def test_a_trace_read_from_a_file_is_untracked_as_it_is_stored(
        recorded: tuple[httpx.Client, MemorySink], tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    codec.write(codec.new_trace(take_in(recorded, 5)), path)
    session = Session.offline(read(path), title=str(path))
    assert len(session.store) == len(read(path).exchanges)
    assert [tracked_parts(e) for e in session.store] == [[] for _ in session.store]
    copy = session.store.duplicate(next(iter(session.store)))
    assert tracked_parts(copy) == [] and copy.scope["path"].startswith("/items/")


def test_settling_the_heap_leaves_a_full_collection_little_to_walk(tmp_path: Path) -> None:
    """What ``run`` and ``view`` do before the screen opens, in a process of its own (it is
    process-wide): what is alive is frozen, young collections come less often."""
    script = """
import gc, sys
from asgi_inspect.runtime.session import Session
from asgi_inspect.store.untracked import YOUNG_EVERY, settle_heap
from tests.tui.factory import sample_exchanges
session = Session.offline(sample_exchanges(2000), title="t")
before = len(gc.get_objects())
settle_heap()
assert gc.get_threshold()[0] == YOUNG_EVERY, gc.get_threshold()
print(before, len(gc.get_objects()), gc.get_freeze_count(), len(session.store))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    before, after, frozen, kept = map(int, done.stdout.split())
    assert kept == 2000 and before > 20_000 and frozen >= before // 2 and after < 1000
