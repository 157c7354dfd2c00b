"""Issue 13's "done when": a FastAPI app using SQLAlchemy and httpx under ``asgi-inspect run``
shows each request's queries and outbound calls in its recording, with the N+1 flagged, and
``replay --mock-outbound`` replays the session with the upstream switched off, the same."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asgi_inspect import inside, read
from asgi_inspect.model import OutboundCall, Query
from tests.servers import free_port, uvicorn_server, wait_for_port
from tests.test_cli_run import CLI, running

APP_DIR = Path(__file__).parent.parent


async def forecast(request: Request) -> JSONResponse:
    return JSONResponse({"city": request.query_params["city"], "sky": "clear"})


UPSTREAM = Starlette(routes=[Route("/forecast", forecast)])


def test_a_fastapi_app_shows_its_queries_and_calls_and_replays_offline(tmp_path: Path) -> None:
    port, record = free_port(), tmp_path / "session.jsonl"
    with uvicorn_server(UPSTREAM) as upstream:
        env = {"INSIDE_UPSTREAM": upstream, "INSIDE_DATABASE": str(tmp_path / "app.db")}
        args = ["run", "tests.inside_app:app", "--app-dir", str(APP_DIR), "--port", str(port),
                "--headless", "--record", str(record)]
        with running(args, **env) as process:
            wait_for_port(port, timeout=60)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                authors = client.get("/authors")
                weather = client.get("/weather/Oslo")
            assert authors.status_code == weather.status_code == 200
            time.sleep(0.3)
            process.send_signal(2)
            out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    trace = read(record)
    by_path = {e.path: e for e in trace.exchanges if e.type == "http"}

    listing = by_path["/authors"]
    queries = inside.queries(listing)
    assert len(queries) == 7 and all(isinstance(q, Query) for q in queries)
    assert {q.library for q in queries} == {"sqlalchemy"}  # once each, not again by sqlite3
    assert all(q.location.startswith("tests/inside_app.py:") for q in queries)
    (repeat,) = inside.repeated(listing)
    assert repeat.count == 6 and "from book" in repeat.shape
    assert "N+1" in next(line for line in out.splitlines() if "/authors" in line)

    (made,) = inside.calls(by_path["/weather/Oslo"])
    assert isinstance(made, OutboundCall)
    assert (made.library, made.method, made.status) == ("httpx", "GET", 200)
    assert made.url == f"{upstream}/forecast?city=Oslo"
    assert b'"sky":"clear"' in made.response_body

    # The upstream is gone now: the replay answers the app's call from the recording.
    replay = subprocess.run(
        [*CLI, "replay", str(record), "--app", "tests.inside_app:app", "--app-dir",
         str(APP_DIR), "--mock-outbound", "--filter", "~call forecast", "-o",
         str(tmp_path / "replayed.jsonl")],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "INSIDE_UPSTREAM": upstream,
             "INSIDE_DATABASE": str(tmp_path / "app.db")})
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "GET /weather/Oslo  200 → 200  same" in replay.stdout
    assert "1 replayed, 0 differ or failed" in replay.stdout
    (again,) = [e for e in read(tmp_path / "replayed.jsonl").exchanges if e.replay_of]
    (answered,) = inside.calls(again)
    assert answered.mocked and answered.status == 200
    assert again.body("send") == weather.content

