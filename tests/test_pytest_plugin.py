"""The pytest plugin, run the way users run it: inner test suites under pytester, whose apps are
real FastAPI and Starlette apps driven by TestClient, httpx.ASGITransport and our Driver."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

# Loaded here so that the inner runs, in this process, find them loaded: pytester unloads
# whatever an inner run imports, and importing FastAPI again costs each run a second or more.
import fastapi.testclient  # noqa: F401
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_inspect import read
from asgi_inspect.testing.report import trace_path

pytest_plugins = ["pytester"]

# The inner suites' FastAPI app: JSON in and out, an endpoint that raises, JSON-RPC (which a
# lens names), and a body with a terminal escape, longer than a section shows.
APPS = '''
from fastapi import FastAPI
from starlette.responses import PlainTextResponse

api = FastAPI()

@api.post("/items")
def create(item: dict):
    return {"id": 1, **item}

@api.get("/boom")
def boom():
    raise ValueError("kaboom")

@api.post("/rpc")
def rpc(call: dict):
    return {"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32601, "message": "no"}}

@api.get("/escape", response_class=PlainTextResponse)
def escape():
    return "\\x1b[31mred\\x1b[0m " + "é" * 2000
'''

# A plain Starlette app, in a module of its own: the xdist run's workers load only Starlette.
SITES = '''
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute

async def hello(request):
    return PlainTextResponse("hello " + request.query_params.get("name", "?"))

async def echo(websocket):
    await websocket.accept()
    await websocket.send_text("echo " + await websocket.receive_text())
    await websocket.close()

site = Starlette(routes=[Route("/hello", hello), WebSocketRoute("/ws", echo)])
'''

FAILING = '''
import httpx
from fastapi.testclient import TestClient
from apps import api

client = TestClient(api)  # made at import, before any test: still recorded

def test_passes():
    assert client.post("/items", json={"a": 1}).status_code == 200

def test_sync_fails():
    reply = client.post("/items", json={"name": "x", "password": "hunter2"},
                        headers={"authorization": "Bearer s3cret-token"})
    client.get("/escape")
    assert reply.json()["id"] == 2

def test_app_raises():
    client.get("/boom")

async def test_async_fails():
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        await http.post("/rpc", json={"jsonrpc": "2.0", "method": "tools/list", "id": 1})
        reply = await http.get("/missing")
    assert reply.status_code == 200
'''


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with the apps and pytest-asyncio in auto mode, as ours is."""
    pytester.makepyfile(apps=APPS, sites=SITES)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = "
                     "function\n")
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An inner run in this process (pytest-textual-snapshot keeps one temporary directory per
    process, which an inner session would delete under the outer one's feet)."""
    return pytester.runpytest("-p", "no:textual-snapshot", "--tb=short", *args)


def _sections(out: str) -> str:
    """The asgi-inspect sections of a run's output (pytest's own parts quote the tests)."""
    return "\n".join(part.split("\n___")[0].split("\n===")[0]
                     for part in out.split("Captured asgi-inspect")[1:])


def _traces(directory: Path) -> dict[str, Path]:
    """The trace files by test name (the part of the file name before the digest)."""
    return {path.name.rsplit("-", 1)[0].split("_test_", 1)[-1]: path
            for path in directory.glob("*.jsonl")} if directory.is_dir() else {}


def test_failing_tests_get_their_exchanges_and_a_trace(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_failing=FAILING)
    traces = inner.path / "traces"
    result = _run(inner, "--asgi-inspect", "--asgi-inspect-dir", str(traces))
    result.assert_outcomes(passed=1, failed=3)
    out = result.stdout.str()

    assert out.count("Captured asgi-inspect call") == 3  # the passing test has none
    result.stdout.fnmatch_lines([
        "*Captured asgi-inspect call*", "2 exchanges recorded",
        f"open with: asgi-inspect view {traces}/test_failing.py_test_sync_fails-*.jsonl",
        "* testclient:50000 POST /items 200 * → apps.create",
        "    request body (*B):",
        '        {"name":"x","password":"<redacted:*>"}',
        "    response body (*B):",
        "* GET /escape 200 *",
        "    response body (3.9KiB, first 1.0KiB shown):",
        "        \\x1b[31mred\\x1b[0m éééé*",
    ])
    result.stdout.fnmatch_lines([
        "* GET /boom 500 * ValueError: kaboom → apps.boom",
        "    Traceback (most recent call last):",
        '*raise ValueError("kaboom")',
        "    ValueError: kaboom",
    ])
    result.stdout.fnmatch_lines([
        "* 127.0.0.1:123 POST /rpc «tools/list» 200 * ?JSON-RPC error -32601: no? → apps.rpc",
        "* 127.0.0.1:123 GET /missing 404 *", '        {"detail":"Not Found"}'])
    sections = _sections(out)
    assert "hunter2" not in sections and "s3cret" not in sections and "\x1b" not in sections

    files = _traces(traces)
    assert sorted(files) == ["app_raises", "async_fails", "sync_fails"]
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sync = read(files["sync_fails"]).exchanges
    assert [(e.method, e.path, e.status) for e in sync] == [("POST", "/items", 200),
                                                            ("GET", "/escape", 200)]
    assert b"hunter2" not in sync[0].body("receive") and b"s3cret" not in files[
        "sync_fails"].read_bytes()
    (raised,) = read(files["app_raises"]).exchanges
    assert raised.exception is not None and raised.exception.type == "ValueError"
    assert "_Dispatcher" not in raised.exception.traceback


def test_a_passing_run_adds_nothing(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_passing='''
        from fastapi.testclient import TestClient
        from apps import api

        def test_one():
            assert TestClient(api).post("/items", json={"a": 1}).json() == {"id": 1, "a": 1}
    ''')
    result = _run(inner, "--asgi-inspect")
    result.assert_outcomes(passed=1)
    assert "Captured asgi-inspect" not in result.stdout.str()
    assert _traces(inner.path / ".pytest_cache" / "d" / "asgi-inspect") == {}


def test_without_the_flag_nothing_is_wrapped_or_loaded(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_plain='''
        import httpx
        from fastapi.testclient import TestClient
        from apps import api

        def test_apps_are_untouched():
            assert TestClient(api)._transport.app is api
            assert httpx.ASGITransport(app=api).app is api
            assert "app" not in vars(httpx.ASGITransport)

        def test_fails():
            assert TestClient(api).get("/missing").status_code == 200
    ''')
    result = _run(inner)
    result.assert_outcomes(passed=1, failed=1)
    assert "Captured asgi-inspect" not in result.stdout.str()
    assert not (inner.path / ".pytest_cache" / "d" / "asgi-inspect").exists()


def test_unwritable_trace_and_the_last_20_exchanges(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_one='''
        from fastapi.testclient import TestClient
        from apps import api

        def test_fails():
            client = TestClient(api)
            assert [client.get(f"/missing/{n}").status_code for n in range(25)] == [200] * 25
    ''')
    occupied = inner.path / "occupied"
    occupied.write_text("a file, not a directory")
    result = _run(inner, "--asgi-inspect", "--asgi-inspect-dir", str(occupied))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["25 exchanges recorded (the last 20 shown)",
                                 f"trace not written: {occupied}/test_one.py_test_fails-*",
                                 "* GET /missing/5 404 *"])
    sections = _sections(result.stdout.str())
    assert sections.count("GET /missing/") == 20 and "Traceback" not in sections


