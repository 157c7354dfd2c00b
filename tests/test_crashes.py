"""Honest crashes and restarts, and the first minutes on the command line (issue 12, items 7
and 8): a server that dies during a request, a recorder killed under ``listen``, a broken
``--reload``, apps without lifespan, our frames in tracebacks, and the CLI's one-line errors.
Real ``asgi-inspect`` processes, uvicorn servers and clients throughout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

import asgi_inspect
from asgi_inspect import Inspector
from asgi_inspect.cli.listen import WAITING_HINT
from asgi_inspect.filters import compile_filter
from asgi_inspect.model import Exchange
from asgi_inspect.record.sinks import MemorySink
from asgi_inspect.record.wire import Closed, Header, Open, Record
from asgi_inspect.runtime.runner import ServerProcess, ServerSpec
from asgi_inspect.runtime.session import Session
from asgi_inspect.store.collector import LOST_AFTER_NS, Collector
from asgi_inspect.tui.app import InspectorApp
from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "asgi_inspect"]
BOUND = 60.0  # only stops a hung test: Python and uvicorn start slowly on busy cores


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=BOUND,
                          cwd=cwd, check=False)


# the server dies during a request ------------------------------------------------------------

def test_a_request_that_kills_the_server_at_once_is_kept_and_says_so(tmp_path: Path) -> None:
    port, record = free_port(), tmp_path / "trace.jsonl"
    process = subprocess.Popen([*CLI, "run", "tests.crash_app:app", "--app-dir", str(ROOT),
                                "--port", str(port), "--headless", "--record", str(record)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        wait_for_port(port, timeout=BOUND)
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/crash", timeout=BOUND)
        out, err = process.communicate(timeout=BOUND)  # headless ends with its server
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0 and "Traceback" not in err, err
    exchanges = asgi_inspect.read(record).exchanges
    crash = next(e for e in exchanges if e.path == "/crash")
    assert crash.outcome == "incomplete" and crash.lost_records
    assert any("server exited with code 3 during this request" in n for n in crash.notes)
    lifespan = next(e for e in exchanges if e.type == "lifespan")
    assert "server process exited with code 3" in lifespan.notes
    assert lifespan.outcome != "streaming" and lifespan.label == "process exited"
    assert "GET /crash --- " in out and "[incomplete]" in out, out


async def _until(check: Callable[[], bool], what: str, *, every: float = 0.0,
                 meanwhile: Callable[[], object] | None = None) -> None:
    """Wait for ``check`` (calling ``meanwhile`` every ``every`` seconds while it is false);
    the bound only stops a hung test."""
    start = time.monotonic()
    deadline, next_call = start + BOUND, start + every
    while not check():
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(what)
        if meanwhile is not None and now >= next_call:
            meanwhile()
            next_call = now + every
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def served(spec: ServerSpec) -> AsyncIterator[Session]:
    """A live session serving ``spec`` in a server child, as ``asgi-inspect run`` has it."""
    session = Session(collector=Collector())
    address = await session.open_channel()
    await session.start_server(ServerProcess(spec, str(address)))
    try:
        assert session.server is not None and await session.server.wait_ready(BOUND)
        yield session
    finally:
        await session.close()


def _lifespans(session: Session) -> list[Exchange]:
    return [e for e in session.store if e.type == "lifespan"]


async def test_a_crash_after_a_while_shows_in_the_tui_and_ctrl_r_leaves_one_lifespan(
) -> None:
    spec = ServerSpec(target="tests.crash_app:app", port=free_port(), app_dir=str(ROOT))
    async with served(spec) as session, httpx.AsyncClient(base_url=spec.url) as client:
        app = InspectorApp(session)
        async with app.run_test(size=(120, 30)) as pilot:
            await _until(lambda: len(_lifespans(session)) == 1, "the lifespan is recorded")
            with contextlib.suppress(httpx.HTTPError):
                await client.get("/crash-later")
            await _until(lambda: all(e.outcome != "streaming" for e in session.store),
                         "what the dead server left open is settled")
            await _until(lambda: "exited (3) — ctrl+r restarts" in str(app.header.render()),
                         "the header says how to restart")
            crash = next(e for e in session.store if e.path == "/crash-later")
            assert crash.notes == ["server exited with code 3 during this request: its last "
                                   "records were lost"]
            assert _lifespans(session)[0].notes[-1] == "server process exited with code 3"
            await pilot.press("ctrl+r")
            await _until(lambda: len(_lifespans(session)) == 2, "the new lifespan is recorded")
            assert [e.outcome for e in _lifespans(session)].count("streaming") == 1
            await _until(lambda: session.state == "running", "the server answers again")
            assert (await client.get("/after")).text == "ok"


async def test_a_broken_reload_and_a_dead_worker_show_in_the_header(
        tmp_path: Path) -> None:
    module = tmp_path / "reloaded_app.py"
    module.write_text("from tests.crash_app import app\n")
    spec = ServerSpec(target="reloaded_app:app", port=free_port(), app_dir=str(tmp_path),
                      reload=True, extra_env={"PYTHONPATH": str(ROOT)})
    async with served(spec) as session, InspectorApp(session).run_test(size=(200, 30)) as pilot:
        await _until(lambda: any(line.text.startswith("INFO:     Started server process")
                                 for line in session.logs), "the worker loaded the app")
        module.write_text("from tests.crash_app import app\n\ndef broken(:\n")
        failed = f"reload failed: SyntaxError in {module}:3 — fix and save"
        await _until(lambda: failed in str(pilot.app.header.render()), "the header says so")
        assert any("Traceback" in line.text for line in session.logs)  # the Logs pane has it
        module.write_text("from tests.crash_app import app\n")
        # uvicorn's StatReload forgets every mtime when it restarts and takes the next ones it
        # sees as the baseline: a fix saved before its first look after the failed restart (a
        # busy machine) is that baseline, and a user saves again. So does this test.
        await _until(lambda: "● running" in str(pilot.app.header.render()), "served again",
                     every=2.0, meanwhile=module.touch)
        async with httpx.AsyncClient(base_url=spec.url) as client:
            await _until(lambda: session.state == "running", "the new worker answers")
            assert (await client.get("/ok")).text == "ok"
            await asyncio.sleep(0.1)  # a quiet interval: /crash's start leaves at once
            with contextlib.suppress(httpx.HTTPError):
                await client.get("/crash")  # the worker dies; the reloader lives on
        await _until(lambda: "exited — ctrl+r restarts" in str(pilot.app.header.render()),
                     "the header says the worker is gone")
        crash = next(e for e in session.store if e.path == "/crash")
        assert crash.outcome == "incomplete" and "ended during this request" in crash.notes[0]


# listen: a recorder whose process is killed -------------------------------------------------

def test_listen_settles_what_a_killed_recorder_left_open(tmp_path: Path) -> None:
    address_file, record, port = tmp_path / "address", tmp_path / "trace.jsonl", free_port()
    listener = subprocess.Popen([*CLI, "listen", "--headless", "--address-file",
                                 str(address_file), "--record", str(record)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + BOUND
        while not address_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tests.crash_app:recorded", "--factory",
             "--port", str(port), "--log-level", "warning"], cwd=ROOT,
            env={**os.environ, "ASGI_INSPECT": address_file.read_text().strip()})
        try:
            wait_for_port(port, timeout=BOUND)
            started = threading.Event()
            threading.Thread(target=_stream, args=(f"http://127.0.0.1:{port}/slow", started),
                             daemon=True).start()
            assert started.wait(BOUND)
            time.sleep(0.3)  # its first records reached the listener
        finally:
            server.kill()  # SIGKILL: the recorder never closes
            server.wait(timeout=BOUND)
        settled = _line_with(listener, "GET /slow")  # printed once settled, while
        listener.send_signal(signal.SIGINT)  # the listener runs on
        out, err = listener.communicate(timeout=BOUND)
        out = settled + out
    finally:
        if listener.poll() is None:
            listener.kill()
    slow = next(e for e in asgi_inspect.read(record).exchanges if e.path == "/slow")
    assert slow.outcome == "incomplete" and slow.lost_records, err
    assert slow.notes == [f"the recorder's process {server.pid} ended during this request "
                          f"without closing it: its last records were lost"]
    assert "GET /slow 200" in out and "[incomplete]" in out
    connect = err.splitlines()[:2]  # how to connect, said first, on stderr
    assert connect[0].startswith("asgi-inspect: listening. Start your server with this")
    assert connect[1] == f"export ASGI_INSPECT='{address_file.read_text().strip()}'"


async def test_an_empty_listen_list_says_how_to_connect() -> None:
    session = Session(collector=Collector(), title="asgi-inspect listen",
                      waiting_hint=WAITING_HINT)
    app = InspectorApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        shown = " ".join(app.exchange_list.render_line(y).text.strip() for y in range(1, 5))
        assert "Nothing recorded yet. Start your server with ASGI_INSPECT set (A copies it;" \
            in shown, shown


def _line_with(process: subprocess.Popen[str], text: str) -> str:
    """Read the process's output up to the first line holding ``text``; what was read. A
    hung test ends: the process is stopped after BOUND seconds."""
    assert process.stdout is not None
    stopper = threading.Timer(BOUND, process.send_signal, (signal.SIGINT,))
    stopper.start()
    read = ""
    try:
        while text not in read and (line := process.stdout.readline()):
            read += line
    finally:
        stopper.cancel()
    return read


def _stream(url: str, started: threading.Event) -> None:
    """Read a response that never ends until the server dies."""
    with contextlib.suppress(httpx.HTTPError), httpx.stream("GET", url, timeout=BOUND) as r:
        for _ in r.iter_bytes():
            started.set()


# what the recorder makes of an app -----------------------------------------------------------

def test_a_lifespan_is_no_suspect_when_records_go_missing() -> None:
    """A lifespan is silent for hours: a lost batch must not settle it 10 s later; it ends
    with its recorder."""
    encoder = msgspec.msgpack.Encoder()

    def frame(batch: int, *records: Record) -> bytes:
        return encoder.encode([Header("worker", batch, 0, 0, 65536, 1000, 0), *records])

    collector = Collector()
    collector.feed(frame(0, Open(1, 0, {"type": "lifespan"}),
                         Open(2, 0, {"type": "http", "path": "/", "headers": []})))
    collector.feed(frame(2, Open(3, LOST_AFTER_NS * 2, {"type": "http", "path": "/next"})))
    lifespan, lost, _ = collector.store  # batch 1 went missing; much later, more traffic
    collector.feed(frame(3, Closed(3, LOST_AFTER_NS * 3, 0)))
    assert lost.outcome == "incomplete" and lifespan.outcome == "streaming"
    collector.feed(frame(4))  # the recorder's close
    assert lifespan.outcome == "incomplete" and lifespan.label == "process exited"


async def _call(inspector: Inspector, scope: dict[str, Any],
                receive: Callable[[], Any]) -> None:
    async def send(message: dict[str, Any]) -> None:
        pass

    with contextlib.suppress(Exception):
        await inspector(scope, receive, send)
    inspector.flush()


async def test_an_app_without_lifespan_is_a_note_not_a_failure() -> None:
    async def graphql_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # as Strawberry's ASGI app does
            raise ValueError(f"Unknown scope type: {scope['type']!r}")

    sink = MemorySink()
    inspector = Inspector(graphql_app, sink=sink)

    async def startup() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    await _call(inspector, {"type": "lifespan", "asgi": {"version": "3.0"}}, startup)
    (lifespan,) = sink.exchanges
    assert lifespan.outcome == "complete" and lifespan.exception is None
    assert lifespan.notes[0].startswith("lifespan unsupported: the app raised ValueError: "
                                        "Unknown scope type: 'lifespan'")
    assert not compile_filter("~e")(lifespan)
    assert lifespan.label == "lifespan unsupported"


async def test_a_lifespan_that_fails_its_startup_is_still_an_error() -> None:
    async def failing(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        raise RuntimeError("no database")

    sink = MemorySink()

    async def startup() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    await _call(Inspector(failing, sink=sink), {"type": "lifespan"}, startup)
    (lifespan,) = sink.exchanges
    assert lifespan.exception is not None and compile_filter("~e")(lifespan)


async def test_recorded_tracebacks_leave_out_the_recorders_frames() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()  # the server's receive raises through ours

    async def broken_receive() -> dict[str, Any]:
        raise ConnectionResetError("the client went away")

    for redact in (False, True):
        sink = MemorySink()
        await _call(Inspector(app, sink=sink, redact=redact),
                    {"type": "http", "method": "GET", "path": "/", "headers": []},
                    broken_receive)
        (exchange,) = sink.exchanges
        assert exchange.exception is not None
        text = exchange.exception.traceback
        assert "in app" in text and "in broken_receive" in text, text
        assert "tapped_receive" not in text and "record/middleware.py" not in text, text


# the command line's first minutes ------------------------------------------------------------

@pytest.mark.parametrize(("option", "value", "says"), [
    ("--port", "99999", "argument --port: 99999 is not a port (0 to 65535)"),
    ("--host", "999.1.1.1", "error: cannot listen on 999.1.1.1:"),
])
def test_a_bad_address_is_one_error_line_and_exit_2(option: str, value: str, says: str) -> None:
    result = cli("run", option, value, "--headless")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "error:" in line]
    assert says in line and "in use" not in line, result.stderr


def test_an_app_that_fails_on_import_names_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken_app.py").write_text("import json\n\nCONFIG = json.loads('{')\n")
    result = cli("run", "broken_app:app", "--app-dir", ".", "--port", str(free_port()),
                 "--headless", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("asgi-inspect: error: JSONDecodeError in broken_app.py:3: "
                             "Expecting property name enclosed in double quotes: line 1 column "
                             "2 (char 1)\n")


def test_proxy_help_lists_only_the_proxys_options() -> None:
    result = cli("proxy", "--help")
    assert result.returncode == 0
    for option in ("--rewrite-host", "--timeout", "--port PORT", "default 8080", "--max-body"):
        assert option in result.stdout
    for option in ("--reload", "--factory", "--app-dir"):
        assert option not in result.stdout
