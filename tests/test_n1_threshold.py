"""``~n1`` takes the session's N+1 threshold (``--n-plus-one N``) wherever a session filters:
its view (set before or after the filter), the TUI's filter bar, ``run --headless --filter``
and ``mcp --attach`` (the running session's control socket); the default (5) elsewhere."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from asgi_inspect.filters import compile_filter
from asgi_inspect.runtime.session import Session
from tests.servers import free_port, wait_for_port
from tests.test_cli_run import running
from tests.test_mcp_server import call, stdio
from tests.tui.conftest import make_app
from tests.tui.factory import orders_exchange
from tests.tui.scenes import SIZE
from tests.tui.test_app import ids, polled

APP_DIR = Path(__file__).parent.parent
TEN, THREE = "10", "3"  # the exchanges' ids: how often each ran its customer query


def _orders() -> list:  # type: ignore[type-arg]
    """``/api/orders`` twice: its customer query run 10 times (#10), and 3 times (#3)."""
    return [orders_exchange(TEN), orders_exchange(THREE, orders=3)]


def test_compile_filter_takes_the_threshold_and_defaults_to_five() -> None:
    ten, three = _orders()
    assert compile_filter("~n1")(ten) and not compile_filter("~n1")(three)
    assert compile_filter("~n1", n_plus_one=3)(three)
    assert compile_filter("~n1", n_plus_one=10)(ten)
    assert not compile_filter("~n1", n_plus_one=11)(ten)
    assert compile_filter("!~n1 & ~nq 11", n_plus_one=11)(ten)


def test_the_sessions_view_follows_its_threshold_set_before_or_after_the_filter() -> None:
    session = Session.offline(_orders(), title="t")
    session.view.set_filter("~n1")
    assert [e.id for e in session.view.shown()] == [TEN]
    session.n_plus_one = 3  # the filter in force is compiled again
    assert [e.id for e in session.view.shown()] == [TEN, THREE]
    session.n_plus_one = 11
    assert session.view.shown() == [] and session.view.filter is not None
    assert session.view.filter.text == "~n1"

    earlier = Session.offline(_orders(), title="t")
    earlier.n_plus_one = 3
    earlier.view.set_filter("~n1 & ~nq <5")
    assert [e.id for e in earlier.view.shown()] == [THREE]


async def test_the_filter_bar_applies_n1_at_the_sessions_threshold() -> None:
    session = Session.offline(_orders(), title="t")
    session.n_plus_one = 3
    app = make_app(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"~n1 & ~nq <5")
        await polled(pilot, lambda: ids(app) == [THREE])


def test_headless_filter_and_mcp_attach_use_the_runs_threshold(tmp_path: Path) -> None:
    """/authors runs its books query 6 times: an N+1 at the default, not at --n-plus-one 7."""
    port = free_port()
    env = {"XDG_RUNTIME_DIR": str(tmp_path), "INSIDE_DATABASE": str(tmp_path / "app.db")}
    args = ["run", "tests.inside_app:app", "--app-dir", str(APP_DIR), "--port", str(port),
            "--headless", "--n-plus-one", "7", "--filter", "~n1 | ~c 404"]
    with running(args, **env) as process:
        wait_for_port(port, timeout=60)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            assert client.get("/authors").status_code == 200
            assert client.get("/missing").status_code == 404

        async def attached() -> None:
            async with stdio("--attach", env={"XDG_RUNTIME_DIR": str(tmp_path)}) as client:
                rows = ""
                deadline = time.monotonic() + 30  # the exchanges reach the session first
                while "/missing" not in rows and time.monotonic() < deadline:
                    rows = await call(client, "list_exchanges", filter="~u /authors|/missing")
                assert rows.startswith("2 exchanges match"), rows
                assert (await call(client, "list_exchanges", filter="~n1")) \
                    .startswith("0 exchanges match")
                assert (await call(client, "list_exchanges", filter="!~n1 & ~nq 7")) \
                    .startswith("1 exchange match")

        asyncio.run(attached())
        process.send_signal(2)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    printed = [line for line in out.splitlines() if " /" in line]
    assert any("/missing" in line for line in printed), out
    assert not any("/authors" in line for line in printed), out
