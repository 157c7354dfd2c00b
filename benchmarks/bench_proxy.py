"""Throughput through the reverse proxy: direct, asgi-inspect's proxy and mitmdump, in one run.

Layout on 2 cores: the proxy under test (ours, or ``mitmdump --mode reverse:...``) is pinned to
core 0; the upstream (``apps:bare``, uvicorn hello world), ``wrk -t1`` and the collector share
core 1. For the direct run the upstream is moved to core 0 for the duration of that run, so it
is measured the way the proxies are: alone on its core.

"ours, recorded" is exactly what ``asgi-inspect proxy`` runs: uvicorn serving
``asgi_inspect.record.serve:inspected_app`` with ``asgi_inspect.proxy:proxy_from_env`` as the
target, the recorder streaming every exchange over the live channel (``$ASGI_INSPECT``) to a
collector in another process (``collector_process.py``). "ours, bare" is the proxy without
the recorder.

Runs are interleaved in rounds; the summary shows medians of req/s and of the proxy process's
CPU time per request (the steadier figure on a shared machine), and ours/mitmdump ratios.

Then one large download (``--stream-mib``, default 1024) goes through the recorded proxy with
``curl``: its throughput against the same download direct, and how much the proxy's peak RSS
grew meanwhile (it must stay flat: bodies stream, they are never buffered whole).

mitmproxy pins old versions of h11 and cryptography, so install it in its own environment
(``python -m venv /opt/mitm && /opt/mitm/bin/pip install mitmproxy``) and pass ``--mitmdump``.

    python benchmarks/bench_proxy.py [--rounds 3] [--duration 5] [--stream-mib 1024]
                                     [--mitmdump PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from apps import STREAM_ENV
from harness import (
    HERE,
    LOAD_CORE,
    SERVER_CORE,
    BenchError,
    CollectorProcess,
    cpu_seconds,
    environment,
    free_port,
    main_guard,
    median,
    require,
    run_wrk,
    stop_gracefully,
    wait_listening,
)

TARGET = 10.0  # ours (recorded) / mitmdump, req/s
ROOT = HERE.parent


class Child:
    """A server process pinned to one core, listening on 127.0.0.1:``port``."""

    def __init__(self, name: str, command: list[str], port: int, core: str,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (kept open while the child runs)
        self.process = subprocess.Popen(["taskset", "-c", core, *command], cwd=ROOT,
                                        stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20.0) -> None:
        wait_listening(self.process, self.port, self.name, self._log_tail, timeout)

    def _log_tail(self) -> str:
        self._log.seek(0)
        tail = self._log.read().decode(errors="replace").strip().splitlines()[-1:]
        return tail[0] if tail else "no output"

    def peak_rss(self) -> int:
        """The process's peak resident memory so far, in bytes (``VmHWM``)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        found = re.search(r"VmHWM:\s+(\d+) kB", status)
        if found is None:
            raise BenchError("cannot read VmHWM from /proc")
        return int(found.group(1)) * 1024

    def pin(self, core: str) -> None:
        """Move every thread of the process to ``core``."""
        subprocess.run(["taskset", "-a", "-p", "-c", core, str(self.process.pid)], check=True,
                       stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        stop_gracefully(self.process)
        self._log.close()


def uvicorn_command(app: str, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning", "--no-access-log", *extra]


@dataclass
class Series:
    name: str
    rps: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    requests: int = 0
    errors: int = 0


def measure(child: Child, series: Series, seconds: int, connections: int) -> None:
    before = cpu_seconds(child.process.pid)
    result = run_wrk(child.url, seconds, connections)
    used = cpu_seconds(child.process.pid) - before
    series.rps.append(result.rps)
    series.cpu_us.append(used / max(result.requests, 1) * 1e6)
    series.requests += result.requests
    series.errors += result.errors
    print(f"  {series.name:<20} {result.rps:>9.0f} req/s  {series.cpu_us[-1]:>7.0f} µs CPU/req"
          f"  errors {result.errors}", flush=True)


def download(url: str) -> tuple[int, float]:
    """Bytes and seconds of one ``curl`` download on the load core, body discarded."""
    output = subprocess.run(
        ["taskset", "-c", LOAD_CORE, "curl", "-sS", "-o", "/dev/null", "-w",
         "%{size_download} %{time_total}", url], capture_output=True, text=True, check=True).stdout
    size, seconds = output.split()
    return int(size), float(seconds)


def stream(mib: int, collector: CollectorProcess) -> None:
    """One large download direct and through the recorded proxy: throughput and RSS growth."""
    port = free_port()
    upstream = Child("stream upstream", uvicorn_command(
        "apps:stream_bare", port, "--app-dir", str(HERE), "--lifespan", "off"), port,
        LOAD_CORE, {STREAM_ENV: str(mib * 1024 * 1024)})
    try:
        port = free_port()
        proxy = Child("stream proxy", uvicorn_command(
            "asgi_inspect.record.serve:inspected_app", port, *PROXY_FLAGS), port, SERVER_CORE,
            proxy_env(upstream.url.rstrip("/"), collector))
        try:
            direct_size, direct_s = download(upstream.url)
            before = proxy.peak_rss()
            size, seconds = download(proxy.url)
            grown = proxy.peak_rss() - before
        finally:
            proxy.stop()
    finally:
        upstream.stop()
    if size != direct_size:
        raise BenchError(f"the proxy delivered {size} bytes of {direct_size}")
    print(f"\n{mib} MiB download: direct {direct_size / direct_s / 2**20:.0f} MiB/s, through the "
          f"recorded proxy {size / seconds / 2**20:.0f} MiB/s; proxy peak RSS grew by "
          f"{grown / 2**20:.1f} MiB")


PROXY_FLAGS = ("--no-server-header", "--no-date-header", "--no-proxy-headers")


def proxy_env(upstream: str, collector: CollectorProcess) -> dict[str, str]:
    """What ``asgi-inspect proxy`` sets for its server child: the recorder around the proxy."""
    return {"ASGI_INSPECT_UPSTREAM": upstream, **collector.env,
            "ASGI_INSPECT_TARGET": "asgi_inspect.proxy:proxy_from_env",
            "ASGI_INSPECT_FACTORY": "1"}


@contextlib.contextmanager
def servers(mitmdump: str | None, collector: CollectorProcess) -> Iterator[list[Child]]:
    """The upstream, our proxy recorded and bare, and mitmdump when there is one."""
    started: list[Child] = []
    try:
        port = free_port()
        started.append(Child("direct", uvicorn_command(
            "apps:bare", port, "--app-dir", str(HERE), "--lifespan", "off"), port, LOAD_CORE))
        upstream = started[0].url.rstrip("/")
        env = proxy_env(upstream, collector)
        port = free_port()
        started.append(Child("ours, recorded", uvicorn_command(
            "asgi_inspect.record.serve:inspected_app", port, *PROXY_FLAGS), port, SERVER_CORE, env))
        port = free_port()
        started.append(Child("ours, bare", uvicorn_command(
            "asgi_inspect.proxy:proxy_from_env", port, *PROXY_FLAGS), port, SERVER_CORE, env))
        if mitmdump:
            port = free_port()
            started.append(Child("mitmdump", [
                mitmdump, "-q", "--mode", f"reverse:{upstream}", "--listen-host", "127.0.0.1",
                "--listen-port", str(port)], port, SERVER_CORE))
        yield started
    finally:
        for child in reversed(started):
            child.stop()


def run(args: argparse.Namespace) -> None:
    require(["wrk", "curl"])
    mitmdump = args.mitmdump or shutil.which("mitmdump")
    if mitmdump is None:
        print("mitmdump not found (see --help): its row is left out", file=sys.stderr)
    print(environment())
    collector = CollectorProcess()
    try:
        with servers(mitmdump, collector) as children:
            upstream, *proxies = children
            series = {c.name: Series(c.name) for c in children}
            for child in proxies:
                run_wrk(child.url, args.warmup, args.connections)
            for number in range(1, args.rounds + 1):
                print(f"round {number}/{args.rounds}")
                upstream.pin(SERVER_CORE)
                try:
                    measure(upstream, series["direct"], args.duration, args.connections)
                finally:
                    upstream.pin(LOAD_CORE)
                for child in proxies:
                    measure(child, series[child.name], args.duration, args.connections)
        stats = collector.settled_stats()
        summarize(list(series.values()), stats)
        if args.stream_mib:
            stream(args.stream_mib, collector)
    finally:
        collector.stop()


def summarize(all_series: list[Series], stats: dict[str, object]) -> None:
    print(f"\n{'':<20} {'req/s':>9} {'µs CPU/req':>11}   (medians; wrk -t1, same run)")
    for s in all_series:
        print(f"{s.name:<20} {median(s.rps):>9.0f} {median(s.cpu_us):>11.0f}"
              + (f"   {s.errors} errors" if s.errors else ""))
    named = {s.name: s for s in all_series}
    recorded = named["ours, recorded"]
    print(f"recorded through the live channel: {stats['closed']} exchanges closed of "
          f"{recorded.requests} requests measured (warm-ups add more), dropped "
          f"{stats['dropped']}")
    mitm = named.get("mitmdump")
    if mitm is not None:
        rps = median(recorded.rps) / median(mitm.rps)
        cpu = median(mitm.cpu_us) / median(recorded.cpu_us)
        verdict = "met" if rps >= TARGET else "MISSED"
        print(f"ours (recorded) / mitmdump: {rps:.2f}x req/s, {cpu:.2f}x less CPU per request "
              f"(target >= {TARGET:.0f}x req/s: {verdict})")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds per proxy")
    parser.add_argument("--connections", type=int, default=50, help="wrk -c (default 50)")
    parser.add_argument("--stream-mib", type=int, default=1024,
                        help="MiB of the large download (default 1024; 0 skips it)")
    parser.add_argument("--mitmdump", help="path to mitmdump (default: the one on PATH)")
    return parser.parse_args()


def main() -> None:
    main_guard(lambda: run(parse_args()))


if __name__ == "__main__":
    main()
