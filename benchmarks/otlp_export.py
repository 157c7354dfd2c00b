"""``--otlp``: does the export keep up, and does it cost the app anything? (issue 15)

1. **Throughput**: ``SpanExport`` (the thread behind ``run``/``listen``/``proxy --otlp``) fed
   exchanges recorded from a real app, sent with the official OTLP/HTTP exporter to a
   receiver process on the load core that decodes every request. Measured: how many
   exchanges per second it converts and sends when fed as fast as possible (against the
   target, 2,000/s), then an offered 2,000/s for a few seconds (nothing may be lost), then
   twice its capacity (losses counted: sent + lost = offered, every span accounted for).
2. **The app's cost**: ``asgi-inspect run apps:hello --headless`` with and without ``--otlp``,
   the server child pinned to the server core, the inspector (collector and export) and the
   load on the load core. The load is paced (a fixed request rate, below the export's
   capacity, so every exchange is converted): as-fast-as-it-goes load would give the
   variants different loads on two shared cores. Interleaved rounds, each ``--otlp`` run
   against the mean of the plain runs just before and after it; per run the server child's
   and the inspector's CPU per request. The server's should not move: the conversion is in
   the inspector.

    python benchmarks/otlp_export.py [--rounds 3] [--duration 5] [--rate 1000]
                                     [--parts throughput,cost]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import functools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from harness import (
    HERE,
    LOAD_CORE,
    SERVER_CORE,
    BenchError,
    bracketed,
    cpu_seconds,
    environment,
    free_port,
    main_guard,
    median,
    require,
    stop_gracefully,
    wait_listening,
)

TARGET_RATE = 2000  # exchanges per second the export keeps up with (issue 15)
RECEIVER = HERE / "otlp_receiver.py"


class Receiver:
    """``otlp_receiver.py`` under uvicorn on the load core: decodes and counts spans."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            ["taskset", "-c", LOAD_CORE, sys.executable, "-m", "uvicorn", "otlp_receiver:app",
             "--app-dir", str(HERE), "--port", str(self.port), "--log-level", "warning"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.process, self.port, "the OTLP receiver", lambda: "", 30)

    def spans(self) -> int:
        return int(httpx.get(f"{self.url}/count").text)

    def stop(self) -> None:
        stop_gracefully(self.process)  # type: ignore[arg-type]


def sample_exchanges() -> list:  # type: ignore[type-arg]
    """A GET and a JSON POST recorded from a FastAPI app (route, headers, bodies, 3-4
    events each), as a live session's collector hands them to the export."""
    from fastapi import FastAPI

    from asgi_inspect import Inspector

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.post("/items")
    async def create(body: dict[str, str]) -> dict[str, str]:
        return body

    async def drive() -> None:
        inspector = Inspector(app)
        transport = httpx.ASGITransport(inspector)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await client.get("/items/7?color=red")
            await client.post("/items", json={"name": "keyboard", "password": "hunter2"})
        exchanges.extend(inspector.sink.exchanges)  # type: ignore[attr-defined]

    exchanges: list = []  # type: ignore[type-arg]
    asyncio.run(drive())
    return [e for e in exchanges if e.type == "http"]


def copies(samples: list, count: int) -> list:  # type: ignore[type-arg]
    """``count`` exchanges, each with an id of its own (and so a trace of its own)."""
    made = []
    for n in range(count):
        exchange = copy.copy(samples[n % len(samples)])
        exchange.id = str(n)
        made.append(exchange)
    return made


def feed(export: object, exchanges: list, rate: float | None) -> float:  # type: ignore[type-arg]
    """Hand exchanges to the export (as the collector's on_close does), at ``rate`` per
    second or as fast as possible; the seconds it took."""
    started = time.perf_counter()
    for n, exchange in enumerate(exchanges):
        if rate is not None:
            ahead = started + n / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        export(exchange)  # type: ignore[operator]
    return time.perf_counter() - started


def throughput(duration: int) -> None:
    from asgi_inspect.ops.export import redact_exchange
    from asgi_inspect.otel.exporter import SpanExport, settings
    from asgi_inspect.record.redact import Redactor

    redact = functools.partial(redact_exchange, redactor=Redactor(), copied=True)  # as run --otlp

    os.sched_setaffinity(0, {int(SERVER_CORE)})  # the inspector's core, as in a session
    samples = sample_exchanges()
    receiver = Receiver()
    try:
        config = settings(receiver.url)
        flood = copies(samples, TARGET_RATE * duration * 2)
        export = SpanExport(config, redact, max_queued=len(flood))
        started = time.perf_counter()
        feed(export, flood, None)
        export.close(timeout=600)
        capacity = export.sent / (time.perf_counter() - started)
        print(f"as fast as it goes: {export.sent:,} spans in "
              f"{export.sent / capacity:.1f} s = {capacity:,.0f} exchanges/s, "
              f"{capacity / TARGET_RATE:.2f}x the {TARGET_RATE:,}/s target "
              f"({'met' if capacity >= TARGET_RATE else 'MISSED'}), {export.dropped} lost")
        for label, rate in (("offered the target", TARGET_RATE),
                            ("offered twice its capacity", 2 * capacity)):
            before = receiver.spans()
            offered = copies(samples, int(rate * duration))
            export = SpanExport(config, redact)
            took = feed(export, offered, rate)
            export.close(timeout=60)
            arrived = receiver.spans() - before
            print(f"{label} ({rate:,.0f}/s for {took:.1f} s): {len(offered):,} exchanges, "
                  f"{export.sent:,} sent, {export.dropped:,} lost and counted, "
                  f"{arrived:,} arrived; accounted for: "
                  f"{'yes' if export.sent + export.dropped == len(offered) else 'NO'}")
    finally:
        receiver.stop()