def test_loading_the_plugin_loads_nothing_else() -> None:
    """pytest loads it in every run of every project that has asgi-inspect installed."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, asgi_inspect.pytest_plugin; print(' '.join(sorted("
         "m for m in sys.modules if m.startswith('asgi_inspect'))))"],
        capture_output=True, text=True, check=True).stdout.split()
    assert loaded == ["asgi_inspect", "asgi_inspect.pytest_plugin"]


def test_marker_and_fixture_record_single_tests(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_single='''
        import pytest
        from fastapi.testclient import TestClient
        from apps import api

        client = TestClient(api)

        @pytest.mark.asgi_inspect
        def test_marked_fails():
            assert client.post("/items", json={"n": 1}).json()["id"] == 2

        def test_unmarked_fails_plainly():
            assert client._transport.app is api  # the marked test's hook is gone
            assert client.get("/missing").status_code == 200

        def test_fixture(asgi_inspect):
            assert client._transport.app.title == "FastAPI"  # recorded, still the app to read
            client.post("/items", json={"n": 2})
            client.get("/missing")
            assert [(e.method, e.path, e.status) for e in asgi_inspect.exchanges] == [
                ("POST", "/items", 200), ("GET", "/missing", 404)]
            assert asgi_inspect.exchanges[0].body("send") == b'{"id":1,"n":2}'
    ''')
    result = _run(inner)
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    assert out.count("Captured asgi-inspect call") == 1
    result.stdout.fnmatch_lines(["*Captured asgi-inspect call*", "1 exchange recorded",
                                 "open with: asgi-inspect view *test_marked_fails-*.jsonl",
                                 "* POST /items 200 *"])
    assert sorted(_traces(inner.path / ".pytest_cache" / "d" / "asgi-inspect")) == [
        "marked_fails"]


def test_starlette_websocket_and_our_driver(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_site='''
        from starlette.testclient import TestClient
        from asgi_inspect.replay.driver import Driver
        from asgi_inspect.replay.request import ReplayRequest
        from sites import site

        def test_websocket_fails():
            with TestClient(site) as client:
                assert client.get("/hello?name=ann").text == "hello ann"
                with client.websocket_connect("/ws") as ws:
                    ws.send_text("hi")
                    assert ws.receive_text() == "echo hi!"

        async def test_replay_is_recorded(asgi_inspect):
            recorded = asgi_inspect.exchanges  # nothing yet
            assert recorded == []
            TestClient(site).get("/hello?name=bob")
            (original,) = asgi_inspect.exchanges
            async with Driver(site) as driver:
                again = await driver.replay(ReplayRequest.from_exchange(original))
            assert again.body("send") == b"hello bob"
            assert [(e.type, e.status) for e in asgi_inspect.exchanges] == [
                ("http", 200), ("lifespan", None), ("http", 200)]
    ''')
    result = _run(inner, "--asgi-inspect")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Captured asgi-inspect call*", "2 exchanges recorded", "*",
                                 "* GET /hello?name=ann 200 *", "    response body (9B):",
                                 "        hello ann", "* WS /ws 101 *"])


def test_under_xdist_sections_still_appear(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_failing='''
        import httpx
        from starlette.testclient import TestClient
        from sites import site

        def test_passes():
            assert TestClient(site).get("/hello").status_code == 200

        def test_sync_fails():
            assert TestClient(site).get("/hello?name=ann").text == "hello bob"

        async def test_async_fails():
            transport = httpx.ASGITransport(app=site)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                assert (await http.get("/hello?name=cy")).text == "hello bob"
    ''')
    quiet = [arg for name in ("textual-snapshot", "faker", "syrupy", "hypothesispytest")
             for arg in ("-p", f"no:{name}")]  # each worker would load them: seconds
    result = inner.runpytest_subprocess("-n", "2", "--asgi-inspect", *quiet)
    result.assert_outcomes(passed=1, failed=2)
    assert result.stdout.str().count("Captured asgi-inspect call") == 2
    result.stdout.fnmatch_lines(["* GET /hello?name=ann 200 *", "        hello ann"])
    result.stdout.fnmatch_lines(["* GET /hello?name=cy 200 *", "        hello cy"])
    assert sorted(_traces(inner.path / ".pytest_cache" / "d" / "asgi-inspect")) == [
        "async_fails", "sync_fails"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=300), min_size=2, max_size=5, unique=True))
def test_trace_names_are_safe_bounded_and_distinct(nodeids: list[str]) -> None:
    """Any node id (parameters hold anything: slashes, dots, control characters) names a file
    in the directory, of safe characters, and two node ids never share one."""
    directory = Path("/traces")
    paths = [trace_path(directory, nodeid) for nodeid in nodeids]
    for path in paths:
        assert path.parent == directory
        assert re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,119})?-[0-9a-f]{8}\.jsonl",
                            path.name)
    assert len(set(paths)) == len(paths)
