"""Exchanges recorded through the Inspector whose app made given calls, queries and spans (by
the hooks' own API, ``record.inside.emit``), for the tests of the views over them: filters,
formats, MCP, session diff, gen-test. The hooks of each library are tested on their own."""

from __future__ import annotations

from time import perf_counter_ns
from typing import Any

import msgspec

from asgi_inspect.model import Exchange, Inside
from asgi_inspect.record import inside
from tests import apps

_TIMES = ("t_start", "t_first_byte", "t_end")


async def answer(scope: Any, receive: Any, send: Any) -> None:
    """The app as it answers when nothing records it: ``ok`` to any request (a generated
    test's app: ``tests.recorded_inside:answer``), and a lifespan that completes."""
    if scope["type"] == "lifespan":
        await apps.serve_lifespan(receive, send)
        return
    await apps.read_body(receive)
    await apps.respond(send, b"ok")


async def record_inside(path: str, items: list[Inside], *, started_at: float | None = None,
                        status: int = 200, body: bytes = b"ok") -> Exchange:
    """One ``GET path`` whose app made ``items`` and answered ``status`` with ``body``. The
    items' times are as given, from the exchange's start (the recorded ones are moved back by
    however long the app took to start: no wall clock in the tests). Its id is the path
    without its slashes (each Inspector counts from 1); ``started_at``, when given, replaces
    the clock's."""
    async def app(scope: Any, receive: Any, send: Any) -> None:
        tag = inside.current()
        assert tag is not None
        now = perf_counter_ns()
        for item in items:
            times = {name: getattr(item, name) + now for name in _TIMES
                     if getattr(item, name, None) is not None}
            inside.emit(tag, msgspec.structs.replace(item, **times))
        await apps.respond(send, body, status)

    _, exchange = await apps.record(app, apps.http_scope(path, headers=[(b"host", b"shop")]),
                                    [{"type": "http.request", "body": b""}],
                                    capture_calls=True)
    if items:
        late = exchange.inside[0].t_start - min(item.t_start for item in items)
        exchange.inside = [msgspec.structs.replace(item, **{
            name: getattr(item, name) - late for name in _TIMES
            if getattr(item, name, None) is not None}) for item in exchange.inside]
    exchange.id = path.strip("/").replace("/", "-")
    if started_at is not None:
        exchange.started_at = started_at
    return exchange
