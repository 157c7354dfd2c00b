"""``asgi-inspect run --headless --record`` and ``listen --headless`` as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from asgi_inspect import read
from asgi_inspect.model import Exchange, Opaque
from asgi_inspect.runtime.headless import format_line
from tests.servers import free_port, wait_for_port

APP_DIR = Path(__file__).parent
CLI = [sys.executable, "-m", "asgi_inspect"]
# The timeouts below only stop a hung test: starting Python and the inspector, and stopping a
# server gracefully, take seconds on a machine whose cores are busy with other work.


@contextmanager
def running(args: list[str], **env: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, **env})
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def test_headless_run_prints_and_records(tmp_path: Path) -> None:
    port, record = free_port(), tmp_path / "trace.jsonl"
    args = ["run", "tests.replay_apps:app", "--app-dir", str(APP_DIR.parent), "--port",
            str(port), "--headless", "--record", str(record)]
    with running(args) as process:
        wait_for_port(port, timeout=60)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.post("/items?q=1", content=b"hello").status_code == 200
            assert client.get("/nothing").status_code == 200
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    lines = [line for line in out.splitlines() if " POST " in line or " GET " in line]
    assert any("POST /items?q=1 200" in line for line in lines), out
    trace = read(record)
    kinds = sorted(e.type for e in trace.exchanges)
    assert kinds == ["http", "http", "lifespan"]
    post = next(e for e in trace.exchanges if e.method == "POST")
    assert post.body("receive") == b"hello" and post.outcome == "complete"
    assert [(line.stream, line.text) for line in post.output] == [
        ("stdout", "handling POST /items with 5 bytes")]  # the app's print, on its exchange
    assert "handling POST /items with 5 bytes" in err, (out, err)  # and still where it always went
    assert "Application startup complete" in err  # the server's start-up lines are shown too
    lifespan = next(e for e in trace.exchanges if e.type == "lifespan")
    assert lifespan.outcome == "complete"  # the shutdown was recorded before the file closed


def test_bad_app_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for target, message in (("nosuchmodule:app", 'Could not import module "nosuchmodule"'),
                            ("tests.replay_apps:nope", 'Attribute "nope" not found'),
                            ("not-an-app", "APP must look like module:attribute")):
        result = subprocess.run([*CLI, "run", target, "--port", str(free_port()), "--headless"],
                                capture_output=True, text=True, timeout=30,
                                cwd=APP_DIR.parent, check=False)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
        assert result.stderr.startswith("asgi-inspect: error: ")


def test_port_in_use_is_a_clear_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run([*CLI, "run", "--port", str(port), "--headless"],
                                capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2 and "already in use" in result.stderr


def _listen_with(server_argv: list[str], port: int, tmp_path: Path, requests: int) -> str:
    """Run ``listen --headless``, a server started with its address, some requests; the
    listener's output."""
    address_file = tmp_path / "address"
    with running(["listen", "--headless", "--address-file", str(address_file)]) as listener:
        deadline = time.monotonic() + 60
        while not address_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        address = address_file.read_text().strip()
        assert oct(address_file.stat().st_mode & 0o777) == "0o600"
        server = subprocess.Popen(server_argv, cwd=APP_DIR.parent,
                                  env={**os.environ, "ASGI_INSPECT": address})
        try:
            wait_for_port(port, timeout=60)
            with httpx.Client() as client:  # new connections: spread over the workers
                for n in range(requests):
                    response = client.get(f"http://127.0.0.1:{port}/from-elsewhere/{n}",
                                          headers={"connection": "close"})
                    assert response.status_code == 200
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
        time.sleep(0.3)
        listener.send_signal(signal.SIGINT)
        out, _ = listener.communicate(timeout=60)
    return out


def test_listen_collects_from_an_app_run_by_another_server(tmp_path: Path) -> None:
    port = free_port()
    out = _listen_with([sys.executable, "-m", "uvicorn", "tests.inspected_app:app", "--port",
                        str(port), "--log-level", "warning"], port, tmp_path, 1)
    assert "GET /from-elsewhere/0 200" in out


def test_listen_collects_from_several_workers(tmp_path: Path) -> None:
    port = free_port()
    out = _listen_with([sys.executable, "-m", "hypercorn", "tests.inspected_app:app",
                        "--workers", "2", "--bind", f"127.0.0.1:{port}"], port, tmp_path, 6)
    assert all(f"GET /from-elsewhere/{n} 200" in out for n in range(6)), out


def _port_closes(port: int, timeout: float = 60.0) -> bool:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return True
        time.sleep(0.1)
    return False


def test_the_server_stops_when_the_inspector_is_killed() -> None:
    port = free_port()
    with running(["run", "--port", str(port), "--headless"]) as process:
        wait_for_port(port, timeout=60)
        process.kill()  # SIGKILL: no cleanup runs in the inspector
        process.wait(timeout=60)
        assert _port_closes(port), "the orphaned server kept running"


def test_headless_proxy_records_traffic_to_any_server(tmp_path: Path) -> None:
    from tests.replay_apps import app as upstream_app
    from tests.servers import uvicorn_server

    port, record = free_port(), tmp_path / "proxy.jsonl"
    with uvicorn_server(upstream_app) as upstream, running(
            ["proxy", upstream, "--port", str(port), "--headless", "--record", str(record)]
    ) as process:
        wait_for_port(port, timeout=60)
        response = httpx.post(f"http://127.0.0.1:{port}/via?x=1", content=b"through")
        direct = httpx.post(f"{upstream}/via?x=1", content=b"through")
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert response.status_code == 200 and response.json()["body"] == "through"
    for name in ("date", "server"):  # the upstream's own, not doubled by the proxy's server
        assert len(response.headers.get_list(name)) == len(direct.headers.get_list(name))
    assert "POST /via?x=1 200" in out, err
    (exchange,) = read(record).exchanges  # the proxy's own lifespan is not recorded
    assert exchange.body("receive") == b"through" and exchange.status == 200


def test_a_headless_line_names_the_endpoint_a_framework_chose() -> None:
    exchange = Exchange(id="1", type="http", started_at=0.0,
                        scope={"method": "GET", "path": "/items/5", "client": ["10.0.0.1", 5]},
                        scope_added={"endpoint": Opaque(type="function", repr="shop.read_item"),
                                     "route": Opaque(type="APIRoute", repr="APIRoute(...)")},
                        ended_ns=2_000_000)
    assert format_line(exchange).endswith("10.0.0.1:5 GET /items/5 --- 2.0ms 0B "
                                          "[streaming] → shop.read_item")
    assert exchange.endpoint == "shop.read_item" and exchange.added("route") == "APIRoute(...)"
    assert exchange.added("path_params") == ""
