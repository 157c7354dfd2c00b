"""What one ``list_exchanges`` call costs on an attached live session, as ratios in one run.

Run: ``.venv/bin/python benchmarks/mcp_attach.py [--count N] [--rounds R]``

A live session (a store of bench_filters' synthetic exchanges) answers over its control
socket (``runtime/control.py``); the MCP server's ``LiveSource`` asks it. Timed, round by
round so that a busy machine slows them alike:

- a page of 50 rows of every exchange (what ``list_exchanges`` asks for);
- every exchange at once (what a list call would cost without paging: the baseline);
- the same page from a ``FileSource`` over the same exchanges written as JSONL (read once,
  then served from memory).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench_filters import build

from asgi_inspect.formats import codec
from asgi_inspect.mcp.source import FileSource, LiveSource
from asgi_inspect.runtime.control import ControlServer, running_sessions
from asgi_inspect.runtime.session import Session


async def _time(run: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await run()
    return time.perf_counter() - start


async def main(count: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as runtime:
        os.environ["XDG_RUNTIME_DIR"] = runtime  # this run's session file only
        exchanges = build(count)
        session = Session.offline(exchanges, title="bench")
        control = ControlServer(session)
        await control.start()
        trace_file = Path(runtime) / "trace.jsonl"
        codec.write(codec.new_trace(exchanges), trace_file, jsonl=True)
        live, file = LiveSource(running_sessions()[0]), FileSource(trace_file)
        file.load()
        try:
            runs = {"page of 50 (live)": lambda: live.select(limit=50),
                    "every exchange (live)": live.select,
                    "page of 50 (file)": lambda: file.select(limit=50)}
            times: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(rounds):
                for name, run in runs.items():
                    times[name].append(await _time(run))
        finally:
            await control.close()
    base = statistics.median(times["every exchange (live)"])
    print(f"{count:,} exchanges, {rounds} rounds (median; ratio to every exchange, live)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:24} {median * 1000:9.2f} ms  {median / base:7.3f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    sys.exit(asyncio.run(main(options.count, options.rounds)))
