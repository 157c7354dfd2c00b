"""What the benchmark scripts share: pinned uvicorn servers, the collector process, wrk, CPU time.

The machine is small and shared, so every measurement is a ratio against bare runs taken just
before and after (see ``bracketed``), and the server's CPU time is read from ``/proc`` rather
than trusting wall-clock throughput alone.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
SERVER_CORE = "0"  # the server under test
LOAD_CORE = "1"  # the load generator and the collector
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A benchmark cannot run here; its message is shown as a one-line error."""


def require(tools: Sequence[str]) -> None:
    """Fail early, in one line, when the machine cannot run the benchmark as designed."""
    missing = [tool for tool in ("taskset", *tools) if shutil.which(tool) is None]
    if missing:
        raise BenchError(f"missing tools: {', '.join(missing)} (Debian: apt-get install -y "
                         f"{' '.join('util-linux' if t == 'taskset' else t for t in missing)})")
    if len(os.sched_getaffinity(0)) < 2:
        raise BenchError("needs 2 cores: the server is pinned to one, the load to the other")


def environment() -> str:
    """One line naming what was measured: Python, uvicorn and what its 'auto' settings chose."""
    import uvicorn

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return (f"Python {platform.python_version()}, uvicorn {uvicorn.__version__} "
            f"(--http auto = {http}, --loop auto = {loop}), {os.cpu_count()} cores, "
            f"server on core {SERVER_CORE}, load on core {LOAD_CORE}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from ``/proc/<pid>/stat`` (fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def stop_gracefully(process: subprocess.Popen[bytes]) -> None:
    """SIGINT, then SIGKILL if it has not exited within 15 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def end_of_input(process: subprocess.Popen[str], timeout: float) -> None:
    """Stop a child driven over its stdin: closing it is the child's cue to finish; killed
    if it has not exited within ``timeout`` seconds."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_listening(process: subprocess.Popen[bytes], port: int, name: str,
                   log_tail: Callable[[], str], timeout: float) -> None:
    """Return once ``process`` listens on 127.0.0.1:``port``; a BenchError if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{name} exited: {log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise BenchError(f"{name} did not listen within {timeout:.0f} s")


class Server:
    """One uvicorn process serving ``apps:<factory>`` on 127.0.0.1, pinned to the server core."""

    def __init__(self, factory: str, *, log_level: str = "warning",
                 env: dict[str, str] | None = None) -> None:
        self.factory = factory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        command = ["taskset", "-c", SERVER_CORE, sys.executable, "-m", "uvicorn", "--factory",
                   f"apps:{factory}", "--app-dir", str(HERE), "--host", "127.0.0.1",
                   "--port", str(self.port), "--log-level", log_level, "--no-access-log",
                   "--lifespan", "off"]
        # Kept for as long as the server runs, to show why it failed to start. Trace logs go
        # nowhere: that variant measures formatting them, not a disk.
        self._log: IO[bytes] | None = (None if log_level == "trace"
                                       else tempfile.TemporaryFile())  # noqa: SIM115
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL,
                                        stderr=self._log or subprocess.DEVNULL,
                                        env={**os.environ, **(env or {})})
        self._wait_ready()

    def _wait_ready(self, timeout: float = 15.0) -> None:
        wait_listening(self.process, self.port, f"server apps:{self.factory}", self._log_tail,
                       timeout)

    def _log_tail(self) -> str:
        if self._log is None:
            return "no output kept"
        with contextlib.suppress(OSError, ValueError):
            self._log.seek(0)
            lines = self._log.read().decode(errors="replace").strip().splitlines()
            return lines[-1] if lines else "no output"
        return "no output"

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        """A graceful stop (SIGINT), so the recorder's exit handler sends its last batch."""
        stop_gracefully(self.process)
        if self._log is not None:
            self._log.close()


class CollectorProcess:
    """``collector_process.py`` on the load core: the live channel's other end."""

    def __init__(self) -> None:
        command = ["taskset", "-c", LOAD_CORE, sys.executable, str(HERE / "collector_process.py")]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        assert self.process.stdout is not None
        self.address = self.process.stdout.readline().strip()
        if not self.address:
            raise BenchError("the collector process did not start")

    @property
    def env(self) -> dict[str, str]:
        return {"ASGI_INSPECT": self.address}

    def stats(self) -> dict[str, Any]:
        """The collector's counts now (see ``collector_process.stats``)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())  # type: ignore[no-any-return]

    def settled_stats(self, quiet: float = 0.3) -> dict[str, Any]:
        """Counts once records stop arriving: the recorder flushes on a timer, the socket lags."""
        previous = self.stats()
        while True:
            time.sleep(quiet)
            current = self.stats()
            if current["records"] == previous["records"]:
                return current
            previous = current

    def stop(self) -> None:
        end_of_input(self.process, 10)


@dataclass
class WrkResult:
    requests: int
    rps: float
    errors: int  # socket errors plus non-2xx/3xx responses


def run_wrk(url: str, seconds: int, connections: int) -> WrkResult:
    """``wrk -t1 -c<connections> -d<seconds>s`` on the load core; parses its summary."""
    command = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}",
               f"-d{seconds}s", url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    requests = re.search(r"(\d+) requests in", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if requests is None or rps is None:
        raise BenchError(f"could not read wrk's output: {output!r}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(int(requests.group(1)), float(rps.group(1)),
                     errors + (int(bad.group(1)) if bad else 0))


def bracketed(bare: Sequence[float], index: int) -> float:
    """The mean of the bare runs just before and just after run ``index`` of a round."""
    return (bare[index] + bare[index + 1]) / 2


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def verdict(value: float, target: float) -> str:
    return f"target >= {target:.2f}: {'met' if value >= target else 'MISSED'}"


def main_guard(run: Callable[[], None]) -> None:
    """Run a benchmark's main; a :class:`BenchError` or Ctrl-C ends it with one line."""
    try:
        run()
    except BenchError as exc:
        sys.exit(f"error: {exc}")
    except KeyboardInterrupt:
        sys.exit("interrupted")