class Session:
    """``asgi-inspect run apps:hello --headless`` (``--otlp`` when given an endpoint): the
    inspector on the load core, its server child moved to the server core."""

    def __init__(self, otlp: str | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        command = ["taskset", "-c", LOAD_CORE, sys.executable, "-m", "asgi_inspect", "run",
                   "apps:hello", "--app-dir", str(HERE), "--port", str(self.port),
                   "--headless", *(["--otlp", otlp] if otlp else [])]
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 - kept while it runs
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._out,
                                        stderr=subprocess.STDOUT)
        wait_listening(self.process, self.port, "asgi-inspect run", lambda: "", 60)
        self.server = self._child()
        subprocess.run(["taskset", "-a", "-p", "-c", SERVER_CORE, str(self.server)],
                       check=True, capture_output=True)

    def _child(self) -> int:
        """The server child: the process that listens on the port."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = [int(p) for p in children.read_text().split()]
        if len(pids) != 1:
            raise BenchError(f"expected one server child, found {pids}")
        return pids[0]

    def stop(self) -> None:
        stop_gracefully(self.process)  # type: ignore[arg-type]
        self._out.close()


async def _paced(port: int, rate: float, seconds: float, connections: int = 16) -> int:
    """Keep-alive GETs of the hello app at ``rate`` per second in all, over ``connections``
    connections (asyncio streams: little CPU per request, so both variants get the same
    load, which wrk's as-fast-as-it-goes would not give them); how many were answered."""
    loop = asyncio.get_running_loop()
    interval, started, answered = connections / rate, loop.time(), 0

    async def connection(offset: float) -> None:
        nonlocal answered
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = 0
        while (due := started + offset + sent * interval) - started < seconds:
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
            await reader.readuntil(b"Hello, world!")
            answered += 1
            sent += 1
        writer.close()

    await asyncio.gather(*(connection(n * interval / connections) for n in range(connections)))
    return answered


def cost(rounds: int, duration: int, rate: float) -> None:
    """The server child's and the inspector's CPU per request at the same offered rate, with
    and without --otlp, interleaved (each --otlp run against the plain runs around it)."""
    os.sched_setaffinity(0, {int(LOAD_CORE)})
    receiver = Receiver()
    plain: list[tuple[float, float]] = []
    ratios: list[float] = []

    def measure(otlp: str | None) -> tuple[float, float]:
        session = Session(otlp)
        try:
            asyncio.run(_paced(session.port, rate, 1))  # warm up
            server, inspector = cpu_seconds(session.server), cpu_seconds(session.process.pid)
            answered = asyncio.run(_paced(session.port, rate, duration))
            server = (cpu_seconds(session.server) - server) / answered * 1e6
            inspector = (cpu_seconds(session.process.pid) - inspector) / answered * 1e6
        finally:
            session.stop()
        print(f"  {'--otlp' if otlp else 'plain '}  {answered / duration:7,.0f} req/s  server "
              f"{server:6.1f} µs CPU/request  inspector {inspector:6.1f} µs CPU/request")
        return server, inspector

    try:
        plain.append(measure(None))
        for n in range(rounds):
            print(f"round {n + 1}")
            server, _ = measure(receiver.url)
            plain.append(measure(None))
            ratios.append(server / bracketed([p[0] for p in plain], n))
        spread = [p[0] for p in plain]
        print(f"server CPU per request, --otlp / plain, median of {rounds}: "
              f"{median(ratios):.3f} (the plain runs' own (max-min)/median: "
              f"{(max(spread) - min(spread)) / median(spread):.3f}); "
              f"spans the receiver decoded: {receiver.spans():,}")
    finally:
        receiver.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--parts", default="throughput,cost")
    parser.add_argument("--rate", type=float, default=1000,
                        help="requests per second offered in the cost part (default 1000: "
                             "below the export's capacity, so every exchange is converted)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    require([])
    print(environment())
    parts = args.parts.split(",")
    if "throughput" in parts:
        throughput(args.duration)
    if "cost" in parts:
        cost(args.rounds, args.duration, args.rate)


if __name__ == "__main__":
    main_guard(main)
