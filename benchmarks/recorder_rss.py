"""Memory over a million recorded requests: the recorder's resident set stays flat.

Each hot path runs in a process of its own (``ASGI_INSPECT_HOTPATH``): ``Inspector(hello)``
with a sink that only counts the batches, driven in-process as a server drives it (the
request's body, the response's start and body), ``--requests`` times; every fourth request's
body is past ``max_body``, so a quarter of the exchanges hand over to the general recorder.
The resident set is read from ``/proc/self/statm`` after a warm-up and then at every tenth of
the run; the summary is its growth over the whole run and over its second half (once the
allocator's pools and the interpreter's caches have settled): a leak of even one small object
per request (half a million of them: tens of MiB) could not hide in the second.

    python benchmarks/recorder_rss.py [--requests 1000000] [--paths c,python]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from typing import Any

from apps import Message, NullSink, hello
from harness import BenchError, main_guard

from asgi_inspect import Inspector

PAGE = os.sysconf("SC_PAGE_SIZE")
MiB = 1024 * 1024
WARMUP = 20_000
READINGS = 10
MAX_BODY = 4096
FLAT = 1.0  # MiB of growth over the second half still called flat (allocator noise)


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


async def drive(app: Any, requests: int) -> None:
    """Serve ``requests`` requests through ``app`` the way a server does."""
    small = {"type": "http.request", "body": b"x" * 1024, "more_body": False}
    large = {"type": "http.request", "body": b"x" * (2 * MAX_BODY), "more_body": False}
    served = 0

    async def receive() -> Message:
        return large if served % 4 == 0 else small

    async def send(message: Message) -> None:
        pass

    for served in range(requests):  # noqa: B007  # read by receive()
        scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"host", b"x")]}
        await app(scope, receive, send)


def child(requests: int) -> None:
    """One path's run; prints the readings in MiB, one line."""
    sink = NullSink()
    inspector = Inspector(hello, sink=sink, max_body=MAX_BODY)
    asyncio.run(drive(inspector, WARMUP))
    readings = [rss()]
    for _ in range(READINGS):
        asyncio.run(drive(inspector, requests // READINGS))
        readings.append(rss())
    inspector.close()
    compiled = inspector._compiled is not None
    print(f"{'compiled' if compiled else 'python'} {sink.frames} "
          + " ".join(f"{r / MiB:.2f}" for r in readings))


def run(requests: int, paths: list[str]) -> None:
    print(f"{requests:,} recorded requests per path (after {WARMUP:,} to warm up); "
          f"resident set in MiB at each tenth")
    for path in paths:
        env = {**os.environ, "ASGI_INSPECT_HOTPATH": path}
        result = subprocess.run([sys.executable, __file__, "--child", str(requests)], env=env,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise BenchError(f"the {path} run failed: {result.stderr.strip().splitlines()[-1:]}")
        name, frames, *values = result.stdout.split()
        readings = [float(v) for v in values]
        growth, late = readings[-1] - readings[0], readings[-1] - readings[READINGS // 2]
        print(f"  {name:<9} {' '.join(f'{v:.1f}' for v in readings)}   growth {growth:+.2f} MiB, "
              f"second half {late:+.2f} MiB ({'flat' if late <= FLAT else 'GROWING'}), "
              f"{int(frames):,} batches")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--paths", default="c,python", help="comma-separated: c, python")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    if args.requests < READINGS:
        parser.error(f"--requests must be >= {READINGS}")
    run(args.requests, [p.strip() for p in args.paths.split(",") if p.strip()])


if __name__ == "__main__":
    main_guard(main)
