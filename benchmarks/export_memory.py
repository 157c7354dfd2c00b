"""Peak memory of ``asgi-inspect export``: against the largest body, and against the file.

Two traces are made in a temporary directory:

- ``big-body``: one POST whose multipart body (``--body-mib`` MiB: a form field, then a file
  part of random bytes, so it starts with ``--`` and is not text) was recorded in 1 MiB chunks;
- ``many``: ``--exchanges`` JSON requests and responses (about 16 KB each), as a long
  session's recording.

Each export runs ``python -m asgi_inspect export TRACE -f FORMAT`` in its own process, its
output to /dev/null, and reads that process's peak RSS from ``wait4`` (the traces are made in
child processes too: a child's peak RSS counts its parent's at the fork). The baselines are
measured in the same run: the interpreter with the CLI imported (``bare``), and the export of
no exchange at all (``read``: the trace read into memory, nothing written). As reading
dominates the peak, a second process per format measures the export on its own: it reads the
trace as the CLI does, then traces Python's allocations (``tracemalloc``) while the export
writes to /dev/null; ``export peak`` is the most the export held at once beyond the trace.

    python benchmarks/export_memory.py [--body-mib 225] [--exchanges 20000]
                                       [--formats curl,httpie,har,json,jsonl]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import BenchError, environment, main_guard

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asgi_inspect.formats import codec  # noqa: E402
from asgi_inspect.model import Counters, Event, Exchange  # noqa: E402

MIB = 1024 * 1024
TARGET = 3.0  # peak RSS: curl/HTTPie under 3x the big body, every format under 3x the long file
FORMATS = ("curl", "httpie", "har", "json", "jsonl")


@dataclass
class Run:
    peak: int  # bytes
    seconds: float


def exported(trace: Path, *args: str) -> Run:
    """One ``asgi-inspect export`` in its own process: its peak RSS and how long it took."""
    command = [sys.executable, "-m", "asgi_inspect", "export", str(trace), *args]
    return measured(command)


def measured(command: list[str]) -> Run:
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    assert process.stderr is not None
    error = process.stderr.read().decode(errors="replace").strip()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise BenchError(f"{' '.join(command[2:])} failed: {error.splitlines()[-1:]}")
    return Run(usage.ru_maxrss * 1024, seconds)


def export_phase(trace: Path, fmt: str) -> int:
    """The export alone, in its own process: the peak of what it allocated, in bytes."""
    command = [sys.executable, __file__, "--export-phase", str(trace), fmt]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"export phase of {fmt} failed: {done.stderr.strip()[-300:]}")
    return int(done.stdout)


def run_export_phase(trace: Path, fmt: str) -> None:
    """(In the child.) Read as ``asgi-inspect export`` does, then export under tracemalloc."""
    import tracemalloc

    from asgi_inspect.formats.reader import read
    from asgi_inspect.ops.export import export_pieces
    from asgi_inspect.runtime.session import Session

    session = Session.offline(read(trace), title="bench")
    pieces = export_pieces(session.view.select("shown"), fmt,  # type: ignore[arg-type]
                           header=session.trace_header())
    tracemalloc.start()
    with open(os.devnull, "wb") as sink:
        for piece in pieces:
            sink.write(piece.encode("utf-8"))
    print(tracemalloc.get_traced_memory()[1])


def scope(path: str, content_type: bytes) -> dict[str, object]:
    return {"type": "http", "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "server": ["127.0.0.1", 8000], "client": ["127.0.0.1", 50000],
            "headers": [[b"host", b"127.0.0.1:8000"], [b"content-type", content_type],
                        [b"authorization", b"Bearer s3cret-token-value"]]}


def response(t: int, body: bytes) -> list[Event]:
    start = {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"application/json")]}
    return [Event(direction="send", type="http.response.start", t_call=t, t_return=t + 1,
                  message=start),
            Event(direction="send", type="http.response.body", t_call=t + 2, t_return=t + 3,
                  message={"type": "http.response.body", "body": body, "more_body": False})]


def big_body_trace(path: Path, size: int) -> int:
    """One exchange with a ``size``-byte multipart body in 1 MiB chunks; the body's size."""
    head = (b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n")
    tail = b"\r\n--XyZ--\r\n"
    body = head + os.urandom(max(size - len(head) - len(tail), 0)) + tail
    chunks = [body[i:i + MIB] for i in range(0, len(body), MIB)]
    events = [Event(direction="receive", type="http.request", t_call=i * 10, t_return=i * 10 + 1,
                    message={"type": "http.request", "body": chunk,
                             "more_body": i < len(chunks) - 1})
              for i, chunk in enumerate(chunks)]
    exchange = Exchange(id="1", type="http", started_at=time.time(), outcome="complete",
                        scope=scope("/upload", b"multipart/form-data; boundary=XyZ"),
                        events=events + response(len(chunks) * 10, b'{"ok": true}'),
                        request=Counters(bytes=len(body), chunks=len(chunks),
                                         kept_bytes=len(body)))
    codec.write(codec.new_trace([exchange]), path, jsonl=True)
    return len(body)


def many_trace(path: Path, count: int) -> int:
    """``count`` exchanges of about 16 KB each, written line by line; the largest body."""
    request = b'{"user": "ann", "password": "hunter2", "items": [%s]}' % b",".join(
        b'{"id": %d, "name": "item"}' % i for i in range(80))
    reply = b'{"results": [%s]}' % b",".join(
        b'{"id": %d, "text": "lorem ipsum dolor sit amet"}' % i for i in range(260))
    with path.open("wb") as file:
        file.write(codec.header_line())
        for i in range(count):
            exchange = Exchange(
                id=str(i + 1), type="http", started_at=time.time(), outcome="complete",
                scope=scope(f"/api/items/{i}", b"application/json"),
                events=[Event(direction="receive", type="http.request", t_call=0, t_return=1,
                              message={"type": "http.request", "body": request,
                                       "more_body": False}), *response(5, reply)],
                request=Counters(bytes=len(request), chunks=1, kept_bytes=len(request)),
                response=Counters(bytes=len(reply), chunks=1, kept_bytes=len(reply)))
            file.write(codec.exchange_line(exchange))
    return max(len(request), len(reply))


def report(name: str, trace: Path, body: int, formats: list[str]) -> dict[str, float]:
    size = trace.stat().st_size
    read = exported(trace, "-f", "json", "--filter", "~u /no-such-path")
    print(f"\n{name}: file {size / MIB:.1f} MiB, largest body {body / MIB:.1f} MiB; "
          f"read only: peak {read.peak / MIB:.0f} MiB in {read.seconds:.1f} s")
    measure = "body" if name == "big-body" else "file"
    print(f"  {'format':8} {'peak MiB':>9} {'s':>6} {'peak/body':>10} {'peak/file':>10} "
          f"{'export peak MiB':>16} {'export peak/' + measure:>18}")
    ratios = {}
    for fmt in formats:
        run = exported(trace, "-f", fmt)
        alone = export_phase(trace, fmt)
        ratios[fmt] = run.peak / (body if name == "big-body" else size)
        print(f"  {fmt:8} {run.peak / MIB:9.0f} {run.seconds:6.1f} {run.peak / body:10.2f} "
              f"{run.peak / size:10.2f} {alone / MIB:16.1f} "
              f"{alone / (body if name == 'big-body' else size):18.2f}")
    return ratios


def made(kind: str, path: Path, size: int) -> int:
    """Make a trace in a child process; its largest body. Not here: a child's peak RSS counts
    the parent's RSS when it was forked, and making the big trace takes a gigabyte."""
    command = [sys.executable, __file__, "--make", kind, str(path), str(size)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"making the {kind} trace failed: {done.stderr.strip()[-300:]}")
    return int(done.stdout)


def main() -> None:
    if sys.argv[1:2] == ["--export-phase"]:
        run_export_phase(Path(sys.argv[2]), sys.argv[3])
        return
    if sys.argv[1:2] == ["--make"]:
        make = big_body_trace if sys.argv[2] == "big-body" else many_trace
        print(make(Path(sys.argv[3]), int(sys.argv[4])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--body-mib", type=int, default=225)
    parser.add_argument("--exchanges", type=int, default=20000)
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()
    formats = [f for f in args.formats.split(",") if f]
    if not set(formats) <= set(FORMATS) or args.body_mib < 1 or args.exchanges < 1:
        raise BenchError(f"--formats takes some of {','.join(FORMATS)}; sizes must be >= 1")
    print(environment())
    bare = measured([sys.executable, "-c", "import asgi_inspect.cli.main"])
    print(f"bare interpreter with the CLI imported: peak {bare.peak / MIB:.0f} MiB")
    with tempfile.TemporaryDirectory(prefix="export-memory-") as tmp:
        big = Path(tmp) / "big-body.jsonl"
        big_body = report("big-body", big, made("big-body", big, args.body_mib * MIB), formats)
        big.unlink()
        many = Path(tmp) / "many.jsonl"
        many_ratios = report("many", many, made("many", many, args.exchanges), formats)
    print()
    for what, ratios in (("curl and HTTPie of the big body, peak/body",
                          [r for f, r in big_body.items() if f in ("curl", "httpie")]),
                         ("every format of the long trace, peak/file", list(many_ratios.values()))):
        if ratios:
            print(f"{what}: worst {max(ratios):.2f} (target < {TARGET:.0f}: "
                  f"{'met' if max(ratios) < TARGET else 'NOT met'})")


if __name__ == "__main__":
    main_guard(main)
