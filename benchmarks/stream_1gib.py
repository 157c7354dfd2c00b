"""Streaming 1 GiB through the recorder: throughput ratio and the memory kept for the exchange.

The app sends 1 GiB (``--mib`` to change) in 64 KiB chunks of one preallocated bytes object;
uvicorn serves it on core 0, ``curl -o /dev/null`` downloads it on core 1. Bare and recorded
runs alternate, with a closing bare run, so each recorded run is compared with the mean of the
bare runs around it. The recorded server streams to a collector process over the live channel;
after each recorded run the collector reports what it keeps for that exchange: payload bytes,
events, and the exchange's encoded size.

    python benchmarks/stream_1gib.py [--rounds 9] [--mib 1024]
"""

from __future__ import annotations

import argparse
import subprocess
from dataclasses import dataclass, field
from typing import Any

from apps import STREAM_ENV
from harness import (
    LOAD_CORE,
    BenchError,
    CollectorProcess,
    Server,
    bracketed,
    environment,
    main_guard,
    median,
    require,
    verdict,
)

THROUGHPUT_TARGET = 0.95
KEPT_LIMIT = 1 << 20


@dataclass
class Runs:
    """One variant's downloads: MB/s (10^6 bytes) and server CPU seconds."""

    mbps: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def download(server: Server, total: int, runs: Runs) -> None:
    """One ``curl`` download of the whole stream on the load core; checks its size."""
    command = ["taskset", "-c", LOAD_CORE, "curl", "-sS", "-o", "/dev/null",
               "-w", "%{size_download} %{time_total}", server.url]
    before = server.cpu()
    output = subprocess.run(command, capture_output=True, text=True, check=False)
    cpu = server.cpu() - before
    if output.returncode != 0:
        raise BenchError(f"curl failed: {output.stderr.strip()}")
    size, seconds = output.stdout.split()
    if int(size) != total:
        raise BenchError(f"curl got {size} bytes, expected {total}")
    runs.mbps.append(total / float(seconds) / 1e6)
    runs.cpu.append(cpu)


def kept(collector: CollectorProcess, total: int) -> dict[str, Any]:
    """What the collector keeps for the exchange just served; checks every byte was counted."""
    last = collector.settled_stats()["last"]
    if last is None or last["response"]["bytes"] != total:
        raise BenchError(f"the collector did not count the {total} bytes streamed: {last}")
    return last  # type: ignore[no-any-return]


def print_run(label: str, runs: Runs, extra: str = "") -> None:
    print(f"{label:<16} {runs.mbps[-1]:>8.0f} MB/s  server CPU {runs.cpu[-1]:>5.2f} s{extra}",
          flush=True)


def describe_kept(last: dict[str, Any]) -> str:
    response = last["response"]
    return (f"   kept {last['kept_bytes']} payload bytes in {last['events']} events "
            f"(encoded {last['encoded_bytes']} bytes); counted {response['bytes']} bytes "
            f"in {response['chunks']} chunks, {response['elided']} elided")


def run(args: argparse.Namespace) -> None:
    total = args.mib << 20
    print(environment())
    print(f"{args.rounds} rounds of {args.mib} MiB in 64 KiB chunks, curl -o /dev/null\n")
    collector = CollectorProcess()
    env = {STREAM_ENV: str(total)}
    servers: list[Server] = []
    try:
        bare = Server("stream_bare", env=env)
        recorded = Server("stream_recorded", env={**env, **collector.env})
        servers += [bare, recorded]
        bare_runs, recorded_runs, kept_sizes = Runs(), Runs(), []
        for round_no in range(1, args.rounds + 1):
            download(bare, total, bare_runs)
            print_run(f"r{round_no} bare", bare_runs)
            download(recorded, total, recorded_runs)
            last = kept(collector, total)
            kept_sizes.append(max(last["encoded_bytes"], last["kept_bytes"]))
            print_run(f"r{round_no} recorded", recorded_runs, describe_kept(last))
        download(bare, total, bare_runs)
        print_run("closing bare", bare_runs)
        rounds = range(args.rounds)
        throughput = median([recorded_runs.mbps[i] / bracketed(bare_runs.mbps, i)
                             for i in rounds])
        cpu = median([bracketed(bare_runs.cpu, i) / recorded_runs.cpu[i] for i in rounds])
        stats = collector.settled_stats()
        print(f"\nmedian throughput ratio recorded/bare {throughput:.3f} "
              f"({verdict(throughput, THROUGHPUT_TARGET)}); CPU ratio bare/recorded {cpu:.3f}")
        print(f"memory kept per exchange: at most {max(kept_sizes)} bytes "
              f"(target <= {KEPT_LIMIT}: {'met' if max(kept_sizes) <= KEPT_LIMIT else 'MISSED'})"
              f"; collector: dropped {stats['dropped']}, recorder errors "
              f"{stats['recorder_errors']}")
    finally:
        for server in servers:
            server.stop()
        collector.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="rounds (default 9)")
    parser.add_argument("--mib", type=int, default=1024, help="MiB per download (default 1024)")
    args = parser.parse_args()
    if args.rounds < 1 or args.mib < 1:
        parser.error("rounds and mib must be >= 1")
    require(["curl"])
    run(args)


if __name__ == "__main__":
    main_guard(main)
