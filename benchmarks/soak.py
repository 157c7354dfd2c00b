"""Soak: the inspector's memory and key latency over a long run under full load.

Run from the repository root: ``.venv/bin/python benchmarks/soak.py [--seconds 100]``

``asgi-inspect run`` serves the 13-byte hello app of ``apps.py`` (or ``--app demo``: the
bundled demo's ``/api/items``) while ``wrk`` drives it flat out for ``--seconds``. The
inspector process's RSS (``/proc/<pid>/status``) is sampled every ``--interval`` seconds. Modes
(``--modes``, all by default):

- ``headless``: ``run --headless --max-exchanges N`` (one line per exchange to /dev/null);
- ``tui``: the TUI in a tmux session (160×48), ``--max-exchanges N``; every ``--key-every``
  seconds ``F`` is pressed (follow off, then on again) and the time until the screen shows the
  change is the key latency (tmux's own round trips included);
- ``tui-full``: the TUI with the default cap (100,000 exchanges): key latency is measured once
  the list holds 95% of the cap, still under load.

For each mode it prints RSS over time, the growth over the last minute (target: under 5 MiB
with ``--max-exchanges 1000``), wrk's rate, the inspector's CPU and, in the TUI, the key
latencies (target: 200 ms near 100k exchanges) and the time ``q`` took to quit under load.
Needs ``wrk`` and ``tmux`` (Debian: ``apt-get install -y wrk tmux``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    HERE,
    BenchError,
    WrkResult,
    cpu_seconds,
    free_port,
    main_guard,
    require,
    run_wrk,
)

ROOT = HERE.parent
APPS = {"hello": ("apps:hello", str(HERE), "/"),
        "demo": ("asgi_inspect.demo:app", str(ROOT), "/api/items")}
FULL_CAP = 100_000  # the default --max-exchanges
SCREEN = ("160", "48")
GROWTH_WINDOW = 60.0  # seconds: the growth reported is over the run's last minute
QUIT_QUESTION = "Quit anyway"  # q asks first when live exchanges are not saved


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"process {pid} has no VmRSS (gone?)")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10,
                          check=False).stdout


@dataclass
class Sample:
    t: float
    rss: float
    exchanges: int | None  # what the TUI's header says; None headless


@dataclass
class Run:
    """What one mode measured."""

    mode: str
    samples: list[Sample] = field(default_factory=list)
    latencies: list[tuple[int | None, float]] = field(default_factory=list)  # (exchanges, s)
    wrk: WrkResult | None = None
    cpu: float = 0.0
    quit_s: float | None = None

    def growth(self) -> float:
        """RSS growth over the last ``GROWTH_WINDOW`` seconds of the run."""
        end = self.samples[-1]
        start = min(self.samples, key=lambda s: abs(s.t - (end.t - GROWTH_WINDOW)))
        return end.rss - start.rss


class Inspector:
    """A running ``asgi-inspect`` (``argv`` after the program name): headless as a child
    process, or its TUI in a tmux session (160×48) driven with real keys."""

    def __init__(self, argv: list[str], *, tui: bool, port: int | None = None,
                 ready: str = "● running") -> None:
        self.tui, self.port = tui, port
        command = [sys.executable, "-m", "asgi_inspect", *argv]
        self.process: subprocess.Popen[bytes] | None = None
        self.session = f"asgi-inspect-soak-{uuid.uuid4().hex[:8]}"
        if not tui:
            self.process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
            self.pid = self.process.pid
        else:
            env = [f"{key}={os.environ.get(key, '')}" for key in ("PATH", "PYTHONPATH")]
            tmux("new-session", "-d", "-s", self.session, "-x", SCREEN[0], "-y", SCREEN[1],
                 "-c", str(ROOT), "-e", "TERM=xterm-256color", "-e", "TEXTUAL_ANIMATIONS=none",
                 "-e", env[0], "-e", env[1], "exec " + shlex.join(command))
            tmux("set-option", "-t", self.session, "escape-time", "0")
            pane = tmux("display-message", "-p", "-t", self.session, "#{pane_pid}").strip()
            if not pane.isdigit():
                raise BenchError("tmux did not start the inspector")
            self.pid = int(pane)
        self._wait_ready(ready)

    @classmethod
    def run(cls, app: str, max_exchanges: int, *, tui: bool) -> tuple[Inspector, str]:
        """``asgi-inspect run`` of ``app`` (a key of ``APPS``); and the URL to load."""
        target, app_dir, path = APPS[app]
        port = free_port()
        argv = ["run", target, "--app-dir", app_dir, "--port", str(port),
                "--max-exchanges", str(max_exchanges)]
        inspector = cls(argv if tui else [*argv, "--headless"], tui=tui, port=port)
        return inspector, f"http://127.0.0.1:{port}{path}"

    def _wait_ready(self, ready: str, timeout: float = 120.0) -> None:
        """Until the port answers (if any) and the TUI's screen shows ``ready``."""
        import socket

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise BenchError(f"the inspector exited while starting: {self.screen()}")
            if self.port is not None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                except OSError:
                    time.sleep(0.1)
                    continue
            if not self.tui or ready in self.screen():
                return
            time.sleep(0.1)
        raise BenchError(f"the inspector did not start within {timeout:.0f} s")

    def alive(self) -> bool:
        """Whether the inspector process still runs (not gone, not a zombie)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        return stat[stat.rindex(")") + 2] != "Z"

    def screen(self) -> str:
        return tmux("capture-pane", "-p", "-t", self.session) if self.tui else ""

    def exchanges(self) -> int | None:
        """The count in the TUI's header (None headless, or when it cannot be read)."""
        found = re.search(r"([\d,]+) exchanges", self.screen())
        return int(found.group(1).replace(",", "")) if found else None

    def key_latency(self, timeout: float = 30.0) -> float:
        """Seconds from pressing ``F`` until the list's border shows follow toggled."""
        following = "F follows" not in self.screen()
        start = time.perf_counter()
        tmux("send-keys", "-t", self.session, "F")
        while time.perf_counter() - start < timeout:
            if ("F follows" not in self.screen()) != following:
                return time.perf_counter() - start
            time.sleep(0.02)  # each look starts a tmux client: not too often on 2 cores
        raise BenchError(f"the TUI did not answer F within {timeout:.0f} s")

    def quit(self) -> float:
        """Stop it as a user would (``q``, then ``y`` when it asks whether to quit without
        exporting; Ctrl+C headless); seconds from ``q`` until the process is gone."""
        start = time.perf_counter()
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=120)
            return time.perf_counter() - start
        tmux("send-keys", "-t", self.session, "q")
        asked = False
        while self.alive() and time.perf_counter() - start < 120:
            if not asked and QUIT_QUESTION in self.screen():
                tmux("send-keys", "-t", self.session, "y")
                asked = True
            time.sleep(0.02)  # each look at the screen starts a tmux client
        return time.perf_counter() - start

    def kill(self) -> None:
        """Whatever is left (after a failure): the inspector stops its server itself."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process is None:
            tmux("kill-session", "-t", self.session)


@contextlib.contextmanager
def loaded(url: str, seconds: int, connections: int) -> Iterator[list[WrkResult]]:
    """``wrk`` in the background for ``seconds``; the list gets its result when it ends."""
    result: list[WrkResult] = []
    thread = threading.Thread(target=lambda: result.append(run_wrk(url, seconds, connections)),
                              daemon=True)
    thread.start()
    try:
        yield result
    finally:
        thread.join(seconds + 30)


def sampler(run: Run, inspector: Inspector, start: float) -> Callable[[], Sample]:
    """A function that takes one sample, prints and keeps it."""
    def sample() -> Sample:
        taken = Sample(time.monotonic() - start, rss_mib(inspector.pid), inspector.exchanges())
        run.samples.append(taken)
        count = "" if taken.exchanges is None else f"   {taken.exchanges:>7,} exchanges"
        print(f"  {run.mode:<9} t={taken.t:5.0f} s   RSS {taken.rss:7.1f} MiB{count}", flush=True)
        return taken
    return sample


def soak(mode: str, args: argparse.Namespace) -> Run:
    """One mode: start the inspector, load it for ``--seconds``, sample, measure, quit."""
    cap = FULL_CAP if mode == "tui-full" else args.max_exchanges
    run = Run(mode)
    inspector, url = Inspector.run(args.app, cap, tui=mode != "headless")
    try:
        print(f"\n{mode}: --max-exchanges {cap:,}, wrk -c{args.connections} "
              f"-d{args.seconds}s {url}", flush=True)
        cpu0, start = cpu_seconds(inspector.pid), time.monotonic()
        sample = sampler(run, inspector, start)
        with loaded(url, args.seconds, args.connections) as result:
            next_key = args.key_every
            while time.monotonic() - start < args.seconds:
                time.sleep(max(0.0, min(args.interval, start + args.seconds - time.monotonic())))
                taken = sample()
                if mode == "tui" and taken.t >= next_key:
                    next_key += args.key_every
                    press(run, inspector, taken.exchanges)
                elif mode == "tui-full" and not run.latencies and near_cap(taken, cap):
                    for _ in range(args.presses):
                        press(run, inspector, taken.exchanges)
        run.cpu = cpu_seconds(inspector.pid) - cpu0
        run.wrk = result[0] if result else None
        if mode != "headless":
            run.quit_s = inspector.quit()
        else:
            inspector.quit()
    finally:
        inspector.kill()
    return run


def near_cap(sample: Sample, cap: int) -> bool:
    """Whether the list holds 95% of ``cap`` exchanges: time to measure key latency."""
    return sample.exchanges is not None and sample.exchanges >= 0.95 * cap


def press(run: Run, inspector: Inspector, exchanges: int | None) -> None:
    """Toggle follow off and on again; both latencies are kept."""
    for _ in range(2):
        latency = inspector.key_latency()
        run.latencies.append((exchanges, latency))
        print(f"  {run.mode:<9} key F answered in {latency * 1000:6.0f} ms", flush=True)


def report(runs: list[Run], seconds: int) -> None:
    print("\nsummary")
    for run in runs:
        first, last = run.samples[0], run.samples[-1]
        peak = max(s.rss for s in run.samples)
        rate = f"{run.wrk.rps:8,.0f} req/s" if run.wrk else "wrk failed"
        print(f"  {run.mode:<9} RSS {first.rss:6.1f} → {last.rss:6.1f} MiB (peak {peak:.1f}); "
              f"last minute {run.growth():+6.1f} MiB (target < 5: "
              f"{'met' if run.growth() < 5 else 'MISSED'}); {rate}; "
              f"inspector CPU {run.cpu / seconds:.0%}")
        if run.latencies:
            times = [t for _, t in run.latencies]
            counts = [c for c, _ in run.latencies if c is not None]
            near = f" at {min(counts):,}-{max(counts):,} exchanges" if counts else ""
            print(f"  {'':<9} key latency{near}: median {statistics.median(times) * 1000:.0f} ms,"
                  f" max {max(times) * 1000:.0f} ms (target 200 ms: "
                  f"{'met' if max(times) <= 0.2 else 'MISSED'})")
        if run.quit_s is not None:
            print(f"  {'':<9} q quit in {run.quit_s:.2f} s under load")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=100, help="load per mode (default 100)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--max-exchanges", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--app", choices=sorted(APPS), default="hello")
    parser.add_argument("--modes", default="headless,tui,tui-full",
                        help="comma-separated: headless, tui, tui-full")
    parser.add_argument("--key-every", type=float, default=20.0,
                        help="tui: seconds between two presses of F")
    parser.add_argument("--presses", type=int, default=5,
                        help="tui-full: presses of F near the cap")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - {"headless", "tui", "tui-full"}
    if unknown:
        raise BenchError(f"unknown modes: {', '.join(sorted(unknown))}")
    require(["wrk", "tmux"])  # else one line: which are missing and the apt-get to run
    runs = [soak(mode, args) for mode in modes]
    report(runs, args.seconds)


if __name__ == "__main__":
    main_guard(main)
