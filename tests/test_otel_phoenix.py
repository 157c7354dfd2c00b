"""The OpenTelemetry export read back from a real backend: Arize Phoenix (an OTLP-receiving
trace store), started on loopback once for this module and stopped at its end, read through
its REST API (``/v1/projects/default/spans``).

Two services under asgi-inspect, each with ``--otlp``: ``front`` under ``run`` calls ``back``
(served by uvicorn, wrapped in ``Inspector``, recorded by ``listen``) with the traceparent of
a span of its own; Phoenix shows one trace with both servers' spans. Skipped when Phoenix is
not installed: ``.ci/run`` installs it in ``.venv-phoenix`` and sets ``ASGI_INSPECT_PHOENIX``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from asgi_inspect import Inspector
from asgi_inspect.formats.codec import dumps_jsonl, new_trace
from asgi_inspect.record.sinks import SocketSink
from tests.otel_apps import app, back
from tests.servers import free_port, uvicorn_server, wait_for_port
from tests.test_cli_run import APP_DIR, CLI, running
from tests.test_otel import CALLER_SPAN, CALLER_TRACE, TRACEPARENT, record

START_TIMEOUT = 180  # Phoenix imports a lot: on a busy machine it takes half a minute to start
ARRIVAL_TIMEOUT = 60  # only stops a hung test: Phoenix stores what it receives asynchronously


def _phoenix_command() -> str | None:
    found = os.environ.get("ASGI_INSPECT_PHOENIX")
    local = APP_DIR.parent / ".venv-phoenix" / "bin" / "phoenix"
    return found or (str(local) if local.exists() else shutil.which("phoenix"))


class Phoenix:
    """A Phoenix server: OTLP over HTTP at ``url`` (``/v1/traces``) and gRPC at ``grpc``."""

    def __init__(self, url: str, grpc: str) -> None:
        self.url, self.grpc = url, grpc

    def spans(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = httpx.get(f"{self.url}/v1/projects/default/spans", params=params,
                             timeout=30).json()
            found += page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    def trace(self, trace_id: str, count: int) -> list[dict[str, Any]]:
        """The spans of one trace, once ``count`` of them have arrived."""
        deadline = time.monotonic() + ARRIVAL_TIMEOUT
        while True:
            spans = [s for s in self.spans() if s["context"]["trace_id"] == trace_id]
            if len(spans) >= count or time.monotonic() > deadline:
                return spans
            time.sleep(0.2)

    def named(self, name: str) -> list[dict[str, Any]]:
        deadline = time.monotonic() + ARRIVAL_TIMEOUT
        while True:
            spans = [s for s in self.spans() if s["name"] == name]
            if spans or time.monotonic() > deadline:
                return spans
            time.sleep(0.2)


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    command = _phoenix_command()
    if command is None:
        pytest.skip("Arize Phoenix is not installed: .ci/run installs it in .venv-phoenix "
                    "(pip install arize-phoenix in a venv of its own; set ASGI_INSPECT_PHOENIX "
                    "to its phoenix command)")
    folder = tmp_path_factory.mktemp("phoenix")
    port, grpc = free_port(), free_port()
    env = {**os.environ, "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(port),
           "PHOENIX_GRPC_PORT": str(grpc), "PHOENIX_WORKING_DIR": str(folder),
           "PHOENIX_TELEMETRY_ENABLED": "false"}
    with (folder / "phoenix.log").open("w") as log:
        process = subprocess.Popen([command, "serve"], stdout=log, stderr=subprocess.STDOUT,
                                   env=env, cwd=folder)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Phoenix did not start; its log: {folder / 'phoenix.log'}")
            time.sleep(0.25)
        yield Phoenix(url, f"http://127.0.0.1:{grpc}")
    finally:  # nothing of it is kept: no need to wait for a graceful shutdown
        process.kill()
        process.wait(timeout=30)


def _healthy(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    return False


def _by_name(spans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {span["name"]: span for span in spans}


def test_two_apps_that_call_each_other_are_one_trace(phoenix: Phoenix, tmp_path: Path) -> None:
    address_file, front_port = tmp_path / "address", free_port()
    listen = ["listen", "--headless", "--address-file", str(address_file), "--otlp", phoenix.url]
    with running(listen, OTEL_SERVICE_NAME="back") as listener:
        deadline = time.monotonic() + 60  # only stops a hung test
        while not address_file.exists() or not address_file.read_text().strip():
            assert listener.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        inspector = Inspector(back, SocketSink(address_file.read_text().strip()))
        with uvicorn_server(inspector) as back_url:
            run = ["run", "tests.otel_apps:front", "--app-dir", str(APP_DIR.parent), "--port",
                   str(front_port), "--headless", "--otlp", phoenix.url]
            with running(run, OTEL_TEST_BACK=back_url, OTEL_SERVICE_NAME="front") as front:
                wait_for_port(front_port, timeout=60)
                front_url = f"http://127.0.0.1:{front_port}"
                assert httpx.get(f"{front_url}/order/3").json() == {"order": 3, "price": 30}
                httpx.get(f"{front_url}/order/4", headers={"traceparent": TRACEPARENT})
                assert httpx.get(f"{front_url}/fail").status_code == 500
                httpx.post(f"{front_url}/login", json={"user": "ann", "password": "hunter2"},
                           headers={"authorization": "Bearer s3cret"})
                front.send_signal(signal.SIGINT)
                out, err = front.communicate(timeout=60)
            inspector.close()
        listener.send_signal(signal.SIGINT)
        listener.communicate(timeout=60)
    assert front.returncode == 0, err
    line = next(line for line in out.splitlines() if "GET /order/3 200" in line)
    trace_id = line.rpartition(" trace ")[2]  # the headless line names the trace

    spans = _by_name(phoenix.trace(trace_id, 4))
    # front's server span, its own "price order" span, the httpx call asgi-inspect recorded
    # inside it (issue 13) and back's server span
    assert set(spans) == {"GET /order/{order_id}", "price order", "GET", "GET /price/{order_id}"}
    front_span, call, back_span = (spans[name] for name in (
        "GET /order/{order_id}", "price order", "GET /price/{order_id}"))
    assert front_span["parent_id"] is None  # the root: the client sent no traceparent
    recorded = spans["GET"]  # the outbound call, a client span of the front's server span
    assert recorded["parent_id"] == front_span["context"]["span_id"]
    assert recorded["attributes"]["url.full"].endswith("/price/3")
    assert call["parent_id"] == front_span["context"]["span_id"]  # the front app's own span
    assert back_span["parent_id"] == call["context"]["span_id"]  # joined through traceparent
    for span, route in ((front_span, "/order/{order_id}"), (back_span, "/price/{order_id}")):
        attributes = span["attributes"]
        assert attributes["http.route"] == route and attributes["http.request.method"] == "GET"
        assert attributes["http.response.status_code"] == 200
        assert [e["name"] for e in span["events"]][-2:] == ["http.response.start",
                                                            "http.response.body"]
        assert all("asgi.event.wait_ns" in e["attributes"] for e in span["events"])

    called = _by_name(phoenix.trace(CALLER_TRACE, 4))  # the client sent a traceparent
    assert called["GET /order/{order_id}"]["parent_id"] == CALLER_SPAN
    assert called["GET /price/{order_id}"]["parent_id"] == \
        called["price order"]["context"]["span_id"]

    [failed] = phoenix.named("GET /fail")
    assert failed["status_code"] == "ERROR"
    [exception] = [e for e in failed["events"] if e["name"] == "exception"]
    assert exception["attributes"]["exception.type"] == "RuntimeError"
    assert "the basket could not be priced" in exception["attributes"]["exception.stacktrace"]

    [login] = phoenix.named("POST /login")
    attributes = login["attributes"]
    assert "hunter2" not in str(login) and "s3cret" not in str(login)
    assert "<redacted" in attributes["http.request.body.content"]
    assert attributes["http.request.header.authorization"][0].startswith("Bearer <redacted")


def test_a_saved_trace_goes_over_grpc_with_its_recorded_times(phoenix: Phoenix,
                                                             tmp_path: Path) -> None:
    [exchange] = record(app, lambda url: httpx.get(f"{url}/items/41"))
    trace_file = tmp_path / "saved.jsonl"
    trace_file.write_bytes(dumps_jsonl(new_trace([exchange])))
    result = subprocess.run([*CLI, "export", str(trace_file), "-f", "otlp", "--otlp-protocol",
                             "grpc", "--otlp", phoenix.grpc], capture_output=True, text=True,
                            timeout=120, cwd=APP_DIR.parent, check=False)
    assert result.returncode == 0, result.stderr
    [span] = [s for s in phoenix.named("GET /items/{item_id}")
              if s["attributes"]["url.path"] == "/items/41"]
    started = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(exchange.started_at))
    assert span["start_time"].startswith(started)  # the recorded time, not the sending time
