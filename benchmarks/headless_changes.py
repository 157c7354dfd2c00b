"""Headless mode's memory per exchange with and without draining the store's change log.

Run from the repository root: ``.venv/bin/python benchmarks/headless_changes.py [--batches 200]``

Feeds a collector bounded to 1,000 exchanges with ``--batches`` batches of 1,000 small HTTP
exchanges each (as a recorder encodes them), once with nothing reading the change log (what
headless mode did) and once with ``HeadlessRecorder.poll`` after every batch (what it does
now), and prints what each holds at the end (tracemalloc) and the difference per exchange.
Target: the polled run holds the same whatever ``--batches`` (nothing grows per exchange).
"""

from __future__ import annotations

import argparse
import tracemalloc

import msgspec
from harness import main_guard

from asgi_inspect.record.wire import Closed, Header, Open, Record, Sent
from asgi_inspect.runtime.headless import HeadlessRecorder
from asgi_inspect.store.collector import Collector

PER_BATCH = 1000
START = {"type": "http.response.start", "status": 200, "headers": []}
BODY = {"type": "http.response.body", "body": b"hi"}


def batch(number: int, encoder: msgspec.msgpack.Encoder) -> bytes:
    """One recorder batch: PER_BATCH exchanges, each opened, answered and closed."""
    records: list[Header | Record] = [Header("bench", number, 0, 0, 65536, 1000, 0)]
    for xid in range(number * PER_BATCH, (number + 1) * PER_BATCH):
        records += [Open(xid, 0, {"type": "http", "method": "GET", "path": "/"}),
                    Sent(xid, 0, 1, 1, START), Sent(xid, 1, 2, 2, BODY), Closed(xid, 3, 0)]
    return encoder.encode(records)


def held(batches: int, *, polled: bool) -> tuple[int, int]:
    """Bytes held after the run, and the ids left in the change log."""
    encoder = msgspec.msgpack.Encoder()
    collector = Collector(max_exchanges=1000)
    recorder = HeadlessRecorder(None, echo=False, warn=lambda text: None)
    tracemalloc.start()
    for number in range(batches):
        collector.feed(batch(number, encoder))
        if polled:
            recorder.poll(collector)
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size, len(collector.store.changed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    exchanges = args.batches * PER_BATCH
    before, left = held(args.batches, polled=False)
    after, drained = held(args.batches, polled=True)
    print(f"not drained: {before / 2**20:6.1f} MiB held, {left:,} ids in the change log")
    print(f"drained:     {after / 2**20:6.1f} MiB held, {drained:,} ids in the change log")
    print(f"{exchanges:,} exchanges: {(before - after) / exchanges:.0f} B per exchange saved, "
          f"ratio {before / after:.2f}")


if __name__ == "__main__":
    main_guard(main)
