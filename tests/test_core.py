"""The core every view stands on: the store's edits and change log, the view's selections and
order, and the replay loop (outcomes, failures, the store it feeds)."""

from __future__ import annotations

import pytest

from asgi_inspect.filters import FilterError
from asgi_inspect.model import Exchange
from asgi_inspect.ops.replay import replay, replayable
from asgi_inspect.replay.driver import InProcessReplayer
from asgi_inspect.replay.request import ReplayRequest
from asgi_inspect.store.store import Store
from asgi_inspect.store.view import ORDERS, View
from asgi_inspect.types import Receive, Scope, Send
from tests.tui.factory import http_exchange, lifespan_exchange, sample_exchanges


def _store(count: int = 12) -> Store:
    store = Store()
    for exchange in sample_exchanges(count):
        store.add(exchange)
    store.drain_changes()
    return store


def test_every_edit_is_in_the_change_log() -> None:
    store = _store()
    first, second, third = (store.exchanges[i] for i in ("1", "2", "3"))
    store.mark([first, second])
    assert store.drain_changes() == {"1", "2"} and first.marked and second.marked
    store.mark([first])  # toggles
    assert not first.marked and store.marked() == [second]
    store.comment(third, "  slow one \n")
    assert third.comment == "slow one" and store.drain_changes() == {"1", "3"}
    copy = store.duplicate(third)
    assert copy.id == "13" and copy is not third and copy.events == third.events
    assert copy.comment == "copy of #3: slow one" and third.comment == "slow one"
    assert list(store.exchanges)[-1] == "13" and store.drain_changes() == {"13"}
    assert store.remove([first, http_exchange("99")]) == 1
    assert "1" not in store and store.drain_changes() == {"1"}
    store.clear()
    assert len(store) == 0 and store.memory == 0 and len(store.drain_changes()) == 12


def test_added_exchanges_keep_their_ids_unless_taken() -> None:
    store = Store()
    assert store.add(http_exchange("7")).id == "7"
    assert store.add(http_exchange("7")).id == "8"  # taken: the next free number
    assert store.add(http_exchange("3")).id == "3"
    assert store.new_id() == "9"


def test_the_view_selects_what_each_operation_acts_on() -> None:
    store = _store()
    view = View(store, filter_text="~m POST")
    posts = [e for e in store if e.method == "POST"]
    assert view.shown() == posts and all(view.matches(e) for e in posts)
    store.mark([store.exchanges["2"], posts[-1]])
    assert view.select("marked") == store.marked()
    view.marked_only = True
    assert view.shown() == [posts[-1]]
    assert view.select("focused") == [] and view.focused() is None
    view.focus = "2"
    assert view.select("focused") == [store.exchanges["2"]]  # focus is not filtered
    assert view.counts() == {"focused": 1, "marked": 2, "shown": 1, "all": 12}
    assert view.select("all") == list(store)
    with pytest.raises(ValueError, match="unknown selection"):
        view.select("everything")  # type: ignore[arg-type]


def test_a_bad_filter_leaves_the_view_as_it_was() -> None:
    view = View(_store(), filter_text="~c 2xx")
    with pytest.raises(FilterError):
        view.set_filter("~nonsense")
    assert view.filter is not None and view.filter.text == "~c 2xx"
    view.set_filter("  ")
    assert view.filter is None and not view.filtered


@pytest.mark.parametrize("order", ORDERS)
def test_orders_sort_ascending_and_keep_arrival_order_on_ties(order: str) -> None:
    store = _store(30)
    view = View(store)
    view.set_order(order)  # type: ignore[arg-type]
    shown = view.shown()
    assert sorted(shown, key=lambda e: shown.index(e)) == shown
    assert {e.id for e in shown} == set(store.exchanges)
    if order == "time":
        assert shown == list(store)
    else:
        keys = [getattr(e, {"duration": "duration_ns", "path": "label"}.get(order, order))
                for e in shown] if order != "size" else [e.response.bytes for e in shown]
        assert keys == sorted(keys)
    with pytest.raises(ValueError, match="unknown order"):
        view.set_order("colour")  # type: ignore[arg-type]
    view.set_order("time")
    assert [view.next_order() for _ in ORDERS] == [*ORDERS[1:], "time"]


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/boom":
        raise RuntimeError("the endpoint failed")
    body = (await receive()).get("body", b"")
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def test_the_replay_loop_adds_diffs_and_goes_on_after_a_failure() -> None:
    original = http_exchange("1", method="POST", path="/echo", request_body=b"hi",
                             response_body=b"hi", content_type="text/plain")
    failing = http_exchange("2", path="/boom")
    store = Store()
    for exchange in (original, failing, lifespan_exchange("3")):
        store.add(exchange)
    chosen = replayable(store)
    assert [e.id for e in chosen] == ["1", "2"]  # the lifespan cannot be replayed
    edited = ReplayRequest.from_exchange(original).edited(body=b"bye")
    replayer = InProcessReplayer(_echo, "echo", timeout=5)
    try:
        outcomes = [o async for o in replay(replayer, [original, failing, (original, edited),
                                                       lifespan_exchange("9")], store=store)]
    finally:
        await replayer.close()
    same, failed, changed, skipped = outcomes
    assert same.replay is not None and same.replay.replay_of == "1" and not same.differs
    assert same.replay.id in store and same.replay.body("receive") == b"hi"
    assert failed.replay is not None and failed.replay.exception is not None  # recorded
    assert changed.differs and changed.replay is not None
    assert changed.replay.body("send") == b"bye"
    assert skipped.skipped and skipped.error and "lifespan" in skipped.error
    assert original.events == http_exchange("1", method="POST", path="/echo",
                                            request_body=b"hi", response_body=b"hi",
                                            content_type="text/plain").events


async def test_a_replay_that_raises_is_an_outcome_not_an_exception() -> None:
    class Refusing:
        where = "nowhere"

        async def replay(self, original: Exchange, request: ReplayRequest) -> Exchange | None:
            raise ConnectionRefusedError("connection refused")

        async def close(self) -> None:
            pass

    outcomes = [o async for o in replay(Refusing(), [http_exchange("1")])]
    assert [(o.error, o.replay, o.skipped) for o in outcomes] == [
        ("connection refused", None, False)]
