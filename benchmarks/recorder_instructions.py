"""Instructions per request of the recorder's paths, counted by valgrind's callgrind.

Deterministic where wall-clock and CPU time are not (a shared, busy machine): each variant is
driven in-process as a server drives it (``hot_path.drive``: the uvicorn scope of a ``GET /``,
its request, the response's start and body) in two runs of different lengths under
``valgrind --tool=callgrind``; the difference of their totals over the difference of their
request counts is the cost of one request, start-up and imports cancelled out. Variants:
``bare`` (the app alone), ``wrapper`` (a do-nothing middleware), ``floor`` (a wrapper, two
clock reads and one msgpack encode per call), ``python`` and ``c`` (``Inspector(app)`` on each
hot path, into a sink that only counts). ``--annotate N`` prints where the ``c`` variant's
instructions per request go: the N functions whose self cost grew most from the shorter run to
the longer one, per request (``callgrind_annotate`` of both, subtracted).

    python benchmarks/recorder_instructions.py [--requests 2000] [--annotate 25]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import BenchError, main_guard, require

VARIANTS = ("bare", "wrapper", "floor", "python", "c")


def child(variant: str, requests: int) -> None:
    """Serve ``requests`` requests through the variant (run under valgrind)."""
    from apps import NullSink, floor_recorder, hello, passthrough
    from hot_path import drive

    from asgi_inspect import Inspector

    app = {"bare": lambda: hello, "wrapper": lambda: passthrough(hello),
           "floor": lambda: floor_recorder(hello)}.get(variant, lambda: None)()
    if app is None:
        app = Inspector(hello, sink=NullSink())
        assert (app._compiled is not None) == (variant == "c"), "the wrong hot path ran"
    asyncio.run(drive(app, requests))


def count(variant: str, requests: int, out: Path) -> int:
    """Total instructions of one run."""
    env = {**os.environ, "ASGI_INSPECT_HOTPATH": "c" if variant == "c" else "python"}
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               sys.executable, __file__, "--child", variant, str(requests)]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise BenchError(f"{variant}: valgrind failed: {result.stderr.strip()[-300:]}")
    return int(found.group(1))


def by_function(path: Path) -> dict[str, int]:
    """Self cost by function of one callgrind run (file paths left out of the names)."""
    annotated = subprocess.run(["callgrind_annotate", "--threshold=100", str(path)],
                               capture_output=True, text=True).stdout
    costs: dict[str, int] = {}
    for line in annotated.splitlines():
        found = re.match(r"\s*([\d,]+) \([^)]*\)\s+(\S+)", line)
        if found and ":" in found.group(2):
            name = found.group(2).rsplit(":", 1)[1] + " " + _library(line)
            costs[name] = costs.get(name, 0) + int(found.group(1).replace(",", ""))
    return costs


def _library(line: str) -> str:
    found = re.search(r"\[([^\]]+)\]\s*$", line)
    return f"[{Path(found.group(1)).name}]" if found else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="the shorter run's requests")
    parser.add_argument("--annotate", type=int, default=0, help="top functions of the c run")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    require(["valgrind"])
    short, long = args.requests, 3 * args.requests
    per_request: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as directory:
        for variant in args.variants.split(","):
            totals = [count(variant, n, Path(directory) / f"{variant}.{n}") for n in (short, long)]
            per_request[variant] = (totals[1] - totals[0]) / (long - short)
            added = per_request[variant] - per_request.get("bare", 0)
            print(f"{variant:<8} {per_request[variant]:>9,.0f} instructions/request"
                  f"   added {added:>+9,.0f}", flush=True)
        if args.annotate and "c" in per_request:
            costs = [by_function(Path(directory) / f"c.{n}") for n in (short, long)]
            grown = {name: (costs[1].get(name, 0) - costs[0].get(name, 0)) / (long - short)
                     for name in costs[1]}
            print("\nthe c variant, instructions per request by function (self cost):")
            for name, cost in sorted(grown.items(), key=lambda kv: -kv[1])[:args.annotate]:
                print(f"  {cost:>7,.0f}  {name}")


if __name__ == "__main__":
    main_guard(main)
