"""Recording overhead on a hello-world ASGI app under uvicorn, measured with wrk.

Every variant is served by its own uvicorn process pinned to core 0; ``wrk -t1 -c50`` and the
collector run on core 1. The runs are interleaved: each round runs bare then every variant, and
one bare run closes the series, so each variant run is compared with the mean of the bare runs
just before and after it. Per run: requests, req/s, server CPU µs per request. Summary: median
CPU-normalised throughput ratio, (bare CPU/req) / (variant CPU/req), and req/s ratio.

The ``recorded`` variant is ``Inspector(app)`` streaming every exchange over the live channel
to a collector in another process; the collector's counts are checked against wrk's at the end.
``recorded-hooked`` is the same with ``capture_calls=True`` (httpx and sqlite3 hooked) in an
app that makes no call or query: what recording calls costs a request that makes none.
Recorded variants run the compiled hot path (``ASGI_INSPECT_HOTPATH=c``, an error if it is not
built); ``recorded-python`` and ``recorder-only-python`` are the same on the Python path,
interleaved in the same rounds.

    python benchmarks/recorder_overhead.py [--rounds 5] [--duration 5] [--variants ...]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from harness import (
    CollectorProcess,
    Server,
    bracketed,
    environment,
    main_guard,
    median,
    require,
    run_wrk,
    verdict,
)

REQUIRED = 0.85  # recorded on the compiled path, streamed (issue 16); 0.90 is its target
TARGET = 0.90
SATURATED = 0.9  # below this CPU share the server idled: CPU per request is not comparable


@dataclass(frozen=True)
class Variant:
    factory: str
    log_level: str = "warning"
    collector: bool = False
    hotpath: str | None = None  # ASGI_INSPECT_HOTPATH for the server: "c" or "python"


VARIANTS = {
    "bare": Variant("bare"),
    "recorded": Variant("recorded", collector=True, hotpath="c"),
    "recorded-python": Variant("recorded", collector=True, hotpath="python"),
    "recorded-hooked": Variant("recorded_hooked", collector=True, hotpath="c"),
    "recorder-only": Variant("recorder_only", hotpath="c"),
    "recorder-only-python": Variant("recorder_only", hotpath="python"),
    "wrapper": Variant("wrapper"),
    "floor": Variant("floor"),
    "trace": Variant("bare", log_level="trace"),
}


@dataclass
class Runs:
    """One variant's runs, in order: requests, req/s, server CPU seconds and CPU share."""

    requests: list[int] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def us_per_request(self) -> list[float]:
        return [cpu / max(n, 1) * 1e6 for cpu, n in zip(self.cpu, self.requests, strict=True)]

    @property
    def total(self) -> int:
        return sum(self.requests)


@dataclass
class Ratios:
    """A variant against the bare runs around it, per round."""

    cpu: list[float]
    rps: list[float]
    added_us: list[float]

    @classmethod
    def of(cls, bare: Runs, runs: Runs) -> Ratios:
        bare_us, us = bare.us_per_request, runs.us_per_request
        rounds = range(len(runs.cpu))
        return cls(cpu=[bracketed(bare_us, i) / us[i] for i in rounds],
                   rps=[runs.rps[i] / bracketed(bare.rps, i) for i in rounds],
                   added_us=[us[i] - bracketed(bare_us, i) for i in rounds])


def measure(server: Server, runs: Runs, seconds: int, connections: int) -> None:
    """One wrk run against ``server``, recording its requests, req/s and server CPU time."""
    before = server.cpu()
    result = run_wrk(server.url, seconds, connections)
    runs.cpu.append(server.cpu() - before)
    runs.busy.append(runs.cpu[-1] / seconds)
    runs.requests.append(result.requests)
    runs.rps.append(result.rps)
    runs.errors += result.errors


def print_run(label: str, runs: Runs) -> None:
    """One run; ``busy`` is the server's CPU share: well below 100% it was not saturated."""
    print(f"{label:<20} {runs.requests[-1]:>9} req {runs.rps[-1]:>8.0f} req/s "
          f"{runs.us_per_request[-1]:>6.1f} µs/req  busy {runs.busy[-1]:>4.0%}", flush=True)


