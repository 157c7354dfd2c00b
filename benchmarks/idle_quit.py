"""The TUI at rest and on the way out: idle CPU, and how long quitting takes at 100k exchanges.

Run from the repository root: ``.venv/bin/python benchmarks/idle_quit.py``

Every case runs the real TUI in tmux (160×48, see ``soak.py``) and reads the inspector's CPU
time from ``/proc/<pid>/stat``:

- idle ``view`` of a small trace (``--small`` exchanges, default 12) and idle ``run`` of the
  bundled demo (no traffic): CPU share of one core over ``--seconds`` (default 10) once the
  screen has settled (target: under 2%);
- quit with 100k exchanges: ``view`` of a 100,000-exchange trace, and ``run`` of the hello app
  loaded by ``wrk`` until the list holds 100,000 exchanges (load stopped, then a second of
  rest); the time from pressing ``q`` until the process is gone (target: under 2 s).

The traces are made by ``tests/tui/factory.py`` (seeded) in a temporary directory.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import BenchError, cpu_seconds, main_guard, require
from soak import ROOT, Inspector

sys.path.insert(0, str(ROOT))  # for tests.tui.factory

BIG = 100_000
SETTLE = 2.0  # seconds left for the screen to settle before idle CPU is measured


def write_trace(path: Path, count: int) -> Path:
    """A trace file of ``count`` seeded exchanges."""
    from asgi_inspect.formats import codec
    from tests.tui.factory import sample_exchanges

    with path.open("wb") as out:
        out.write(codec.header_line())
        for exchange in sample_exchanges(count):
            out.write(codec.exchange_line(exchange))
    return path


def idle_cpu(inspector: Inspector, seconds: float) -> float:
    """The inspector's CPU share of one core over ``seconds`` of doing nothing."""
    time.sleep(SETTLE)
    before, start = cpu_seconds(inspector.pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(inspector.pid) - before) / (time.monotonic() - start)


def measure_idle(name: str, inspector: Inspector, seconds: float) -> float:
    try:
        share = idle_cpu(inspector, seconds)
        print(f"  idle {name:<34} CPU {share:6.1%} of a core over {seconds:.0f} s "
              f"(target < 2%: {'met' if share < 0.02 else 'MISSED'})", flush=True)
        inspector.quit()
        return share
    finally:
        inspector.kill()


def quit_time(name: str, inspector: Inspector) -> float:
    try:
        seconds = inspector.quit()
        print(f"  quit {name:<34} {seconds:6.2f} s (target < 2 s: "
              f"{'met' if seconds < 2 else 'MISSED'})", flush=True)
        return seconds
    finally:
        inspector.kill()


def loaded_to(inspector: Inspector, url: str, count: int, timeout: float) -> int:
    """Drive ``url`` with wrk until the TUI's header shows ``count`` exchanges; the count."""
    wrk = subprocess.Popen(["taskset", "-c", "1", "wrk", "-t1", "-c50", f"-d{timeout:.0f}s",
                            url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (inspector.exchanges() or 0) < count:
            time.sleep(1)
    finally:
        wrk.terminate()
        wrk.wait()
    time.sleep(1)  # the last batches arrive, the screen settles
    shown = inspector.exchanges() or 0
    if shown < count:
        raise BenchError(f"only {shown:,} exchanges after {timeout:.0f} s of load")
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="idle CPU window")
    parser.add_argument("--small", type=int, default=12, help="exchanges in the small trace")
    parser.add_argument("--load-timeout", type=float, default=240.0,
                        help="seconds of wrk allowed to reach 100k exchanges in run")
    parser.add_argument("--skip-live", action="store_true",
                        help="skip quitting run at 100k (it needs minutes of load)")
    args = parser.parse_args()
    require(["wrk", "tmux"])
    with tempfile.TemporaryDirectory() as tmp:
        small = write_trace(Path(tmp) / "small.jsonl", args.small)
        print("idle CPU (inspector process only)")
        measure_idle(f"view of {args.small} exchanges",
                     Inspector(["view", str(small)], tui=True, ready="● offline"), args.seconds)
        measure_idle("run of the demo, no traffic", Inspector.run("demo", BIG, tui=True)[0],
                     args.seconds)
        print("\nquit with 100k exchanges (q until the process is gone)")
        big = write_trace(Path(tmp) / "big.jsonl", BIG)
        quit_time(f"view of {BIG:,} exchanges",
                  Inspector(["view", str(big)], tui=True, ready=f"{BIG:,} exchanges"))
        if not args.skip_live:
            inspector, url = Inspector.run("hello", BIG, tui=True)
            try:
                shown = loaded_to(inspector, url, BIG, args.load_timeout)
            except BaseException:
                inspector.kill()
                raise
            quit_time(f"run, {shown:,} exchanges taken live", inspector)


if __name__ == "__main__":
    main_guard(main)
