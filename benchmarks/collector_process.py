"""A collector in its own process, fed by the real live channel, for the benchmarks.

Runs ``asgi_inspect.record.channel.Listener`` feeding
``asgi_inspect.store.collector.Collector``, prints the channel address as its first line of
output, then answers every line read on stdin with one JSON line of counts (see
:func:`stats`); it exits at end of input. It keeps at most ``--keep`` exchanges (default
10,000) so a long benchmark does not fill the machine's memory: the counts cover every
exchange, kept or evicted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import Counter
from typing import Any

import msgspec

from asgi_inspect.model import Exchange
from asgi_inspect.record.channel import Listener
from asgi_inspect.store.collector import Collector


class Tally:
    """What the benchmark asks about: totals over all exchanges, details of the last one."""

    def __init__(self, keep: int) -> None:
        self.collector = Collector(max_exchanges=keep, on_close=self.closed)
        self.frames = 0
        self.records = 0
        self.outcomes: Counter[str] = Counter()
        self.last: Exchange | None = None

    def feed(self, frame: bytes) -> None:
        self.records += self.collector.feed(frame)
        self.frames += 1
        self.collector.store.drain_changes()  # as a view would; else the set grows without bound

    def closed(self, exchange: Exchange) -> None:
        self.outcomes[exchange.outcome] += 1
        self.last = exchange


def stats(tally: Tally, listener: Listener) -> dict[str, Any]:
    """One snapshot of the counts, as plain JSON values."""
    collector = tally.collector
    cpu = os.times()
    return {
        "opened": len(collector.store.exchanges) + collector.store.evicted,
        "closed": sum(tally.outcomes.values()),
        "outcomes": dict(tally.outcomes),
        "dropped": collector.dropped,
        "recorder_errors": collector.recorder_errors,
        "frames": tally.frames,
        "records": tally.records,
        "connections": listener.connections,
        "cpu_s": cpu.user + cpu.system,
        "last": None if tally.last is None else describe(tally.last),
    }


def describe(exchange: Exchange) -> dict[str, Any]:
    """What the collector keeps for one exchange: payload bytes, events, encoded size."""
    return {
        "outcome": exchange.outcome,
        "events": len(exchange.events),
        "request": msgspec.structs.asdict(exchange.request),
        "response": msgspec.structs.asdict(exchange.response),
        "kept_bytes": exchange.request.kept_bytes + exchange.response.kept_bytes,
        "encoded_bytes": len(msgspec.msgpack.encode(exchange)),
    }


async def serve(keep: int, tcp: bool) -> None:
    tally = Tally(keep)
    listener = Listener(tally.feed, tcp=tcp)
    address = await listener.start()
    print(address, flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while await reader.readline():
            print(json.dumps(stats(tally, listener)), flush=True)
    finally:
        await listener.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=int, default=10_000, help="exchanges kept in memory")
    parser.add_argument("--tcp", action="store_true", help="loopback TCP instead of a Unix socket")
    args = parser.parse_args()
    asyncio.run(serve(args.keep, args.tcp))


if __name__ == "__main__":
    main()