def summarise(results: dict[str, Runs]) -> None:
    bare = results.pop("bare")
    ratios = {name: Ratios.of(bare, runs) for name, runs in results.items()}
    print("\nper round, against the mean of the bare runs before and after (cpu / req/s):")
    for i in range(len(bare.cpu) - 1):
        cells = "   ".join(f"{name} {r.cpu[i]:.3f} / {r.rps[i]:.3f}" for name, r in ratios.items())
        print(f"  r{i + 1}  {cells}")
    print(f"\nmedians (bare: {median(bare.rps):.0f} req/s, "
          f"{median(bare.us_per_request):.1f} µs/req):")
    for name, r in ratios.items():
        cpu = median(r.cpu)
        line = (f"  {name:<13} cpu-normalised ratio {cpu:.3f}   req/s ratio {median(r.rps):.3f}"
                f"   added {median(r.added_us):+.1f} µs/req")
        if name == "recorded":
            line += (f"   (required >= {REQUIRED:.2f}: {'met' if cpu >= REQUIRED else 'MISSED'}"
                     f"; {verdict(cpu, TARGET)})")
        print(line)
    everything = {"bare": bare, **results}
    errors = {name: runs.errors for name, runs in everything.items() if runs.errors}
    if errors:
        print(f"  wrk reported socket errors or non-2xx responses: {errors}")
    idle = sum(b < SATURATED for runs in everything.values() for b in runs.busy)
    if idle:
        print(f"  WARNING: in {idle} runs the server used less than {SATURATED:.0%} of its core "
              "(other load on the machine, or a starved wrk): CPU per request rises when the "
              "server idles, so those ratios are not reliable")


def report_collector(collector: CollectorProcess, served: int, when: str) -> None:
    """Compare what the collector assembled with what wrk saw completed."""
    stats = collector.settled_stats()
    print(f"collector {when}: {stats['opened']} exchanges opened, {stats['closed']} closed "
          f"{stats['outcomes']}; wrk completed {served}; dropped {stats['dropped']} records, "
          f"recorder errors {stats['recorder_errors']}; {stats['records']} records in "
          f"{stats['frames']} batches; collector CPU {stats['cpu_s']:.1f} s")
    if stats["closed"] < served or stats["dropped"] or stats["recorder_errors"]:
        print("  WARNING: the collector did not get every exchange wrk completed")


def run(args: argparse.Namespace) -> None:
    names = ["bare", *[n for n in args.variants if n != "bare"]]
    print(environment())
    print(f"{args.rounds} rounds of {args.duration} s per variant, wrk -t1 -c{args.connections}"
          f"; variants: {', '.join(names)}\n")
    collector = CollectorProcess() if any(VARIANTS[n].collector for n in names) else None
    servers: dict[str, Server] = {}
    try:
        for name in names:
            variant = VARIANTS[name]
            env = dict(collector.env) if collector is not None and variant.collector else {}
            if variant.hotpath is not None:
                env["ASGI_INSPECT_HOTPATH"] = variant.hotpath
            servers[name] = Server(variant.factory, log_level=variant.log_level, env=env)
        warm = {name: Runs() for name in names}
        for name in names:  # imports, caches, first connections
            measure(servers[name], warm[name], args.warmup, args.connections)
        results = {name: Runs() for name in names}
        for round_no in range(1, args.rounds + 1):
            for name in names:
                measure(servers[name], results[name], args.duration, args.connections)
                print_run(f"r{round_no} {name}", results[name])
        measure(servers["bare"], results["bare"], args.duration, args.connections)
        print_run("closing bare", results["bare"])
        if collector is not None:
            served = sum(group[name].total for group in (warm, results) for name in names
                         if VARIANTS[name].collector)
            print()
            report_collector(collector, served, "while the server runs")
            for server in servers.values():
                server.stop()
            report_collector(collector, served, "after the server stopped")
        summarise(results)
    finally:
        for server in servers.values():
            server.stop()
        if collector is not None:
            collector.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds per variant")
    parser.add_argument("--connections", type=int, default=50, help="wrk -c (default 50)")
    parser.add_argument("--variants", type=_variants,
                        default=["recorded", "recorded-python", "wrapper"],
                        help="comma-separated, besides bare: recorded (compiled hot path), "
                             "recorded-python, recorded-hooked (recorded with capture_calls, "
                             "no call made), recorder-only[-python] (a sink that discards), "
                             "wrapper (does nothing), floor, trace (uvicorn --log-level "
                             "trace); default recorded,recorded-python,wrapper")
    args = parser.parse_args()
    if min(args.rounds, args.duration, args.warmup, args.connections) < 1:
        parser.error("rounds, duration, warmup and connections must be >= 1")
    return args


def _variants(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown variant(s) {', '.join(unknown)}; "
                                         f"choose from {', '.join(VARIANTS)}")
    return names


def main() -> None:
    args = parse_args()
    require(["wrk"])
    run(args)


if __name__ == "__main__":
    main_guard(main)
